"""The contract's OAuth and resume rules, on the rendered OAuth template broken one rule at a time.

The OAuth variant of the plugin template is rendered once, imported in-process and
registered on a fresh registry per test; each test breaks one rule by replacing one
function of the rendered plugin, and checks the rule's message names the hook.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from attrs import frozen

from storelink import (
    CredentialField,
    Credentials,
    CredentialSchema,
    CredentialsError,
    OAuthFlow,
    Page,
    PlatformInfo,
    Registry,
    StoreURL,
    TokenCursor,
    hookimpl,
)
from storelink.scaffold import render_plugin
from storelink.testing import ContractViolation, FakeClock, OAuthSimulator
from storelink.testing.checks import check_capabilities
from storelink.testing.harness import Harness
from storelink.testing.oauth import (
    OAuthRun,
    check_authorization_url,
    check_callback_verification,
    check_code_exchange,
    check_no_oauth_leaks,
)
from storelink.testing.reads import check_resume

STORE = StoreURL(origin="https://demo-store.example.com")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Render the OAuth template as ``storelink_oauthrules`` and import its modules."""
    project = render_plugin("oauthrules", tmp_path_factory.mktemp("template"), variant="oauth")
    src = str(project / "src")
    sys.path.insert(0, src)
    try:
        yield SimpleNamespace(
            plugin=importlib.import_module("storelink_oauthrules.plugin"),
            oauth=importlib.import_module("storelink_oauthrules.oauth"),
            Simulator=importlib.import_module("storelink_oauthrules.oauth_simulator").OauthrulesOAuthSimulator,
            api=importlib.import_module("storelink_oauthrules.simulator"),
        )
    finally:
        sys.path.remove(src)


@pytest.fixture
def sim(rendered: SimpleNamespace) -> Any:
    return rendered.Simulator(products=120, orders=60, clock=FakeClock().monotonic)


def harness(rendered: SimpleNamespace, sim: Any) -> Harness:
    platform = Registry(autoload=False).register_platform(rendered.plugin, slug="oauthrules")
    schema = platform.info.credential_schema
    revoked = sim.issue_credentials()
    sim.revoke_credentials(revoked)
    return Harness(
        platform=platform,
        transport=httpx.ASGITransport(app=sim.app),
        store_url=STORE,
        credentials=schema.parse(sim.issue_credentials()),
        invalid_credentials=schema.parse(revoked),
        settings={},
        clock=FakeClock(),
    )


@pytest.fixture
def run(rendered: SimpleNamespace, sim: Any) -> OAuthRun:
    h = harness(rendered, sim)
    flow = h.platform.info.oauth
    assert flow is not None
    return OAuthRun(harness=h, app=flow.app_credentials.parse(sim.app_credentials()), approve=sim.approve)


def violation(check: Callable[[], object]) -> str:
    """Return the message of the ContractViolation that *check* (a function, or one returning a coroutine) raises."""

    def called() -> None:
        result = check()
        if asyncio.iscoroutine(result):
            asyncio.run(result)

    with pytest.raises(ContractViolation) as caught:
        called()
    return str(caught.value)


def test_the_simulator_of_the_oauth_template_plays_the_approve_step(sim: Any) -> None:
    assert isinstance(sim, OAuthSimulator)


def test_the_oauth_template_keeps_every_oauth_rule(run: OAuthRun) -> None:
    check_authorization_url(run)
    check_callback_verification(run)
    asyncio.run(check_code_exchange(run))
    asyncio.run(check_no_oauth_leaks(run))


# --------------------------------------------------------------------------- the authorization URL


