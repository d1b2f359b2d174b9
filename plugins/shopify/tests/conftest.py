"""Fixtures of the Shopify plugin's tests: the simulator, and the core's runtime over it.

``connect`` builds a :class:`storelink.ConnectionRuntime` (the core's real HTTP
machinery: token manager, retries, error mapping) whose transport is the simulator
in-process and whose clock is a :class:`storelink.testing.FakeClock` shared with the
simulator's cost bucket, so back-off and bucket refills take no real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

import storelink
from storelink import ConnectionRuntime, Credentials, StoreURL
from storelink.http import EgressPolicy, HttpConfig, RetryConfig
from storelink.testing import FakeClock
from storelink_shopify.simulator import ShopifySimulator, SimulatorConfig

SHOP = StoreURL(origin="https://mystore.myshopify.com")

Connect = Callable[..., AbstractAsyncContextManager[ConnectionRuntime]]


@pytest.fixture
def platform() -> storelink.Platform:
    return storelink.get_platform("shopify")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_simulator(clock: FakeClock) -> Callable[..., ShopifySimulator]:
    def make(**options: object) -> ShopifySimulator:
        options.setdefault("products", 20)
        options.setdefault("orders", 12)
        return ShopifySimulator(SimulatorConfig(**options), clock=clock.monotonic)  # type: ignore[arg-type]

    return make


@pytest.fixture
def simulator(make_simulator: Callable[..., ShopifySimulator]) -> ShopifySimulator:
    return make_simulator()


@pytest.fixture
def connect(platform: storelink.Platform, simulator: ShopifySimulator, clock: FakeClock) -> Connect:
    """Open a runtime on the simulated shop with *credentials* (default: a token with every scope).

    Parsed :class:`~storelink.Credentials` are used as they are: ``Credentials({})``
    opens a runtime without any, as the core's for an OAuth code exchange.
    """

    @asynccontextmanager
    async def open_runtime(
        credentials: Mapping[str, str] | Credentials | None = None,
        *,
        sim: ShopifySimulator | None = None,
        attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncIterator[ConnectionRuntime]:
        shop = sim or simulator
        values = credentials if credentials is not None else shop.issue_credentials()
        parsed = values if isinstance(values, Credentials) else platform.info.credential_schema.parse(values)
        runtime = ConnectionRuntime(
            platform,
            "c1",
            SHOP,
            parsed,
            {},
            EgressPolicy.for_tests(),
            HttpConfig(retry=RetryConfig(attempts=attempts)),
            clock=clock,
            transport=transport or httpx.ASGITransport(app=shop.app),
        )
        async with runtime:
            yield runtime

    return open_runtime
