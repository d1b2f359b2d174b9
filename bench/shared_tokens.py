"""Logins when many short processes use one connection: tokens kept per process vs shared.

The OCC simulator (its own process, 20 ms added per request) issues tokens that live
``ttl`` seconds (2 s: renewed 1 s after each login). One connection is stored in a
SQLite file; then 4 worker threads each run ``storelink products CONN --limit 5``
3 times in a row, every run its own process (12 runs), as web or cron workers do. The
server counts the logins made from the first run's start to the last one's end:

- before: ``STORELINK_SHARE_TOKENS=0``, each process keeps its tokens to itself, so
  every run logs in;
- after: the default, tokens shared through the store: a run uses the token another
  run stored while it is fresh, and one process at a time renews it (its lease).

OCC tokens can be refreshed: a process that finds the stored token due refreshes it
with ``/ccadmin/v1/refresh`` rather than logging in, so logins and refreshes are
counted together as token acquisitions. The target is at most one per token lifetime window over the whole run (the
issue measured 12 logins in 6 s, 3 windows of 2 s, before).
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import Figure, Section, SimProcess, Stat, command_text, run_child, server_paths, storelink_script

LOGIN_PATH = "/ccadmin/v1/login"
REFRESH_PATH = "/ccadmin/v1/refresh"
WORKERS = 4
RUNS_EACH = 3


def _renew_every(ttl: float) -> float:
    # storelink.http.tokens.renewal_due: lifetime - min(max(30 s, 20 %), 50 %).
    return ttl - min(max(30.0, 0.2 * ttl), 0.5 * ttl)


def _fleet(script: str, env: dict[str, str], connection_id: str, url: str) -> dict[str, Any]:
    """Run WORKERS threads of RUNS_EACH successive ``storelink products`` processes; count logins."""
    failures: list[str] = []
    cmd = [script, "products", connection_id, "--limit", "5", "--json"]

    def worker() -> None:
        for _ in range(RUNS_EACH):
            done = run_child(cmd, env=env, check=False)
            if done.returncode != 0:
                failures.append(f"exit {done.returncode}: {done.stderr.strip()[-200:]}")

    def tokens() -> tuple[int, int]:
        paths = server_paths(url)
        return paths.get(LOGIN_PATH, 0), paths.get(REFRESH_PATH, 0)

    before = tokens()
    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = tokens()
    logins, refreshes = after[0] - before[0], after[1] - before[1]
    return {
        "logins": logins,
        "refreshes": refreshes,
        "tokens": logins + refreshes,
        "seconds": seconds,
        "failures": failures,
    }


def run(*, quick: bool = False, ttl: float = 2.0, repeat: int | None = None) -> Section:
    """Measure the logins of 12 short runs from 4 workers, tokens per process vs shared."""
    runs = repeat or (1 if quick else 3)
    section = Section(
        name="shared_tokens",
        title="Tokens shared between processes",
        command="python bench/run.py --only shared_tokens" + (" --quick" if quick else ""),
        quick=quick,
    )
    script = storelink_script()
    if script is None:
        section.notes.append("skipped: the storelink console script is not installed beside this Python")
        return section
    from storelink import KeyRing

    outcome: dict[str, list[dict[str, Any]]] = {"per process": [], "shared": []}
    server = ""
    for _ in range(runs):
        for mode in outcome:
            with (
                SimProcess(products=20, latencies_ms=(20.0,), token_ttl=ttl) as sim,
                tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp,
            ):
                server = sim.command
                store = sim.stores[0]
                env = {
                    "STORELINK_DB": str(Path(tmp) / "bench.sqlite"),
                    "STORELINK_KEYS": KeyRing.generate("bench").render().splitlines()[-1],
                    "STORELINK_ALLOW_LOOPBACK": "1",
                    "STORELINK_LOG_LEVEL": "error",
                    "STORELINK_SHARE_TOKENS": "0" if mode == "per process" else "1",
                    "XDG_DATA_HOME": str(Path(tmp) / "data"),
                }
                connect = [script, "connect", "occ", "--store-url", store.url, "-c", "application_key=@-"]
                connection_id = subprocess.run(  # noqa: S603  # our own console script
                    connect,
                    input=store.credentials["application_key"],
                    capture_output=True,
                    text=True,
                    env={**os.environ, **env},
                    check=True,
                ).stdout.strip()
                outcome[mode].append(_fleet(script, env, connection_id, store.url))

    every = _renew_every(ttl)
    for mode, rs in outcome.items():
        share = "0" if mode == "per process" else "1"
        shown = command_text(
            [script.rsplit("/", 1)[-1], "products", "CONN", "--limit", "5", "--json"],
            {"STORELINK_SHARE_TOKENS": share, "STORELINK_DB": "<one sqlite file>"},
        )
        label = f"{WORKERS * RUNS_EACH} runs from {WORKERS} workers, ttl {ttl:g} s, tokens {mode}"
        seconds = Stat.of([r["seconds"] for r in rs])
        logins = Stat.of([r["tokens"] for r in rs])
        split = (
            f"{Stat.of([r['logins'] for r in rs]).median:g} logins, "
            f"{Stat.of([r['refreshes'] for r in rs]).median:g} refreshes"
        )
        windows = min(math.ceil(r["seconds"] / ttl) for r in rs)
        per_window = Stat.of([r["tokens"] / (r["seconds"] / ttl) for r in rs]).median
        section.add(Figure.from_stat(f"run length, {label}", seconds, "s", command=f"{shown}  (server: {server})"))
        if mode == "per process":  # the baseline: every run logs in
            extra: dict[str, Any] = {"ratio": f"{split}; {per_window:.2f} per {ttl:g} s window (the baseline)"}
        else:
            before = Stat.of([r["tokens"] for r in outcome["per process"]]).median
            extra = {
                "ratio": f"{split}; {per_window:.2f} per {ttl:g} s window; {before / max(logins.median, 1):.1f}x fewer",
                "target": f"<= {windows}: one per {ttl:g} s token lifetime (renewed every {every:g} s)",
                "met": logins.high <= windows,
            }
        name = f"token acquisitions (logins + refreshes), {label}"
        section.add(Figure.from_stat(name, logins, "tokens", command=shown, **extra))
        failed = Stat.of([len(r["failures"]) for r in rs])
        section.add(Figure.from_stat(f"failed runs, {label}", failed, "runs", target="0", met=failed.high == 0))
        failures = [f for r in rs for f in r["failures"]]
        if failures:
            section.notes.append(f"{label}: first failures: " + "; ".join(dict.fromkeys(failures[:3])))
    section.notes.append(
        f"Each of {WORKERS} worker threads runs `storelink products CONN --limit 5 --json` {RUNS_EACH} times in a "
        "row, each its own process (Python start, hub open, one page of products), on one connection in one SQLite "
        "file. Logins and refreshes are counted by the simulator, from the first run's start to the last run's end. "
        "`tokens per process` is the behaviour before tokens were shared (STORELINK_SHARE_TOKENS=0)."
    )
    return section


if __name__ == "__main__":
    import sys

    from bench.run import main

    sys.exit(main(["--only", "shared_tokens", *sys.argv[1:]]))
