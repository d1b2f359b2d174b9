"""Fixtures of the WooCommerce plugin's tests: the simulator, and the core's runtime over it.

``connect`` builds a :class:`storelink.ConnectionRuntime` (the core's real HTTP
machinery: token manager, retries, error mapping) whose transport is the simulator
in-process, for a store installed under ``/shop``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

import storelink
from storelink import ConnectionRuntime, StoreURL
from storelink.http import EgressPolicy, HttpConfig, RetryConfig
from storelink.testing import FakeClock
from storelink_woocommerce.simulator import SimulatorConfig, WooSimulator

STORE = StoreURL(origin="https://example.com", path="/shop")

Connect = Callable[..., AbstractAsyncContextManager[ConnectionRuntime]]


@pytest.fixture
def platform() -> storelink.Platform:
    return storelink.get_platform("woocommerce")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator() -> WooSimulator:
    return WooSimulator(SimulatorConfig(products=12, orders=8, install_path="/shop"))


@pytest.fixture
def connect(platform: storelink.Platform, simulator: WooSimulator, clock: FakeClock) -> Connect:
    """Open a runtime on the simulated store with *credentials* (default: a read/write key)."""

    @asynccontextmanager
    async def open_runtime(
        credentials: Mapping[str, str] | None = None,
        *,
        sim: WooSimulator | None = None,
        attempts: int = 3,
    ) -> AsyncIterator[ConnectionRuntime]:
        store = sim or simulator
        values = credentials if credentials is not None else store.issue_credentials()
        runtime = ConnectionRuntime(
            platform,
            "c1",
            STORE,
            platform.info.credential_schema.parse(values),
            {},
            EgressPolicy.for_tests(),
            HttpConfig(retry=RetryConfig(attempts=attempts)),
            clock=clock,
            transport=httpx.ASGITransport(app=store.app),
        )
        async with runtime:
            yield runtime

    return open_runtime
