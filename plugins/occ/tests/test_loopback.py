"""The plugin through the core's HTTP layer against the simulator served on loopback by uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import storelink
import storelink_occ.plugin
import storelink_occ.simulator
from storelink import (
    Address,
    ConnectionRevokedError,
    CredentialsError,
    Order,
    OrderDraft,
    OrderLine,
    OrderOutcomeUnknown,
    PluginError,
    Product,
)
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig, RetryConfig
from storelink.models import OffsetCursor
from storelink.simulation import load, serve_in_thread
from storelink.testing import FakeClock
from storelink_occ.simulator import OccSimulator, SimulatorConfig

FAST_RETRIES = HttpConfig(retry=RetryConfig(attempts=8, backoff_base=0.01, backoff_cap=0.05, budget_floor=500))


@pytest.fixture
def platform() -> storelink.Platform:
    return storelink.Registry(autoload=False).register_platform(storelink_occ.plugin)


class Served:
    """A simulator on loopback, and a way to open connections to it."""

    def __init__(self, platform: storelink.Platform, sim: OccSimulator, base_url: str) -> None:
        self.platform = platform
        self.sim = sim
        self.store_url = platform.normalize_store_url(base_url, allow_loopback=True)
        self.credentials = sim.issue_credentials()
        self.revocations: list[str] = []

    def runtime(
        self, config: HttpConfig | None = None, *, clock: FakeClock | None = None, **settings: str
    ) -> ConnectionRuntime:
        async def on_revoked(reason: str) -> None:
            self.revocations.append(reason)

        return ConnectionRuntime(
            self.platform,
            "conn-1",
            self.store_url,
            self.platform.info.credential_schema.parse(self.credentials),
            settings,
            EgressPolicy.for_tests(),
            config or HttpConfig(),
            on_revoked=on_revoked,
            **({} if clock is None else {"clock": clock}),
        )


@pytest.fixture
def serve(platform: storelink.Platform) -> Iterator[Any]:
    stack: list[Any] = []

    def start(sim: OccSimulator) -> Served:
        server = serve_in_thread(sim.app)
        base_url = server.__enter__()
        stack.append(server)
        return Served(platform, sim, base_url)

    yield start
    for server in reversed(stack):
        server.__exit__(None, None, None)


async def read_products(
    platform: storelink.Platform, runtime: ConnectionRuntime, cursor: OffsetCursor | None = None
) -> list[Product]:
    """Read every product page by page: the loop the core's session runs."""
    products: list[Product] = []
    seen: set[OffsetCursor] = set()
    while True:
        page = await platform.fetch_products(runtime.ctx, cursor)
        products.extend(page.items)
        if page.next is None:
            return products
        assert page.next not in seen, "a cursor repeated"
        seen.add(page.next)
        cursor = page.next


async def test_a_catalog_of_10000_products_is_read_completely(platform: storelink.Platform, serve: Any) -> None:
    served = serve(OccSimulator(SimulatorConfig(products=10_000, seed=11)))
    async with served.runtime() as runtime:
        products = await read_products(platform, runtime)
    assert len(products) == 10_000
    assert len({p.id for p in products}) == 10_000
    variants = [v.id for p in products for v in p.variants]
    assert len(set(variants)) == len(variants) > 20_000
    assert served.sim.stats["logins"] == 1
    assert served.sim.stats["requests"] == 41  # one login and 40 pages


async def test_two_second_tokens_are_refreshed_during_a_long_read(platform: storelink.Platform, serve: Any) -> None:
    """Tokens age on one fake clock, shared by the runtime and the simulator, that each request moves."""
    clock = FakeClock(start=0.0)
    # Every request costs 0.25 s of fake time (the simulator's latency sleeps on the
    # clock), so the read of 51 requests spans more than six 2-s token lifetimes.
    config = SimulatorConfig(products=500, token_ttl=2, latency=0.25)
    served = serve(OccSimulator(config, clock=clock.monotonic, sleep=clock.sleep))
    async with served.runtime(clock=clock) as runtime:
        products = await read_products(platform, runtime, OffsetCursor(offset=0, limit=10))
        stats = runtime.stats
    assert len({p.id for p in products}) == 500
    assert clock.now > 6 * config.token_ttl
    # The simulator saw the tokens renewed before they expired, never a request with an
    # expired one, and the runtime counted the same renewals.
    assert served.sim.stats["refreshes"] >= 6
    assert stats.refreshes == served.sim.stats["refreshes"]
    assert "unauthorized" not in served.sim.stats
    assert stats.retries == 0
    assert served.sim.stats["logins"] == 1


async def test_revoking_the_key_mid_read_raises_credentials_error(platform: storelink.Platform, serve: Any) -> None:
    served = serve(OccSimulator(SimulatorConfig(products=1_000)))
    async with served.runtime() as runtime:
        first = await platform.fetch_products(runtime.ctx, None)
        served.sim.revoke_credentials(served.credentials)
        with pytest.raises(CredentialsError):
            await platform.fetch_products(runtime.ctx, first.next)
        assert runtime.revoked
        before = served.sim.stats["requests"]
        with pytest.raises(ConnectionRevokedError):
            await platform.fetch_products(runtime.ctx, first.next)
        assert served.sim.stats["requests"] == before
    assert len(served.revocations) == 1
    assert served.credentials["application_key"] not in served.revocations[0]


