"""``storelink sync`` of 20,000 products through the simulator's own faults, served on loopback.

The whole command runs (click's runner, in-process) against the OCC simulator served
by uvicorn in a thread, its product pages answered 500/502/503/504 (3 %), 429 with
``Retry-After: 1`` (3 %) and dropped mid-response (1 %), real sockets and real
waits: the sync must exit 0 with exactly the catalog, each product once. Then a page
that fails beyond its retries and the sync's own resumes: exit 4 with the command
that resumes, and that command completes the set exactly once.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from storelink.cli import cli
from storelink.http.clock import SystemClock
from storelink.simulation import Simulator, load, serve_in_thread
from storelink.vault import KeyRing

PRODUCTS = 20_000
PAGES = "/ccadmin/v1/products"
FAULTS = {
    "fail_rate": 0.03,
    "rate_limit_rate": 0.03,
    "retry_after": 1.0,
    "drop_rate": 0.01,
    "fault_paths": (PAGES,),
}


class Stubborn:
    """An ASGI wrapper that answers 503 to the product page at *offset* its first *times* requests."""

    def __init__(self, app: Any, *, offset: int, times: int) -> None:
        self.app, self.offset, self.times = app, str(offset), times
        self.seen = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        query = dict(part.split("=", 1) for part in scope.get("query_string", b"").decode().split("&") if "=" in part)
        if scope["type"] == "http" and scope["path"] == PAGES and query.get("offset") == self.offset:
            self.seen += 1
            if self.seen <= self.times:
                body = json.dumps({"status": "503", "errorCode": "STUB503", "message": "still down"}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DB", str(tmp_path / "storelink.db"))
    monkeypatch.setenv("STORELINK_KEYS", KeyRing.generate("e2e").render().splitlines()[-1])
    monkeypatch.setenv("STORELINK_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("STORELINK_LOG_LEVEL", "error")


def _serve(sim: Simulator, app: Any = None) -> Iterator[str]:
    with serve_in_thread(app or sim.app) as url:
        yield url


def _run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def _connect(url: str, sim: Simulator) -> str:
    key = sim.issue_credentials()["application_key"]
    result = _run("connect", "occ", "--store-url", url, "-c", "application_key=@-", input=key)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def _catalog(sim: Simulator) -> list[str]:
    return [p["id"] for p in sim.catalog.iter_products(0, PRODUCTS)]  # type: ignore[attr-defined]


def _written(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _faults(sim: Simulator) -> int:
    stats = sim.stats
    return sum(stats.get(name, 0) for name in ("faults_5xx", "faults_rate_limited", "faults_dropped"))


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sync_through_500s_429s_and_drops_completes_with_every_product_once(tmp_path: Path, seed: int) -> None:
    sim = load("occ")(products=PRODUCTS, seed=seed, **FAULTS)
    for url in _serve(sim):
        conn = _connect(url, sim)
        result = _run("sync", conn, "--to", str(tmp_path / "out"), "--only", "products", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    written = _written(tmp_path / "out" / "products.jsonl")
    assert len(written) == PRODUCTS == len(set(written)) == summary["items"]
    assert written == _catalog(sim)
    assert _faults(sim) >= 3, sim.stats  # about 7 % of 80 pages: the run did meet faults
    assert summary["retries"] >= _faults(sim) - summary["resumes"] * 4


@pytest.mark.usefixtures("env")
def test_a_page_failing_beyond_the_resumes_stops_with_the_command_that_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def instant(self: SystemClock, seconds: float) -> None:
        return None

    monkeypatch.setattr(SystemClock, "sleep", instant)  # the back-off and Retry-After waits pass at once
    sim = load("occ")(products=PRODUCTS, seed=4, **FAULTS)
    stubborn = Stubborn(sim.app, offset=12_250, times=4 * 2)  # four attempts per try, two tries (--resumes 1)
    out = tmp_path / "out"
    for url in _serve(sim, stubborn):
        conn = _connect(url, sim)
        stopped = _run("sync", conn, "--to", str(out), "--only", "products", "--resumes", "1")
        assert stopped.exit_code == 4, stopped.stderr
        line = stopped.stderr.strip().splitlines()[-1]
        assert line.startswith("error: products sync stopped after 12,250 items written to"), line
        assert "resume with: " in line
        before = _written(out / "products.jsonl")
        assert before == _catalog(sim)[:12_250]
        command = shlex.split(line.split("resume with: ", 1)[1])
        assert command[0] == "storelink"
        resumed = _run(*command[1:], "--json")
    assert stubborn.seen > 4 * 2
    assert resumed.exit_code == 0, resumed.stderr
    summary = json.loads(resumed.stdout.splitlines()[-1])
    assert summary["resumed_after"] == 12_250
    written = _written(out / "products.jsonl")
    assert len(written) == PRODUCTS == len(set(written))
    assert written == _catalog(sim)
