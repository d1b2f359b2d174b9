"""Memory: peak RSS of ``storelink sync`` as the catalog grows tenfold.

``storelink sync ID --to DIR --only products`` runs as a child process against the OCC
simulator (its own process); its peak RSS is that process's own ``VmHWM`` at exit
(``bench/peak.py`` explains why not ``ru_maxrss``). Each run writes to a fresh directory, so no checkpoint is
resumed. Target: streaming keeps memory flat, the 100,000-product run within 20 % of
the 10,000-product run. The output is checked: one line per product.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.harness import (
    Figure,
    Section,
    SimProcess,
    Stat,
    Store,
    command_text,
    run_child,
    runs_for,
    runs_note,
    storelink_script,
)


async def create_connection(database: Path, keys: str, store: Store) -> str:
    """Connect *store* in the connection store at *database*; return the connection id."""
    from storelink.http import EgressPolicy
    from storelink.hub import Hub
    from storelink.vault import KeyRing

    hub = await Hub.open(database=str(database), keys=KeyRing.parse(keys), egress=EgressPolicy.for_tests())
    async with hub:
        connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
    return connection.id


def run(*, quick: bool = False, sizes: Sequence[int] | None = None, repeat: int | None = None) -> Section:
    """Measure the peak RSS of ``storelink sync`` at each of *sizes* products."""
    sizes = tuple(sizes or ((1_000, 10_000) if quick else (10_000, 100_000)))
    section = Section(
        name="memory",
        title="Memory of storelink sync",
        command="python bench/run.py --only memory" + (" --quick" if quick else ""),
        quick=quick,
    )
    script = storelink_script()
    if script is None:
        raise RuntimeError("the storelink console script (storelink.cli) is not importable")
    from storelink.vault import KeyRing

    keys = KeyRing.generate("bench").render()
    peaks: dict[int, Stat] = {}
    tmp = Path(tempfile.mkdtemp(prefix="storelink-bench-sync-"))
    try:
        for n in sizes:
            with SimProcess(products=n, memoize=True) as sim:
                database = tmp / f"store-{n}.sqlite"
                connection_id = asyncio.run(create_connection(database, keys, sim.stores[0]))
                env = {"STORELINK_KEYS": keys, "STORELINK_ALLOW_LOOPBACK": "1", "STORELINK_DB": str(database)}
                samples: list[float] = []
                walls: list[float] = []
                runs = runs_for(n, quick=quick, repeat=repeat)
                for i in range(runs):
                    out = tmp / f"out-{n}-{i}"
                    cmd = [script, "sync", connection_id, "--to", str(out), "--only", "products"]
                    child = run_child(cmd, env=env, peak=True)
                    assert child.peak_kb is not None
                    with (out / "products.jsonl").open("rb") as written:
                        lines = sum(1 for _ in written)
                    if lines != n:
                        raise RuntimeError(f"storelink sync wrote {lines} products, expected {n}")
                    samples.append(child.peak_kb / 1024)
                    walls.append(n / child.wall)
                    shutil.rmtree(out)
                peaks[n] = Stat.of(samples)
                shown = command_text(
                    ["storelink", "sync", "ID", "--to", "DIR", "--only", "products"],
                    {"STORELINK_KEYS": "<key>", "STORELINK_ALLOW_LOOPBACK": "1", "STORELINK_DB": "<sqlite file>"},
                )
                small = peaks[sizes[0]].median
                ratio = peaks[n].median / small
                big = n != sizes[0]
                section.add(
                    Figure.from_stat(
                        f"peak RSS of storelink sync, N={n:,} products",
                        peaks[n],
                        "MiB",
                        ratio=f"{ratio:.2f}x N={sizes[0]:,}" if big else "baseline",
                        target=f"<= 1.20x N={sizes[0]:,}" if big else "",
                        met=ratio <= 1.20 if big else None,
                        command=f"{shown}  (server: {sim.command})",
                    )
                )
                section.add(
                    Figure.from_stat(
                        f"storelink sync throughput (whole process, start-up included), N={n:,}",
                        Stat.of(walls),
                        "products/s",
                        command=shown,
                    )
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section.notes.append(
        f"{runs_note(sizes, quick=quick, repeat=repeat)}; "
        "each a fresh `storelink sync` process writing products.jsonl to a new directory "
        "(checked: one line per product)."
    )
    return section
