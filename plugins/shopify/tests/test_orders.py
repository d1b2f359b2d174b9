"""Order creation: orderCreate carrying the reference, find_order, userErrors, and the ledger over them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import storelink
import storelink_shopify.plugin
from storelink import Address, Money, NotFoundError, OrderDraft, OrderLine, Registry, RejectedError
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_shopify import drafts
from storelink_shopify.mapping import REFERENCE_ATTRIBUTE
from storelink_shopify.simulator import ShopifySimulator

from .conftest import SHOP, Connect

ADDRESS = Address(name="Grace Brewster Hopper", line1="1 Navy Yard", city="Arlington", region="VA", country="US")


def _methods(sim: ShopifySimulator) -> list[dict[str, Any]]:
    profile = sim.catalog.delivery_profiles()[0]
    return [m for zone in profile["profileLocationGroups"][0]["locationGroupZones"] for m in zone["methodDefinitions"]]


def _method(sim: ShopifySimulator, name: str) -> str:
    return str(next(m["id"] for m in _methods(sim) if m["name"] == name))


def _draft(sim: ShopifySimulator, reference: str = "chan-order-1", **changes: Any) -> OrderDraft:
    product = sim.catalog.product(1)
    variant = product["variants"][0]
    values: dict[str, Any] = {
        "reference": reference,
        "lines": [OrderLine(product_id=product["id"], sku_id=variant["id"], quantity=3)],
        "shipping_address": ADDRESS,
        "shipping_method_id": _method(sim, "Express"),
    }
    return OrderDraft(**(values | changes))


class Spy(httpx.AsyncBaseTransport):
    """The simulator in-process, recording the GraphQL bodies sent."""

    def __init__(self, sim: ShopifySimulator, *, drop: str | None = None) -> None:
        self.inner = httpx.ASGITransport(app=sim.app)
        self.bodies: list[dict[str, Any]] = []
        self.drop = drop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.bodies.append(body)
        response = await self.inner.handle_async_request(request)
        if self.drop is not None and body.get("operationName") == self.drop:
            self.drop = None
            await response.aread()
            raise httpx.ReadError("connection reset after the shop processed the request", request=request)
        return response

    def sent(self, name: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("operationName") == name]


async def test_an_order_is_created_carrying_its_reference_three_ways(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    spy = Spy(simulator)
    draft = _draft(simulator)
    async with connect(transport=spy) as rt:
        order = await platform.create_order(rt.ctx, draft)
    assert order.reference == draft.reference
    assert order.id.startswith("gid://shopify/Order/")
    (line,) = order.lines
    assert (line.sku_id, line.quantity) == (draft.lines[0].sku_id, 3)
    assert order.totals is not None
    assert order.totals.shipping == Money(amount="15.00", currency="USD")
    assert order.shipping_address is not None
    assert order.shipping_address.name == "Grace Brewster Hopper"
    (sent,) = spy.sent("OrderCreate")
    given = sent["variables"]["order"]
    assert given["sourceIdentifier"] == draft.reference
    assert given["tags"] == [drafts.reference_tag(draft.reference)]
    assert given["customAttributes"] == [{"key": REFERENCE_ATTRIBUTE, "value": draft.reference}]
    assert given["shippingLines"] == [
        {
            "title": "Express",
            "code": draft.shipping_method_id,
            "priceSet": {"shopMoney": {"amount": "15.0", "currencyCode": "USD"}},
        }
    ]
    assert given["shippingAddress"]["firstName"] == "Grace Brewster"
    assert given["shippingAddress"]["lastName"] == "Hopper"
    assert given["financialStatus"] == "PENDING"
    assert sent["variables"]["options"]["sendReceipt"] is False


def test_the_reference_tag_is_short_and_depends_only_on_the_reference() -> None:
    tag = drafts.reference_tag("chan:order/" + "x" * 100)
    assert len(tag) <= 40
    assert tag == drafts.reference_tag("chan:order/" + "x" * 100)
    assert tag != drafts.reference_tag("chan:order/" + "x" * 99)


async def test_find_order_finds_the_order_by_its_reference_and_nothing_for_another(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    async with connect() as rt:
        assert await platform.find_order(rt.ctx, "chan-order-1") is None
        created = await platform.create_order(rt.ctx, _draft(simulator))
        await platform.create_order(rt.ctx, _draft(simulator, reference="chan-order-2"))
        found = await platform.find_order(rt.ctx, "chan-order-1")
    assert found is not None
    assert found.id == created.id
    assert found.reference == "chan-order-1"


async def test_find_order_ignores_an_order_whose_tag_matches_but_whose_reference_does_not(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    order, errors = simulator.orders.create(
        {
            "lineItems": [{"variantId": simulator.catalog.product(0)["variants"][0]["id"], "quantity": 1}],
            "shippingAddress": {"lastName": "X", "address1": "1 St", "city": "Y", "countryCode": "US"},
            "tags": [drafts.reference_tag("chan-order-9")],
            "customAttributes": [{"key": REFERENCE_ATTRIBUTE, "value": "someone-else"}],
        }
    )
    assert order is not None
    assert not errors
    async with connect() as rt:
        assert await platform.find_order(rt.ctx, "chan-order-9") is None


async def test_user_errors_are_a_rejection_naming_the_field(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    product = simulator.catalog.product(0)
    missing = OrderLine(product_id=product["id"], sku_id="gid://shopify/ProductVariant/1", quantity=1)
    async with connect() as rt:
        with pytest.raises(RejectedError) as refused:
            await platform.create_order(rt.ctx, _draft(simulator, lines=[missing]))
        assert await platform.find_order(rt.ctx, "chan-order-1") is None
    assert "lineItems.0.variantId: The product variant does not exist" in refused.value.message
    assert refused.value.code == "INVALID"
    assert refused.value.operation == "create_order"


async def test_a_sku_that_is_not_a_variant_id_is_refused_before_anything_is_sent(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    spy = Spy(simulator)
    line = OrderLine(product_id="p", sku_id="SKU-123", quantity=1)
    async with connect(transport=spy) as rt:
        with pytest.raises(RejectedError, match="not a Shopify variant id"):
            await platform.create_order(rt.ctx, _draft(simulator, lines=[line]))
    assert spy.bodies == []


@pytest.mark.parametrize(
    ("method", "error", "said"),
    [
        ("gid://shopify/DeliveryMethodDefinition/999", NotFoundError, "there is no shipping method"),
        ("Overnight", RejectedError, "is not active"),
        ("Carrier calculated", RejectedError, "priced by a carrier"),
        ("standard", RejectedError, "is not a Shopify delivery method id"),
    ],
)
async def test_a_shipping_method_that_cannot_price_the_order_is_refused_and_no_order_is_made(
    platform: storelink.Platform,
    simulator: ShopifySimulator,
    connect: Connect,
    method: str,
    error: type[Exception],
    said: str,
) -> None:
    spy = Spy(simulator)
    by_name = {m["name"]: m["id"] for m in _methods(simulator)}
    async with connect(transport=spy) as rt:
        with pytest.raises(error, match=said):
            await platform.create_order(rt.ctx, _draft(simulator, shipping_method_id=by_name.get(method, method)))
    assert spy.sent("OrderCreate") == []


async def test_creating_orders_needs_the_write_orders_scope(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    read_only = simulator.issue_credentials(scopes={"read_products", "read_orders", "read_shipping"})
    async with connect(read_only) as rt:
        report = await platform.check_access(rt.ctx)
        with pytest.raises(storelink.AuthorizationError) as denied:
            await platform.create_order(rt.ctx, _draft(simulator))
    (check,) = [c for c in report.checks if c.capability is storelink.Capability.CREATE_ORDERS]
    assert not check.ok
    assert "write_orders" in (check.detail or "")
    assert denied.value.capability == "create_orders"


# --------------------------------------------------------------------------- through the core's ledger


@pytest.fixture
async def hub(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Hub, ShopifySimulator, list[Spy]]]:
    sim = ShopifySimulator(clock=clock.monotonic)
    spies = [Spy(sim, drop="OrderCreate")]
    registry = Registry(autoload=False)
    registry.register_platform(storelink_shopify.plugin, slug="shopify")
    async with await Hub.open(
        database=tmp_path / "orders.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={SHOP.origin: spies[0]},
        clock=clock,
    ) as opened:
        yield opened, sim, spies


async def test_a_lost_answer_is_reconciled_by_reference_and_a_replay_sends_nothing(
    hub: tuple[Hub, ShopifySimulator, list[Spy]],
) -> None:
    opened, sim, (spy,) = hub
    conn = await opened.connect("shopify", store_url=SHOP.origin, credentials=sim.issue_credentials())
    draft = _draft(sim)
    async with opened.session(conn.id) as session:
        first = await session.create_order(draft)
        again = await session.create_order(draft)
    assert first.order.reference == draft.reference
    assert again.replayed
    assert again.order.id == first.order.id
    assert len(spy.sent("OrderCreate")) == 1, "the lost answer is settled by find_order, not by a resend"
    assert len([o for o in sim.orders.search(None) if draft.reference in str(o["customAttributes"])]) == 1
