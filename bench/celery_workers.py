"""Many stores synced by Celery: one worker process vs two, on real Redis.

The OCC simulator (its own process, 20 ms added per request, tokens living ``ttl``
seconds) serves ``stores`` stores of ``products`` products each. Every store is a
connection in one SQLite file; ``storelink.sync_all`` (kinds: products, ``full``)
fans out one ``storelink.sync_connection`` per store to 1, then 2, ``celery worker
--pool=prefork --concurrency=1`` processes of ``storelink_celery.app``. Measured
from the fan-out's sending to the last store's result: products written per second,
and the token acquisitions (logins and refreshes) per store per token lifetime
window. Every store's file is checked: each product exactly once.

Needs Redis: ``STORELINK_TEST_REDIS_URL`` (``scripts/services.sh`` starts one).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import PYTHON, Figure, Section, SimProcess, Stat, server_paths

LOGIN_PATH = "/ccadmin/v1/login"
REFRESH_PATH = "/ccadmin/v1/refresh"


def _start_worker(n: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [PYTHON, "-m", "celery", "-A", "storelink_celery.app", "worker", "--pool=prefork", "--concurrency=1"]
    argv += ["-n", f"bench{n}@%h", "-Q", env["STORELINK_CELERY_QUEUE"], "-l", "warning"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603  # our own argv


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tokens(urls: list[str]) -> int:
    total = 0
    for url in urls:
        paths = server_paths(url)
        total += paths.get(LOGIN_PATH, 0) + paths.get(REFRESH_PATH, 0)
    return total


def _round(client: Any, workers: int, env: dict[str, str], tmp: Path, urls: list[str], products: int) -> dict[str, Any]:
    procs = [_start_worker(n, env, tmp / f"worker-{workers}-{n}.log") for n in range(workers)]
    try:
        deadline = time.monotonic() + 120
        waiting = {f"bench{n}@{os.uname().nodename}" for n in range(workers)}
        while waiting:
            for reply in client.control.ping(destination=sorted(waiting), timeout=1.0):
                waiting -= set(reply)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"workers {sorted(waiting)} did not start")
        before = _tokens(urls)
        start = time.perf_counter()
        queued = client.send_task(
            "storelink.sync_all", kwargs={"kinds": ["products"], "full": True}, queue=env["STORELINK_CELERY_QUEUE"]
        ).get(timeout=600)
        results = [client.AsyncResult(q["task"]).get(timeout=1200) for q in queued]
        seconds = time.perf_counter() - start
        tokens = _tokens(urls) - before
    finally:
        _stop(procs)
    for r in results:
        with open(r["kinds"][0]["file"], encoding="utf-8") as lines:
            ids = [json.loads(line)["id"] for line in lines]
        if len(ids) != len(set(ids)) or len(ids) != products:
            raise RuntimeError(f"{r['connection']}: {len(ids)} lines, {len(set(ids))} distinct, {products} wanted")
    return {"seconds": seconds, "tokens": tokens, "stores": len(results)}


async def _connect(database: str, keys: Any, stores: list[Any]) -> None:
    from storelink.http import EgressPolicy
    from storelink.hub import Hub

    async with await Hub.open(database=database, keys=keys, egress=EgressPolicy.for_tests()) as hub:
        for store in stores:
            await hub.connect("occ", store_url=store.url, credentials=store.credentials)


def run(*, quick: bool = False, stores: int | None = None, products: int | None = None, ttl: float = 10.0) -> Section:
    """Sync *stores* x *products* on 1 and on 2 Celery workers; figures per worker count."""
    stores = stores or (10 if quick else 100)
    products = products or (500 if quick else 2000)
    section = Section(
        name="celery_workers",
        title="Celery: many stores on 1 vs 2 workers",
        command="python bench/run.py --only celery_workers" + (" --quick" if quick else ""),
        quick=quick,
    )
    url = os.environ.get("STORELINK_TEST_REDIS_URL", "")
    if not url:
        section.notes.append("skipped: STORELINK_TEST_REDIS_URL is not set (source scripts/services.sh first)")
        return section
    from celery import Celery

    from storelink.vault import KeyRing
    from storelink_celery.app import celery_config

    with (
        SimProcess(products=products, stores=stores, latencies_ms=(20.0,), token_ttl=ttl, memoize=True) as sim,
        tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        keys = KeyRing.generate("bench")
        env = {
            **os.environ,
            "STORELINK_DB": str(tmp / "bench.sqlite"),
            "STORELINK_KEYS": keys.render().splitlines()[-1],
            "STORELINK_ALLOW_LOOPBACK": "1",
            "STORELINK_LOG_LEVEL": "error",
            "STORELINK_SYNC_ROOT": str(tmp / "sync"),
            "STORELINK_CELERY_BROKER": url,
            "STORELINK_CELERY_QUEUE": f"storelink-bench-{uuid.uuid4().hex[:8]}",
            "STORELINK_CELERY_VISIBILITY": "3600",
        }
        env.pop("STORELINK_KEYS_FILE", None)
        asyncio.run(_connect(env["STORELINK_DB"], keys, sim.stores))
        client = Celery("storelink-bench")
        client.conf.update(celery_config(env))
        urls = [s.url for s in sim.stores]
        rounds = {workers: _round(client, workers, env, tmp, urls, products) for workers in (1, 2)}
        client.close()

    base = rounds[1]["seconds"]
    for workers, r in rounds.items():
        rate = stores * products / r["seconds"]
        windows = max(1.0, r["seconds"] / ttl)
        per_window = r["tokens"] / stores / windows
        label = f"{stores} stores x {products:,} products, {workers} worker{'s' if workers > 1 else ''}"
        section.add(
            Figure.from_stat(
                f"products synced per second, {label}",
                Stat.of([rate]),
                "/s",
                ratio="" if workers == 1 else f"{base / r['seconds']:.2f}x the 1-worker rate",
            )
        )
        section.add(
            Figure(
                name=f"token acquisitions per store per {ttl:g} s window, {label}",
                value=per_window,
                unit="",
                ratio=f"{r['tokens']} in {r['seconds']:.1f} s ({math.ceil(windows)} windows)",
                target="<= 1",
                met=per_window <= 1.0,
            )
        )
    section.notes.append(
        f"Python {sys.version.split()[0]}; SQLite store; every store's file held each product exactly once. "
        "The 1-worker round runs first and may reuse the tokens stored when the stores were connected "
        "(shared through the store); the 2-worker round finds them expired and logs in once per store."
    )
    return section
