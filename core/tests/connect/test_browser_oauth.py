"""The OAuth connect flow in headless Chromium: the app served, a real hub, the test platform on loopback.

The platform (``oauth_platform.OAuthPlatform``) is registered in-process; its fake
server, with an approve screen, runs on loopback like the connect app and a stand-in
channel site. Chromium comes from ``STORELINK_CHROMIUM``; without it the tests skip
(fail under CI), as in ``test_browser.py``.
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

from storelink import Registry, Secret
from storelink.connect import Channel, hash_token, serving_app
from storelink.http import EgressPolicy
from storelink.simulation import serve_in_thread

from .oauth_platform import CLIENT_ID, CLIENT_SECRET, OAuthPlatform, OAuthShop

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
def shop() -> Iterator[OAuthShop]:
    shop = OAuthShop("http://127.0.0.1")
    with serve_in_thread(shop.asgi) as url:
        shop.origin = url
        yield shop


@pytest.fixture(scope="module")
def channel_site() -> Iterator[tuple[str, list[dict[str, str]]]]:
    app = Starlette(routes=[Route("/storelink/callback", _channel_callback)])
    app.state.received = []
    with serve_in_thread(app) as url:
        yield url, app.state.received


@pytest.fixture(scope="module")
def connect_url(channel_site: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("oauth-connect") / "storelink.db"
    registry = Registry(autoload=False)
    registry.register_platform(OAuthPlatform(), slug="oauthy")
    channel = Channel(
        id="acme",
        name="Acme Marketplace",
        redirect_uris=(f"{channel_site[0]}/storelink/callback",),
        api_token_sha256=hash_token(API_TOKEN),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = serving_app(
        port=port,
        channels=[channel],
        apps={"oauthy": {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}},
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
        json={"redirect_uri": f"{channel_url}/storelink/callback", "state": state},
        headers={"authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"oauth-{name}.png"), full_page=True)


def _to_platform(page: Any, connect_url: str, channel_url: str, shop: OAuthShop, state: str) -> None:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(_start(connect_url, channel_url, state))
    page.get_by_label("Store URL").fill(shop.origin.upper() + "/")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/authorize$"))
    assert page.locator("code", has_text="read_things").is_visible()
    _shot(page, f"{state}-authorize")
    page.get_by_role("button", name="Continue to OAuthy").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    _shot(page, f"{state}-approve")
    query = parse_qs(urlsplit(page.url).query)
    assert query["redirect_uri"] == [f"{connect_url}/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]


def test_a_merchant_approves_the_app_and_returns_to_the_channel(
    page: Any, connect_url: str, channel_site: Any, shop: OAuthShop
) -> None:
    channel_url, received = channel_site
    _to_platform(page, connect_url, channel_url, shop, "approved")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    _shot(page, "approved-back")
    assert received[-1]["state"] == "approved"
    assert received[-1]["connection_id"].startswith("oauthy_")
    assert CLIENT_SECRET not in page.content()


def test_a_merchant_who_declines_is_told_and_can_try_again(
    page: Any, connect_url: str, channel_site: Any, shop: OAuthShop
) -> None:
    channel_url, received = channel_site
    before = len(received)
    _to_platform(page, connect_url, channel_url, shop, "declined")
    page.get_by_role("button", name="Decline").click()
    page.wait_for_url(re.compile(r"/oauth/callback\?"))
    _shot(page, "declined")
    assert "You did not give Acme Marketplace access" in page.locator("#failure").inner_text()
    page.get_by_role("button", name="Try again").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    assert len(received) == before + 1
    assert received[-1]["state"] == "declined"
