"""Many stores: 100 connections read concurrently on one event loop.

One simulator process serves 100 stores of 500 products (two pages each), each its
own simulator (own catalog, own application key) on its own loopback port, with 20 ms
added per request. A child
process connects all 100 through one hub, then walks every catalog at once with
``session.products()`` (``asyncio.gather`` over the 100 sessions) and notes when each
store's walk finished.

Figures: total products per second over the 100 walks, and fairness: the slowest
store's walk time against the median store's (1.0 is perfectly fair: no store starved
while the others ran). The client's CPU time per product and how busy its one core
was tell whether the loop was waiting on the network or on its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import PYTHON, Figure, Section, SimProcess, Stat, Store, command_text, last_json_line, run_child


async def read_all(stores: Sequence[Store], expect: int) -> dict[str, Any]:
    """Connect every store, walk all catalogs concurrently; return per-store times."""
    from storelink.http import EgressPolicy
    from storelink.hub import Hub
    from storelink.vault import KeyRing

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        hub = await Hub.open(
            database=str(Path(tmp) / "bench.sqlite"), keys=KeyRing.generate("bench"), egress=EgressPolicy.for_tests()
        )
        async with hub:
            gate = asyncio.Semaphore(10)  # connecting is set-up, not measured: 10 at a time

            async def connect(store: Store) -> str:
                async with gate:
                    return (await hub.connect("occ", store_url=store.url, credentials=store.credentials)).id

            ids = await asyncio.gather(*(connect(s) for s in stores))
            began, cpu = time.perf_counter(), time.process_time()

            async def walk(connection_id: str) -> tuple[int, float]:
                count = 0
                async with hub.session(connection_id) as session:
                    async for _product in session.products():
                        count += 1
                return count, time.perf_counter() - began

            done = await asyncio.gather(*(walk(i) for i in ids))
            total, cpu = time.perf_counter() - began, time.process_time() - cpu
    counts = [c for c, _ in done]
    if any(c != expect for c in counts):
        raise RuntimeError(f"stores returned {sorted(set(counts))} products, expected {expect} each")
    return {"total_seconds": total, "cpu": cpu, "store_seconds": [t for _, t in done], "products": sum(counts)}


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.many_stores client")
    parser.add_argument("--stores-json", required=True, help="file with the simulator's stores")
    parser.add_argument("--expect", type=int, required=True, help="products per store")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.stores_json).read_text())
    stores = [Store(urls={0.0: s["url"]}, credentials=dict(s["credentials"])) for s in data]
    print(json.dumps(asyncio.run(read_all(stores, args.expect))))
    return 0


def run(
    *,
    quick: bool = False,
    stores: int | None = None,
    products: int | None = None,
    latency_ms: float = 20.0,
    repeat: int | None = None,
) -> Section:
    """Measure throughput and fairness over many stores; return the section."""
    stores = stores or (10 if quick else 100)
    products = products or 500
    runs = repeat or (1 if quick else 3)
    section = Section(
        name="many_stores",
        title="Many stores on one event loop",
        command="python bench/run.py --only many_stores" + (" --quick" if quick else ""),
        quick=quick,
    )
    results: list[dict[str, Any]] = []
    with (
        SimProcess(products=products, latencies_ms=(latency_ms,), stores=stores, memoize=True) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        stores_file = Path(tmp) / "stores.json"
        stores_file.write_text(json.dumps([{"url": s.url, "credentials": s.credentials} for s in sim.stores]))
        cmd = [
            PYTHON,
            "-m",
            "bench.many_stores",
            "client",
            "--stores-json",
            str(stores_file),
            "--expect",
            str(products),
        ]
        for _ in range(runs):
            results.append(last_json_line(run_child(cmd, timeout=600).stdout) | {"server": sim.command})
    shown = command_text([*cmd[:-3], "<stores.json>", *cmd[-2:]]) + f"  (server: {results[0]['server']})"
    rate = Stat.of([r["products"] / r["total_seconds"] for r in results])
    median = Stat.of([statistics.median(r["store_seconds"]) * 1000 for r in results])
    slowest = Stat.of([max(r["store_seconds"]) * 1000 for r in results])
    fairness = Stat.of([max(r["store_seconds"]) / statistics.median(r["store_seconds"]) for r in results])
    where = f"{stores} stores x {products:,} products, {latency_ms:g} ms"
    section.add(Figure.from_stat(f"total throughput, {where}", rate, "products/s", command=shown))
    section.add(Figure.from_stat(f"median store walk time, {where}", median, "ms", command=shown))
    section.add(Figure.from_stat(f"slowest store walk time, {where}", slowest, "ms", command=shown))
    section.add(Figure.from_stat(f"fairness: slowest / median store, {where}", fairness, "x", command=shown))
    cpu = Stat.of([r["cpu"] / r["products"] * 1e6 for r in results])
    busy = Stat.of([r["cpu"] / r["total_seconds"] * 100 for r in results])
    section.add(Figure.from_stat(f"client CPU per product, {where}", cpu, "us", command="(same runs)"))
    section.add(Figure.from_stat(f"client CPU busy during the walks, {where}", busy, "%", command="(same runs)"))
    section.notes.append(
        f"{runs} run(s); every walk starts at the same moment after all {stores} connections were made (each "
        "session opens inside its walk: its HTTP client is created then); "
        "a store's time is from that moment to its last product."
    )
    return section


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        raise SystemExit(client_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.many_stores client --stores-json FILE --expect N")
