"""The OAuth connect flow in headless Chromium: the app served, a real hub, the test platform on loopback.

The platform (``oauth_platform.OAuthPlatform``) is registered in-process; its fake
server, with an approve screen, runs on loopback like the connect app and a stand-in
channel site. Chromium comes from ``STORELINK_CHROMIUM``; without it the tests skip
(fail under CI), as in ``test_browser.py``; the harness is :mod:`storelink.testing.browser`'s,
its ``page_recorder`` fixture included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from storelink import Registry, Secret
from storelink.connect import serving_app
from storelink.http import EgressPolicy
from storelink.simulation import serve_in_thread
from storelink.testing import ChannelSite, PageRecorder, serve_app

from .oauth_platform import CLIENT_ID, CLIENT_SECRET, OAuthPlatform, OAuthShop

pytestmark = [pytest.mark.browser, pytest.mark.screenshots("oauth")]


@pytest.fixture(scope="module")
def shop() -> Iterator[OAuthShop]:
    shop = OAuthShop("http://127.0.0.1")
    with serve_in_thread(shop.asgi) as url:
        shop.origin = url
        yield shop


@pytest.fixture(scope="module")
def channel_site() -> Iterator[ChannelSite]:
    with ChannelSite().serve() as site:
        yield site


@pytest.fixture(scope="module")
def connect_url(channel_site: ChannelSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("oauth-connect") / "storelink.db"
    registry = Registry(autoload=False)
    registry.register_platform(OAuthPlatform(), slug="oauthy")
    channel = channel_site.channel

    def make_app(port: int) -> Any:
        return serving_app(
            port=port,
            channels=[channel],
            apps={"oauthy": {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}},
            database=database,
            keys=database.with_name("keys"),
            egress=EgressPolicy.for_tests(),
            registry=registry,
        )

    with serve_app(make_app) as url:
        yield url


def _to_platform(rec: PageRecorder, connect_url: str, site: ChannelSite, shop: OAuthShop, state: str) -> None:
    page = rec.page
    page.goto(site.start_session(connect_url, state=state))
    page.get_by_label("Store URL").fill(shop.origin.upper() + "/")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/authorize$"))
    assert page.locator("code", has_text="read_things").is_visible()
    rec.shot("authorize")
    page.get_by_role("button", name="Continue to OAuthy").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    rec.shot("approve")
    query = parse_qs(urlsplit(page.url).query)
    assert query["redirect_uri"] == [f"{connect_url}/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]


def test_a_merchant_approves_the_app_and_returns_to_the_channel(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, shop: OAuthShop
) -> None:
    page, received = page_recorder.page, channel_site.received
    _to_platform(page_recorder, connect_url, channel_site, shop, "approved")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    page_recorder.shot("back")
    assert received[-1]["state"] == "approved"
    assert received[-1]["connection_id"].startswith("oauthy_")
    assert CLIENT_SECRET not in page.content()


def test_a_merchant_who_declines_is_told_and_can_try_again(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, shop: OAuthShop
) -> None:
    page, received = page_recorder.page, channel_site.received
    before = len(received)
    _to_platform(page_recorder, connect_url, channel_site, shop, "declined")
    page.get_by_role("button", name="Decline").click()
    page.wait_for_url(re.compile(r"/oauth/callback\?"))
    page_recorder.shot("declined")
    assert "You did not give Acme Marketplace access" in page.locator("#failure").inner_text()
    page.get_by_role("button", name="Try again").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/storelink/callback\?"))
    assert len(received) == before + 1
    assert received[-1]["state"] == "declined"
