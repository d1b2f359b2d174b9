"""``storelink serve`` in several processes: one connect flow across them, for real.

Two ``storelink serve`` processes on one database (a SQLite file, or PostgreSQL for two
"machines") get the merchant's requests in turn, so every form is posted to another
process than the one that rendered it; and ``storelink serve --workers 2`` serves the
whole flow on one port. Both walk the key flow of the development channel against the
OCC simulator, with httpx, to the channel's redirect URI and the stored connection.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import psycopg
import pytest

from storelink.connect import serve as serve_connect
from storelink.connect.channels import Channel
from storelink.errors import ConfigurationError
from storelink.store import open_store

from .conftest import STORELINK, Cli, Sim, one_line_error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _serving(args: list[str], env: dict[str, str], log: Path, *, started: int = 1) -> Iterator[subprocess.Popen[str]]:
    """Run ``storelink serve`` until *started* app instances report start-up complete; stop it after."""
    with log.open("w") as err:
        process = subprocess.Popen(  # noqa: S603  # our own console script, fixed arguments
            [STORELINK, "serve", *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=err, text=True
        )
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("Application startup complete") < started:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


class Browser:
    """One browser (one cookie jar) whose requests go to the given servers in turn, on a new TCP connection each."""

    def __init__(self, *bases: str) -> None:
        self.bases = bases
        self.turn = 0
        self.client = httpx.Client(follow_redirects=False, timeout=20, limits=httpx.Limits(max_keepalive_connections=0))
        self.served: list[str] = []

    def _next(self) -> str:
        base = self.bases[self.turn % len(self.bases)]
        self.turn += 1
        self.served.append(base)
        return base

    def get(self, path: str) -> httpx.Response:
        return self.client.get(self._next() + path, headers={"connection": "close"})

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.client.post(self._next() + path, data=data, headers={"connection": "close"})

    def close(self) -> None:
        self.client.close()


def _walk(browser: Browser, occ: Sim) -> dict[str, str]:
    """Walk the development channel's key flow; return the query the browser lands on the channel with."""
    start = browser.get("/")
    assert start.status_code == 200, start.text
    assert "Oracle Commerce Cloud" in start.text
    chosen = browser.post("/", {"platform": "occ", "csrf_token": _csrf(start)})
    assert chosen.status_code == 303, chosen.text
    store_path = chosen.headers["location"]
    assert store_path.endswith("/store")
    page = browser.get(store_path)
    assert page.status_code == 200, page.text
    stored = browser.post(store_path, {"store_url": occ.url, "csrf_token": _csrf(page)})
    assert stored.status_code == 303, stored.text
    credentials_path = stored.headers["location"]
    page = browser.get(credentials_path)
    assert page.status_code == 200, page.text
    done = browser.post(credentials_path, {"credential.application_key": occ.key, "csrf_token": _csrf(page)})
    assert done.status_code == 303, done.text
    location = urlsplit(done.headers["location"])
    assert location.path == "/connected"
    return dict(parse_qsl(location.query))


def _postgres_database() -> Iterator[str]:
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[str]:
    """The database both processes use: the isolated SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield env["STORELINK_DB"]
        return
    yield from _postgres_database()


async def _connections(database: str) -> list[tuple[str, str]]:
    async with open_store(database) as store:
        return [(c.id, str(c.store_url)) for c in await store.list_connections()]


@pytest.mark.timeout(120)
def test_two_serve_processes_on_one_database_serve_one_flow_request_by_request(
    env: dict[str, str], database: str, occ: Sim, tmp_path: Path
) -> None:
    ports = [_free_port(), _free_port()]
    public = f"http://127.0.0.1:{ports[0]}"
    run_env = {**env, "STORELINK_DB": database}
    with (
        _serving(["--port", str(ports[0]), "--public-url", public], run_env, tmp_path / "a.log"),
        _serving(["--port", str(ports[1]), "--public-url", public], run_env, tmp_path / "b.log"),
    ):
        browser = Browser(*(f"http://127.0.0.1:{port}" for port in ports))
        try:
            back = _walk(browser, occ)
        finally:
            browser.close()
    assert len(set(browser.served)) == 2
    assert all(a != b for a, b in zip(browser.served, browser.served[1:], strict=False))
    stored = asyncio.run(_connections(database))
    assert [conn_id for conn_id, _ in stored] == [back["connection_id"]]
    assert stored[0][1] == occ.url
    assert back["state"]


@pytest.mark.timeout(120)
def test_serve_with_two_workers_serves_the_whole_flow(env: dict[str, str], occ: Sim, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "workers.log"
    with _serving(["--port", str(port), "--workers", "2"], env, log, started=2) as process:
        workers = _children(process.pid)
        browser = Browser(f"http://127.0.0.1:{port}")
        try:
            results = [_walk(browser, occ) for _ in range(3)]
        finally:
            browser.close()
    assert len(workers) == 2
    stored = asyncio.run(_connections(env["STORELINK_DB"]))
    assert sorted(conn_id for conn_id, _ in stored) == sorted(r["connection_id"] for r in results)
    assert process.returncode == 0, log.read_text()
    assert occ.key not in log.read_text()


def _children(pid: int) -> list[int]:
    """Return the ids of *pid*'s worker processes (Linux /proc; multiprocessing's resource tracker left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return found


def test_serve_with_workers_refuses_an_in_memory_database(run_cli: Cli) -> None:
    line = one_line_error(run_cli("--db", ":memory:", "serve", "--workers", "2"), 2)
    assert "in-memory database" in line
    assert "several workers" in line


def test_serve_refuses_a_worker_count_out_of_range(run_cli: Cli) -> None:
    result = run_cli("serve", "--workers", "0")
    assert result.exit_code == 2
    assert "--workers" in result.stderr


def test_serve_with_workers_refuses_options_a_worker_cannot_rebuild(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="path of a channels file"):
        serve_connect(workers=2, channels=[Channel.development("http://127.0.0.1:8000")])
    with pytest.raises(ConfigurationError, match="in the channels file"):
        serve_connect(workers=2, apps={"oauthy": {"client_id": "x"}})
    with pytest.raises(ConfigurationError, match="egress cannot be passed on"):
        serve_connect(workers=2, egress=object())
    with pytest.raises(ConfigurationError, match="between 1 and 64"):
        serve_connect(workers=65)
