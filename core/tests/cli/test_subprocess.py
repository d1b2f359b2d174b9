"""The installed ``storelink`` console script, run for real: platforms, demo, a killed sync, debug logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from storelink.simulation import load, serve_in_thread

from .conftest import FOREIGN_KEY, STORELINK, Cli, Sim, run_script


def test_platforms_lists_occ(env: dict[str, str]) -> None:
    done = run_script("platforms", env=env)
    assert done.returncode == 0, done.stderr
    assert "occ" in done.stdout
    assert "Oracle Commerce Cloud" in done.stdout


@pytest.mark.timeout(120)
def test_the_demo_runs_end_to_end_and_ends_with_the_summary_table(env: dict[str, str]) -> None:
    done = run_script("demo", "--products", "1000", "--token-ttl", "1", env={**env, "COLUMNS": "100"}, timeout=110)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "normalised  http://localhost:" in out
    assert "ok  create_orders" in out
    assert "replayed=False" in out
    assert "replayed=True" in out
    assert "the replay returned the same order" in out
    assert "rejected the credentials" in out
    assert "exit code 3" in out
    assert "status      revoked" in out
    assert "WARNING" not in done.stderr  # the rejection is shown once, as the error line
    assert "deleted at the end" in out
    assert "reconnect it with a new key" not in " ".join(out.split())  # the action is given once, as a command
    summary = out[out.index("storelink demo: summary") :]
    assert summary.rstrip().splitlines()[-1].startswith("└")
    counts = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[1].replace(",", "").replace(".", "").isdigit():
            counts[cells[0]] = float(cells[1].replace(",", ""))
    assert counts["products synced"] == 1000
    assert counts["inventory levels synced"] > 1000
    assert counts["orders created"] == 1
    assert counts["order replays (same order, nothing sent)"] == 1
    assert counts["logins"] >= 2
    assert counts["token refreshes (1 s tokens)"] >= 1
    assert counts["seconds"] < 60
    assert "eyJ" not in out + done.stderr


class _Gate:
    """Holds back product pages from *offset* on until opened, so a sync cannot finish early."""

    def __init__(self, app: Any, offset: int) -> None:
        self.app = app
        self.offset = offset
        self.opened = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/ccadmin/v1/products":
            offset = int(parse_qs(scope["query_string"].decode()).get("offset", ["0"])[0])
            if offset >= self.offset:
                await asyncio.to_thread(self.opened.wait)
        await self.app(scope, receive, send)


@pytest.fixture
def gated_store() -> Iterator[tuple[Sim, _Gate]]:
    sim = load("occ")(products=2000, seed=5)
    gate = _Gate(sim.app, offset=1000)
    with serve_in_thread(gate) as url:
        try:
            yield Sim(sim, url), gate
        finally:
            gate.opened.set()


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(120)
def test_a_sync_killed_half_way_resumes_with_every_product_exactly_once(
    run_cli: Cli, env: dict[str, str], gated_store: tuple[Sim, _Gate], tmp_path: Path
) -> None:
    store, gate = gated_store
    connection_id = run_cli.connect(store)
    out = tmp_path / "out"
    args = [STORELINK, "sync", connection_id, "--to", str(out), "--only", "products"]
    first = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603  # our script
    deadline = time.monotonic() + 60
    while _lines(out / "products.jsonl") < 500:
        assert first.poll() is None, "the sync ended before it was killed"
        assert time.monotonic() < deadline, "the sync did not write its first pages"
        time.sleep(0.02)  # polls another process's output; not a timing assumption
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    assert 500 <= _lines(out / "products.jsonl") < 2000
    gate.opened.set()

    second = run_script("sync", connection_id, "--to", str(out), "--only", "products", "--json", env=env)
    assert second.returncode == 0, second.stderr
    (result,) = [json.loads(line) for line in second.stdout.splitlines()]
    assert result["resumed_after"] >= 250
    ids = [json.loads(line)["id"] for line in (out / "products.jsonl").read_text().splitlines()]
    assert len(ids) == 2000
    assert len(set(ids)) == 2000


def test_debug_logging_shows_the_http_calls_and_never_a_secret(env: dict[str, str], occ: Sim, tmp_path: Path) -> None:
    debug = {**env, "STORELINK_LOG_LEVEL": "debug"}
    connected = run_script(
        "connect", "occ", "--store-url", occ.url, "-c", "application_key=@-", env=debug, input=occ.key
    )
    assert connected.returncode == 0, connected.stderr
    connection_id = connected.stdout.strip()
    read = run_script("products", connection_id, "--limit", "2", "--json", env=debug)
    rejected = run_script(
        "connect", "occ", "--store-url", occ.url, "-c", "application_key=@-", env=debug, input=FOREIGN_KEY
    )
    assert rejected.returncode == 3
    logs = connected.stderr + read.stderr + rejected.stderr
    assert "POST http://127.0.0.1:" in logs
    assert "/ccadmin/v1/login" in logs
    assert "GET http://127.0.0.1:" in logs
    assert "/ccadmin/v1/products" in logs
    everything = logs + connected.stdout + read.stdout + rejected.stdout
    assert occ.key not in everything
    assert occ.key.rsplit(".", 1)[-1] not in everything
    assert "CANARY" not in everything
    assert "eyJ" not in everything  # no JWT-shaped value at all: keys and access tokens alike
