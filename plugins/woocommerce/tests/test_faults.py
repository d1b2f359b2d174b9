"""The simulated store's faults (the core's injector, with WordPress's error body) and the plugin through them."""

from __future__ import annotations

import httpx
import pytest

import storelink
from storelink_woocommerce.simulator import SimulatorConfig, WooSimulator

from .conftest import Connect


async def test_a_5xx_carries_wordpress_error_body() -> None:
    sim = WooSimulator(SimulatorConfig(products=3, install_path="/shop", fail_rate=1.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="https://example.com") as client:
        response = await client.get("/shop/wp-json/wc/v3/products")
    assert response.status_code in {500, 502, 503, 504}
    assert response.json() == {
        "code": "internal_server_error",
        "message": "The site is experiencing technical difficulties.",
        "data": {"status": response.status_code},
    }
    assert sim.stats["faults_5xx"] == 1


async def test_a_429_says_when_to_retry() -> None:
    sim = WooSimulator(SimulatorConfig(products=3, rate_limit_rate=1.0, retry_after=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="https://example.com") as client:
        response = await client.get("/wp-json/wc/v3/products")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["data"] == {"status": 429}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_catalog_reads_whole_through_transient_faults(
    platform: storelink.Platform, connect: Connect, seed: int
) -> None:
    config = SimulatorConfig(
        products=40, install_path="/shop", seed=seed, fail_rate=0.1, rate_limit_rate=0.05, drop_rate=0.03
    )
    sim = WooSimulator(config)
    async with connect(sim=sim, attempts=8) as rt:
        ids: list[str] = []
        cursor = None
        while True:
            page = await platform.fetch_products(rt.ctx, cursor)
            ids.extend(p.id for p in page.items)
            if page.next is None:
                break
            cursor = page.next
    assert sorted(ids, key=int) == [str(sim.product_id(i)) for i in range(40)]
    assert sum(sim.stats.get(name, 0) for name in ("faults_5xx", "faults_rate_limited", "faults_dropped")) > 0
