"""The connect page in headless Chromium, through Shopify's OAuth install on the simulator's approve page.

Three loopback servers: the Shopify simulator (GraphQL, the approve screen, the token
endpoint), the connect app over a real hub, and a stand-in channel site. The merchant
types the shop's address, is sent to the simulator's approve screen, clicks *Install*
and comes back, through the connect page's callback and validation, to the channel's
redirect URI with the connection id; or clicks *Cancel*, stays on Shopify's "not
installed" page with nothing sent back, and can start the install again. Chromium comes
from ``STORELINK_CHROMIUM`` (``scripts/services.sh``); without it the tests skip (fail
under CI). The harness is :mod:`storelink.testing.browser`'s, its ``page_recorder`` fixture included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import storelink_shopify.plugin
from storelink import Registry, Secret
from storelink.connect import serving_app
from storelink.http import EgressPolicy
from storelink.simulation import serve_in_thread
from storelink.testing import ChannelSite, PageRecorder, serve_app
from storelink_shopify.simulator import ShopifySimulator, SimulatorConfig

pytestmark = [pytest.mark.browser, pytest.mark.screenshots("shopify")]


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[ShopifySimulator, str]]:
    sim = ShopifySimulator(SimulatorConfig(products=20, orders=5))
    with serve_in_thread(sim.app) as url:
        yield sim, url


@pytest.fixture(scope="module")
def channel_site() -> Iterator[ChannelSite]:
    with ChannelSite().serve() as site:
        yield site


@pytest.fixture(scope="module")
def connect_url(
    shop: tuple[ShopifySimulator, str], channel_site: ChannelSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    sim, _ = shop
    database = tmp_path_factory.mktemp("shopify-connect") / "storelink.db"
    registry = Registry(autoload=False)
    registry.register_platform(storelink_shopify.plugin, slug="shopify")
    channel = channel_site.channel
    app_values = sim.app_credentials()

    def make_app(port: int) -> Any:
        return serving_app(
            port=port,
            channels=[channel],
            apps={
                "shopify": {"client_id": app_values["client_id"], "client_secret": Secret(app_values["client_secret"])}
            },
            database=database,
            keys=database.with_name("keys"),
            egress=EgressPolicy.for_tests(),
            registry=registry,
        )

    with serve_app(make_app) as url:
        yield url


def _to_approve_screen(rec: PageRecorder, connect_url: str, site: ChannelSite, shop_url: str, state: str) -> str:
    """Walk the connect page to the simulator's approve screen; return the connect page's authorize step URL."""
    page = rec.page
    page.goto(site.start_session(connect_url, state=state, platform="shopify"))
    page.get_by_label("Store URL").fill(shop_url.upper() + "/")  # typed in capitals, with a slash
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/authorize$"))
    authorize_step = str(page.url)
    assert page.locator("#store-url").inner_text() == shop_url  # normalised and shown back
    for scope in ("read_products", "write_orders", "read_shipping"):
        assert page.locator("code", has_text=scope).is_visible()
    rec.shot("authorize")
    _continue_to_shopify(page, connect_url, shop_url)
    rec.shot("approve")
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
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, shop: tuple[ShopifySimulator, str]
) -> None:
    sim, shop_url = shop
    page, received = page_recorder.page, channel_site.received
    installs = sim.oauth.exchanges
    _to_approve_screen(page_recorder, connect_url, channel_site, shop_url, "installed")
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    page_recorder.shot("back")
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
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, shop: tuple[ShopifySimulator, str]
) -> None:
    sim, shop_url = shop
    page, received = page_recorder.page, channel_site.received
    before = len(received)
    installs = sim.oauth.exchanges
    authorize_step = _to_approve_screen(page_recorder, connect_url, channel_site, shop_url, "cancelled")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_load_state()
    page_recorder.shot("cancelled")
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
