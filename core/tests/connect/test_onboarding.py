"""The core's OAuth machinery on its own: the declaration, PKCE, states, callbacks, app credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from storelink import (
    ConfigurationError,
    CredentialField,
    CredentialSchema,
    OAuthFlow,
    PluginError,
    Registry,
    Secret,
    StoreURL,
)
from storelink.connect import load_channels
from storelink.onboarding import (
    AuthorizationStates,
    CallbackError,
    app_credentials,
    check_callback,
    code_challenge,
    parse_app_values,
    read_callback,
)
from storelink.plugins import Platform
from storelink.testing import FakeClock

from .oauth_platform import CLIENT_ID, CLIENT_SECRET, OAuthPlatform, sign

STORE = StoreURL(origin="https://acme.example.com")
CALLBACK = "https://connect.example.net/oauth/callback"
APP = {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}


def _platform(**options: Any) -> Platform:
    return Registry(autoload=False).register_platform(OAuthPlatform(**options), slug="oauthy")


def _begin(
    states: AuthorizationStates, platform: Platform, browser: str | None = "b1", owner: str | None = "s1"
) -> Any:
    return states.begin(platform, STORE, client_id=CLIENT_ID, redirect_uri=CALLBACK, browser=browser, owner=owner)


def _state(pending: Any) -> str:
    return str(parse_qs(urlsplit(pending.authorization_url).query)["state"][0])


# --------------------------------------------------------------------------- declaration


def test_an_oauth_flow_has_a_client_id_and_a_secret_by_default() -> None:
    flow = OAuthFlow(scopes=("read",))
    assert [f.name for f in flow.app_credentials] == ["client_id", "client_secret"]
    assert flow.app_credentials.field_named("client_secret").secret
    assert flow.pkce is False
    assert flow.store_parameter is None


@pytest.mark.parametrize("scopes", ["read write", ("read write",), ("",)])
def test_malformed_scopes_are_refused(scopes: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        OAuthFlow(scopes=scopes)


def test_app_credentials_need_a_public_client_id() -> None:
    with pytest.raises(ValueError, match="client_id"):
        OAuthFlow(scopes=(), app_credentials=CredentialSchema(fields=(CredentialField(name="key", label="Key"),)))
    secret_id = CredentialSchema(fields=(CredentialField(name="client_id", label="Id", secret=True),))
    with pytest.raises(ValueError, match="cannot be secret"):
        OAuthFlow(scopes=(), app_credentials=secret_id)


def test_a_platform_without_a_flow_is_a_key_form_platform(kit: Any) -> None:
    info = kit.FakePlatform("shop", "Shop").platform_info()
    assert info.oauth is None


# --------------------------------------------------------------------------- PKCE and states


def test_the_code_challenge_is_s256_as_rfc_7636_appendix_b() -> None:
    assert code_challenge(Secret("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")) == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_a_state_is_random_single_use_and_bound_to_its_browser() -> None:
    states = AuthorizationStates(clock=FakeClock(start=1_000.0))
    platform = _platform()
    first, second = _begin(states, platform, owner="a"), _begin(states, platform, owner="b")
    assert _state(first) != _state(second)
    with pytest.raises(CallbackError) as refused:
        states.claim(_state(first), "another-browser")
    assert refused.value.reason == "other_browser"
    assert states.claim(_state(first), "b1") is first
    with pytest.raises(CallbackError) as refused:
        states.claim(_state(first), "b1")
    assert refused.value.reason == "state_used"


def test_a_verifier_is_kept_only_when_the_platform_uses_pkce() -> None:
    states = AuthorizationStates()
    with_pkce = _begin(states, _platform())
    assert with_pkce.code_verifier is not None
    assert 43 <= len(with_pkce.code_verifier) <= 128
    query = parse_qs(urlsplit(with_pkce.authorization_url).query)
    assert query["code_challenge"] == [code_challenge(with_pkce.code_verifier)]
    assert with_pkce.code_verifier.reveal() not in repr(with_pkce) + with_pkce.authorization_url
    without = _begin(states, _platform(pkce=False), owner="s2")
    assert without.code_verifier is None
    assert "code_challenge" not in without.authorization_url


def test_a_state_expires_after_ten_minutes() -> None:
    clock = FakeClock(start=1_000.0)
    states = AuthorizationStates(clock=clock)
    pending = _begin(states, _platform())
    clock.now += 599
    fresh = _begin(states, _platform(slug="oauthy"), owner="other")
    clock.now += 2
    with pytest.raises(CallbackError) as refused:
        states.claim(_state(pending), "b1")
    assert refused.value.reason == "state_expired"
    assert states.claim(_state(fresh), "b1") is fresh


@pytest.mark.parametrize(("state", "reason"), [(None, "state_missing"), ("", "state_missing"), ("x", "state_unknown")])
def test_a_missing_or_unknown_state_is_refused(state: str | None, reason: str) -> None:
    with pytest.raises(CallbackError) as refused:
        AuthorizationStates().claim(state, "b1")
    assert refused.value.reason == reason


def test_too_many_authorizations_at_once_are_refused() -> None:
    states = AuthorizationStates(limit=1)
    _begin(states, _platform(), owner="a")
    with pytest.raises(CallbackError) as refused:
        _begin(states, _platform(), owner="b")
    assert refused.value.reason == "busy"


def test_an_authorization_url_without_the_state_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"build_authorization_url.*must put the state"):
        _begin(AuthorizationStates(), _platform(state_in_url=False))


def test_a_platform_without_the_hooks_is_named(kit: Any) -> None:
    class Half(OAuthPlatform):
        build_authorization_url = None  # type: ignore[assignment]

    platform = Registry(autoload=False).register_platform(Half(), slug="oauthy")
    with pytest.raises(PluginError, match="hook 'build_authorization_url': is not implemented"):
        _begin(AuthorizationStates(), platform)


# --------------------------------------------------------------------------- callbacks


@pytest.mark.parametrize("query", ["a=1&a=2", "x" * 9000, "&&&="])
def test_an_unreadable_callback_query_is_refused(query: str) -> None:
    with pytest.raises(CallbackError) as refused:
        read_callback(query)
    assert refused.value.reason == "invalid_callback"


def test_a_callback_query_is_decoded() -> None:
    assert read_callback("code=a%20b&state=s&empty=") == {"code": "a b", "state": "s", "empty": ""}


def _check(params: dict[str, str]) -> None:
    platform = _platform()
    pending = _begin(AuthorizationStates(), platform)
    app = app_credentials(platform.info, APP, owner="test")
    check_callback(platform, pending, query="", params=params, app=app, allow_loopback=False, channel_name="Acme")


def test_a_signed_callback_for_the_store_passes() -> None:
    params = {"code": "c", "state": "s", "store": "ACME.example.com"}
    _check({**params, "hmac": sign(params, CLIENT_SECRET)})


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"error": "access_denied", "state": "s"}, "declined"),
        ({"error": "temporarily_unavailable", "state": "s"}, "authorization_failed"),
        ({"code": "c", "state": "s"}, "invalid_callback"),
        ({"code": "c", "state": "s", "store": "other.example.com"}, "wrong_store"),
        ({"code": "c", "state": "s", "store": "not a store"}, "wrong_store"),
        ({"code": "c", "state": "s", "store": "acme.example.com", "hmac": "0" * 64}, "callback_unverified"),
    ],
)
def test_a_callback_is_refused_for_what_went_wrong(params: dict[str, str], reason: str) -> None:
    with pytest.raises(CallbackError) as refused:
        _check(params)
    assert refused.value.reason == reason


# --------------------------------------------------------------------------- app credentials


def test_app_values_come_from_text_the_environment_or_a_file(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("OAUTHY_SECRET", CLIENT_SECRET)
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    apps = parse_app_values(
        {
            "oauthy": {"client_id": CLIENT_ID, "client_secret": {"env": "OAUTHY_SECRET"}},
            "other": {"x": {"file": str(secret_file)}},
        },
        where="test",
    )
    assert apps["oauthy"]["client_id"] == CLIENT_ID
    assert apps["oauthy"]["client_secret"] == Secret(CLIENT_SECRET)
    assert apps["other"]["x"] == Secret(CLIENT_SECRET)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        (
            {"oauthy": {"client_secret": {"env": "STORELINK_TEST_UNSET_VARIABLE"}}},
            "STORELINK_TEST_UNSET_VARIABLE is not set",
        ),
        ({"oauthy": {"client_secret": {"file": "/nonexistent/secret"}}}, "cannot read /nonexistent/secret"),
        ({"oauthy": {"client_secret": 7}}, "apps.oauthy.client_secret: expected a string"),
        ({"oauthy": "x"}, "apps.oauthy must be a table"),
    ],
)
def test_bad_app_values_are_configuration_errors(table: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigurationError, match=said):
        parse_app_values(table, where="test")


def test_app_credentials_are_checked_against_the_platform() -> None:
    info = _platform().info
    parsed = app_credentials(info, APP, owner="channel 'acme'")
    assert parsed.secret("client_secret") == Secret(CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(parsed)
    with pytest.raises(ConfigurationError, match="channel 'acme' has no app credentials for oauthy"):
        app_credentials(info, None, owner="channel 'acme'")
    with pytest.raises(ConfigurationError, match="Client secret is required"):
        app_credentials(info, {"client_id": CLIENT_ID}, owner="channel 'acme'")
    with pytest.raises(ConfigurationError, match="client_secret is secret") as refused:
        app_credentials(info, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, owner="channel 'acme'")
    assert CLIENT_SECRET not in str(refused.value)


CHANNELS = """
[apps.oauthy]
client_id = "deployment-id"
client_secret = { env = "OAUTHY_SECRET" }

