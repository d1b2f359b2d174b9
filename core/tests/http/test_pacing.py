"""Cost-based pacing: a plugin reports its store's bucket, and requests with a cost wait for it.

The store here is a leaky bucket behind an :class:`httpx.MockTransport`, on the test's
fake clock: a read of ``/items`` costs :data:`COST` points, and one the bucket cannot
pay for is answered "throttled" inside HTTP 200, with the bucket's state, as cost-metered
APIs do. The platform reads that state from every answer and, when paced, reports it
and gives each read its cost.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest

from storelink import (
    AccessToken,
    Capability,
    Page,
    PlatformContext,
    PlatformInfo,
    PluginError,
    Product,
    RetryableError,
    Secret,
    StoreURL,
    hookimpl,
)
from storelink.http import ConnectionRuntime
from storelink.http.faults import was_not_sent
from storelink.http.pacing import Pacer
from storelink.testing import FakeClock

from .conftest import SCHEMA

CAPACITY = 100.0
RATE = 10.0
COST = 40.0


class BucketStore:
    """A store that charges every read from a leaky bucket and refuses what the bucket cannot pay."""

    def __init__(self, clock: FakeClock, *, capacity: float = CAPACITY, rate: float = RATE) -> None:
        self.clock = clock
        self.capacity = capacity
        self.rate = rate
        self.level = capacity
        self.at = clock.now
        self.throttled = 0
        self.served = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen_at: list[float] = []

    def drain(self) -> None:
        """Empty the bucket, as another client of the same app would."""
        self._refill()
        self.level = 0.0

    def _refill(self) -> None:
        self.level = min(self.capacity, self.level + (self.clock.now - self.at) * self.rate)
        self.at = self.clock.now

    def _status(self) -> dict[str, float]:
        return {"capacity": self.capacity, "available": math.floor(self.level), "rate": self.rate}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})
        self.seen_at.append(self.clock.now)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._refill()
            cost = float(request.url.params.get("cost", COST))
            if cost > self.level:
                self.throttled += 1
                return httpx.Response(200, json={"throttled": True, "cost": cost, "bucket": self._status()})
            self.level -= cost
            await asyncio.sleep(0.001)  # the answer takes a moment: other pages are sent meanwhile
            self.served += 1
            return httpx.Response(200, json={"items": [], "cost": cost, "bucket": self._status()})
        finally:
            self.in_flight -= 1

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


class MeteredPlatform:
    """A platform whose reads cost points; with *paced*, it reports the bucket and gives each read its cost."""

    def __init__(self, *, paced: bool, cost: float = COST) -> None:
        self.paced = paced
        self.cost = cost

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug="metered", title="Metered", credential_schema=SCHEMA, capabilities={Capability.PRODUCTS}
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        return StoreURL(origin=raw)

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        response = await ctx.http.request("POST", "/login", audience=None, bearer=ctx.credentials.secret("api_key"))
        return AccessToken(value=Secret(response.json()["access_token"]), expires_in=3600, audience=audience)

    @hookimpl
    async def fetch_products(self, ctx: PlatformContext, cursor: object) -> Page[Product]:
        def read(response: httpx.Response) -> Page[Product]:
            body = response.json()
            bucket = body["bucket"]
            if self.paced:
                ctx.http.report_budget(
                    capacity=bucket["capacity"], available=bucket["available"], restore_rate=bucket["rate"]
                )
            if body.get("throttled"):
                wait = max(body["cost"] - bucket["available"], 0) / bucket["rate"]
                raise RetryableError("Throttled", platform="metered", operation="fetch_products", retry_after=wait)
            return Page(items=())

        return await ctx.http.read(
            "GET",
            "/items",
            reader=read,
            audience="default",
            params={"cost": int(self.cost)},
            cost=self.cost if self.paced else None,
        )


@pytest.fixture
def bucket(clock: FakeClock) -> BucketStore:
    return BucketStore(clock)


def runtime_for(make_runtime: Any, bucket: BucketStore, fakes: Any, plugin: MeteredPlatform) -> ConnectionRuntime:
    runtime: ConnectionRuntime = make_runtime(platform=fakes.make_platform(plugin), transport=bucket.transport)
    return runtime


async def pages(runtime: ConnectionRuntime, count: int) -> list[Any]:
    """Fetch *count* pages side by side through one runtime, as a sync's page loop does."""
    platform = runtime.platform
    return await asyncio.gather(
        *(platform.fetch_products(runtime.ctx, None) for _ in range(count)), return_exceptions=True
    )


