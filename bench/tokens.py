"""Token refresh under load: many concurrent reads while the access token keeps expiring.

The OCC simulator (its own process, 20 ms added per request) issues tokens that live
``ttl`` seconds (2 s). A child process opens one storelink connection and makes 1,000
reads (``session.shipping_methods()``, one GET each) in two shapes: in bursts (50 every
0.5 s, five token lifetimes, below what the store can serve), and all at once (they
queue for the store's connections, and the queue outlives several tokens). It counts:

- logins and refreshes the server saw during the reads, per token lifetime (target:
  one per lifetime window), and against storelink's own renewal schedule (a refresh
  storm, one renewal per waiting request, is what this catches);
- failed reads (target 0);
- the latency a renewal adds: the same schedule against a server whose tokens last
  300 s (no renewal during the run) gives the latency without refresh; the difference
  of the p50s and of the p99s is what refreshing costs. Reads that were in flight when
  a token was renewed (``token_refreshed`` event) are also reported on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import (
    PYTHON,
    Figure,
    Section,
    SimProcess,
    Stat,
    Store,
    command_text,
    last_json_line,
    percentile,
    run_child,
    server_paths,
)
from storelink import hookimpl

LOGIN_PATH = "/ccadmin/v1/login"
REFRESH_PATH = "/ccadmin/v1/refresh"


class RenewalLog:
    """A cross-cutting plugin that notes when a token was obtained (``token_refreshed``)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    @hookimpl
    def token_refreshed(self, connection_id: str, audience: str, renewed: bool) -> None:
        self.times.append(time.perf_counter())


async def reads_under_load(store: Store, *, reads: int, burst: int, every: float) -> dict[str, Any]:
    """Open a connection to *store* and run *reads* reads in bursts; return the figures."""
    from storelink.http import EgressPolicy
    from storelink.hub import Hub
    from storelink.plugins import Registry
    from storelink.vault import KeyRing

    renewals = RenewalLog()
    registry = Registry()
    registry.register_plugin(renewals, name="bench-renewals")

    latencies: list[tuple[float, float]] = []
    failures: list[str] = []

    async def one_read(session: Any) -> None:
        start = time.perf_counter()
        try:
            await session.shipping_methods()
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append((start, time.perf_counter()))

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        hub = await Hub.open(
            database=str(Path(tmp) / "bench.sqlite"),
            keys=KeyRing.generate("bench"),
            egress=EgressPolicy.for_tests(),
            registry=registry,
        )
        async with hub:
            connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
            async with hub.session(connection.id) as session:
                await session.shipping_methods()  # warm-up: pool, token
                renewals.times.clear()
                before = server_paths(store.url)
                began = time.perf_counter()
                tasks: list[asyncio.Task[None]] = []
                for i in range(0, reads, burst):
                    wake = began + (i // burst) * every
                    await asyncio.sleep(max(0.0, wake - time.perf_counter()))
                    tasks.extend(asyncio.ensure_future(one_read(session)) for _ in range(min(burst, reads - i)))
                await asyncio.gather(*tasks)
                duration = time.perf_counter() - began
                after = server_paths(store.url)
    during = [end - start for start, end in latencies if any(start <= t <= end for t in renewals.times)]
    return {
        "reads": reads,
        "ok": len(latencies),
        "failed": len(failures),
        "failures": failures[:5],
        "duration": duration,
        "latencies": [end - start for start, end in latencies],
        "during_renewal": during,
        "renewal_events": len(renewals.times),
        "requests": {path: count - before.get(path, 0) for path, count in after.items() if count > before.get(path, 0)},
    }


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tokens client")
    parser.add_argument("--url", required=True)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.3, help="seconds between bursts")
    args = parser.parse_args(argv)
    store = Store(urls={0.0: args.url}, credentials=json.loads(os.environ["BENCH_CREDENTIALS"]))
    result = asyncio.run(reads_under_load(store, reads=args.reads, burst=args.burst, every=args.every))
    print(json.dumps(result))
    return 0


def _renew_every(ttl: float) -> float:
    # storelink.http.tokens renews a token of lifetime L once it is L - margin old,
    # margin = min(max(30 s, 20 % of L), 50 % of L): every 1 s for a 2 s token.
    return ttl - min(max(30.0, 0.2 * ttl), 0.5 * ttl)


