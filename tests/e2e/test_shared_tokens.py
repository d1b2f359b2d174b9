"""Real worker processes share one connection's tokens through SQLite and PostgreSQL.

The OCC simulator is served on loopback with 3-second tokens (renewed 1.5 s after each
login). Each worker is its own Python process with its own hub on the one database
(``shared_tokens_worker.py``): the same as several machines on one PostgreSQL. Logins and
refreshes (OCC refreshes a token that is still valid) are counted by the server.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.simulation import load, serve_in_thread
from storelink.vault import KeyRing

WORKER = Path(__file__).with_name("shared_tokens_worker.py")
LOGIN = "/ccadmin/v1/login"
TOKEN_PATHS = (LOGIN, "/ccadmin/v1/refresh")  # OCC renews a token by refreshing it while it is valid
TTL = 3.0


class LoginGate:
    """ASGI wrapper that counts admin token acquisitions (logins and refreshes); can hold the first login."""

    def __init__(self, app: Any, *, hold_first: bool = False) -> None:
        self.app = app
        self.logins = 0
        self.hold_first = hold_first
        self.held = threading.Event()
        self.release = threading.Event()  # set from the test's thread: polled, not awaited

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in TOKEN_PATHS:
            self.logins += 1
            if scope["path"] == LOGIN and self.hold_first and not self.held.is_set():
                self.held.set()
                while not self.release.is_set():  # noqa: ASYNC110  # a threading.Event, set from another thread
                    await asyncio.sleep(0.05)
        await self.app(scope, receive, send)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The shared database: a SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
        return
    base = os.environ.get("STORELINK_TEST_POSTGRES_URL", "")
    if not base:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but STORELINK_TEST_POSTGRES_URL is not: scripts/services.sh must start PostgreSQL")
        pytest.skip("STORELINK_TEST_POSTGRES_URL is unset (scripts/services.sh starts PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> KeyRing:
    ring = KeyRing.generate("e2e")
    monkeypatch.setenv("STORELINK_KEYS", ring.render().splitlines()[-1])
    monkeypatch.setenv("STORELINK_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return ring


async def _connect(database: str, keys: KeyRing, url: str, credentials: dict[str, str], *, share: bool) -> str:
    async with await Hub.open(database=database, keys=keys, egress=EgressPolicy.for_tests(), share_tokens=share) as hub:
        conn = await hub.connect("occ", store_url=url, credentials=credentials)
    return conn.id


class Worker:
    """A worker process, started at once; ``go()`` lets it read, ``result()`` waits for its figures."""

    def __init__(
        self,
        database: str,
        connection_id: str,
        *,
        reads: int,
        every: float,
        lease: float | None = None,
        share: bool = True,
    ) -> None:
        args = [sys.executable, str(WORKER), database, connection_id, str(reads), str(every)]
        env = {**os.environ, "STORELINK_SHARE_TOKENS": "1" if share else "0"}
        self.proc = subprocess.Popen(  # noqa: S603  # the test's own worker script
            [*args, *([str(lease)] if lease is not None else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.proc.stderr.read() if self.proc.stderr else line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return dict(json.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no cleanup, no lease released
        self.proc.communicate(timeout=30)


def test_4_processes_x_3_reads_obtain_at_most_2_tokens_per_token_lifetime(database: str, keys: KeyRing) -> None:
    sim = load("occ")(products=5, token_ttl=TTL)
    gate = LoginGate(sim.app)
    with serve_in_thread(gate) as url:
        conn_id = asyncio.run(_connect(database, keys, url, sim.issue_credentials(), share=True))
        workers = [Worker(database, conn_id, reads=3, every=0.5) for _ in range(4)]
        for worker in workers:
            worker.ready()
        before = gate.logins
        started = time.monotonic()
        for worker in workers:
            worker.go()
        results = [worker.result() for worker in workers]
        elapsed = time.monotonic() - started
        tokens = gate.logins - before
    assert [r["failures"] for r in results] == [[]] * 4
    windows = math.ceil(elapsed / TTL)
    assert tokens <= 2 * windows, f"{tokens} logins and refreshes in {elapsed:.1f} s ({windows} token lifetimes)"
    assert sum(r["tokens"] for r in results) == tokens  # each was one worker's, counted once


def test_without_sharing_every_process_logs_in(database: str, keys: KeyRing) -> None:
    """The baseline: with ``share_tokens=False`` the same 4 processes make at least 4 logins."""
    sim = load("occ")(products=5, token_ttl=TTL)
    gate = LoginGate(sim.app)
    with serve_in_thread(gate) as url:
        conn_id = asyncio.run(_connect(database, keys, url, sim.issue_credentials(), share=False))
        workers = [Worker(database, conn_id, reads=3, every=0.5, share=False) for _ in range(4)]
        for worker in workers:
            worker.ready()
        before = gate.logins
        for worker in workers:
            worker.go()
        results = [worker.result() for worker in workers]
        assert gate.logins - before >= 4
    assert [r["failures"] for r in results] == [[]] * 4


def test_a_holder_killed_while_renewing_delays_the_next_process_only_until_its_lease_ends(
    database: str, keys: KeyRing
) -> None:
    lease = 2.0
    sim = load("occ")(products=5, token_ttl=TTL)
    gate = LoginGate(sim.app)
    with serve_in_thread(gate) as url:
        # No token stored at connect, so the first worker must log in, under the lease.
        conn_id = asyncio.run(_connect(database, keys, url, sim.issue_credentials(), share=False))
        gate.hold_first = True
        holder = Worker(database, conn_id, reads=1, every=0, lease=lease)
        follower = Worker(database, conn_id, reads=1, every=0, lease=lease)
        holder.ready()
        follower.ready()
        holder.go()
        try:
            assert gate.held.wait(30), "the holder never logged in"
            killed = time.monotonic()
            holder.kill()
            follower.go()
            result = follower.result()
            waited = time.monotonic() - killed
        finally:
            gate.release.set()
    assert result["failures"] == []
    assert result["tokens"] == 1  # it renewed, once the dead holder's lease ended
    assert waited < lease + 5.0, f"the follower waited {waited:.1f} s for a {lease:g} s lease"
    assert gate.logins == 3  # connect's, the killed holder's, the follower's


def test_the_token_of_the_validation_at_connect_serves_the_first_session(tmp_path: Path, keys: KeyRing) -> None:
    sim = load("occ")(products=5)
    gate = LoginGate(sim.app)
    database = str(tmp_path / "one.db")

    async def first_session(connection_id: str) -> int:
        async with await Hub.open(database=database, keys=keys, egress=EgressPolicy.for_tests()) as hub:
            async with hub.session(connection_id) as session:
                await session.shipping_methods()
            return hub.stats.logins + hub.stats.refreshes

    with serve_in_thread(gate) as url:
        conn_id = asyncio.run(_connect(database, keys, url, sim.issue_credentials(), share=True))
        assert gate.logins == 1
        assert asyncio.run(first_session(conn_id)) == 0
    assert gate.logins == 1
