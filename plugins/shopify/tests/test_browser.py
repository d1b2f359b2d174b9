"""The connect page in headless Chromium, through Shopify's OAuth install on the simulator's approve page.

Three loopback servers: the Shopify simulator (GraphQL, the approve screen, the token
endpoint), the connect app over a real hub, and a stand-in channel site. The merchant
types the shop's address, is sent to the simulator's approve screen, clicks *Install*
and comes back, through the connect page's callback and validation, to the channel's
redirect URI with the connection id; or clicks *Cancel*, stays on Shopify's "not
installed" page with nothing sent back, and can start the install again. Chromium comes
from ``STORELINK_CHROMIUM`` (``scripts/services.sh``); without it the tests skip (fail
under CI).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import storelink_shopify.plugin
from storelink import Registry, Secret
from storelink.connect import Channel, hash_token, serving_app
from storelink.http import EgressPolicy
from storelink.simulation import serve_in_thread
from storelink_shopify.simulator import ShopifySimulator, SimulatorConfig

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[3]
SHOTS = Path(os.environ.get("STORELINK_ARTIFACTS") or ROOT / "artifacts" / "screenshots")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
API_TOKEN = f"channel-token-{uuid.uuid4()}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


async def _channel_callback(request: Request) -> HTMLResponse:
    request.app.state.received.append(dict(request.query_params))
    return HTMLResponse("<!doctype html><title>Acme</title><h1>Acme Marketplace</h1>")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = os.environ.get("STORELINK_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {path}: run scripts/services.sh (chromium_install)")
        pytest.skip(f"Chromium is missing at {path} (scripts/services.sh installs it)")
    return path


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[ShopifySimulator, str]]:
    sim = ShopifySimulator(SimulatorConfig(products=20, orders=5))
    with serve_in_thread(sim.app) as url:
        yield sim, url


@pytest.fixture(scope="module")
def channel_site() -> Iterator[tuple[str, list[dict[str, str]]]]:
    app = Starlette(routes=[Route("/storelink/callback", _channel_callback)])
    app.state.received = []
    with serve_in_thread(app) as url:
        yield url, app.state.received


@pytest.fixture(scope="module")
def connect_url(
    shop: tuple[ShopifySimulator, str], channel_site: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    sim, _ = shop
    database = tmp_path_factory.mktemp("shopify-connect") / "storelink.db"
    registry = Registry(autoload=False)
    registry.register_platform(storelink_shopify.plugin, slug="shopify")
    channel = Channel(
        id="acme",
        name="Acme Marketplace",
        redirect_uris=(f"{channel_site[0]}/storelink/callback",),
        api_token_sha256=hash_token(API_TOKEN),
    )
    app_values = sim.app_credentials()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = serving_app(
        port=port,
        channels=[channel],
        apps={"shopify": {"client_id": app_values["client_id"], "client_secret": Secret(app_values["client_secret"])}},
        database=database,
        keys=database.with_name("keys"),
        egress=EgressPolicy.for_tests(),
        registry=registry,
    )
    server = _Server(uvicorn.Config(app, lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(15), "the connect app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture
def page(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 900, "height": 760})
        context.set_default_timeout(15_000)
        yield context.new_page()
        browser.close()


def _start(connect_url: str, channel_url: str, state: str) -> str:
    response = httpx.post(
        f"{connect_url}/api/connect-sessions",
        json={"redirect_uri": f"{channel_url}/storelink/callback", "state": state, "platform": "shopify"},
        headers={"authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"shopify-{name}.png"), full_page=True)


def _to_approve_screen(page: Any, connect_url: str, channel_url: str, shop_url: str, state: str) -> str:
    """Walk the connect page to the simulator's approve screen; return the connect page's authorize step URL."""
    page.goto(_start(connect_url, channel_url, state))
    page.get_by_label("Store URL").fill(shop_url.upper() + "/")  # typed in capitals, with a slash
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/authorize$"))
    authorize_step = str(page.url)
    assert page.locator("#store-url").inner_text() == shop_url  # normalised and shown back
    for scope in ("read_products", "write_orders", "read_shipping"):
        assert page.locator("code", has_text=scope).is_visible()
    _shot(page, f"{state}-authorize")
    _continue_to_shopify(page, connect_url, shop_url)
    _shot(page, f"{state}-approve")
    return authorize_step


def _continue_to_shopify(page: Any, connect_url: str, shop_url: str) -> None:
    page.get_by_role("button", name="Continue to Shopify").click()
    page.wait_for_url(re.compile(r"/admin/oauth/authorize\?"))
    assert page.url.startswith(f"{shop_url}/admin/oauth/authorize?")
    query = parse_qs(urlsplit(page.url).query)
    assert query["redirect_uri"] == [f"{connect_url}/oauth/callback"]
    assert set(query["scope"][0].split(",")) >= {"read_products", "read_orders", "write_orders"}
    assert page.get_by_role("heading", name="Install app").is_visible()


def test_a_merchant_installs_the_app_and_returns_to_the_channel_with_the_connection(
    page: Any, connect_url: str, channel_site: Any, shop: tuple[ShopifySimulator, str]
) -> None:
    sim, shop_url = shop
    channel_url, received = channel_site
    installs = sim.oauth.exchanges
    _to_approve_screen(page, connect_url, channel_url, shop_url, "installed")
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    _shot(page, "installed-back")
    back = parse_qs(urlsplit(page.url).query)
    assert back["state"] == ["installed"]
    assert back["connection_id"][0].startswith("shopify_")
    assert received[-1] == {"state": "installed", "connection_id": back["connection_id"][0]}
    assert sim.oauth.exchanges == installs + 1
    assert page.get_by_role("heading", name="Acme Marketplace").is_visible()
    for token in sim.tokens:
        assert token not in page.url
    assert sim.app_credentials()["client_secret"] not in page.content()


def test_a_merchant_who_cancels_stays_on_shopify_and_can_install_again(
    page: Any, connect_url: str, channel_site: Any, shop: tuple[ShopifySimulator, str]
) -> None:
    sim, shop_url = shop
    channel_url, received = channel_site
    before = len(received)
    installs = sim.oauth.exchanges
    authorize_step = _to_approve_screen(page, connect_url, channel_url, shop_url, "cancelled")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_load_state()
    _shot(page, "cancelled")
    assert page.title() == "App not installed"
    assert page.url.startswith(shop_url)  # Shopify sends nothing back for a merchant who cancels
    assert len(received) == before
    assert sim.oauth.exchanges == installs
    # Back on the connect page, the merchant starts the install again and approves it this time.
    page.goto(authorize_step)
    _continue_to_shopify(page, connect_url, shop_url)
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    assert len(received) == before + 1
    assert received[-1]["state"] == "cancelled"
    assert received[-1]["connection_id"].startswith("shopify_")
