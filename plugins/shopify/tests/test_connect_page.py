"""Connecting a shop through the core's connect page: the OAuth install against the simulator.

A real hub (SQLite, sealed credentials) whose only route to the shop is the simulator
in-process; a browser that walks the connect page, is sent to the simulator's approve
screen, installs the app and follows the redirect back; then the saved connection reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

import storelink_shopify.plugin
from storelink import Registry, Secret
from storelink.connect import Channel, ConnectSessions, create_app, hash_token
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.onboarding import AuthorizationStates
from storelink.vault import KeyRing
from storelink_shopify.simulator import ShopifySimulator

from .conftest import SHOP

PUBLIC = "https://connect.example.net"
CALLBACK = f"{PUBLIC}/oauth/callback"
API_TOKEN = "channel-api-token-for-tests"
CHANNEL_RETURN = "https://chan.example.com/storelink/return"
CHANNEL = Channel(
    id="acme", name="Acme Marketplace", redirect_uris=(CHANNEL_RETURN,), api_token_sha256=hash_token(API_TOKEN)
)


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def _text(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


class Merchant:
    """A browser: the connect page in one client, the shop's admin in another."""

    def __init__(self, connect: httpx.AsyncClient, shop: httpx.AsyncClient) -> None:
        self.connect = connect
        self.shop = shop

    async def to_shopify(self, typed: str = "MyStore") -> str:
        """Start a connect session, enter the shop, press Continue; return the authorization URL."""
        started = await self.connect.post(
            "/api/connect-sessions",
            json={"redirect_uri": CHANNEL_RETURN, "state": "chan-7", "platform": "shopify"},
            headers={"authorization": f"Bearer {API_TOKEN}"},
        )
        assert started.status_code == 201, started.text
        sid = started.json()["id"]
        link = urlsplit(started.json()["url"])
        assert (await self.connect.get(f"{link.path}?{link.query}")).status_code == 303
        page = await self.connect.get(f"/connect/{sid}/store")
        stored = await self.connect.post(f"/connect/{sid}/store", data={"store_url": typed, "csrf_token": _csrf(page)})
        assert stored.status_code == 303, stored.text
        assert (await self.connect.get(stored.headers["location"])).headers["location"] == f"/connect/{sid}/authorize"
        page = await self.connect.get(f"/connect/{sid}/authorize")
        assert page.status_code == 200, page.text
        sent = await self.connect.post(f"/connect/{sid}/authorize", data={"csrf_token": _csrf(page)})
        assert sent.status_code == 303, sent.text
        return str(sent.headers["location"])

    async def install(self, authorization_url: str) -> str:
        """Open the approve screen, click Install; return where Shopify redirects the browser."""
        parts = urlsplit(authorization_url)
        assert f"{parts.scheme}://{parts.netloc}" == SHOP.origin
        page = await self.shop.get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200, page.text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        form = {k: html.unescape(v) for k, v in fields.items()} | {"decision": "install"}
        answer = await self.shop.post("/admin/oauth/authorize", data=form)
        assert answer.status_code == 302, answer.text
        return str(answer.headers["location"])

    async def back(self, callback: str) -> httpx.Response:
        parts = urlsplit(callback)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
        return await self.connect.get(f"{parts.path}?{parts.query}")


@pytest.fixture
async def hub(tmp_path: Path, simulator: ShopifySimulator) -> AsyncIterator[Hub]:
    registry = Registry(autoload=False)
    registry.register_platform(storelink_shopify.plugin, slug="shopify")
    async with await Hub.open(
        database=tmp_path / "shopify.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={SHOP.origin: httpx.ASGITransport(app=simulator.app)},
    ) as hub:
        yield hub


@pytest.fixture
def make_merchant(hub: Hub, simulator: ShopifySimulator) -> Callable[..., Any]:
    def make(apps: dict[str, Any] | None = None) -> Any:
        app_values = {"client_id": simulator.oauth.client_id, "client_secret": Secret(simulator.oauth.client_secret)}
        app = create_app(
            hub=hub,
            channels=[CHANNEL],
            sessions=ConnectSessions(),
            authorizations=AuthorizationStates(),
            public_url=PUBLIC,
            apps=apps if apps is not None else {"shopify": app_values},
        )

        class Browser:
            async def __aenter__(self) -> Merchant:
                self.connect = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver", follow_redirects=False
                )
                self.shop = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=simulator.app), base_url=SHOP.origin, follow_redirects=False
                )
                return Merchant(self.connect, self.shop)

            async def __aexit__(self, *exc: object) -> None:
                await self.connect.aclose()
                await self.shop.aclose()

        return Browser()

    return make


