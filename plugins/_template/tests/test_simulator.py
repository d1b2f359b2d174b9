"""The simulator's faults (the core's injector, with the API's error body), and the plugin through them.

Keep these as you make the simulator faithful: they show that your plugin's reads
survive what a real API does under load, and what a lost order response leaves behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from storelink import Address, OrderDraft, OrderLine, OrderOutcomeUnknown, Registry
from storelink.simulation import SimulatedDisconnect
from storelink.testing import runtime_for

from storelink_template import plugin
from storelink_template.simulator import TemplateSimulator

T = TypeVar("T")


def call(sim: TemplateSimulator, request: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run *request* with a client of *sim*'s app, in-process."""

    async def run() -> T:
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
            return await request(client)

    return asyncio.run(run())


async def token(client: httpx.AsyncClient, key: str) -> dict[str, str]:
    response = await client.post("/api/login", headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def with_faults(sim: TemplateSimulator, **rates: float) -> TemplateSimulator:
    """Set *rates* on *sim* once it is set up (logins stay fault-free until then)."""
    for name, rate in rates.items():
        setattr(sim, name, rate)
    return sim


def test_a_5xx_carries_the_api_error_body() -> None:
    sim = TemplateSimulator(products=3, fail_rate=1.0)
    response = call(sim, lambda client: client.get("/api/products"))
    assert response.status_code in {500, 502, 503, 504}
    assert response.json()["error"]["code"] == "unavailable"
    assert sim.stats["faults_5xx"] == 1


def test_a_429_says_when_to_retry() -> None:
    sim = TemplateSimulator(products=3, rate_limit_rate=1.0, retry_after=7)
    response = call(sim, lambda client: client.get("/api/products"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limited"


def test_a_dropped_connection_processes_nothing() -> None:
    sim = TemplateSimulator(products=3, drop_rate=1.0)
    key = sim.issue_credentials()["api_key"]
    with pytest.raises(httpx.TransportError):
        call(sim, lambda client: token(client, key))
    assert sim.stats["logins"] == 0
    assert sim.stats["faults_dropped"] == 1


def test_a_truncated_body_is_cut_off_on_the_way() -> None:
    sim = TemplateSimulator(products=3)
    key = sim.issue_credentials()["api_key"]

    async def read(client: httpx.AsyncClient) -> httpx.Response:
        headers = await token(client, key)
        sim.truncate_rate = 1.0
        return await client.get("/api/products", headers=headers)

    with pytest.raises(SimulatedDisconnect, match="truncated"):
        call(sim, read)


def test_a_lost_order_response_still_commits_the_order() -> None:
    sim = TemplateSimulator(products=3)
    key = sim.issue_credentials()["api_key"]
    line = {"product": "prod-1", "sku": "sku-1-1", "quantity": 1}

    async def create(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        headers = await token(client, key)
        with_faults(sim, lose_order_rate=1.0, truncate_rate=1.0)
        with pytest.raises(SimulatedDisconnect, match="committed the order"):
            await client.post("/api/orders", json={"reference": "LOST-1", "lines": [line]}, headers=headers)
        with_faults(sim, lose_order_rate=0.0, truncate_rate=0.0)
        found = await client.get("/api/orders", params={"reference": "LOST-1"}, headers=headers)
        orders: list[dict[str, Any]] = found.json()["orders"]
        return orders

    assert [o["reference"] for o in call(sim, create)] == ["LOST-1"]
    assert sim.stats["faults_lost_orders"] == 1
    assert "faults_truncated" not in sim.stats  # an order creation's response is lost whole, never cut


def test_faults_follow_the_seed() -> None:
    def statuses(seed: int) -> list[int]:
        sim = TemplateSimulator(products=1, seed=seed, fail_rate=0.3, rate_limit_rate=0.2)

        async def read(client: httpx.AsyncClient) -> list[int]:
            return [(await client.get("/api/products")).status_code for _ in range(40)]

        return call(sim, read)

    first = statuses(1)
    assert first == statuses(1)
    assert first != statuses(2)
    assert {429, 401} <= set(first)  # 401: no token, once past the faults


@pytest.mark.parametrize(("name", "value"), [("fail_rate", 1.5), ("drop_rate", -0.1), ("latency", -1.0)])
def test_a_rate_out_of_range_is_refused_naming_it(name: str, value: float) -> None:
    rates: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=name):
        TemplateSimulator(products=1, **rates)
    sim = TemplateSimulator(products=1)
    with pytest.raises(ValueError, match=name):
        setattr(sim, name, value)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_catalog_reads_whole_through_transient_faults(seed: int) -> None:
    sim = TemplateSimulator(products=60, page_limit=10, seed=seed)
    key = sim.issue_credentials()["api_key"]
    platform = Registry(autoload=False).register_platform(plugin)

    async def walk() -> list[str]:
        transport = httpx.ASGITransport(app=sim.app)
        async with runtime_for(platform, transport, credentials={"api_key": key}, attempts=8) as runtime:
            with_faults(sim, fail_rate=0.1, rate_limit_rate=0.05, drop_rate=0.03, truncate_rate=0.03)
            ids: list[str] = []
            cursor = None
            while True:
                page = await platform.fetch_products(runtime.ctx, cursor)
                ids.extend(p.id for p in page.items)
                if page.next is None:
                    return ids
                cursor = page.next

    assert asyncio.run(walk()) == [f"prod-{n}" for n in range(1, 61)]
    assert sum(sim.stats.get(f"faults_{name}", 0) for name in ("5xx", "rate_limited", "dropped", "truncated")) > 0


def test_a_lost_order_response_is_an_unknown_outcome_that_find_order_settles() -> None:
    sim = TemplateSimulator(products=3)
    key = sim.issue_credentials()["api_key"]
    platform = Registry(autoload=False).register_platform(plugin)
    draft = OrderDraft(
        reference="channel-order-7",
        lines=[OrderLine(product_id="prod-1", sku_id="sku-1-1", quantity=1)],
        shipping_address=Address(name="Ada Lovelace", line1="12 Analytical Row", city="London", country="GB"),
        shipping_method_id="standard",
    )

    async def create() -> tuple[OrderOutcomeUnknown, Any]:
        transport = httpx.ASGITransport(app=sim.app)
        async with runtime_for(platform, transport, credentials={"api_key": key}, attempts=3) as runtime:
            await platform.check_access(runtime.ctx)  # logged in before the faults start
            sim.lose_order_rate = 1.0
            with pytest.raises(OrderOutcomeUnknown) as lost:
                await platform.create_order(runtime.ctx, draft)
            sim.lose_order_rate = 0.0
            return lost.value, await platform.find_order(runtime.ctx, "channel-order-7")

    error, found = asyncio.run(create())
    assert sim.stats["orders"] == 1  # committed once: a create is never sent twice
    assert found is not None
    assert found.reference == "channel-order-7"
    assert key not in str(error)