def draft(sim: OccSimulator, reference: str) -> OrderDraft:
    product = sim.catalog.product(3)
    return OrderDraft(
        reference=reference,
        lines=[OrderLine(product_id=product["id"], sku_id=product["childSKUs"][-1]["repositoryId"], quantity=1)],
        shipping_address=Address(name="Grace Hopper", line1="1 Navy Way", city="Arlington", country="US"),
        shipping_method_id="ground",
    )


async def place(platform: storelink.Platform, runtime: ConnectionRuntime, order: OrderDraft) -> Order:
    """Create *order* unless the store has it already; reconcile a lost response by reference."""
    found = await platform.find_order(runtime.ctx, order.reference)
    if found is not None:
        return found
    try:
        return await platform.create_order(runtime.ctx, order)
    except OrderOutcomeUnknown:
        found = await platform.find_order(runtime.ctx, order.reference)
        assert found is not None, "the order was lost"
        return found


async def test_the_same_reference_twice_makes_one_order(platform: storelink.Platform, serve: Any) -> None:
    served = serve(OccSimulator(SimulatorConfig(products=50)))
    async with served.runtime() as runtime:
        first = await place(platform, runtime, draft(served.sim, "MKT-77"))
        second = await place(platform, runtime, draft(served.sim, "MKT-77"))
    assert first.id == second.id
    assert first.reference == second.reference == "MKT-77"
    assert [o["x_storelink_reference"] for o in served.sim.orders.all()] == ["MKT-77"]
    assert served.sim.stats["orders"] == 1
    assert served.sim.stats["agent_logins"] == 1


async def test_a_lost_order_response_is_reconciled_without_a_second_order(
    platform: storelink.Platform, serve: Any
) -> None:
    config = SimulatorConfig(products=50, lose_order_rate=1.0, fault_paths=("/ccappagent/v1/orders",))
    served = serve(OccSimulator(config))
    async with served.runtime() as runtime:
        order = await place(platform, runtime, draft(served.sim, "MKT-78"))
    assert order.reference == "MKT-78"
    assert len(served.sim.orders.all()) == 1
    assert served.sim.stats["faults_lost_orders"] == 1


async def test_a_faulty_store_is_still_read_completely(platform: storelink.Platform, serve: Any) -> None:
    config = SimulatorConfig(
        products=2_000, seed=5, fail_rate=0.15, rate_limit_rate=0.1, retry_after=0, drop_rate=0.05, truncate_rate=0.05
    )
    served = serve(OccSimulator(config))
    clock = FakeClock()  # the back-off between retries sleeps on it: no real waiting
    async with served.runtime(FAST_RETRIES, clock=clock) as runtime:
        products = await read_products(platform, runtime, OffsetCursor(offset=0, limit=100))
        retries = runtime.stats.retries
    assert len({p.id for p in products}) == 2_000
    assert len(clock.sleeps) >= retries > 0
    faults = sum(v for k, v in served.sim.stats.items() if k.startswith("faults_"))
    assert faults > 0
    assert retries >= faults - 1  # a fault at login is retried by the login call itself


async def test_settings_travel_over_the_wire(platform: storelink.Platform, serve: Any) -> None:
    served = serve(OccSimulator(SimulatorConfig(products=20, require_asset_language=True, sites=("siteUS", "siteEU"))))
    async with served.runtime(site_id="siteEU", asset_language="de") as runtime:
        order = await platform.create_order(runtime.ctx, draft(served.sim, "MKT-EU"))
        report = await platform.check_access(runtime.ctx)
    stored = served.sim.orders.get(order.id)
    assert stored is not None
    assert stored["siteId"] == "siteEU"
    assert report.ok


# --------------------------------------------------------------------------- storelink.simulation


def test_the_simulator_is_found_by_platform_slug() -> None:
    factory = load("occ")
    assert factory is storelink_occ.simulator.create
    sim = factory(products=10, seed=1, token_ttl=60, fail_rate=0.0, latency=0.0, shipping_shape="list")
    assert isinstance(sim, OccSimulator)
    assert (sim.config.products, sim.config.token_ttl, sim.config.shipping_shape) == (10, 60, "list")


def test_an_unknown_simulator_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="no simulator is installed"):
        load("nosuchplatform")


def test_serve_in_thread_serves_until_the_block_ends() -> None:
    sim = OccSimulator(SimulatorConfig(products=1))
    with httpx.Client(trust_env=False) as client:
        with serve_in_thread(sim.app) as base_url:
            assert base_url.startswith("http://127.0.0.1:")
            response = client.get(f"{base_url}/ccadmin/v1/products")
            assert response.status_code == 401
            assert response.json()["status"] == "401"
        with pytest.raises(httpx.ConnectError):
            client.get(f"{base_url}/ccadmin/v1/products")
