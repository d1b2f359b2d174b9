"""End-to-end fixtures: the OCC simulator in-process, a hub on it, and test-side fault injection."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink import Address, OrderDraft, OrderLine, Payment
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_occ.simulator import OccSimulator, SimulatorConfig

#: The in-process simulator's origin (never dialled: the transport answers).
ORIGIN = "http://127.0.0.1:9"
ORDERS_PATH = "/ccappagent/v1/orders"
REFERENCE_PROPERTY = "x_storelink_reference"


def _occ_error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"status": str(status), "errorCode": f"TEST{status}", "message": message}
    return httpx.Response(status, json=body, headers=headers)


class FaultyTransport(httpx.AsyncBaseTransport):
    """Wraps the simulator's transport with a seeded fault schedule for order creation.

    Each ``POST /ccappagent/v1/orders`` draws its fault from the seed, the order's
    reference and the attempt number, so a run is reproducible whatever the task
    interleaving: the response lost after the order was committed, a 500 after
    commit, a 503 or 429 before commit, or a connection refused before anything was
    sent. Order lookups get a 503 now and then (the HTTP layer retries those).
    ``deny`` answers 403 to requests whose path starts with one of its entries.
    """

    FAULTS = ("lost_after_commit", "500_after_commit", "503_before_commit", "429_before_commit", "refused")

    def __init__(self, inner: httpx.AsyncBaseTransport, *, seed: int = 0, rate: float = 0.0) -> None:
        self.inner = inner
        self.seed = seed
        self.rate = rate
        self.deny: tuple[str, ...] = ()
        self.faults: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._lookups = 0

    def _fault_for(self, request: httpx.Request) -> str | None:
        reference = str(json.loads(request.content).get(REFERENCE_PROPERTY))
        self._attempts[reference] += 1
        rng = random.Random(f"{self.seed}:{reference}:{self._attempts[reference]}")
        return rng.choice(self.FAULTS) if rng.random() < self.rate else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.deny and path.startswith(self.deny):
            return _occ_error(403, "This application is not allowed to use this resource.")
        if request.method == "POST" and path == ORDERS_PATH:
            fault = self._fault_for(request)
            if fault is not None:
                self.faults[fault] += 1
            if fault == "refused":
                raise httpx.ConnectError("connection refused", request=request)
            if fault == "503_before_commit":
                return _occ_error(503, "Service Unavailable")
            if fault == "429_before_commit":
                return _occ_error(429, "Too many requests", {"Retry-After": "2"})
            response = await self.inner.handle_async_request(request)
            if fault == "lost_after_commit":
                await response.aclose()
                raise httpx.ReadTimeout("the response was lost", request=request)
            if fault == "500_after_commit":
                await response.aclose()
                return _occ_error(500, "Internal Server Error")
            return response
        if request.method == "GET" and path == "/ccadmin/v1/orders" and self.rate:
            self._lookups += 1
            if random.Random(f"{self.seed}:lookup:{self._lookups}").random() < self.rate / 3:
                self.faults["lookup_503"] += 1
                return _occ_error(503, "Service Unavailable")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def orders_by_reference(sim: OccSimulator) -> Counter[str]:
    """Count the simulator's orders per channel reference."""
    return Counter(str(o.get(REFERENCE_PROPERTY)) for o in sim.orders.all())


@pytest.fixture
def sim() -> OccSimulator:
    return OccSimulator(SimulatorConfig(products=120, seed=7, token_ttl=300.0))


@pytest.fixture
def faulty(sim: OccSimulator) -> FaultyTransport:
    return FaultyTransport(httpx.ASGITransport(app=sim.app))


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0)


@pytest.fixture
def open_hub(tmp_path: Path, faulty: FaultyTransport, keys: KeyRing, clock: FakeClock) -> Callable[..., Any]:
    """Open a hub over the in-process simulator (a new one per call, same database and keys)."""

    async def opener(**options: Any) -> Hub:
        settings: dict[str, Any] = {
            "database": tmp_path / "e2e.db",
            "keys": keys,
            "egress": EgressPolicy.for_tests(),
            "clock": clock,
            "transports": {ORIGIN: faulty},
        }
        settings.update(options)
        return await Hub.open(**settings)

    return opener


@pytest.fixture
async def hub(open_hub: Callable[..., Any]) -> AsyncIterator[Hub]:
    async with await open_hub() as opened:
        yield opened


def make_drafts(count: int, products: list[tuple[str, str]], shipping: str, *, seed: int = 0) -> list[OrderDraft]:
    """Return *count* valid drafts with distinct references, lines drawn from *products*."""
    rng = random.Random(seed)
    address = Address(name="Ada Lovelace", line1="1 Main St", city="Syracuse", region="NY", country="US")
    drafts = []
    for n in range(count):
        picks = rng.sample(products, k=rng.randint(1, 3))
        lines = tuple(OrderLine(product_id=p, sku_id=s, quantity=rng.randint(1, 4)) for p, s in picks)
        drafts.append(
            OrderDraft(
                reference=f"chan-{seed}-{n:05d}",
                lines=lines,
                shipping_address=address,
                shipping_method_id=shipping,
                payment=Payment(type="invoice", po_number=f"PO-{n}"),
            )
        )
    return drafts
