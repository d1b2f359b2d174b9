"""The hooks against the simulated shop, through the core's real runtime (tokens, retries, errors)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

import storelink
from storelink import (
    Capability,
    CredentialsError,
    NotFoundError,
    OffsetCursor,
    RejectedError,
    RetryableError,
    TokenCursor,
)
from storelink.testing import FakeClock
from storelink_shopify import queries
from storelink_shopify.simulator import ShopifySimulator

from .conftest import Connect


async def test_the_token_travels_in_x_shopify_access_token_and_never_as_a_bearer(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    sent: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=simulator.app)

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return await inner.handle_async_request(request)

    credentials = simulator.issue_credentials()
    async with connect(credentials, transport=Spy()) as rt:
        await platform.fetch_products(rt.ctx, None)
    assert [r.headers.get("x-shopify-access-token") for r in sent] == [credentials["access_token"]] * 2
    assert all("authorization" not in r.headers for r in sent)


async def test_check_access_names_exactly_the_scopes_the_app_lacks(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    credentials = simulator.issue_credentials(scopes={"read_products", "write_orders"})
    async with connect(credentials) as rt:
        report = await platform.check_access(rt.ctx)
    by_capability = {c.capability: c for c in report.checks}
    assert set(by_capability) == platform.info.capabilities
    assert by_capability[Capability.PRODUCTS].ok
    assert by_capability[Capability.ORDERS].ok, "write_orders implies read_orders"
    inventory, shipping = by_capability[Capability.INVENTORY], by_capability[Capability.SHIPPING_METHODS]
    assert not inventory.ok
    assert "read_inventory" in (inventory.detail or "")
    assert not shipping.ok
    assert "read_shipping" in (shipping.detail or "")
    assert "read_products" not in (inventory.detail or "")


async def test_a_query_outside_the_granted_scopes_is_an_authorization_error_naming_the_capability(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    async with connect(simulator.issue_credentials(scopes={"read_products"})) as rt:
        with pytest.raises(storelink.AuthorizationError) as denied:
            await platform.fetch_orders(rt.ctx, None, None)
    assert denied.value.capability == "orders"
    assert "read_orders" in denied.value.message


async def test_an_uninstalled_app_s_token_is_revoked_after_one_revalidation(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    credentials = simulator.issue_credentials()
    async with connect(credentials) as rt:
        await platform.fetch_products(rt.ctx, None)
        simulator.revoke_credentials(credentials)
        with pytest.raises(CredentialsError):
            await platform.fetch_products(rt.ctx, None)
        assert rt.revoked
    assert simulator.stats["unauthorized"] == 2  # the data request, then the one re-validation


async def test_a_throttled_query_is_retried_after_the_wait_the_cost_extension_gives(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect, clock: FakeClock
) -> None:
    async with connect() as rt:
        await platform.fetch_products(rt.ctx, None)  # the token is validated; the bucket holds points
        simulator.bucket.drain()  # other clients of the app spent everything
        before = len(clock.sleeps)
        page = await platform.fetch_products(rt.ctx, None)
    assert page.items
    assert simulator.stats["throttled"] == 1
    requested = 2 + queries.PRODUCTS_PAGE * (1 + (2 + queries.VARIANTS_PER_PRODUCT) + (2 + queries.IMAGES_PER_PRODUCT))
    assert clock.sleeps[before:] == [pytest.approx(requested / simulator.config.restore_rate, abs=0.1)]


async def test_throttling_that_outlasts_the_retries_is_a_retryable_error_with_the_wait(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect, clock: FakeClock
) -> None:
    async with connect(attempts=1) as rt:
        await platform.fetch_products(rt.ctx, None)
        simulator.bucket.drain()
        with pytest.raises(RetryableError) as throttled:
            await platform.fetch_products(rt.ctx, None)
    assert throttled.value.code == "THROTTLED"
    assert throttled.value.retry_after is not None
    assert throttled.value.retry_after > 0


@pytest.mark.parametrize("name", sorted(queries.OPERATIONS))
def test_every_query_s_requested_cost_fits_the_single_query_limit(simulator: ShopifySimulator, name: str) -> None:
    pages = {
        "Products": queries.PRODUCTS_PAGE,
        "VariantInventory": queries.INVENTORY_PAGE,
        "VariantInventoryById": queries.INVENTORY_PAGE,
        "DeliveryProfiles": queries.PROFILES_PAGE,
        "Orders": queries.ORDERS_PAGE,
    }
    size = pages.get(name, 1)
    variables = {"first": size, "ids": ["gid://shopify/ProductVariant/1"] * size}
    assert simulator._requested_cost(name, queries.OPERATIONS[name], variables) <= simulator.config.max_query_cost


async def test_a_query_above_the_single_query_limit_is_refused(
    platform: storelink.Platform, make_simulator: object, connect: Connect
) -> None:
    small = make_simulator(max_query_cost=100.0)  # type: ignore[operator]
    async with connect(sim=small) as rt:
        with pytest.raises(RejectedError, match="exceeds the single query max cost"):
            await platform.fetch_products(rt.ctx, None)


async def test_products_walk_by_opaque_cursor_to_the_end(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    seen: list[str] = []
    cursor: TokenCursor | None = None
    async with connect() as rt:
        while True:
            page = await platform.fetch_products(rt.ctx, cursor)
            seen += [p.id for p in page.items]
            assert page.total is None
            if page.next is None:
                break
            assert isinstance(page.next, TokenCursor)
            cursor = page.next
    assert len(seen) == len(set(seen)) == simulator.config.products


async def test_orders_since_keep_only_those_updated_at_or_after_it(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    since = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    async with connect() as rt:
        page = await platform.fetch_orders(rt.ctx, None, since)
    expected = [o["id"] for o in simulator.orders.search(None) if datetime.fromisoformat(o["updatedAt"]) >= since]
    assert [o.id for o in page.items] == expected[: queries.ORDERS_PAGE]
    assert all(o.updated_at is not None and o.updated_at >= since for o in page.items)


async def test_get_order_by_global_or_legacy_id_and_not_found(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    first = simulator.orders.search(None)[0]["id"]
    async with connect() as rt:
        assert (await platform.get_order(rt.ctx, first)).id == first
        assert (await platform.get_order(rt.ctx, first.rsplit("/", 1)[1])).id == first
        with pytest.raises(NotFoundError):
            await platform.get_order(rt.ctx, "gid://shopify/Order/1")
        with pytest.raises(NotFoundError, match="not a Shopify order id"):
            await platform.get_order(rt.ctx, "gid://shopify/Product/1")


async def test_inventory_for_given_variants_pages_by_offset_and_skips_unknown_ids(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    variants = [v["id"] for i in range(3) for v in simulator.catalog.product(i)["variants"]]
    wanted = (*variants, "gid://shopify/ProductVariant/1", "not-a-gid")
    async with connect() as rt:
        page = await platform.fetch_inventory(rt.ctx, None, wanted)
    assert page.next is None if len(wanted) <= queries.INVENTORY_PAGE else isinstance(page.next, OffsetCursor)
    assert {level.sku_id for level in page.items} <= set(variants)
    assert all(level.location_id and level.available >= 0 for level in page.items)


async def test_shipping_methods_come_from_every_delivery_profile_with_their_rates(
    platform: storelink.Platform, connect: Connect
) -> None:
    async with connect() as rt:
        methods = await platform.fetch_shipping_methods(rt.ctx)
    by_title = {m.title: m for m in methods}
    assert {"Standard", "Express", "Overnight", "International", "Carrier calculated", "Freight"} <= set(by_title)
    assert str(by_title["Standard"].rates[0].amount) == "5.0 USD"
    assert not by_title["Overnight"].enabled
    assert by_title["Carrier calculated"].rates == ()
    assert by_title["Carrier calculated"].extra["calculated"]