async def test_a_shop_is_connected_through_the_install_and_its_saved_connection_reads(
    hub: Hub, simulator: ShopifySimulator, make_merchant: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with make_merchant() as merchant:
        url = await merchant.to_shopify("admin.shopify.com/store/MyStore/products")
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["redirect_uri"] == CALLBACK
        assert query["client_id"] == simulator.oauth.client_id
        returned = await merchant.back(await merchant.install(url))
    assert returned.status_code == 303, _text(returned)
    assert returned.headers["location"].startswith(CHANNEL_RETURN + "?")
    back = dict(parse_qsl(urlsplit(returned.headers["location"]).query))
    (conn,) = await hub.connections()
    assert back == {"connection_id": conn.id, "state": "chan-7"}
    assert conn.platform == "shopify"
    assert str(conn.store_url) == SHOP.origin
    envelopes, plain = await hub.store.get_credentials(conn.id)
    assert set(envelopes) == {"access_token"}
    assert plain == {}
    async with hub.session(conn.id) as session:
        products = [p async for p in session.products()]
    assert len(products) == simulator.config.products
    assert simulator.oauth.exchanges == 1
    (token,) = simulator.tokens
    for secret in (token, simulator.oauth.client_secret):
        assert secret not in caplog.text + url + returned.headers["location"] + str(envelopes)


async def test_a_tampered_callback_is_refused_and_nothing_is_exchanged(
    hub: Hub, simulator: ShopifySimulator, make_merchant: Callable[..., Any]
) -> None:
    async with make_merchant() as merchant:
        callback = await merchant.install(await merchant.to_shopify())
        parts = urlsplit(callback)
        params = dict(parse_qsl(parts.query))
        params["timestamp"] = str(int(params["timestamp"]) + 1)
        page = await merchant.back(f"{CALLBACK}?{urlencode(params)}")
    assert page.status_code == 422
    assert "could not verify that this answer came from Shopify" in _text(page)
    assert simulator.oauth.exchanges == 0
    assert await hub.connections() == []


async def test_a_callback_signed_by_another_app_is_refused(
    hub: Hub, simulator: ShopifySimulator, make_merchant: Callable[..., Any]
) -> None:
    other = {"client_id": simulator.oauth.client_id, "client_secret": Secret("shpss_" + "1" * 32)}
    async with make_merchant(apps={"shopify": other}) as merchant:
        page = await merchant.back(await merchant.install(await merchant.to_shopify()))
    assert page.status_code == 422
    assert "could not verify" in _text(page)
    assert await hub.connections() == []


async def test_a_shop_that_grants_less_than_asked_is_not_connected(
    tmp_path: Path, make_simulator: Callable[..., ShopifySimulator]
) -> None:
    sim = make_simulator(granted_scopes=("read_products", "read_orders", "read_shipping"))
    registry = Registry(autoload=False)
    registry.register_platform(storelink_shopify.plugin, slug="shopify")
    async with await Hub.open(
        database=tmp_path / "short.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={SHOP.origin: httpx.ASGITransport(app=sim.app)},
    ) as hub:
        app = create_app(
            hub=hub,
            channels=[CHANNEL],
            sessions=ConnectSessions(),
            authorizations=AuthorizationStates(),
            public_url=PUBLIC,
            apps={"shopify": {"client_id": sim.oauth.client_id, "client_secret": Secret(sim.oauth.client_secret)}},
        )
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as connect,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url=SHOP.origin) as shop,
        ):
            merchant = Merchant(connect, shop)
            page = await merchant.back(await merchant.install(await merchant.to_shopify()))
        assert page.status_code == 422
        assert "Shopify does not allow it to read inventory" in _text(page)
        assert await hub.connections() == []
