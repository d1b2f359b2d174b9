"""Two real Celery worker processes on real Redis, syncing and ordering from simulated OCC stores.

Counts (kept so the file runs in well under 90 s on two loaded cores; the bench runs
more): 100 stores of 50 products fanned out over 2 workers; one store of 6,000
products whose worker is SIGKILLed mid-sync; 200 orders over 2 stores while 3 workers
are SIGKILLed between the store committing an order and the worker hearing of it.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from storelink import Address, OrderDraft, OrderLine, Payment, to_jsonable
from storelink.http import EgressPolicy
from storelink.hub import Hub

from .conftest import Cluster, Store, product_ids

pytestmark = pytest.mark.slow

SYNC = "storelink.sync_connection"
ORDER = "storelink.create_order"
REFERENCE_PROPERTY = "x_storelink_reference"


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def test_sync_all_fans_out_every_store_over_both_workers_each_product_once(cluster: Cluster) -> None:
    stores = [cluster.store(products=50, seed=100 + n, latency=0.01) for n in range(100)]
    cluster.ensure_workers(2)

    queued = cluster.send("storelink.sync_all", kinds=["products"]).get(timeout=60)

    assert sorted(q["connection"] for q in queued) == sorted(s.connection_id for s in stores)
    results = [cluster.client.AsyncResult(q["task"]).get(timeout=60) for q in queued]
    workers = Counter(r["worker"] for r in results)
    assert len(workers) == 2, f"one worker took every store: {workers}"
    for store in stores:
        ids = product_ids(cluster.sync_root / store.connection_id / "products.jsonl")
        assert len(ids) == len(set(ids)) == 50, store.connection_id
        assert set(ids) == {store.sim.catalog.product(i)["id"] for i in range(50)}


def test_a_store_whose_worker_is_killed_mid_sync_completes_on_the_other_worker_without_duplicates(
    cluster: Cluster,
) -> None:
    store = cluster.store(products=6000, seed=7, latency=0.3)
    cluster.ensure_workers(2)
    file = cluster.sync_root / store.connection_id / "products.jsonl"

    sent = cluster.send(SYNC, store.connection_id, kinds=["products"])
    _wait_for(lambda: file.exists() and file.stat().st_size > 0, 30, "the first checkpointed page")
    running = {host: tasks for host, tasks in cluster.running(SYNC).items() if tasks}
    assert len(running) == 1, running
    (victim,) = running
    lines_before_kill = len(product_ids(file))
    cluster.worker(victim).kill()

    result = sent.get(timeout=60)

    assert result["worker"] != victim
    (products,) = result["kinds"]
    assert products["resumed_after"] is not None
    assert products["resumed_after"] >= 250
    assert lines_before_kill < 6000
    ids = product_ids(file)
    assert len(ids) == len(set(ids)) == 6000


class CommitThenStall:
    """Wraps a simulator: for chosen order references, commit the order, then hold the answer.

    The worker is killed while it waits, so the store holds an order its ledger row
    (``sending``) has not recorded: the redelivered task must find it, not send it again.
    """

    def __init__(self, app: Any, *, every: int, stall: float) -> None:
        self.app, self.every, self.stall = app, every, stall
        self.stalled: list[str] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/ccappagent/v1/orders"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reference = _reference(body)
        sent: list[Any] = []

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Any) -> None:
            sent.append(message)

        await self.app(scope, replay, capture)
        if int(reference.rsplit("-", 1)[1]) % self.every == 0:
            with self.lock:
                first = reference not in self.stalled
                if first:
                    self.stalled.append(reference)
            if first:
                await asyncio.sleep(self.stall)
        for message in sent:
            await send(message)


def _reference(body: bytes) -> str:
    return str(json.loads(body).get(REFERENCE_PROPERTY))


def _drafts(cluster: Cluster, store: Store, count: int, prefix: str) -> list[OrderDraft]:
    async def catalog() -> tuple[list[tuple[str, str]], str]:
        async with (
            await Hub.open(database=cluster.database, keys=cluster.keys, egress=EgressPolicy.for_tests()) as hub,
            hub.session(store.connection_id) as session,
        ):
            products = [(p.id, p.variants[0].id) async for p in session.products() if p.variants]
            shipping = (await session.shipping_methods())[0].id
            return products, shipping

    products, shipping = asyncio.run(catalog())
    rng = random.Random(prefix)
    address = Address(name="Ada Lovelace", line1="1 Main St", city="Syracuse", region="NY", country="US")
    return [
        OrderDraft(
            reference=f"{prefix}-{n:04d}",
            lines=tuple(
                OrderLine(product_id=p, sku_id=s, quantity=rng.randint(1, 3)) for p, s in rng.sample(products, k=2)
            ),
            shipping_address=address,
            shipping_method_id=shipping,
            payment=Payment(type="invoice", po_number=f"PO-{n}"),
        )
        for n in range(count)
    ]


def test_order_tasks_under_killed_workers_make_every_order_once(cluster: Cluster) -> None:
    wrappers: list[CommitThenStall] = []

    def wrap(app: Any) -> CommitThenStall:
        wrappers.append(CommitThenStall(app, every=25, stall=2.5))
        return wrappers[-1]

    stores = [cluster.store(products=60, seed=300 + n, app=wrap) for n in range(2)]
    drafts = {s.connection_id: _drafts(cluster, s, 100, f"chan{n}") for n, s in enumerate(stores)}
    cluster.ensure_workers(2)

    sent = [cluster.send(ORDER, cid, to_jsonable(d)) for cid, ds in drafts.items() for d in ds]
    killed = 0
    deadline = time.monotonic() + 45
    seen: set[str] = set()
    while killed < 3 and time.monotonic() < deadline:
        stalled = {ref for w in wrappers for ref in w.stalled} - seen
        if not stalled:
            time.sleep(0.05)
            continue
        for host, tasks in cluster.running(ORDER).items():
            for task in tasks:
                reference = task["args"][1]["reference"]
                if reference in stalled and cluster.worker(host).alive:
                    cluster.worker(host).kill()
                    killed += 1
                    cluster.start_worker()
        seen |= stalled
    assert killed == 3, f"only {killed} workers were killed mid-order"
    cluster.ensure_workers(2)

    results = [s.get(timeout=60) for s in sent]

    references = Counter(str(o.get(REFERENCE_PROPERTY)) for s in stores for o in s.sim.orders.all())
    wanted = {d.reference for ds in drafts.values() for d in ds}
    duplicates = sum(n - 1 for n in references.values() if n > 1)
    lost = wanted - set(references)
    assert (duplicates, sorted(lost)) == (0, [])
    assert {r["reference"] for r in results} == wanted
    assert all(r["order"]["id"] for r in results)


def test_sync_files_are_where_the_settings_say(cluster: Cluster, tmp_path: Path) -> None:
    """A task given a directory writes there, not under the sync root."""
    store = cluster.store(products=30, seed=400)
    cluster.ensure_workers(2)
    where = tmp_path / "elsewhere"

    result = cluster.send(SYNC, store.connection_id, kinds=["products"], directory=str(where)).get(timeout=60)

    assert result["directory"] == str(where.resolve())
    assert len(product_ids(where / "products.jsonl")) == 30
    assert not (cluster.sync_root / store.connection_id).exists()
