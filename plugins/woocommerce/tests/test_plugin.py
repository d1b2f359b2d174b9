"""The WooCommerce hooks over the simulator, through the core's real HTTP machinery."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

import storelink
from storelink import Capability, CredentialsError, NotFoundError, OffsetCursor, RejectedError
from storelink.paging import iterate_pages
from storelink_woocommerce import plugin
from storelink_woocommerce.simulator import SimulatorConfig, WooSimulator

from .conftest import Connect


async def test_a_read_write_key_may_do_everything(platform: storelink.Platform, connect: Connect) -> None:
    async with connect() as rt:
        report = await platform.check_access(rt.ctx)
    assert report.ok
    assert {c.capability for c in report.checks} == set(Capability)


async def test_a_read_only_key_is_told_it_cannot_create_orders_and_nothing_is_created(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    before = len(simulator._orders)
    async with connect(simulator.issue_credentials(permissions="read")) as rt:
        report = await platform.check_access(rt.ctx)
    assert report.missing == (Capability.CREATE_ORDERS,)
    detail = next(c.detail for c in report.checks if not c.ok)
    assert detail is not None
    assert "Read/Write" in detail
    assert len(simulator._orders) == before


async def test_the_write_probe_makes_no_order_with_a_read_write_key(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    before = len(simulator._orders)
    async with connect() as rt:
        await platform.check_access(rt.ctx)
    assert len(simulator._orders) == before
    assert simulator.stats["orders"] == 0


async def test_a_write_only_key_is_refused_as_credentials(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    async with connect(simulator.issue_credentials(permissions="write")) as rt:
        with pytest.raises(CredentialsError):
            await platform.fetch_products(rt.ctx, None)
        assert rt.revoked


async def test_a_revoked_key_revokes_the_connection_after_one_recheck(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    credentials = simulator.issue_credentials()
    async with connect(credentials) as rt:
        await platform.fetch_products(rt.ctx, None)
        simulator.revoke_credentials(credentials)
        failures = simulator.stats["auth_failures"]
        with pytest.raises(CredentialsError):
            await platform.fetch_products(rt.ctx, None)
        assert rt.revoked
    assert simulator.stats["auth_failures"] == failures + 2  # the read, then the one re-check


async def test_a_wrong_secret_is_a_credentials_error_at_once(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    credentials = dict(simulator.issue_credentials(), consumer_secret="cs_" + "0" * 40)
    async with connect(credentials) as rt:
        with pytest.raises(CredentialsError):
            await platform.fetch_products(rt.ctx, None)


async def test_keys_travel_only_in_the_basic_header(platform: storelink.Platform, simulator: WooSimulator) -> None:
    credentials = simulator.issue_credentials()
    seen: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=simulator.app)

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    from storelink import ConnectionRuntime
    from storelink.http import EgressPolicy, HttpConfig

    from .conftest import STORE

    runtime = ConnectionRuntime(
        platform,
        "c1",
        STORE,
        platform.info.credential_schema.parse(credentials),
        {},
        EgressPolicy.for_tests(),
        HttpConfig(),
        transport=Spy(),
    )
    async with runtime:
        await platform.fetch_products(runtime.ctx, None)
    assert seen
    for request in seen:
        assert request.headers["authorization"].startswith("Basic ")
        assert credentials["consumer_key"] not in str(request.url)
        assert credentials["consumer_secret"] not in str(request.url)
        assert request.url.path.startswith("/shop/wp-json/wc/v3/")
    assert simulator.stats["query_string_keys"] == 0


async def test_the_currency_is_read_once_per_connection(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    async with connect() as rt:
        first = await platform.fetch_products(rt.ctx, None)
        requests = simulator.stats["requests"]
        await platform.fetch_products(rt.ctx, None)
        again = simulator.stats["requests"] - requests
    assert first.items[0].variants[0].price is not None
    assert first.items[0].variants[0].price.currency == "USD"
    variable_on_page = sum(1 for i in range(12) if simulator.is_variable(i))
    assert again == 1 + variable_on_page  # the page and its variations; no currency read


async def test_a_page_reports_the_header_total_and_the_next_page(
    platform: storelink.Platform, connect: Connect
) -> None:
    sim = WooSimulator(SimulatorConfig(products=250, install_path="/shop"))
    async with connect(sim=sim) as rt:
        first = await platform.fetch_products(rt.ctx, None)
        last = await platform.fetch_products(rt.ctx, OffsetCursor(offset=200, limit=100))
    assert (len(first.items), first.total, first.next) == (100, 250, OffsetCursor(offset=100, limit=100))
    assert (len(last.items), last.next) == (50, None)
    assert last.items[0].id == str(sim.product_id(200))


async def test_the_core_loop_fetches_pages_in_parallel_and_in_order(
    platform: storelink.Platform, connect: Connect
) -> None:
    sim = WooSimulator(SimulatorConfig(products=450, latency=0.01, install_path="/shop"))
    async with connect(sim=sim) as rt:
        ids = [
            p.id
            async for page, _ in iterate_pages(lambda c: platform.fetch_products(rt.ctx, c), plugin="w", hook="h")
            for p in page.items
        ]
    assert ids == [str(sim.product_id(i)) for i in range(450)]
    assert sim.stats["max_in_flight"] > 1


async def test_a_cursor_that_is_not_a_whole_page_is_a_plugin_error(
    platform: storelink.Platform, connect: Connect
) -> None:
    async with connect() as rt:
        with pytest.raises(storelink.PluginError, match="page number"):
            await platform.fetch_products(rt.ctx, OffsetCursor(offset=5, limit=100))


async def test_variations_are_read_concurrently_with_a_bound(platform: storelink.Platform, connect: Connect) -> None:
    sim = WooSimulator(SimulatorConfig(products=30, latency=0.01, install_path="/shop"))
    async with connect(sim=sim) as rt:
        page = await platform.fetch_products(rt.ctx, None)
    variable = [p for p in page.items if p.extra["type"] == "variable"]
    assert len(variable) == 10
    assert all(len(p.variants) == 3 for p in variable)
    assert sim.stats["variation_reads"] == 10
    assert 1 < sim.stats["max_in_flight"] <= plugin.VARIATION_CONCURRENCY


async def test_stock_is_one_level_per_simple_product_and_per_variation(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    async with connect() as rt:
        page = await platform.fetch_inventory(rt.ctx, None, None)
        chosen = await platform.fetch_inventory(
            rt.ctx, None, (str(simulator.variation_id(1, 2)), str(simulator.product_id(0)), "999999")
        )
    assert len(page.items) == 8 + 4 * 3  # 8 simple products, 4 variable ones with 3 variations
    assert {level.sku_id for level in chosen.items} == {str(simulator.variation_id(1, 2)), str(simulator.product_id(0))}
    variation = next(level for level in chosen.items if level.sku_id == str(simulator.variation_id(1, 2)))
    assert variation.available == simulator.variation(1, 2)["stock_quantity"]


async def test_shipping_methods_are_zone_method_instances(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    async with connect() as rt:
        methods = await platform.fetch_shipping_methods(rt.ctx)
    assert len(methods) == 6
    flat = next(m for m in methods if m.id == "1:11")
    assert flat.rates[0].amount == storelink.Money(amount="6.00", currency="USD")
    free = next(m for m in methods if m.id == "2:22")
    assert (free.enabled, free.rates[0].min_subtotal) == (False, Decimal(50))


async def test_an_unknown_order_is_not_found_with_woocommerce_s_message(
    platform: storelink.Platform, connect: Connect
) -> None:
    async with connect() as rt:
        with pytest.raises(NotFoundError) as missing:
            await platform.get_order(rt.ctx, "424242")
    assert missing.value.code == "woocommerce_rest_shop_order_invalid_id"
    assert "Invalid ID" in missing.value.message


async def test_an_unknown_shipping_method_refuses_the_draft_before_any_write(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    address = storelink.Address(name="Ada Lovelace", line1="1 Row", city="London", country="GB")
    draft = storelink.OrderDraft(
        reference="r-1",
        lines=[storelink.OrderLine(product_id="100", sku_id="100", quantity=1)],
        shipping_address=address,
        shipping_method_id="1:99",
    )
    async with connect() as rt:
        with pytest.raises(RejectedError, match="no shipping method"):
            await platform.create_order(rt.ctx, draft)
    assert simulator.stats["orders"] == 0


async def test_create_then_find_by_the_reference_in_meta_data(
    platform: storelink.Platform, simulator: WooSimulator, connect: Connect
) -> None:
    address = storelink.Address(name="Ada Lovelace", line1="1 Row", city="London", country="GB")
    draft = storelink.OrderDraft(
        reference="ref-42",
        lines=[storelink.OrderLine(product_id="101", sku_id=str(simulator.variation_id(1, 0)), quantity=2)],
        shipping_address=address,
        shipping_method_id="1:11",
    )
    async with connect() as rt:
        assert await platform.find_order(rt.ctx, "ref-42") is None
        created = await platform.create_order(rt.ctx, draft)
        found = await platform.find_order(rt.ctx, "ref-42")
    assert created.reference == "ref-42"
    assert found is not None
    assert found.id == created.id
    stored = simulator._orders[int(created.id)]
    assert stored["line_items"][0]["variation_id"] == simulator.variation_id(1, 0)
    assert stored["shipping_lines"][0]["method_id"] == "flat_rate"


def test_describe_error_reads_the_wordpress_body_and_masks_keys() -> None:
    body = {"code": "x_code", "message": "bad key ck_0123456789abcdef here", "data": {"status": 400}}
    detail = plugin.describe_error(httpx.Response(400, json=body))
    assert detail is not None
    assert (detail.code, detail.message) == ("x_code", "bad key *** here")
    assert plugin.describe_error(httpx.Response(502, text="<html>Bad gateway</html>")) is None


def test_concurrency_helper_keeps_order_and_bound() -> None:
    running = 0
    peak = 0

    async def job(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (5 - n % 5))
        running -= 1
        return n

    calls = [lambda n=n: job(n) for n in range(12)]
    assert asyncio.run(plugin._bounded(3, calls)) == list(range(12))
    assert peak == 3
