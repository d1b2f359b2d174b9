"""What every benchmark shares: figures, medians, the machine, child processes, RSS.

A benchmark returns a :class:`Section`: its figures (each a median of several runs,
with the exact command that produced it) and notes. ``bench/run.py`` prints the
sections and writes them into ``bench/RESULTS.md``.

Peak RSS of a child process is its own ``VmHWM``, recorded at exit by
``bench/peak.py`` (``run_child(..., peak=True)``). Not ``ru_maxrss`` from ``os.wait4``
or ``RUSAGE_CHILDREN``: a child started by ``subprocess`` (vfork) inherits the
parent's high-water mark at ``exec``, so it never reads below the parent's RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable


@dataclass(frozen=True)
class Stat:
    """The median of several runs and their spread."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            raise ValueError("no values to summarise")
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    runs: int = 1
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    command: str = ""

    @classmethod
    def from_stat(cls, name: str, stat: Stat, unit: str, **kw: Any) -> Figure:
        return cls(name=name, value=stat.median, unit=unit, low=stat.low, high=stat.high, runs=stat.runs, **kw)


@dataclass
class Section:
    """The result of one benchmark."""

    name: str
    title: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quick: bool = False
    date: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Section:
        figures = [Figure(**f) for f in data.get("figures", [])]
        rest = {k: v for k, v in data.items() if k != "figures"}
        return cls(figures=figures, **rest)


def machine() -> dict[str, Any]:
    """Describe this machine: cores, CPU, Python, OS, load."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count() or 0,
        "usable_cores": usable,
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "load_1m": round(load[0], 2),
    }


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def command_text(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Render *cmd* as a shell line a reader can paste (the venv's python shown as ``python``)."""
    root = f"{ROOT}/"
    words = ["python" if w == PYTHON else shlex.quote(w.replace(root, "")) for w in cmd]
    prefix = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    return " ".join(prefix + words)


@dataclass(frozen=True)
class ChildRun:
    """What one child process did."""

    wall: float
    returncode: int
    stdout: str
    stderr: str
    cpu: float  # user + system seconds of the child
    peak_kb: int | None  # the child's own peak RSS (VmHWM), with run_child(peak=True)


def run_child(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900.0,
    check: bool = True,
    peak: bool = False,
) -> ChildRun:
    """Run *cmd* to completion; return its wall time, output and CPU time.

    :param env: Variables added to (or replacing) this process's environment.
    :param peak: Also measure the child's peak RSS: *cmd* must be a Python command
        (``python -m MODULE ...``, ``python SCRIPT ...`` or a console script), run
        through ``bench/peak.py``.
    :raises RuntimeError: *check* and the child failed (its stderr is included).
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    argv = list(cmd)
    peak_file: Path | None = None
    if peak:
        fd, name = tempfile.mkstemp(prefix="storelink-bench-peak-")
        os.close(fd)
        peak_file = Path(name)
        full_env["BENCH_PEAK_FILE"] = name
        argv = [PYTHON, str(BENCH / "peak.py"), *(argv[1:] if argv[0] == PYTHON else argv)]
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603  # the benchmarks' own commands
            argv, stdout=out_file, stderr=err_file, env=full_env, cwd=str(cwd or ROOT)
        )
        # Reap the child ourselves, blocking (so the wall time is exact): wait4 returns
        # this one child's resource usage. A timer kills a child that overruns.
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    peak_kb = None
    if peak_file is not None:
        text = peak_file.read_text().strip()
        peak_file.unlink()
        peak_kb = int(text) if text else None
    if wall >= timeout:
        raise RuntimeError(f"timed out after {timeout:.0f} s: {command_text(cmd)}\n{err[-2000:]}")
    if check and proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {command_text(cmd)}\n{err[-4000:]}")
    return ChildRun(wall, proc.returncode, out, err, usage.ru_utime + usage.ru_stime, peak_kb)


def last_json_line(text: str) -> dict[str, Any]:
    """Return the last line of *text* that parses as a JSON object."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    raise ValueError(f"no JSON object in output: {text[-500:]!r}")