def run(
    *,
    quick: bool = False,
    reads: int | None = None,
    ttl: float = 2.0,
    lifetimes: float = 5.0,
    burst: int = 50,
    latency_ms: float = 20.0,
    repeat: int | None = None,
) -> Section:
    """Measure renewals, failures and added latency under two load shapes; return the section."""
    reads = reads or (200 if quick else 1000)
    runs = repeat or (1 if quick else 3)
    bursts = max(1, math.ceil(reads / burst))
    every = ttl * lifetimes / bursts
    section = Section(
        name="tokens",
        title="Token refresh under load",
        command="python bench/run.py --only tokens" + (" --quick" if quick else ""),
        quick=quick,
    )
    base = [PYTHON, "-m", "bench.tokens", "client", "--reads", str(reads)]
    shapes = {
        "bursts": [*base, "--burst", str(burst), "--every", f"{every:.4f}"],
        "at once": [*base, "--burst", str(reads), "--every", "0"],
    }
    # (shape, token lifetime): the 300 s runs renew nothing, the reference for latency.
    configs = (("bursts", ttl), ("bursts", 300.0), ("at once", ttl))
    outcome: dict[tuple[str, float], list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(runs):
        for shape, token_ttl in configs:
            with SimProcess(products=10, latencies_ms=(latency_ms,), token_ttl=token_ttl) as sim:
                store = sim.stores[0]
                env = {"BENCH_CREDENTIALS": json.dumps(store.credentials)}
                data = last_json_line(run_child([*shapes[shape], "--url", store.url], env=env).stdout)
                # Counted by the server from the end of the warm-up read to the last read.
                data["logins"] = data["requests"].get(LOGIN_PATH, 0)
                data["refreshes"] = data["requests"].get(REFRESH_PATH, 0)
                data["server"] = sim.command
                outcome[shape, token_ttl].append(data)

    for shape in shapes:
        rs = outcome[shape, ttl]
        shown = command_text([*shapes[shape], "--url", "URL"], {"BENCH_CREDENTIALS": "<key>"})
        label = f"{reads:,} reads {'in bursts' if shape == 'bursts' else 'at once'}, ttl {ttl:g} s"
        duration = Stat.of([r["duration"] for r in rs])
        scheduled = math.ceil(duration.median / _renew_every(ttl))
        tokens = Stat.of([r["logins"] + r["refreshes"] for r in rs])
        per_window = Stat.of([(r["logins"] + r["refreshes"]) / (r["duration"] / ttl) for r in rs])
        failed = Stat.of([r["failed"] for r in rs])
        section.add(
            Figure.from_stat(f"run length, {label}", duration, "s", command=f"{shown}  (server: {rs[0]['server']})")
        )
        section.add(
            Figure.from_stat(
                f"token acquisitions (logins + refreshes), {label}",
                tokens,
                "tokens",
                ratio=f"{Stat.of([r['logins'] for r in rs]).median:g} logins, "
                f"{Stat.of([r['refreshes'] for r in rs]).median:g} refreshes",
                target=f"<= {scheduled}: storelink's own schedule (a renewal every {_renew_every(ttl):g} s), no storm",
                met=tokens.high <= scheduled,
                command=shown,
            )
        )
        section.add(
            Figure.from_stat(
                f"token acquisitions per {ttl:g} s lifetime window, {label}",
                per_window,
                "tokens",
                target="<= 1",
                met=per_window.median <= 1.0,
                command=shown,
            )
        )
        section.add(
            Figure.from_stat(f"failed reads, {label}", failed, "reads", target="0", met=failed.high == 0, command=shown)
        )
        failures = [f for r in rs for f in r["failures"]]
        if failures:
            section.notes.append(f"{label}: first failures: " + "; ".join(dict.fromkeys(failures[:3])))

    renewing, still = outcome["bursts", ttl], outcome["bursts", 300.0]
    shown = command_text([*shapes["bursts"], "--url", "URL"], {"BENCH_CREDENTIALS": "<key>"})
    for q in (50, 99):
        with_renewal = Stat.of([percentile(r["latencies"], q) * 1000 for r in renewing])
        without = Stat.of([percentile(r["latencies"], q) * 1000 for r in still])
        section.add(
            Figure.from_stat(
                f"p{q} read latency in bursts, ttl {ttl:g} s (renewing)", with_renewal, "ms", command=shown
            )
        )
        section.add(
            Figure.from_stat(f"p{q} read latency in bursts, ttl 300 s (no renewal)", without, "ms", command=shown)
        )
        section.add(
            Figure(
                f"p{q} latency added by renewals (difference of the medians above)",
                with_renewal.median - without.median,
                "ms",
                runs=runs,
                command=shown,
            )
        )
    during = [x for r in renewing for x in r["during_renewal"]]
    if during:
        section.add(
            Figure(
                f"p50 latency of the {len(during)} reads in flight when a token was renewed",
                percentile(during, 50) * 1000,
                "ms",
                ratio=f"p99 {percentile(during, 99) * 1000:.0f} ms",
                runs=runs,
                command=shown,
            )
        )
    section.notes.append(
        f"Bursts: {reads:,} reads in {bursts} bursts of {burst}, one every {every:.2f} s "
        f"({lifetimes:g} token lifetimes). "
        f"At once: all {reads:,} reads started together; they queue for the store's connections and span several "
        f"lifetimes. Server latency {latency_ms:g} ms per request; {runs} run(s) of each configuration, alternating."
    )
    return section


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        raise SystemExit(client_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.tokens client --url URL")