[[channel]]
id = "acme"
name = "Acme"
redirect_uris = ["https://acme.example/cb"]

[[channel]]
id = "beta"
name = "Beta"
redirect_uris = ["https://beta.example/cb"]
[channel.apps.oauthy]
client_id = "beta-id"
client_secret = { env = "BETA_SECRET" }
"""


def test_channels_carry_their_app_or_the_deployments(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("OAUTHY_SECRET", "deployment-secret-value")
    monkeypatch.setenv("BETA_SECRET", "beta-secret-value")
    path = tmp_path / "channels.toml"
    path.write_text(CHANNELS)
    acme, beta = load_channels(path)
    assert acme.app_values("oauthy") == {
        "client_id": "deployment-id",
        "client_secret": Secret("deployment-secret-value"),
    }
    assert beta.app_values("oauthy") == {"client_id": "beta-id", "client_secret": Secret("beta-secret-value")}
    assert acme.app_values("other") is None
    assert "secret-value" not in repr(acme) + repr(beta)


def test_a_channel_app_with_an_unset_variable_names_the_channel(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(CHANNELS.split("[[channel]]", 1)[0].replace("OAUTHY_SECRET", "STORELINK_TEST_UNSET_VARIABLE"))
    with pytest.raises(ConfigurationError, match=r"apps\.oauthy\.client_secret: the environment variable"):
        load_channels(path)
