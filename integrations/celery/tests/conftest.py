"""Real Redis and real Celery worker processes, and OCC simulators on loopback for them to call.

Redis comes from ``scripts/services.sh`` (``STORELINK_TEST_REDIS_URL``). The tests skip
without it, except under CI, where they fail. Each test session uses a queue of its
own, so runs sharing a Redis never take each other's tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.simulation import serve_in_thread
from storelink.vault import KeyRing
from storelink_celery.app import celery_config
from storelink_occ.simulator import OccSimulator, SimulatorConfig

#: Seconds before Redis gives a lost worker's task to another: longer than any task here.
VISIBILITY = 8.0
#: Seconds a sync's connection lock lasts unless renewed.
LEASE = 3.0


def _redis_url() -> str:
    url = os.environ.get("STORELINK_TEST_REDIS_URL", "")
    why = ""
    if not url:
        why = "STORELINK_TEST_REDIS_URL is not set: run `source scripts/services.sh && services_start` first"
    else:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            why = f"the Redis at STORELINK_TEST_REDIS_URL does not answer ({exc})"
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return url


class Store:
    """One simulated OCC store served on loopback."""

    def __init__(self, sim: OccSimulator, url: str) -> None:
        self.sim, self.url = sim, url
        self.connection_id = ""


class Worker:
    """One ``celery worker`` process (a prefork parent and its one child), in a session of its own."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.hostname = f"{name}@storelink-test"
        self.log = log
        argv = [sys.executable, "-m", "celery", "-A", "storelink_celery.app", "worker", "--pool=prefork"]
        argv += ["--concurrency=1", "-n", self.hostname, "-Q", env["STORELINK_CELERY_QUEUE"], "-l", "warning"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603  # our own argv

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool: as if its machine were lost."""
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Shut it down warm, then cold if it does not stop in time."""
        if not self.alive:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


class Cluster:
    """A store database, keys, a queue, simulated stores and the worker processes that serve them."""

    def __init__(self, root: Path, redis_url: str) -> None:
        self.root = root
        self.queue = f"storelink-test-{uuid.uuid4().hex[:12]}"
        self.database = str(root / "storelink.db")
        self.keys = KeyRing.generate("celery-test")
        self.sync_root = root / "sync"
        self.env = {
            **os.environ,
            "STORELINK_DB": self.database,
            "STORELINK_KEYS": self.keys.render().splitlines()[-1],
            "STORELINK_ALLOW_LOOPBACK": "1",
            "STORELINK_SYNC_ROOT": str(self.sync_root),
            "STORELINK_CELERY_BROKER": redis_url,
            "STORELINK_CELERY_QUEUE": self.queue,
            "STORELINK_CELERY_VISIBILITY": str(VISIBILITY),
            "STORELINK_CELERY_LOCK_LEASE": str(LEASE),
            "STORELINK_HTTP_DEADLINE": "6",
            "STORELINK_HTTP_READ_TIMEOUT": "3",
            "STORELINK_LOG_LEVEL": "error",
        }
        self.env.pop("STORELINK_KEYS_FILE", None)
        self.client = Celery("storelink-test")
        self.client.conf.update(celery_config(self.env))
        self.redis = redis.Redis.from_url(redis_url)
        self.workers: list[Worker] = []
        self._started = 0
        self._exit = ExitStack()

    # ------------------------------------------------------------------ stores

    def store(self, *, products: int, seed: int, latency: float = 0.0, app: Any = None) -> Store:
        sim = OccSimulator(SimulatorConfig(products=products, seed=seed, token_ttl=300.0, latency=latency))
        url = self._exit.enter_context(serve_in_thread(app(sim.app) if app else sim.app))
        store = Store(sim, url)
        store.connection_id = asyncio.run(self._connect(store))
        return store

    async def _connect(self, store: Store) -> str:
        async with await Hub.open(database=self.database, keys=self.keys, egress=EgressPolicy.for_tests()) as hub:
            conn = await hub.connect("occ", store_url=store.url, credentials=store.sim.issue_credentials())
            return conn.id

    # ------------------------------------------------------------------ workers

    def start_worker(self) -> Worker:
        self._started += 1
        worker = Worker(f"w{self._started}", self.env, self.root / f"worker-{self._started}.log")
        self.workers.append(worker)
        return worker

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def ensure_workers(self, count: int = 2, timeout: float = 60.0) -> list[Worker]:
        """Start workers until *count* are alive, then wait until each answers a ping."""
        while len(self.live()) < count:
            self.start_worker()
        workers = self.live()
        deadline = time.monotonic() + timeout
        waiting = {w.hostname for w in workers}
        while waiting:
            for w in workers:
                if not w.alive:
                    raise AssertionError(f"worker {w.name} died at start:\n{w.log.read_text()[-3000:]}")
            replies = self.client.control.ping(destination=sorted(waiting), timeout=1.0)
            for reply in replies:
                waiting -= set(reply)
            if waiting and time.monotonic() > deadline:
                raise AssertionError(f"workers {sorted(waiting)} did not answer within {timeout:g} s")
        return workers

    def running(self, task_name: str) -> dict[str, list[dict[str, Any]]]:
        """Return, by worker hostname, the tasks named *task_name* it runs now."""
        active = self.client.control.inspect(timeout=1.0).active() or {}
        return {host: [t for t in tasks if t["name"] == task_name] for host, tasks in active.items()}

    def worker(self, hostname: str) -> Worker:
        return next(w for w in self.workers if w.hostname == hostname)

    def send(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.client.send_task(name, args=args, kwargs=kwargs, queue=self.queue)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self._exit.close()
        keys = list(self.redis.scan_iter(f"*{self.queue}*"))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()
        self.client.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    url = _redis_url()
    made = Cluster(tmp_path_factory.mktemp("celery"), url)
    try:
        yield made
    finally:
        made.close()


def product_ids(path: Path) -> list[str]:
    """Return the product ids in a products file, in file order."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["id"] for line in lines]