async def test_concurrent_pages_with_a_reported_budget_are_never_throttled(
    make_runtime: Any, bucket: BucketStore, fakes: Any, clock: FakeClock
) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True))
    results = await pages(runtime, 12)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert bucket.throttled == 0
    assert bucket.served == 12
    assert runtime.stats.retries == 0
    assert runtime.pacer.waits > 0
    assert runtime.pacer.in_flight == 0
    # 12 reads of 40 points from a bucket of 100 refilling at 10/s need (480 - 100) / 10 = 38 s at least.
    assert clock.now >= (12 * COST - CAPACITY) / RATE


async def test_the_same_pages_without_pacing_are_throttled(make_runtime: Any, bucket: BucketStore, fakes: Any) -> None:
    """The control: the same store and pages, the plugin reporting nothing."""
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=False))
    await pages(runtime, 12)
    assert bucket.throttled > 0
    assert runtime.stats.retries > 0


async def test_until_the_first_report_requests_with_a_cost_go_one_at_a_time(
    make_runtime: Any, bucket: BucketStore, fakes: Any
) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True, cost=10))
    results = await pages(runtime, 2)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert bucket.most_in_flight == 1  # the second page waited for the first page's report
    assert runtime.pacer.budget is not None


async def test_a_throttled_answer_paces_the_rest_when_another_client_drained_the_bucket(
    make_runtime: Any, bucket: BucketStore, fakes: Any
) -> None:
    """The first answer is a refusal; its report makes every later page wait instead."""
    bucket.drain()
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True))
    results = await pages(runtime, 8)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert bucket.throttled == 1
    assert bucket.served == 8


async def test_a_wait_past_the_deadline_fails_at_once_unsent_with_the_wait_as_retry_after(
    make_runtime: Any, bucket: BucketStore, fakes: Any, clock: FakeClock
) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True, cost=90))
    runtime.report_budget(capacity=100, available=0, restore_rate=1)  # 90 s to refill 90 points; the deadline is 60 s
    started = clock.now
    with pytest.raises(RetryableError) as caught:
        await runtime.platform.fetch_products(runtime.ctx, None)
    assert caught.value.retry_after == pytest.approx(90.0)
    assert "request budget" in str(caught.value)
    assert was_not_sent(caught.value)
    assert bucket.served + bucket.throttled == 0
    assert clock.now == started


async def test_a_request_costing_more_than_the_bucket_holds_is_sent_at_once(
    make_runtime: Any, bucket: BucketStore, fakes: Any, clock: FakeClock
) -> None:
    """Waiting cannot make it fit; the platform's own refusal says why."""
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True, cost=500))
    runtime.report_budget(capacity=100, available=0, restore_rate=1)
    started = clock.now
    with pytest.raises(RetryableError, match="Throttled"):
        await runtime.platform.fetch_products(runtime.ctx, None)
    assert bucket.seen_at[0] == started


async def test_requests_without_a_cost_are_never_held(make_runtime: Any, bucket: BucketStore, fakes: Any) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=False))
    runtime.report_budget(capacity=100, available=0, restore_rate=0.001)
    await runtime.platform.fetch_products(runtime.ctx, None)
    assert bucket.served == 1
    assert runtime.pacer.waits == 0


