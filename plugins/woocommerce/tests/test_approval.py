"""WooCommerce's ``wc-auth`` key approval, end to end through the connect page and the simulator.

The browser is an httpx client on the connect app; the merchant's visit to the store is
a client on the simulator; the simulator POSTs the keys to the connect app in-process
(its ``callback_transport``), as WooCommerce does server to server.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from storelink.connect import create_app
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.onboarding import AuthorizationStates
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_woocommerce.simulator import SimulatorConfig, WooSimulator

PUBLIC = "https://connect.example.net"
STORE = "https://example.com"
DELIVERY = "/oauth/deliver/woocommerce"
RETURN = "/oauth/return/woocommerce"


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def _text(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


class Merchant:
    """A browser on the connect page, and the same merchant's visit to the store."""

    def __init__(self, app: Any, sim: WooSimulator, hub: Hub) -> None:
        self.app = app
        self.sim = sim
        self.hub = hub
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)
        self.store = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url=STORE)

    async def to_credentials(self) -> tuple[str, httpx.Response]:
        start = await self.browser.get("/")
        chosen = await self.browser.post("/", data={"platform": "woocommerce", "csrf_token": _csrf(start)})
        assert chosen.status_code == 303, chosen.text
        page = await self.browser.get(chosen.headers["location"])
        sid = chosen.headers["location"].split("/")[2]
        stored = await self.browser.post(
            f"/connect/{sid}/store", data={"store_url": "example.com/shop", "csrf_token": _csrf(page)}
        )
        assert stored.status_code == 303, stored.text
        credentials = await self.browser.get(stored.headers["location"])
        assert credentials.status_code == 200, credentials.text
        return sid, credentials

    async def approval_url(self) -> str:
        sid, page = await self.to_credentials()
        assert "Approve in your store" in page.text
        assert 'name="credential.consumer_key"' in page.text  # the paste form is offered too
        sent = await self.browser.post(f"/connect/{sid}/approve", data={"csrf_token": _csrf(page)})
        assert sent.status_code == 303, sent.text
        return str(sent.headers["location"])

    async def decide(self, url: str, decision: str) -> str:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == STORE
        shown = await self.store.get(f"{parts.path}?{parts.query}")
        assert shown.status_code == 200, shown.text
        decided = await self.store.post(f"{parts.path}?{parts.query}", data={"decision": decision})
        assert decided.status_code == 302, decided.text
        return str(decided.headers["location"])

    async def come_back(self, location: str) -> httpx.Response:
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == PUBLIC + RETURN
        return await self.browser.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def merchant(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Merchant]:
    sim = WooSimulator(SimulatorConfig(products=3, orders=1, install_path="/shop"))
    async with await Hub.open(
        database=tmp_path / "woo.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        transports={STORE: httpx.ASGITransport(app=sim.app)},
    ) as hub:
        app = create_app(hub=hub, public_url=PUBLIC)
        sim.callback_transport = httpx.ASGITransport(app=app)
        walker = Merchant(app, sim, hub)
        async with walker.browser, walker.store:
            yield walker


async def _connection_of(merchant: Merchant, response: httpx.Response) -> Any:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/connected"
    (connection_id,) = parse_qs(location.query)["connection_id"]
    return await merchant.hub.store.get_connection(connection_id)


async def test_approving_in_the_store_connects_it_with_the_posted_key(merchant: Merchant) -> None:
    url = await merchant.approval_url()
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/shop/wc-auth/v1/authorize"
    assert query["scope"] == ["read_write"]
    assert query["callback_url"] == [PUBLIC + DELIVERY]
    assert query["return_url"] == [PUBLIC + RETURN]
    back = await merchant.decide(url, "approve")
    assert merchant.sim.deliveries == [200]
    connection = await _connection_of(merchant, await merchant.come_back(back))
    assert connection.platform == "woocommerce"
    assert connection.store_url.path == "/shop"


