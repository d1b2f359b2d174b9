"""Reads through a seeded fault schedule: every product exactly once, or a cursor to resume from."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from storelink import ReadInterruptedError
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.vault import KeyRing
from storelink_occ.simulator import OccSimulator, SimulatorConfig

from .conftest import ORIGIN, FakeClock

PRODUCTS = 20_000
PATH = "/ccadmin/v1/products"
FAULTS = ("500", "502", "503", "429_retry_after", "429", "reset", "mid_body_drop", "truncated_json", "error_in_200")


class _DroppingStream(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body[: len(self.body) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class ReadFaults(httpx.AsyncBaseTransport):
    """Faults on product pages drawn from (seed, offset, attempt); *stubborn* offsets fail *stubborn_for* times."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, seed: int, rate: float) -> None:
        self.inner, self.seed, self.rate = inner, seed, rate
        self.attempts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.stubborn: dict[str, int] = {}

    def _fault(self, offset: str) -> str | None:
        self.attempts[offset] += 1
        if self.attempts[offset] <= self.stubborn.get(offset, 0):
            return "503"
        rng = random.Random(f"{self.seed}:{offset}:{self.attempts[offset]}")
        return rng.choice(FAULTS) if rng.random() < self.rate else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or request.url.path != PATH:
            return await self.inner.handle_async_request(request)
        fault = self._fault(request.url.params.get("offset", "0"))
        if fault is None:
            return await self.inner.handle_async_request(request)
        self.faults[fault] += 1
        if fault == "reset":
            raise httpx.ReadError("connection reset by peer", request=request)
        if fault.startswith(("5", "429")):
            status = int(fault[:3])
            headers = {"Retry-After": "1"} if fault == "429_retry_after" else {}
            body = {"status": str(status), "errorCode": f"T{status}", "message": "transient"}
            return httpx.Response(status, json=body, headers=headers)
        if fault == "error_in_200":
            return httpx.Response(200, json={"status": "503", "errorCode": "T503", "message": "busy"})
        response = await self.inner.handle_async_request(request)
        raw = await response.aread()
        if fault == "truncated_json":
            return httpx.Response(200, content=raw[: len(raw) // 2], headers={"content-type": "application/json"})
        return httpx.Response(200, stream=_DroppingStream(raw), headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def sim() -> OccSimulator:
    return OccSimulator(SimulatorConfig(products=PRODUCTS, seed=11))


async def _hub(tmp_path: object, transport: ReadFaults, clock: FakeClock) -> Hub:
    return await Hub.open(
        database=f"{tmp_path}/reads.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        clock=clock,
        transports={ORIGIN: transport},
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_product_exactly_once_through_the_faults(sim: OccSimulator, tmp_path: object, seed: int) -> None:
    transport = ReadFaults(httpx.ASGITransport(app=sim.app), seed=seed, rate=0.08)
    async with await _hub(tmp_path, transport, FakeClock()) as hub:
        conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
        async with hub.session(conn.id) as session:
            ids = [p.id async for p in session.products()]
            retries = session.stats.retries
    assert len(ids) == PRODUCTS == len(set(ids))
    assert ids == [p["id"] for p in sim.catalog.iter_products(0, PRODUCTS)]
    assert sum(transport.faults.values()) >= 3, transport.faults
    assert retries == sum(transport.faults.values())  # the budget absorbs these rates: no resume


async def test_every_fault_kind_was_drawn(sim: OccSimulator) -> None:
    drawn = Counter(
        random.Random(f"{seed}:{offset * 250}:{attempt}").choice(FAULTS)
        for seed in (1, 2, 3)
        for offset in range(PRODUCTS // 250)
        for attempt in (1, 2)
    )
    assert set(drawn) == set(FAULTS)


async def test_a_page_failing_beyond_its_budget_gives_the_cursor_and_resuming_completes(
    sim: OccSimulator, tmp_path: object
) -> None:
    transport = ReadFaults(httpx.ASGITransport(app=sim.app), seed=5, rate=0.0)
    transport.stubborn["12250"] = 4 * 3  # four attempts per try, three tries: resumes=2 is not enough
    clock = FakeClock()
    seen: list[str] = []
    async with await _hub(tmp_path, transport, clock) as hub:
        conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
        async with hub.session(conn.id) as session:

            async def read_all() -> None:
                async for p in session.products(resumes=2):
                    seen.append(p.id)

            with pytest.raises(ReadInterruptedError) as caught:
                await read_all()
            error = caught.value
            assert error.items == len(seen) == 12250
            assert error.resumes == 2
            assert error.status == 503
            assert "stopped after 12250 items and 2 resumes" in str(error)
            assert clock.slept >= 2.0 + 4.0  # the resume waits, besides the retries' back-off
            seen += [p.id async for p in session.products(start=error.resume_from)]
    assert len(seen) == PRODUCTS == len(set(seen))
    assert seen == [p["id"] for p in sim.catalog.iter_products(0, PRODUCTS)]


async def test_resumes_within_the_budget_complete_without_an_error(sim: OccSimulator, tmp_path: object) -> None:
    transport = ReadFaults(httpx.ASGITransport(app=sim.app), seed=6, rate=0.0)
    transport.stubborn["750"] = 4 * 2  # fails through two whole tries; the default three resumes absorb it
    async with await _hub(tmp_path, transport, FakeClock()) as hub:
        conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
        async with hub.session(conn.id) as session:
            ids = [p.id async for p in session.products()]
    assert len(ids) == PRODUCTS == len(set(ids))
    assert transport.attempts["750"] == 4 * 2 + 1
    assert json.dumps(transport.faults) == json.dumps({"503": 8})
