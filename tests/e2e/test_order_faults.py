"""1,000 orders through a seeded fault schedule: never two orders for one reference, none lost.

The faults (see ``FaultyTransport``): the response lost after the order was committed,
a 500 after commit, a 503 or 429 before commit, a refused connection, failing lookups;
and crashes of the submitting process between sending an order and recording its
outcome in the ledger (the ledger row stays as it was, as after ``kill -9``). The
host retries every order whose call did not settle, in a new process each round,
until all are settled. The negative control runs the same schedule with a naive
"send again on a timeout" policy and must see duplicates, so this test can fail.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from storelink import OrderDraft, OrderOutcomeUnknown, RetryableError
from storelink.codec import payload_hash
from storelink.hub import Hub
from storelink.store import ConnectionStore, SubmissionState, open_store
from storelink_occ.simulator import OccSimulator

from .conftest import ORIGIN, FaultyTransport, make_drafts, orders_by_reference

ORDERS = 1000
FAULT_RATE = 0.3
CRASH_RATE = 0.05
CONCURRENCY = 25
ROUNDS = 30

pytestmark = pytest.mark.slow


class Crash(BaseException):
    """The submitting process dies here; nothing in storelink catches it."""


class CrashingStore:
    """A store whose process crashes, now and then, just as it records an order's outcome."""

    OUTCOMES = (SubmissionState.CREATED, SubmissionState.UNKNOWN, SubmissionState.FAILED)

    def __init__(self, inner: ConnectionStore, *, seed: int, rate: float) -> None:
        self.inner = inner
        self.rng = random.Random(f"{seed}:crashes")
        self.rate = rate
        self.crashes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update_submission(self, *args: Any, **kwargs: Any) -> bool:
        if kwargs.get("state") in self.OUTCOMES and self.rng.random() < self.rate:
            self.crashes += 1
            raise Crash
        return await self.inner.update_submission(*args, **kwargs)


async def connect_and_draft(hub: Hub, sim: OccSimulator, count: int) -> tuple[str, list[OrderDraft]]:
    conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    async with hub.session(conn.id) as session:
        products = [(p.id, p.variants[0].id) async for p in session.products() if p.variants]
        shipping = (await session.shipping_methods())[0].id
    return conn.id, make_drafts(count, products, shipping, seed=11)


async def submit_round(hub: Hub, connection_id: str, drafts: list[OrderDraft]) -> list[OrderDraft]:
    """Submit *drafts* concurrently; return those whose call did not settle (to retry)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(draft: OrderDraft) -> OrderDraft | None:
        async with gate, hub.session(connection_id) as session:
            try:
                await session.create_order(draft)
            except (Crash, OrderOutcomeUnknown, RetryableError):
                return draft
        return None

    results = await asyncio.gather(*(one(d) for d in drafts))
    return [d for d in results if d is not None]


async def test_a_thousand_orders_through_faults_and_crashes(
    open_hub: Callable[..., Any], sim: OccSimulator, faulty: FaultyTransport
) -> None:
    # One database, shared by the "processes" (an in-memory one: no fsync per commit).
    database = open_store(":memory:")
    async with await open_hub(database=database) as hub:
        connection_id, drafts = await connect_and_draft(hub, sim, ORDERS)
    faulty.rate = FAULT_RATE
    crashing = CrashingStore(database, seed=3, rate=CRASH_RATE)
    left, rounds = drafts, 0
    while left and rounds < ROUNDS:
        rounds += 1
        async with await open_hub(database=crashing) as hub:  # a new process each round
            left = await submit_round(hub, connection_id, left)
    rows = {r.reference: r for r in await database.list_submissions(connection_id=connection_id)}
    await database.close()

    counts = orders_by_reference(sim)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = [d.reference for d in drafts if counts[d.reference] == 0]
    stuck = [ref for ref, row in rows.items() if row.state is not SubmissionState.CREATED]
    print(
        f"\n{ORDERS} orders, {rounds} rounds, faults {dict(faulty.faults)}, crashes {crashing.crashes}: "
        f"{duplicates} duplicates, {len(lost)} lost, {len(stuck)} stuck"
    )
    assert sum(faulty.faults.values()) > ORDERS * FAULT_RATE * 0.8
    assert crashing.crashes > 0
    assert left == []
    assert duplicates == 0
    assert lost == []
    assert stuck == []
    assert len(rows) == ORDERS
    by_id = {str(o["id"]): str(o.get("x_storelink_reference")) for o in sim.orders.all()}
    assert all(by_id[row.platform_order_id or ""] == ref for ref, row in rows.items())
    assert all(rows[d.reference].payload_hash == payload_hash(d) for d in drafts)


async def test_a_naive_retry_on_timeout_makes_duplicates(hub: Hub, sim: OccSimulator, faulty: FaultyTransport) -> None:
    """The negative control: resend on every unknown outcome, without the ledger."""
    connection_id, drafts = await connect_and_draft(hub, sim, ORDERS)
    faulty.rate = FAULT_RATE
    platform = hub.platform("occ")
    ctx = await hub.context(await hub.get(connection_id))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def naive(draft: OrderDraft) -> None:
        async with gate:
            for _ in range(10):
                try:
                    await platform.create_order(ctx, draft)
                except (OrderOutcomeUnknown, RetryableError):
                    continue
                return

    await asyncio.gather(*(naive(d) for d in drafts))
    counts: Counter[str] = orders_by_reference(sim)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    print(f"\nnaive policy: {duplicates} duplicate orders for {ORDERS} references")
    assert duplicates > 0