async def test_declining_in_the_store_shows_the_key_form_with_why(merchant: Merchant) -> None:
    back = await merchant.decide(await merchant.approval_url(), "deny")
    page = await merchant.come_back(back)
    assert page.status_code == 422, page.text
    assert "You did not give" in _text(page)
    assert 'name="credential.consumer_key"' in page.text
    assert merchant.sim.deliveries == []


async def test_a_key_posted_after_the_browser_came_back_is_waited_for(merchant: Merchant) -> None:
    merchant.sim.hold_deliveries = True
    back = await merchant.decide(await merchant.approval_url(), "approve")
    waiting = await merchant.come_back(back)
    assert waiting.status_code == 202
    assert "waiting for your WooCommerce store to send us the key" in _text(waiting)
    assert 'http-equiv="refresh"' in waiting.text
    assert await merchant.sim.deliver_held() == [200]
    connection = await _connection_of(merchant, await merchant.come_back(back))
    assert connection.platform == "woocommerce"


async def test_a_read_only_key_is_reported_missing_create_orders(merchant: Merchant) -> None:
    url = (await merchant.approval_url()).replace("scope=read_write", "scope=read")
    back = await merchant.decide(url, "approve")
    page = await merchant.come_back(back)
    assert page.status_code == 422, page.text
    assert "does not allow it to create orders" in _text(page)
    assert await merchant.hub.store.list_connections() == []


async def test_a_delivery_for_an_unknown_state_is_refused(merchant: Merchant) -> None:
    answer = await merchant.browser.post(
        DELIVERY, json={"user_id": "not-a-state", **merchant.sim.issue_credentials(), "key_id": 1}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "state_unknown"


async def test_a_state_takes_one_delivery(merchant: Merchant) -> None:
    merchant.sim.hold_deliveries = True
    url = await merchant.approval_url()
    await merchant.decide(url, "approve")
    state = parse_qs(urlsplit(url).query)["user_id"][0]
    assert await merchant.sim.deliver_held() == [200]
    again = await merchant.browser.post(DELIVERY, json={"user_id": state, **merchant.sim.issue_credentials()})
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "state_used"


async def test_a_delivery_after_the_state_expired_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    sim = WooSimulator(SimulatorConfig(products=1, orders=0, install_path="/shop"))
    async with await Hub.open(
        database=tmp_path / "woo.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        transports={STORE: httpx.ASGITransport(app=sim.app)},
    ) as hub:
        states = AuthorizationStates(clock=clock)
        app = create_app(hub=hub, public_url=PUBLIC, authorizations=states)
        sim.callback_transport = httpx.ASGITransport(app=app)
        sim.hold_deliveries = True
        merchant = Merchant(app, sim, hub)
        async with merchant.browser, merchant.store:
            back = await merchant.decide(await merchant.approval_url(), "approve")
            clock.advance(states.ttl + 1)
            assert await sim.deliver_held() == [410]
            late = await merchant.come_back(back)
    assert late.status_code == 410
    assert "took too long" in _text(late)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"user_id=x&consumer_key=y", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b"{" + b'"a": "' + b"x" * 20_000 + b'"}', "application/json"),
        (b'{"user_id": "x"}', "application/json"),
    ],
    ids=["form", "not-an-object", "too-big", "no-key"],
)
async def test_a_delivery_that_is_not_a_small_json_key_is_refused(
    merchant: Merchant, body: bytes, content_type: str
) -> None:
    answer = await merchant.browser.post(DELIVERY, content=body, headers={"content-type": content_type})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_delivery"


async def test_the_posted_secret_is_stored_sealed_and_never_logged(
    merchant: Merchant, caplog: pytest.LogCaptureFixture
) -> None:
    merchant.sim.hold_deliveries = True
    url = await merchant.approval_url()
    await merchant.decide(url, "approve")
    secret = merchant.sim._held[0][1]["consumer_secret"]
    caplog.set_level("DEBUG")
    await merchant.sim.deliver_held()
    state = parse_qs(urlsplit(url).query)["user_id"][0]
    from storelink.onboarding import state_hash

    row = await merchant.hub.store.get_authorization(state_hash(state))
    assert row is not None
    assert row.credentials is not None
    assert secret not in row.credentials
    assert secret not in caplog.text