def fmt(value: float, unit: str = "") -> str:
    """Format a figure with three significant digits (thousands separated)."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if math.isfinite(value) and value == int(value) and magnitude < 1000:
        text = f"{value:.0f}"  # counts (runs, retries) and whole numbers: no trailing zeros
    elif magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    elif magnitude == 0:
        text = "0"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def percentile(values: Sequence[float], q: float) -> float:
    """The *q*-th percentile (0..100) of *values*, nearest-rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Store:
    """One simulated store: its URL (per added latency, in ms) and a valid application key."""

    urls: dict[float, str]
    credentials: dict[str, str]

    @property
    def url(self) -> str:
        """The URL of the first latency served."""
        return next(iter(self.urls.values()))

    def at(self, latency_ms: float) -> Store:
        """This store seen through its *latency_ms* port only."""
        return Store(urls={latency_ms: self.urls[latency_ms]}, credentials=self.credentials)


class SimProcess:
    """The OCC simulator served by uvicorn in a child process (``bench/simserver.py``).

    Use as a context manager; the server is up (it answers) when ``__enter__`` returns.
    """

    def __init__(
        self,
        *,
        products: int,
        latencies_ms: Sequence[float] = (0.0,),
        token_ttl: float = 300.0,
        stores: int = 1,
        seed: int = 0,
        memoize: bool = False,
        faults: Mapping[str, str] | None = None,
    ) -> None:
        self.cmd = [PYTHON, "-m", "bench.simserver", "--products", str(products)]
        for name, value in (faults or {}).items():
            self.cmd += ["--fault", f"{name}={value}"]
        self.cmd += ["--latencies-ms", ",".join(f"{ms:g}" for ms in latencies_ms), "--token-ttl", f"{token_ttl:g}"]
        self.cmd += ["--stores", str(stores), "--seed", str(seed)] + (["--memoize"] if memoize else [])
        self.stores: list[Store] = []
        self._proc: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115  # lives as long as the server; closed in __exit__
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def command(self) -> str:
        return command_text(self.cmd)

    def __enter__(self) -> SimProcess:
        self._proc = subprocess.Popen(  # noqa: S603  # the benchmarks' own command
            self.cmd, stdout=subprocess.PIPE, stderr=self._stderr, cwd=str(ROOT), text=True, env=dict(os.environ)
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._fail("exited before printing its stores")
        data = json.loads(line)
        self.stores = [
            Store(urls={float(k): v for k, v in s["urls"].items()}, credentials=dict(s["credentials"]))
            for s in data["stores"]
        ]
        deadline = time.monotonic() + 120
        for store in self.stores:
            while True:
                try:
                    self.stats(store)
                    break
                except OSError:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        self._fail("did not start serving")
                    time.sleep(0.02)
        return self

    def _fail(self, problem: str) -> NoReturn:
        self._stderr.seek(0)
        output = self._stderr.read()[-3000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"simulator {problem}: {self.command}\n{output}")

    def stats(self, store: Store | None = None) -> dict[str, Any]:
        """The simulator's stats and the request count per path, for *store* (default: the first)."""
        url = (store or self.stores[0]).url + "/__bench__/stats"
        with self._opener.open(url, timeout=10) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        self._stderr.close()


def storelink_script() -> str | None:
    """The ``storelink`` console script beside this Python, when the CLI is importable."""
    script = Path(PYTHON).with_name("storelink")
    if not script.exists():
        return None
    probe = run_child([PYTHON, "-c", "import storelink.cli"], check=False)
    return str(script) if probe.returncode == 0 else None


def server_paths(url: str) -> dict[str, int]:
    """The requests per path the bench server has answered for the store at *url* so far."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + "/__bench__/stats", timeout=10) as response:
        paths: dict[str, int] = json.loads(response.read())["paths"]
    return paths


#: Catalogs above this size get one run per figure in a full run (see :func:`runs_for`).
LARGE = 10_000


def runs_for(n: int, *, quick: bool, repeat: int | None) -> int:
    """Runs per figure for a catalog of *n* products.

    Three for the 10,000-product figures; one for the 100,000-product ones, whose
    walks take tens of seconds each, to keep the whole run near ten minutes on two
    cores (the smaller runs show the spread).
    """
    if repeat is not None:
        return repeat
    if quick:
        return 1
    return 3 if n <= LARGE else 1


def runs_note(sizes: Sequence[int], *, quick: bool, repeat: int | None) -> str:
    """Say how many runs each size got, e.g. ``3 run(s) at N=10,000, 1 at N=100,000``."""
    parts = [f"{runs_for(n, quick=quick, repeat=repeat)} run(s) at N={n:,}" for n in dict.fromkeys(sizes)]
    return ", ".join(parts)
