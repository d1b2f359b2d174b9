"""The OAuth install's pieces: the authorization URL, the callback's HMAC, the code exchange."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest

import storelink
from storelink import AuthorizationError, ConfigurationError, Credentials, CredentialsError, Secret, StoreURL
from storelink.context import running_hook
from storelink_shopify import oauth
from storelink_shopify.api import describe_error
from storelink_shopify.credentials import APP_CREDENTIALS, SCOPES
from storelink_shopify.simulator import ShopifySimulator

from .conftest import SHOP, Connect

# Shopify's published example of a signed callback, with its example secret "hush".
EXAMPLE_QUERY = (
    "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
    "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173"
)
EXAMPLE_SECRET = Secret("hush")
REDIRECT = "https://channel.example.com/storelink/callback"


def _signed(params: dict[str, str], secret: str) -> str:
    """Return *params* as a query with an ``hmac`` computed here, independently of the plugin."""
    message = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def _callback_params(shop: str = "mystore.myshopify.com") -> dict[str, str]:
    return {
        "state": "st4te",
        "shop": shop,
        "code": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "timestamp": "1765432100",
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvbXlzdG9yZQ",
    }


# --------------------------------------------------------------------------- the authorization URL


def test_the_authorization_url_asks_the_shop_for_an_offline_token() -> None:
    url = oauth.authorization_url(
        StoreURL(origin="https://mystore.myshopify.com"),
        client_id="abc123",
        scopes=("read_products", "read_orders"),
        state="st/ate+1",
        redirect_uri=REDIRECT,
    )
    assert url == (
        "https://mystore.myshopify.com/admin/oauth/authorize?client_id=abc123&scope=read_products%2Cread_orders"
        "&redirect_uri=https%3A%2F%2Fchannel.example.com%2Fstorelink%2Fcallback&state=st%2Fate%2B1"
    )
    assert "grant_options" not in url, "per-user (online) access is never asked for"


def test_the_platform_declares_the_oauth_install_with_the_shop_parameter(platform: storelink.Platform) -> None:
    flow = platform.info.oauth
    assert flow is not None
    assert flow.scopes == SCOPES
    assert not flow.pkce
    assert flow.store_parameter == "shop"
    assert flow.app_credentials.field_named("client_secret").secret
    assert not flow.app_credentials.field_named("client_id").secret
    assert [f.name for f in platform.info.credential_schema] == ["access_token"]


def test_the_hook_builds_the_url_and_ignores_a_code_challenge(platform: storelink.Platform) -> None:
    url = platform.build_authorization_url(
        SHOP, client_id="abc", scopes=SCOPES, state="s", redirect_uri=REDIRECT, code_challenge=None
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://mystore.myshopify.com/admin/oauth/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["abc"],
        "scope": [",".join(SCOPES)],
        "redirect_uri": [REDIRECT],
        "state": ["s"],
    }


# --------------------------------------------------------------------------- the callback's HMAC


def test_shopifys_published_example_callback_verifies() -> None:
    assert oauth.verify_callback(EXAMPLE_QUERY, EXAMPLE_SECRET)


def test_the_signed_message_is_the_other_parameters_sorted_by_name() -> None:
    params = _callback_params()
    assert oauth.callback_message([*params.items(), ("hmac", "x")]) == (
        "code=a1b2c3d4e5f60718293a4b5c6d7e8f90&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvbXlzdG9yZQ"
        "&shop=mystore.myshopify.com&state=st4te&timestamp=1765432100"
    )


def test_a_callback_signed_with_the_secret_verifies_whatever_the_order_of_its_parameters() -> None:
    secret = f"shpss_{secrets.token_hex(16)}"
    query = _signed(_callback_params(), secret)
    pairs = parse_qsl(query)
    assert oauth.verify_callback(urlencode(pairs[::-1]), Secret(secret))


@pytest.mark.parametrize(
    ("name", "value"),
    [("code", "a1b2c3d4e5f60718293a4b5c6d7e8f91"), ("state", "other"), ("timestamp", "1765432101")],
)
def test_a_tampered_parameter_fails_verification(name: str, value: str) -> None:
    secret = f"shpss_{secrets.token_hex(16)}"
    params = dict(parse_qsl(_signed(_callback_params(), secret)))
    params[name] = value
    assert not oauth.verify_callback(urlencode(params), Secret(secret))


def test_an_added_parameter_fails_verification() -> None:
    secret = f"shpss_{secrets.token_hex(16)}"
    assert not oauth.verify_callback(_signed(_callback_params(), secret) + "&extra=1", Secret(secret))


def test_a_callback_signed_with_another_secret_fails() -> None:
    query = _signed(_callback_params(), f"shpss_{secrets.token_hex(16)}")
    assert not oauth.verify_callback(query, Secret(f"shpss_{secrets.token_hex(16)}"))


@pytest.mark.parametrize("hmac_value", [None, "", "zz" * 32, "A" * 64, "ab" * 31])
def test_a_missing_or_malformed_hmac_fails(hmac_value: str | None) -> None:
    params = dict(parse_qsl(EXAMPLE_QUERY))
    del params["hmac"]
    if hmac_value is not None:
        params["hmac"] = hmac_value
    assert not oauth.verify_callback(urlencode(params), EXAMPLE_SECRET)


def test_an_uppercase_copy_of_the_right_digest_fails() -> None:
    params = dict(parse_qsl(EXAMPLE_QUERY))
    params["hmac"] = params["hmac"].upper()
    assert not oauth.verify_callback(urlencode(params), EXAMPLE_SECRET)


def test_a_repeated_parameter_fails_even_when_one_copy_is_signed() -> None:
    assert oauth.verify_callback(EXAMPLE_QUERY, EXAMPLE_SECRET)
    assert not oauth.verify_callback(EXAMPLE_QUERY + "&shop=evil.myshopify.com", EXAMPLE_SECRET)
    assert not oauth.verify_callback("shop=evil.myshopify.com&" + EXAMPLE_QUERY, EXAMPLE_SECRET)


@pytest.mark.parametrize(
    "shop",
    ["evil.example.com", "mystore.myshopify.com.evil.example", "-mystore.myshopify.com", "my store.myshopify.com", ""],
)
def test_a_signed_callback_for_a_shop_of_the_wrong_shape_fails(shop: str) -> None:
    secret = f"shpss_{secrets.token_hex(16)}"
    assert not oauth.verify_callback(_signed(_callback_params(shop), secret), Secret(secret))


@pytest.mark.parametrize(
    ("shop", "ok"),
    [
        ("mystore.myshopify.com", True),
        ("My-Store-2.myshopify.com", True),
        ("http://127.0.0.1:8123", True),
        ("mystore.myshopify.com/admin", False),
        ("https://mystore.myshopify.com", False),
        ("http://10.0.0.1:8123", False),
        ("myshopify.com", False),
    ],
)
def test_the_shop_parameter_must_be_a_shop_host_name(shop: str, ok: bool) -> None:
    assert oauth.valid_shop(shop) is ok


def test_the_hook_verifies_with_the_apps_client_secret(platform: storelink.Platform) -> None:
    app = APP_CREDENTIALS.parse({"client_id": "x", "client_secret": "hush"})
    params = dict(parse_qsl(EXAMPLE_QUERY))
    assert platform.verify_callback(EXAMPLE_QUERY, params, app)
    other = APP_CREDENTIALS.parse({"client_id": "x", "client_secret": "hush!"})
    assert not platform.verify_callback(EXAMPLE_QUERY, params, other)


# --------------------------------------------------------------------------- the code exchange


def _app(sim: ShopifySimulator, **override: str) -> Credentials:
    return APP_CREDENTIALS.parse({**sim.app_credentials(), **override})


def _approve(sim: ShopifySimulator, scopes: tuple[str, ...] = SCOPES) -> dict[str, str]:
    url = oauth.authorization_url(SHOP, client_id=sim.oauth.client_id, scopes=scopes, state="st", redirect_uri=REDIRECT)
    return dict(parse_qsl(urlsplit(sim.oauth.approve(url)).query))


async def test_an_approved_code_is_exchanged_for_a_token_the_shop_accepts(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    params = _approve(simulator)
    async with connect(Credentials({})) as anonymous:
        credentials = await platform.complete_authorization(
            anonymous.ctx, params=params, app_credentials=_app(simulator), redirect_uri=REDIRECT, code_verifier=None
        )
    token = credentials.secret("access_token").reveal()
    assert token.startswith("shpua_")
    platform.info.credential_schema.parse(credentials)  # the stored shape, as a pasted token's
    async with connect({"access_token": token}) as rt:
        report = await platform.check_access(rt.ctx)
        page = await platform.fetch_products(rt.ctx, None)
    assert report.ok
    assert page.items


async def test_a_code_works_once(platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect) -> None:
    params = _approve(simulator)
    async with connect(Credentials({})) as anonymous:
        app = _app(simulator)
        await platform.complete_authorization(
            anonymous.ctx, params=params, app_credentials=app, redirect_uri=REDIRECT, code_verifier=None
        )
        with pytest.raises(CredentialsError, match="already used") as refused:
            await platform.complete_authorization(
                anonymous.ctx, params=params, app_credentials=app, redirect_uri=REDIRECT, code_verifier=None
            )
    assert "start the connection again" in refused.value.message
    assert simulator.oauth.exchanges == 1


async def test_a_wrong_client_secret_is_a_configuration_error_that_never_shows_it(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"shpss_{secrets.token_hex(16)}"
    params = _approve(simulator)
    async with connect(Credentials({})) as anonymous:
        with pytest.raises(ConfigurationError, match="client id or client secret") as refused:
            await platform.complete_authorization(
                anonymous.ctx,
                params=params,
                app_credentials=_app(simulator, client_secret=wrong),
                redirect_uri=REDIRECT,
                code_verifier=None,
            )
    for secret in (wrong, simulator.oauth.client_secret):
        assert secret not in str(refused.value) + caplog.text
    assert simulator.oauth.exchanges == 0


async def test_a_grant_short_of_a_scope_is_refused_naming_the_missing_ones(
    platform: storelink.Platform, make_simulator: object, connect: Connect
) -> None:
    sim = make_simulator(granted_scopes=("read_products", "read_orders"))  # type: ignore[operator]
    params = _approve(sim)
    async with connect(Credentials({}), sim=sim) as anonymous:
        with pytest.raises(AuthorizationError) as refused:
            await platform.complete_authorization(
                anonymous.ctx, params=params, app_credentials=_app(sim), redirect_uri=REDIRECT, code_verifier=None
            )
    assert "read_inventory, write_orders, read_shipping are missing" in refused.value.message
    assert refused.value.capability == "inventory"


async def test_a_write_scope_in_the_grant_covers_its_read_scope(simulator: ShopifySimulator, connect: Connect) -> None:
    asked = ("read_products", "read_orders", "write_orders")
    params = _approve(simulator, asked)
    async with connect(Credentials({})) as anonymous:
        with running_hook("complete_authorization"):  # as the core calls it: the request is named after the hook
            credentials = await oauth.exchange(anonymous.ctx, params, _app(simulator), scopes=asked)
    assert credentials.secret("access_token").reveal().startswith("shpua_")


async def test_a_callback_without_a_code_is_refused_before_anything_is_sent(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    async with connect(Credentials({})) as anonymous:
        with pytest.raises(CredentialsError, match="without a usable authorization code"):
            await platform.complete_authorization(
                anonymous.ctx,
                params={"shop": "mystore.myshopify.com", "code": "x y"},
                app_credentials=_app(simulator),
                redirect_uri=REDIRECT,
                code_verifier=None,
            )
    assert simulator.stats.get("requests", 0) == 0


def test_the_token_endpoints_error_body_is_described_with_its_code() -> None:
    request = httpx.Request("POST", "https://mystore.myshopify.com/admin/oauth/access_token")
    body = {"error": "invalid_request", "error_description": "The authorization code was not found or was already used"}
    detail = describe_error(httpx.Response(400, json=body, request=request))
    assert detail is not None
    assert detail.code == "invalid_request"
    assert detail.message == body["error_description"]