def _url_wrapper(
    rendered: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, change: Callable[[str, dict[str, Any]], str]
) -> None:
    original = rendered.oauth.authorization_url

    def broken(store_url: StoreURL, **kwargs: Any) -> str:
        return change(original(store_url, **kwargs), kwargs)

    monkeypatch.setattr(rendered.oauth, "authorization_url", broken)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda url, _: url.replace("https://", "http://"), "returned a http URL"),
        (lambda url, _: url.replace("https://", "https://merchant@"), "returned a URL with user info"),
        (lambda url, _: url + "#approve", "returned a URL with a fragment"),
        (lambda url, _: url.replace("+shipping_methods", ""), "does not ask for the scope 'shipping_methods'"),
        (lambda url, _: url.replace("%2Fcallback", "%2Fcallback%2F"), "carries redirect_uri="),
        (lambda url, kw: url.replace(kw["state"], kw["state"][:-2]), "carries state="),
        (lambda url, kw: url + "&state=" + kw["state"], "carries 2 state= parameters"),
        (lambda url, kw: url.replace(kw["code_challenge"], "plain"), "does not carry the PKCE code challenge"),
    ],
)
def test_an_authorization_url_that_breaks_a_rule_is_reported(
    rendered: SimpleNamespace,
    run: OAuthRun,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[str, dict[str, Any]], str],
    message: str,
) -> None:
    _url_wrapper(rendered, monkeypatch, change)
    assert violation(lambda: check_authorization_url(run)).startswith(f"build_authorization_url: {message}")


def test_an_authorization_url_holding_the_client_secret_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _url_wrapper(rendered, monkeypatch, lambda url, _: f"{url}&client_secret={sim.client_secret}")
    message = violation(lambda: check_authorization_url(run))
    assert message.startswith("build_authorization_url: puts an app secret (the client secret) in the URL")
    assert sim.client_secret not in message


def test_a_url_the_platform_refuses_is_reported_at_the_approve_step(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    _url_wrapper(rendered, monkeypatch, lambda url, _: url.replace("response_type=code", "response_type=token"))
    message = violation(lambda: check_callback_verification(run))
    assert message.startswith("build_authorization_url: built a URL the platform's approve step refused")
    assert "The response_type must be code" in message


# --------------------------------------------------------------------------- the callback check


def test_a_check_that_ignores_the_signature_value_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendered.oauth, "verify_callback", lambda query, secret: "signature=" in query)
    assert violation(lambda: check_callback_verification(run)) == (
        "verify_callback: accepted the callback with its 'code' parameter changed; check the signature over every "
        "parameter of the raw query, and refuse a query that repeats a name"
    )


def test_a_check_that_reads_a_repeated_parameter_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lenient(query: str, secret: Any) -> bool:
        params = dict(parse_qsl(query))  # the last of a repeated name wins, silently
        given = params.get("signature", "")
        return bool(given) and rendered.oauth.hmac.compare_digest(rendered.oauth.sign(params, secret.reveal()), given)

    monkeypatch.setattr(rendered.oauth, "verify_callback", lenient)
    assert "accepted the callback with its 'code' parameter repeated" in violation(
        lambda: check_callback_verification(run)
    )


def test_a_check_that_raises_on_a_forged_callback_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = rendered.oauth.verify_callback

    def strict(query: str, secret: Any) -> bool:
        if "signature=" not in query:
            raise KeyError("signature")
        return bool(original(query, secret))

    monkeypatch.setattr(rendered.oauth, "verify_callback", strict)
    message = violation(lambda: check_callback_verification(run))
    assert message.startswith("verify_callback: failed on a callback with its 'signature' parameter removed")
    assert message.endswith("return False for a callback that does not verify; never raise")


def test_a_check_that_refuses_the_genuine_callback_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendered.oauth, "verify_callback", lambda query, secret: False)
    message = violation(lambda: check_callback_verification(run))
    assert message.startswith("verify_callback: the core refused the platform's genuine callback (callback_unverified")


# --------------------------------------------------------------------------- the code exchange


