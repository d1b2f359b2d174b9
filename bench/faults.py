"""Reads through transient faults: runs completed and seconds, beside a hand-written loop with retries.

The OCC simulator runs in its own process (``bench/simserver.py``) with 5 ms added to
every request and its product pages answered 500/502/503/504 (3 %), 429 with
``Retry-After: 1`` (3 %), or dropped mid-response (1 %): the fault rates of issue 12's
"done when". Each contender reads the whole catalog (N = 20,000) in a fresh process,
runs interleaved contender by contender; a run is *completed* when the reader ended
without an error and read exactly N distinct products:

``httpx+retries``
    The baseline: the hand-written ``httpx.AsyncClient`` loop of the catalog benchmark
    (same page size, same 4 pages in flight), with the retry loop a careful user would
    write: up to 8 attempts per page on 429/5xx, transport errors and undecodable
    bodies, ``Retry-After`` honoured, otherwise full-jitter exponential back-off.
``storelink``
    ``session.products()`` with its defaults (the HTTP layer's retries, the session's
    resumes).
``storelink sync``
    ``storelink sync ID --to DIR --only products`` (the console script, a process of its
    own; its wall time includes the interpreter's start-up and writing the JSON Lines).

The server's fault counters are read before and after each run: the figures say how
many faults the runs met. Faults are drawn from one seeded stream for the whole
server, so each run meets a different schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
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
    run_child,
)

CONTENDERS = ("httpx+retries", "storelink", "storelink sync")
PRODUCTS_PATH = "/ccadmin/v1/products"
LOGIN_PATH = "/ccadmin/v1/login"
LATENCY_MS = 5.0
#: The fault options of the simulator, as ``bench/simserver.py --fault`` takes them.
FAULTS = {
    "fail_rate": "0.03",
    "rate_limit_rate": "0.03",
    "retry_after": "1",
    "drop_rate": "0.01",
    "fault_paths": PRODUCTS_PATH,
}
FAULT_COUNTERS = ("faults_5xx", "faults_rate_limited", "faults_dropped")
#: The baseline's retry loop: attempts per page, back-off base and cap (seconds).
ATTEMPTS, BACKOFF, BACKOFF_CAP = 8, 0.1, 5.0


# --------------------------------------------------------------------------- the contenders (child side)


async def read_baseline(store: Store, *, page_size: int, concurrency: int) -> dict[str, Any]:
    """Walk the catalog with a hand-written httpx loop that retries transient failures."""
    import httpx

    retries = 0
    headers = {"X-CCAsset-Language": "en", "X-CCProfileType": "applicationAccess"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=store.url, limits=limits, trust_env=False, timeout=60) as client:
        login = await client.post(
            LOGIN_PATH,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Bearer {store.credentials['application_key']}"},
        )
        login.raise_for_status()
        headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        async def page(offset: int) -> dict[str, Any]:
            nonlocal retries
            params: dict[str, str | int] = {
                "offset": offset,
                "limit": page_size,
                "totalResults": "true",
                "includePrices": "true",
            }
            for attempt in range(ATTEMPTS):
                wait = random.uniform(0, min(BACKOFF_CAP, BACKOFF * 2**attempt))  # jitter
                try:
                    response = await client.get(PRODUCTS_PATH, params=params, headers=headers)
                    if response.status_code == 429 or response.status_code >= 500:
                        wait = float(response.headers.get("Retry-After", wait))
                    else:
                        response.raise_for_status()
                        body: dict[str, Any] = response.json()
                        return body
                except (httpx.TransportError, ValueError):
                    pass
                if attempt + 1 < ATTEMPTS:
                    retries += 1
                    await asyncio.sleep(wait)
            raise RuntimeError(f"page at offset {offset} failed {ATTEMPTS} times")

        start = time.perf_counter()
        first = await page(0)
        total = int(first["totalResults"])
        ids = [p["id"] for p in first["items"]]
        offsets = iter(range(page_size, total, page_size))

        async def worker() -> list[str]:
            got: list[str] = []
            for offset in offsets:  # shared iterator: each worker takes the next offset
                got += [p["id"] for p in (await page(offset))["items"]]
            return got

        for part in await asyncio.gather(*(worker() for _ in range(concurrency))):
            ids += part
        seconds = time.perf_counter() - start
    return {"products": len(ids), "distinct": len(set(ids)), "seconds": seconds, "retries": retries}


async def read_storelink(store: Store) -> dict[str, Any]:
    """Walk the catalog with ``session.products()`` (its default retries and resumes)."""
    from storelink import Hub, KeyRing
    from storelink.http import EgressPolicy

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        hub = await Hub.open(
            database=str(Path(tmp) / "bench.sqlite"), keys=KeyRing.generate("bench"), egress=EgressPolicy.for_tests()
        )
        async with hub:
            connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
            async with hub.session(connection.id) as session:
                start = time.perf_counter()
                ids = [product.id async for product in session.products()]
                seconds = time.perf_counter() - start
                retries = session.stats.retries
    return {"products": len(ids), "distinct": len(set(ids)), "seconds": seconds, "retries": retries}


def read_sync(store: Store) -> dict[str, Any]:
    """Connect with the console script, then time ``storelink sync --only products`` end to end."""
    script = str(Path(PYTHON).with_name("storelink"))
    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        from storelink import KeyRing

        keys = KeyRing.generate("bench").render().splitlines()[-1]  # the STORELINK_KEYS line
        env = dict(os.environ)
        env.update(
            STORELINK_DB=str(Path(tmp) / "bench.sqlite"),
            STORELINK_KEYS=keys,
            STORELINK_ALLOW_LOOPBACK="1",
            STORELINK_LOG_LEVEL="error",
            XDG_DATA_HOME=str(Path(tmp) / "data"),
        )
        connect = [script, "connect", "occ", "--store-url", store.url, "-c", "application_key=@-"]
        key = store.credentials["application_key"]
        conn = subprocess.run(  # noqa: S603  # our own console script
            connect, input=key, capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        out = Path(tmp) / "out"
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            [script, "sync", conn, "--to", str(out), "--only", "products", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"storelink sync exited {done.returncode}: {done.stderr.strip()[-500:]}")
        summary = json.loads(done.stdout.splitlines()[-1])
        ids = [json.loads(line)["id"] for line in (out / "products.jsonl").read_text().splitlines()]
    return {"products": len(ids), "distinct": len(set(ids)), "seconds": seconds, "retries": summary["retries"]}


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults client")
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--expect", type=int, required=True, help="products in the catalog")
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    store = Store(urls={LATENCY_MS: args.url}, credentials=json.loads(os.environ["BENCH_CREDENTIALS"]))
    try:
        if args.contender == "storelink":
            result = asyncio.run(read_storelink(store))
        elif args.contender == "storelink sync":
            result = read_sync(store)
        else:
            result = asyncio.run(read_baseline(store, page_size=args.page_size, concurrency=args.concurrency))
    except Exception as exc:  # a run that fails is a figure (not completed), not a crash of the benchmark
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:300]}"}))
        return 0
    result["completed"] = result["products"] == result["distinct"] == args.expect
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- the benchmark (parent side)


def run(*, quick: bool = False, products: int | None = None, repeat: int | None = None) -> Section:
    """Read the faulty catalog with each contender *repeat* times, interleaved; return the section."""
    from bench.catalog import shape

    n = products or (2_000 if quick else 20_000)
    runs = repeat or (1 if quick else 5)
    section = Section(
        name="faults",
        title="Reads through transient faults",
        command="python bench/run.py --only faults" + (" --quick" if quick else ""),
        quick=quick,
    )
    s = shape()
    rates = ", ".join(f"{k}={v}" for k, v in FAULTS.items())
    section.notes.append(
        f"N={n:,} products, {LATENCY_MS:g} ms added per request, simulator faults on product pages only: {rates}. "
        f"Page size {s['page_size']}, {s['concurrency']} pages in flight for storelink and the baseline. "
        f"{runs} run(s) per contender, interleaved, each a fresh process; completed = no error and exactly N "
        "distinct products."
    )
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    with SimProcess(products=n, latencies_ms=(LATENCY_MS,), memoize=True, faults=FAULTS) as sim:
        store = sim.stores[0]
        env = {"BENCH_CREDENTIALS": json.dumps(store.credentials)}
        for _ in range(runs):
            for contender in CONTENDERS:
                cmd = [PYTHON, "-m", "bench.faults", "client", contender, "--url", store.url, "--expect", str(n)]
                cmd += ["--page-size", str(s["page_size"]), "--concurrency", str(s["concurrency"])]
                before = _faults(sim)
                data = last_json_line(run_child(cmd, env=env).stdout)
                data.update(faults=_faults(sim) - before, cmd=cmd, server=sim.command)
                results[contender].append(data)
    _add_figures(section, results, runs=runs)
    return section


def _faults(sim: SimProcess) -> int:
    stats = sim.stats()["stats"]
    return sum(int(stats.get(name, 0)) for name in FAULT_COUNTERS)


def _add_figures(section: Section, results: dict[str, list[dict[str, Any]]], *, runs: int) -> None:
    base = [r["seconds"] for r in results["httpx+retries"] if r.get("completed")]
    base_median = Stat.of(base).median if base else float("nan")
    for contender, rs in results.items():
        cmd = command_text(rs[0]["cmd"], {"BENCH_CREDENTIALS": "<key>"})
        done = [r for r in rs if r.get("completed")]
        section.add(
            Figure(
                name=f"runs completed, {contender}",
                value=float(len(done)),
                unit=f"of {runs}",
                runs=runs,
                ratio="baseline" if contender == "httpx+retries" else "",
                target="" if contender == "httpx+retries" else f"{runs} of {runs}",
                met=None if contender == "httpx+retries" else len(done) == runs,
                command=f"{cmd}  (server: {rs[0]['server']})",
            )
        )
        if done:
            stat = Stat.of([r["seconds"] for r in done])
            ratio = "baseline" if contender == "httpx+retries" else f"{stat.median / base_median:.2f}x httpx+retries"
            section.add(Figure.from_stat(f"seconds per completed run, {contender}", stat, "s", ratio=ratio))
            section.add(
                Figure.from_stat(f"retries per run, {contender}", Stat.of([float(r["retries"]) for r in done]), "")
            )
        section.add(Figure.from_stat(f"faults met per run, {contender}", Stat.of([float(r["faults"]) for r in rs]), ""))
        for r in rs:
            if not r.get("completed"):
                why = r.get("error") or f"{r.get('products')} products, {r.get('distinct')} distinct"
                section.notes.append(f"{contender}: a run did not complete: {why}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        raise SystemExit(client_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.faults client CONTENDER --url URL --expect N")
