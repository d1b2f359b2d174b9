"""The connect page's OAuth flow, over a real hub, with a test platform and its fake server."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest

from storelink import Registry, Secret
from storelink.connect import ConnectSessions, create_app
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.onboarding import AuthorizationStates
from storelink.vault import KeyRing

from .oauth_platform import CLIENT_ID, CLIENT_SECRET, ORIGIN, OTHER_ORIGIN, SCOPES, OAuthPlatform, OAuthShop

PUBLIC = "https://connect.example.net"
CALLBACK = f"{PUBLIC}/oauth/callback"
APPS = {"oauthy": {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}}


class Flow:
    """A browser walking the OAuth connect flow, and the platform it is sent to."""

    def __init__(self, client: httpx.AsyncClient, shop: OAuthShop, kit: Any, app: Any = None) -> None:
        self.app = app
        self.client = client
        self.shop = shop
        self.kit = kit

    async def to_authorize(self, state: str = "chan-state") -> str:
        """Start a session for the OAuth platform, enter the store; return the session id."""
        started = await self.client.post(
            "/api/connect-sessions",
            json={"redirect_uri": self.kit.REDIRECTS[0], "state": state, "platform": "oauthy"},
            headers={"authorization": f"Bearer {self.kit.API_TOKEN}"},
        )
        assert started.status_code == 201, started.text
        sid = str(started.json()["id"])
        link = urlsplit(started.json()["url"])
        assert (await self.client.get(f"{link.path}?{link.query}")).status_code == 303
        page = await self.client.get(f"/connect/{sid}/store")
        assert "Approve" in page.text
        assert "<span>Key</span>" not in page.text
        stored = await self.client.post(
            f"/connect/{sid}/store", data={"store_url": " ACME.example.com/ ", "csrf_token": _csrf(page)}
        )
        assert stored.status_code == 303
        credentials = await self.client.get(stored.headers["location"])
        assert credentials.status_code == 303
        assert credentials.headers["location"] == f"/connect/{sid}/authorize"
        return sid

    async def authorization_url(self, sid: str) -> str:
        """Press Continue on the authorize step; return where the browser is sent."""
        page = await self.client.get(f"/connect/{sid}/authorize")
        assert page.status_code == 200, page.text
        sent = await self.client.post(f"/connect/{sid}/authorize", data={"csrf_token": _csrf(page)})
        assert sent.status_code == 303, sent.text
        return str(sent.headers["location"])

    async def callback(self, url: str, client: httpx.AsyncClient | None = None) -> httpx.Response:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
        return await (client or self.client).get(f"{parts.path}?{parts.query}")


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def _message(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


@pytest.fixture
def shop() -> OAuthShop:
    return OAuthShop()


@pytest.fixture
def other_shop() -> OAuthShop:
    return OAuthShop(OTHER_ORIGIN)


@pytest.fixture
def oauth_registry(registry: Registry) -> Registry:
    registry.register_platform(OAuthPlatform(), slug="oauthy")
    return registry


@pytest.fixture
async def real_hub(
    tmp_path: Path, oauth_registry: Registry, shop: OAuthShop, other_shop: OAuthShop
) -> AsyncIterator[Hub]:
    async with await Hub.open(
        database=tmp_path / "oauth.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=oauth_registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle), OTHER_ORIGIN: httpx.MockTransport(other_shop.handle)},
    ) as hub:
        yield hub


@pytest.fixture
def authorizations(clock: Any) -> AuthorizationStates:
    return AuthorizationStates(clock=clock)


def _app(hub: Any, kit: Any, clock: Any, authorizations: AuthorizationStates, **options: Any) -> Any:
    options = {"public_url": PUBLIC, "apps": APPS, **options}
    return create_app(
        hub=hub,
        channels=[kit.CHANNEL],
        sessions=ConnectSessions(clock=clock),
        authorizations=authorizations,
        **options,
    )


@pytest.fixture
async def flow(real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates, shop: OAuthShop) -> Any:
    app = _app(real_hub, kit, clock, authorizations)
    async with kit.make_client(app) as client:
        yield Flow(client, shop, kit, app)


async def test_the_authorize_step_shows_the_scopes_and_allows_the_platform_as_form_target(flow: Flow) -> None:
    sid = await flow.to_authorize()
    page = await flow.client.get(f"/connect/{sid}/authorize")
    assert page.status_code == 200
    for scope in SCOPES:
        assert f"<code>{scope}</code>" in page.text
    assert "https://acme.example.com" in page.text
    assert f"form-action 'self' {ORIGIN};" in page.headers["content-security-policy"]
    assert "Approve" in page.text


async def test_continue_redirects_to_the_platform_with_state_pkce_and_the_exact_redirect_uri(flow: Flow) -> None:
    sid = await flow.to_authorize()
    url = await flow.authorization_url(sid)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ORIGIN}/oauth/authorize"
    query = parse_qs(parts.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["scope"] == [",".join(SCOPES)]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"][0])
    assert CLIENT_SECRET not in url


async def test_an_approved_authorization_is_checked_stored_and_returns_to_the_channel(
    flow: Flow, real_hub: Hub, shop: OAuthShop
) -> None:
    sid = await flow.to_authorize(state="chan-42")
    returned = await flow.callback(shop.approve(await flow.authorization_url(sid)))
    assert returned.status_code == 303, returned.text
    location = urlsplit(returned.headers["location"])
    assert returned.headers["location"].startswith(flow.kit.REDIRECTS[0] + "?")
    back = dict(parse_qsl(location.query))
    assert back["state"] == "chan-42"
    (conn,) = await real_hub.connections()
    assert back["connection_id"] == conn.id
    assert conn.platform == "oauthy"
    assert str(conn.store_url) == ORIGIN
    (token,) = shop.tokens
    credentials = await real_hub._unseal(conn)
    assert credentials.secret("access_token") == Secret(token)
    envelopes, plain = await real_hub.store.get_credentials(conn.id)
    assert set(envelopes) == {"access_token"}
    assert plain == {}
    assert token not in str(envelopes)
    (exchange,) = shop.exchanges
    assert exchange["redirect_uri"] == CALLBACK
    assert exchange["code_verifier"]


async def test_a_session_makes_one_connection_and_its_state_works_once(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    callback = shop.approve(await flow.authorization_url(sid))
    assert (await flow.callback(callback)).status_code == 303
    again = await flow.callback(callback)
    assert again.status_code == 410
    assert "already been used" in _message(again)


async def test_a_declined_authorization_says_so_and_offers_to_try_again(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    page = await flow.callback(shop.decline(await flow.authorization_url(sid)))
    assert page.status_code == 422
    text = _message(page)
    assert "You did not give Acme Marketplace access to your OAuthy store" in text
    assert "Try again" in text
    assert f'action="/connect/{sid}/authorize"' in page.text
    retry = await flow.client.post(f"/connect/{sid}/authorize", data={"csrf_token": _csrf(page)})
    assert retry.status_code == 303
    assert retry.headers["location"].startswith(f"{ORIGIN}/oauth/authorize?")


async def test_another_platform_error_is_reported_without_its_free_text(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    state = parse_qs(urlsplit(await flow.authorization_url(sid)).query)["state"][0]
    query = urlencode({"error": "server_error", "error_description": "<b>call 555</b>", "state": state})
    page = await flow.client.get(f"/oauth/callback?{query}")
    assert page.status_code == 422
    assert "OAuthy did not complete the sign-in (server_error)" in _message(page)
    assert "555" not in page.text


async def test_an_approval_for_another_store_is_refused(flow: Flow, shop: OAuthShop, real_hub: Hub) -> None:
    sid = await flow.to_authorize()
    page = await flow.callback(shop.approve(await flow.authorization_url(sid), store="other.example.com"))
    assert page.status_code == 422
    text = _message(page)
    assert "You approved Acme Marketplace for https://other.example.com" in text
    assert "you were connecting https://acme.example.com" in text
    assert shop.exchanges == []
    assert await real_hub.connections() == []


async def test_an_expired_state_is_refused(flow: Flow, shop: OAuthShop, clock: Any) -> None:
    sid = await flow.to_authorize()
    callback = shop.approve(await flow.authorization_url(sid))
    clock.now += 601
    page = await flow.callback(callback)
    assert page.status_code == 410
    assert "took too long" in _message(page)
    assert shop.exchanges == []


@pytest.mark.parametrize(
    ("query", "status", "said"),
    [
        ("code=abc", 400, "opened without the sign-in"),
        ("code=abc&state=made-up", 400, "not one we started"),
        ("code=abc&state=a&state=b", 400, "cannot read"),
    ],
)
async def test_a_callback_without_a_known_state_is_refused(flow: Flow, query: str, status: int, said: str) -> None:
    page = await flow.client.get(f"/oauth/callback?{query}")
    assert page.status_code == status
    assert said in _message(page)


async def test_a_callback_in_another_browser_is_refused(flow: Flow, shop: OAuthShop, kit: Any) -> None:
    sid = await flow.to_authorize()
    callback = shop.approve(await flow.authorization_url(sid))
    async with kit.make_client(flow.app) as other:
        page = await flow.callback(callback, other)
    assert page.status_code == 403
    assert "started in another browser" in _message(page)
    assert shop.exchanges == []


async def test_a_callback_the_platform_check_refuses_is_not_exchanged(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    page = await flow.callback(shop.approve(await flow.authorization_url(sid), tamper=True))
    assert page.status_code == 422
    assert "could not verify that this answer came from OAuthy" in _message(page)
    assert shop.exchanges == []


async def test_a_code_the_platform_refuses_says_to_start_again(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    callback = shop.approve(await flow.authorization_url(sid))
    shop.codes.clear()
    page = await flow.callback(callback)
    assert page.status_code == 422
    assert "OAuthy did not accept the sign-in" in _message(page)


async def test_only_the_newest_authorization_of_a_session_works(flow: Flow, shop: OAuthShop) -> None:
    sid = await flow.to_authorize()
    first = shop.approve(await flow.authorization_url(sid))
    second = shop.approve(await flow.authorization_url(sid))
    assert (await flow.callback(first)).status_code == 400
    assert (await flow.callback(second)).status_code == 303


async def test_no_secret_reaches_a_page_a_url_or_a_log(flow: Flow, shop: OAuthShop, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    sid = await flow.to_authorize()
    url = await flow.authorization_url(sid)
    returned = await flow.callback(shop.approve(url))
    (token,) = shop.tokens
    seen = [url, returned.headers["location"], caplog.text]
    for secret in (CLIENT_SECRET, token, shop.exchanges[0]["code_verifier"]):
        assert all(secret not in text for text in seen)


async def test_without_app_credentials_the_merchant_is_told_the_app_is_not_set_up(
    real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates, shop: OAuthShop, caplog: Any
) -> None:
    async with kit.make_client(_app(real_hub, kit, clock, authorizations, apps={})) as client:
        flow = Flow(client, shop, kit)
        sid = await flow.to_authorize()
        page = await client.get(f"/connect/{sid}/authorize")
        assert page.status_code == 503
        assert "This app is not set up to connect OAuthy stores yet" in _message(page)
        assert 'name="csrf_token"' not in page.text
    assert "channel 'acme' has no app credentials for oauthy" in caplog.text


async def test_a_secret_app_field_written_as_text_is_refused(
    real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates, shop: OAuthShop, caplog: Any
) -> None:
    apps = {"oauthy": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}
    async with kit.make_client(_app(real_hub, kit, clock, authorizations, apps=apps)) as client:
        sid = await Flow(client, shop, kit).to_authorize()
        page = await client.get(f"/connect/{sid}/authorize")
    assert page.status_code == 503
    assert "client_secret is secret" in caplog.text
    assert CLIENT_SECRET not in caplog.text + page.text


async def test_the_redirect_uri_is_never_taken_from_the_request(
    real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates, shop: OAuthShop
) -> None:
    app = _app(real_hub, kit, clock, authorizations)
    async with kit.make_client(app, base_url="http://evil.example") as client:
        flow = Flow(client, shop, kit)
        url = await flow.authorization_url(await flow.to_authorize())
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == [CALLBACK]


async def test_without_a_public_url_an_oauth_platform_is_not_set_up(
    real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates, shop: OAuthShop
) -> None:
    async with kit.make_client(_app(real_hub, kit, clock, authorizations, public_url=None)) as client:
        sid = await Flow(client, shop, kit).to_authorize()
        page = await client.get(f"/connect/{sid}/authorize")
    assert page.status_code == 503
    assert "not set up" in _message(page)


async def test_the_api_sends_an_oauth_platform_to_a_connect_session(flow: Flow) -> None:
    body = {"platform": "oauthy", "store_url": "acme.example.com", "credentials": {"access_token": "x"}}
    response = await flow.client.post(
        "/api/connections", json=body, headers={"authorization": f"Bearer {flow.kit.API_TOKEN}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "oauth_platform"
    assert "/api/connect-sessions" in response.json()["error"]["message"]


async def test_a_key_platform_has_no_authorize_step(
    real_hub: Hub, kit: Any, clock: Any, authorizations: AuthorizationStates
) -> None:
    async with kit.make_client(_app(real_hub, kit, clock, authorizations, public_url=None)) as client:
        sid = await kit.Walker(client).to_credentials(platform="shop")
        page = await client.get(f"/connect/{sid}/authorize")
    assert page.status_code == 303
    assert page.headers["location"] == f"/connect/{sid}/credentials"


def test_serving_app_passes_the_deployments_apps_on(tmp_path: Path, kit: Any) -> None:
    from storelink.connect import serving_app

    app = serving_app(channels=[kit.CHANNEL], public_url=PUBLIC, apps=APPS, database=tmp_path / "s.db")
    assert app.state.connect.apps["oauthy"]["client_id"] == CLIENT_ID
    assert app.state.connect.callback_uri() == CALLBACK