def _exchange_wrapper(
    rendered: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, wrap: Callable[..., Any]
) -> list[dict[str, Any]]:
    original = rendered.oauth.exchange
    calls: list[dict[str, Any]] = []

    async def broken(ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Credentials:
        calls.append({"params": dict(params), **kwargs})
        return await wrap(original, ctx, params, app, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(rendered.oauth, "exchange", broken)
    return calls


def test_an_exchange_that_does_not_send_the_verifier_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def without(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        return await original(ctx, params, app, **{**kwargs, "code_verifier": None})

    _exchange_wrapper(rendered, monkeypatch, without)
    assert violation(lambda: check_code_exchange(run)).startswith(
        "complete_authorization: raised CredentialsError for a genuine callback"
    )


def test_an_exchange_that_returns_a_plain_text_secret_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def plain(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        obtained = await original(ctx, params, app, **kwargs)
        return Credentials({"api_key": obtained.secret("api_key").reveal()})

    _exchange_wrapper(rendered, monkeypatch, plain)
    assert violation(lambda: check_code_exchange(run)) == (
        "complete_authorization: returned the secret field 'api_key' as plain text; wrap secret values in "
        "storelink.Secret"
    )


def test_an_exchange_that_answers_a_used_code_from_a_cache_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache: dict[str, Credentials] = {}

    async def cached(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        if params["code"] not in cache:
            cache[params["code"]] = await original(ctx, params, app, **kwargs)
        return cache[params["code"]]

    _exchange_wrapper(rendered, monkeypatch, cached)
    assert violation(lambda: check_code_exchange(run)).startswith(
        "complete_authorization: returned credentials; check the platform's answer and raise CredentialsError"
    )


def test_an_exchange_that_turns_a_refusal_into_a_bug_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def generic(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        try:
            return await original(ctx, params, app, **kwargs)
        except CredentialsError:
            raise RuntimeError("the token endpoint said no") from None

    _exchange_wrapper(rendered, monkeypatch, generic)
    message = violation(lambda: check_code_exchange(run))
    assert message.startswith("complete_authorization: raised PluginError (")
    assert message.endswith("not CredentialsError; raise CredentialsError when the platform refuses the exchange")


def test_an_exchange_with_the_wrong_client_secret_must_be_refused(
    rendered: SimpleNamespace, run: OAuthRun, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    right = Registry(autoload=False).register_platform(rendered.plugin, slug="oauthrules")
    assert right.info.oauth is not None
    app = right.info.oauth.app_credentials.parse(sim.app_credentials())

    async def configured(original: Any, ctx: Any, params: Any, _app: Credentials, **kwargs: Any) -> Any:
        return await original(ctx, params, app, **kwargs)  # ignores the app credentials it is given

    _exchange_wrapper(rendered, monkeypatch, configured)
    message = violation(lambda: check_code_exchange(run))
    assert message.startswith("complete_authorization: returned credentials; check the platform's answer and raise")
    assert "ConfigurationError or CredentialsError" in message


def test_a_code_in_an_error_message_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def chatty(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        try:
            return await original(ctx, params, app, **kwargs)
        except CredentialsError:
            raise CredentialsError(f"the code {params['code']} was refused") from None

    _exchange_wrapper(rendered, monkeypatch, chatty)
    asyncio.run(check_code_exchange(run))  # the refusals are CredentialsError, as they should be
    message = violation(lambda: check_no_oauth_leaks(run))
    assert message.startswith("complete_authorization: raised an error (CredentialsError) whose text")


def test_a_code_in_a_log_line_is_reported(
    rendered: SimpleNamespace, run: OAuthRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def logging_code(original: Any, ctx: Any, params: Any, app: Credentials, **kwargs: Any) -> Any:
        logging.getLogger("storelink_oauthrules").info("exchanging code %s", params["code"])
        return await original(ctx, params, app, **kwargs)

    _exchange_wrapper(rendered, monkeypatch, logging_code)
    message = violation(lambda: check_no_oauth_leaks(run))
    assert message.startswith(
        "complete_authorization: logged a secret: 'storelink_oauthrules INFO exchanging code <the"
    )


# --------------------------------------------------------------------------- the OAuth hooks themselves

SCHEMA = CredentialSchema(fields=[CredentialField(name="token", label="Token", secret=True, help="Issued.")])


class Declared:
    """A platform that declares an OAuth flow and implements only what a test gives it."""

    oauth: OAuthFlow | None = OAuthFlow(scopes=("read",))

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug="declared",
            title="Declared",
            credential_schema=SCHEMA,
            capabilities=frozenset(),
            setup_guide=("Approve the app.",),
            oauth=self.oauth,
        )

    @hookimpl
    async def authenticate(self, ctx: Any, audience: str) -> Any:
        raise AssertionError("not called by pure checks")

    @hookimpl
    async def check_access(self, ctx: Any) -> Any:
        raise AssertionError("not called by pure checks")


class KeyPlatformWithAnExchange(Declared):
    oauth = None

    @hookimpl
    async def complete_authorization(self, ctx: Any, params: Any) -> Any:
        raise AssertionError("never called")


def test_a_declared_oauth_flow_needs_its_hooks() -> None:
    platform = Registry(autoload=False).register_platform(Declared())
    with pytest.raises(ContractViolation, match=r"^build_authorization_url: is not implemented, but platform_info\(\)"):
        check_capabilities(platform)


def test_oauth_hooks_without_a_declared_flow_are_reported() -> None:
    platform = Registry(autoload=False).register_platform(KeyPlatformWithAnExchange())
    with pytest.raises(ContractViolation, match=r"^complete_authorization: is implemented, but platform_info\(\)"):
        check_capabilities(platform)


# --------------------------------------------------------------------------- resuming from a cursor


@pytest.mark.parametrize("hook", ["fetch_products", "fetch_orders", "fetch_inventory"])
def test_the_template_resumes_each_list_from_a_stored_cursor(rendered: SimpleNamespace, sim: Any, hook: str) -> None:
    assert asyncio.run(check_resume(harness(rendered, sim), hook, max_pages=100))


def test_a_list_of_one_page_is_not_resumed(rendered: SimpleNamespace) -> None:
    small = rendered.Simulator(products=3, clock=FakeClock().monotonic)
    assert not asyncio.run(check_resume(harness(rendered, small), "fetch_products", max_pages=100))


def test_a_token_that_means_something_else_in_a_new_session_is_reported(
    rendered: SimpleNamespace, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = rendered.plugin._token_param
    sessions: list[Any] = []

    def stateful(ctx: Any, cursor: Any, hook: str) -> Any:
        first = not any(ctx is seen for seen in sessions)
        sessions.append(ctx)
        if first and cursor is not None:  # as if the token counted from the session's own last page
            cursor = TokenCursor(token=rendered.api._cursor(rendered.api._offset(cursor.token) + 50))
        return original(ctx, cursor, hook)

    monkeypatch.setattr(rendered.plugin, "_token_param", stateful)
    message = violation(lambda: check_resume(harness(rendered, sim), "fetch_products", max_pages=100))
    assert message == (
        "fetch_products: resumed from the token cursor after page 1 of 3 (TokenCursor(token='bzo1MA==')), it left "
        "out 'prod-51', which the walk returned after the cursor; make the cursor alone say where the next page "
        "starts: no state kept between calls or in the session"
    )


@frozen
class WrappedCursor(TokenCursor):
    """A cursor class of a plugin's own: it does not survive being stored as text."""


def test_a_cursor_that_does_not_survive_its_text_form_is_reported(
    rendered: SimpleNamespace, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wrapped(items: Any, token: str | None, *, total: int | None = None) -> Page[Any]:
        return Page(items=items, next=WrappedCursor(token=token) if token else None, total=total)

    monkeypatch.setattr(rendered.plugin, "token_page", wrapped)
    message = violation(lambda: check_resume(harness(rendered, sim), "fetch_products", max_pages=100))
    assert message.startswith("fetch_products: the cursor after page 1 came back as TokenCursor(token=")
    assert message.endswith("return a plain TokenCursor or OffsetCursor, not a subclass or a wrapper")


def test_the_code_exchange_runs_on_a_runtime_without_credentials(run: OAuthRun) -> None:
    """As the hub's: ``ctx.credentials`` is empty, not the harness's valid credentials."""

    async def held() -> dict[str, object]:
        async with run.harness.runtime(credentials=Credentials({})) as rt:
            return dict(rt.ctx.credentials)

    assert asyncio.run(held()) == {}