async def test_a_failed_request_gives_back_what_it_reserved(make_runtime: Any, fakes: Any, clock: FakeClock) -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})
        raise httpx.ConnectError("refused")

    runtime: ConnectionRuntime = make_runtime(
        platform=fakes.make_platform(MeteredPlatform(paced=True)), transport=httpx.MockTransport(refuse)
    )
    runtime.report_budget(capacity=100, available=100, restore_rate=10)
    with pytest.raises(RetryableError):
        await runtime.platform.fetch_products(runtime.ctx, None)
    assert runtime.pacer.in_flight == 0


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"capacity": 0, "available": 0, "restore_rate": 1}, "above 0"),
        ({"capacity": 100, "available": 0, "restore_rate": -1}, "above 0"),
        ({"capacity": math.nan, "available": 0, "restore_rate": 1}, "finite number"),
        ({"capacity": 100, "available": math.inf, "restore_rate": 1}, "finite number"),
        ({"capacity": 100, "available": "50", "restore_rate": 1}, "finite number"),
        ({"capacity": True, "available": 0, "restore_rate": 1}, "finite number"),
    ],
)
async def test_report_budget_refuses_a_value_that_is_not_a_budget(
    make_runtime: Any, bucket: BucketStore, fakes: Any, values: dict[str, Any], why: str
) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True))
    with pytest.raises(PluginError, match=why) as caught:
        runtime.report_budget(**values)
    assert not isinstance(caught.value, ValueError)  # inside a reader, a ValueError would mean "body cut off"
    assert runtime.pacer.budget is None


async def test_a_report_keeps_available_within_the_capacity(make_runtime: Any, bucket: BucketStore, fakes: Any) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True))
    runtime.report_budget(capacity=100, available=100.4, restore_rate=5)
    assert runtime.pacer.budget is not None
    assert runtime.pacer.budget.available == 100
    runtime.report_budget(capacity=100, available=-3, restore_rate=5)
    assert runtime.pacer.budget.available == 0


@pytest.mark.parametrize("cost", [0, -5, math.nan, math.inf, "40", True])
async def test_a_cost_that_is_not_a_positive_number_is_refused_before_sending(
    make_runtime: Any, bucket: BucketStore, fakes: Any, cost: Any
) -> None:
    runtime = runtime_for(make_runtime, bucket, fakes, MeteredPlatform(paced=True))
    with pytest.raises(ValueError, match="cost must be"):
        await runtime.request("GET", "/items", operation="fetch_products", audience="default", cost=cost)
    assert bucket.served + bucket.throttled == 0


async def test_requests_wait_in_arrival_order(clock: FakeClock) -> None:
    """A large request is not overtaken by smaller ones that arrived after it."""
    pacer = Pacer(clock)
    pacer.report(capacity=100, available=0, restore_rate=10)
    order: list[str] = []

    async def spend(name: str, cost: float) -> None:
        async with pacer.spend(cost, deadline=1e9):
            order.append(name)

    big = asyncio.create_task(spend("big", 80))
    await asyncio.sleep(0)
    small = [asyncio.create_task(spend(f"small-{i}", 5)) for i in range(3)]
    await asyncio.gather(big, *small)
    assert order == ["big", "small-0", "small-1", "small-2"]
    assert pacer.in_flight == 0


class CostlyLoginPlatform(MeteredPlatform):
    """A platform whose login is a metered request too (a token checked with a query)."""

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        response = await ctx.http.request(
            "POST", "/login", audience=None, bearer=ctx.credentials.secret("api_key"), cost=self.cost
        )
        return AccessToken(value=Secret(response.json()["access_token"]), expires_in=3600, audience=audience)


async def test_a_login_inside_a_paced_request_is_never_held_behind_it(
    make_runtime: Any, bucket: BucketStore, fakes: Any
) -> None:
    """The first read holds the budget while it logs in; the login's own cost must not wait for that read."""
    runtime = runtime_for(make_runtime, bucket, fakes, CostlyLoginPlatform(paced=True))
    async with asyncio.timeout(5):
        await runtime.platform.fetch_products(runtime.ctx, None)
    assert bucket.served == 1
