"""Cost-based pacing: the plugin reports ``throttleStatus`` and each query's cost; the core waits for the bucket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import storelink
from storelink_shopify import api, queries
from storelink_shopify.api import GRAPHQL_PATH, requested_cost
from storelink_shopify.queries import OPERATIONS
from storelink_shopify.simulator import ShopifySimulator

from .conftest import Connect

SizedVariables = dict[str, dict[str, Any]]


def variables_of_every_query(simulator: ShopifySimulator) -> SizedVariables:
    variant = simulator.catalog.product(0)["variants"][0]["id"]
    order = simulator.orders.search(None)[0]["id"]
    return {
        "Shop": {},
        "AccessScopes": {},
        "Products": {"first": queries.PRODUCTS_PAGE},
        "VariantInventory": {"first": queries.INVENTORY_PAGE},
        "VariantInventoryById": {"ids": [variant] * 3},
        "DeliveryProfiles": {"first": queries.PROFILES_PAGE},
        "Orders": {"first": queries.ORDERS_PAGE},
        "Order": {"id": order},
        "ShippingMethod": {"id": "gid://shopify/DeliveryMethodDefinition/1"},
    }


async def test_the_cost_of_every_query_before_any_answer_is_what_the_shop_requests(
    simulator: ShopifySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate by Shopify's documented rules matches the requested cost the shop charges up front."""
    monkeypatch.setattr(api, "_REPORTED_COSTS", {})
    token = simulator.issue_credentials()["access_token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator.app), base_url="http://shop") as client:
        for name, variables in variables_of_every_query(simulator).items():
            answer = await client.post(
                GRAPHQL_PATH,
                json={"query": OPERATIONS[name], "variables": variables, "operationName": name},
                headers={"X-Shopify-Access-Token": token},
            )
            charged = answer.json()["extensions"]["cost"]["requestedQueryCost"]
            assert requested_cost(name, variables) == charged, name


async def test_a_cost_the_shop_reported_replaces_the_estimate(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "_REPORTED_COSTS", {})
    inner = httpx.ASGITransport(app=simulator.app)

    class Reprice(httpx.AsyncBaseTransport):
        """Reports Products as costing 123 points (a shop whose cost rules differ from the documented ones)."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            body = json.loads(await response.aread())
            body["extensions"]["cost"]["requestedQueryCost"] = 123
            return httpx.Response(response.status_code, headers={"x-request-id": "r1"}, json=body)

    async with connect(transport=Reprice()) as rt:
        await platform.fetch_products(rt.ctx, None)
    assert requested_cost("Products", {"first": queries.PRODUCTS_PAGE}) == 123


async def test_every_answer_reports_the_shop_s_bucket_to_the_core(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect
) -> None:
    async with connect() as rt:
        assert rt.pacer.budget is None
        await platform.fetch_products(rt.ctx, None)
        budget = rt.pacer.budget
    assert budget is not None
    assert (budget.capacity, budget.restore_rate) == (simulator.bucket.size, simulator.bucket.restore_rate)
    assert budget.available < budget.capacity  # the query was charged


@pytest.mark.parametrize(
    "cost",
    [
        {},
        {"throttleStatus": None},
        {"throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 10}},
        {"throttleStatus": {"maximumAvailable": 0, "currentlyAvailable": 0, "restoreRate": 50}},
        {"throttleStatus": {"maximumAvailable": "1000", "currentlyAvailable": 10, "restoreRate": 50}},
        {"throttleStatus": {"maximumAvailable": 1e400, "currentlyAvailable": 10, "restoreRate": 50}},
    ],
)
async def test_a_throttle_status_without_usable_numbers_is_not_reported(connect: Connect, cost: dict[str, Any]) -> None:
    async with connect() as rt:
        assert api.report_throttle_status(rt.ctx, cost) is False
        assert rt.pacer.budget is None


def load(platform: storelink.Platform, rt: storelink.ConnectionRuntime, pages: int) -> list[Any]:
    """Product pages and inventory pages side by side, as a sync of both kinds sends them."""
    return [platform.fetch_products(rt.ctx, None) for _ in range(pages)] + [
        platform.fetch_inventory(rt.ctx, None, None) for _ in range(pages)
    ]


async def test_concurrent_queries_wait_for_the_bucket_and_are_never_throttled(
    platform: storelink.Platform, make_simulator: Callable[..., ShopifySimulator], connect: Connect
) -> None:
    sim = make_simulator(restore_rate=50.0)
    async with connect(sim=sim) as rt:
        results = await asyncio.gather(*load(platform, rt, 6), return_exceptions=True)
        assert rt.pacer.waits > 0
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sim.stats.get("throttled", 0) == 0


async def test_the_same_queries_unpaced_are_throttled(
    platform: storelink.Platform,
    make_simulator: Callable[..., ShopifySimulator],
    connect: Connect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: without the reports and costs, the same load meets THROTTLED."""
    monkeypatch.setattr(api, "requested_cost", lambda name, variables: None)
    monkeypatch.setattr(api, "report_throttle_status", lambda ctx, cost: False)
    sim = make_simulator(restore_rate=50.0)
    async with connect(sim=sim) as rt:
        await asyncio.gather(*load(platform, rt, 6), return_exceptions=True)
    assert sim.stats.get("throttled", 0) > 0


async def test_a_bucket_drained_by_another_client_costs_one_throttled_answer_then_paces(
    platform: storelink.Platform, make_simulator: Callable[..., ShopifySimulator], connect: Connect
) -> None:
    sim = make_simulator(restore_rate=50.0)
    sim.bucket.drain()
    async with connect(sim=sim) as rt:
        results = await asyncio.gather(*load(platform, rt, 3), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    # The login (never held: it checks the token) and the first query meet the empty bucket; no other query does.
    assert sim.stats.get("throttled", 0) == 2


async def test_an_answer_refused_for_a_missing_scope_does_not_teach_a_cost(
    platform: storelink.Platform, simulator: ShopifySimulator, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal reports a token cost (1 point), not the query's: the estimate stays."""
    monkeypatch.setattr(api, "_REPORTED_COSTS", {})
    variables = {"first": queries.INVENTORY_PAGE}
    estimate = requested_cost("VariantInventory", variables)
    async with connect(simulator.issue_credentials(scopes={"read_products"})) as rt:
        with pytest.raises(storelink.AuthorizationError):
            await platform.fetch_inventory(rt.ctx, None, None)
        assert rt.pacer.budget is not None  # the bucket is still reported
    assert requested_cost("VariantInventory", variables) == estimate
