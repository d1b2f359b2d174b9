"""Catalog throughput: read a whole catalog, and sync it to JSON Lines, each two ways; same server.

The OCC simulator runs in its own process (``bench/simserver.py``, uvicorn on
loopback, its generated catalog memoized so that the server is not the bottleneck),
with 0 ms or 20 ms of latency added to every request. Each contender reads its N
products in a fresh child process (so each has its own peak RSS), the runs
interleaved contender by contender:

``storelink``
    ``session.products()`` of a connection made through ``Hub.open`` with an egress
    policy that allows loopback: plugin, HTTP layer, token manager, page loop, models.
``storelink-collector``
    The same walk inside :func:`storelink.collector.fewer_collections`, as a host that
    reads big catalogs is advised to run it (the docs' "Reading big catalogs"). A
    diagnostic (10,000 products only): issue 15's read targets are for ``storelink``,
    under the default collector.
``httpx``
    The baseline, the cost of the HTTP work itself: a minimal hand-written
    ``httpx.AsyncClient`` loop that logs in once and pages with ``offset``/``limit``,
    the same page size, the same headers and the same number of pages in flight as
    storelink, and decodes each page's JSON (into dicts: no models).
``httpx+mapping``
    The baseline plus what the OCC plugin does to each page: read it with
    ``api.read_listing`` and map each item with ``product_from_occ`` as it is decoded
    (numbers with a fraction as ``Decimal``). A diagnostic
    (10,000 products only): storelink minus this is the core's own cost (session, page
    loop, HTTP layer, tokens); this minus the baseline is the plugin's mapping.
``sequential``
    The same hand-written loop with one page in flight: what most connectors do.
``httpx+lines``
    The baseline for a sync: the hand-written loop that also writes each record it
    decoded as a compact JSON line (``json.dumps``), one write per page to one file
    (no fsync: what a hand-written export does).
``sync``
    ``storelink sync --only products``'s engine in-process: a
    :class:`storelink.sync.SyncJob` writing ``products.jsonl`` to a fresh directory
    (per page: the lines in one write, flushed and fsynced, and a checkpoint stored in
    the connection store), each page's models encoded by ``storelink.codec.encode_lines``.
    A diagnostic (10,000 products only): the engine as a library runs it, under the
    host's garbage collector settings.
``sync-cli``
    The command itself, ``storelink sync ID --to DIR --only products --json``, run
    in-process through the console script's ``main`` on a connection made beforehand
    (``STORELINK_DB``, ``STORELINK_KEYS``, ``STORELINK_ALLOW_LOOPBACK``): option
    parsing, hub, session, progress bar, the command's collector policy and the
    engine. The warm-up is one run of the same command with ``--max-items 1`` (it
    fetches, maps and encodes the first page, then stops with exit code 2); the timed
    walk is the second run's :meth:`SyncJob.run <storelink.sync.SyncJob.run>` (the
    command's start-up, hub and summary before and after it are not timed, as no
    other contender's are).

Each child first reads one page (warm-up: connections, token, first-call costs), then
times a full walk with the same client and token. Products per second is N divided by
the walk's wall time; the child's CPU time per product during the walk is the
client's own cost, whether or not the server is the bottleneck. The server's request
counters check that every contender made the same page requests in its walk.

Profile a contender with ``python -m bench.catalog client storelink --url URL
--expect N --profile out.prof`` against ``python -m bench.simserver`` (credentials in
``BENCH_CREDENTIALS``); ``--gc`` adds the collector's collections in the walk to the
figures it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from contextlib import aclosing
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
    runs_for,
    runs_note,
    server_paths,
)

CONTENDERS = (
    "storelink",
    "storelink-collector",
    "httpx",
    "httpx+mapping",
    "sequential",
    "httpx+lines",
    "sync",
    "sync-cli",
)
#: Contenders run at every size; the others only up to DIAGNOSTIC_MAX products.
MAIN_CONTENDERS = ("storelink", "httpx", "sequential", "httpx+lines", "sync-cli")
DIAGNOSTIC_MAX = 10_000
#: Issue 15's targets for ``storelink sync --only products`` (the ``sync-cli``
#: contender) against the hand-written loop that also writes JSON Lines: products/s at
#: 0 and 20 ms, and CPU per product.
SYNC_TARGET_0MS = 0.5
SYNC_TARGET_20MS = 0.8
SYNC_CPU_TARGET = 2.0
#: Issue 15's targets for ``session.products()`` against the hand-written httpx loop.
READ_TARGET_0MS = 0.6
READ_TARGET_20MS = 0.9
PRODUCTS_PATH = "/ccadmin/v1/products"
LOGIN_PATH = "/ccadmin/v1/login"


# --------------------------------------------------------------------------- the contenders (child side)


class Walk:
    """The wall and CPU time of a walk (``with Walk() as walk:``), and with ``--gc`` the collector's work in it.

    :attr:`figures` is ``{"seconds", "cpu"}``, plus ``"gc"`` when :attr:`count_collections`
    is set: per generation, the collections run during the walk and their milliseconds
    (timed by a ``gc.callbacks`` entry, from the start of each to its end).
    """

    #: Set by ``--gc``.
    count_collections = False

    def __init__(self) -> None:
        self.collections: dict[int, list[float]] = {}  # generation -> [collections, seconds]
        self._began = 0.0

    def __enter__(self) -> Walk:
        if self.count_collections:
            gc.callbacks.append(self._collected)
        self._cpu, self._start = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds, self.cpu = time.perf_counter() - self._start, time.process_time() - self._cpu
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        figures = self.collections.setdefault(info["generation"], [0, 0.0])
        figures[0] += 1
        figures[1] += time.perf_counter() - self._began

    @property
    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"seconds": self.seconds, "cpu": self.cpu}
        if self.count_collections:
            figures["gc"] = {
                str(generation): {"collections": int(n), "ms": round(seconds * 1000, 1)}
                for generation, (n, seconds) in sorted(self.collections.items())
            }
        return figures


def storelink_shape() -> dict[str, int]:
    """The page size and the pages in flight storelink uses for the OCC catalog."""
    from storelink.paging import PagingConfig
    from storelink_occ import plugin

    return {"page_size": int(plugin.PAGE_SIZE), "concurrency": PagingConfig().concurrency}


async def read_storelink(store: Store, *, fewer_collections: bool = False) -> dict[str, Any]:
    """Walk the catalog with ``session.products()``; return the walk's figures.

    :param fewer_collections: Walk inside :func:`storelink.collector.fewer_collections`.
    """
    from contextlib import nullcontext

    from storelink.collector import fewer_collections as fewer
    from storelink.http import EgressPolicy
    from storelink.hub import Hub
    from storelink.vault import KeyRing

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        hub = await Hub.open(
            database=str(Path(tmp) / "bench.sqlite"), keys=KeyRing.generate("bench"), egress=EgressPolicy.for_tests()
        )
        async with hub:
            connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
            async with hub.session(connection.id) as session:
                async with aclosing(session.products()) as warm:
                    async for _product in warm:
                        break
                pages = page_requests(store)
                count = 0
                with fewer() if fewer_collections else nullcontext(), Walk() as walk:
                    async for _product in session.products():
                        count += 1
                pages = page_requests(store) - pages
    return {"products": count, **walk.figures, "pages": pages}


async def sync_storelink(store: Store) -> dict[str, Any]:
    """Sync the catalog with a :class:`storelink.sync.SyncJob` (``storelink sync --only products``); return figures."""
    from storelink.http import EgressPolicy
    from storelink.hub import Hub
    from storelink.sync import SyncJob
    from storelink.vault import KeyRing

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        hub = await Hub.open(
            database=str(Path(tmp) / "bench.sqlite"), keys=KeyRing.generate("bench"), egress=EgressPolicy.for_tests()
        )
        async with hub:
            connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
            async with hub.session(connection.id) as session:
                async with aclosing(session.products()) as warm:
                    async for _product in warm:
                        break
                job = SyncJob.from_hub(hub, session, Path(tmp) / "out")
                pages = page_requests(store)
                with Walk() as walk:
                    result = await job.run_kind("products")
                pages = page_requests(store) - pages
                with (Path(tmp) / "out" / "products.jsonl").open("rb") as written:
                    lines = sum(1 for _ in written)
    if lines != result.items:
        raise RuntimeError(f"the sync reported {result.items} products but wrote {lines} lines")
    return {"products": lines, **walk.figures, "pages": pages}


def sync_cli(store: Store) -> dict[str, Any]:
    """Sync the catalog with the ``storelink sync --only products`` command in this process; return figures."""
    import contextlib
    import io

    from storelink.cli import main
    from storelink.sync import SyncJob
    from storelink.vault import KeyRing

    with tempfile.TemporaryDirectory(prefix="storelink-bench-") as tmp:
        keys = KeyRing.generate("bench")
        database = str(Path(tmp) / "bench.sqlite")
        os.environ.update(
            STORELINK_DB=database,
            STORELINK_KEYS=keys.render().splitlines()[-1],  # the STORELINK_KEYS line
            STORELINK_ALLOW_LOOPBACK="1",
            STORELINK_LOG_LEVEL="error",
            XDG_DATA_HOME=str(Path(tmp) / "data"),
        )
        connection = asyncio.run(_connect(store, database, keys))
        walks: list[dict[str, Any]] = []
        run = SyncJob.run

        async def timed(job: SyncJob, kinds: Sequence[str] = SyncJob.KINDS) -> Any:
            pages, walk = page_requests(store), Walk()
            try:
                with walk:
                    return await run(job, kinds)
            finally:
                walks.append({**walk.figures, "pages": page_requests(store) - pages})

        def command(*options: str) -> int:
            argv = ["sync", connection, "--to", str(Path(tmp) / f"out{len(walks)}"), "--only", "products", *options]
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main(argv)
                except SystemExit as exited:  # click's standalone mode ends with the exit code
                    return int(exited.code or 0)
            return 0

        SyncJob.run = timed  # type: ignore[method-assign,assignment]
        try:
            if command("--max-items", "1") != 2:  # warm-up: one page fetched, mapped and encoded, then refused
                raise RuntimeError("the warm-up sync did not stop at --max-items")
            out = Path(tmp) / f"out{len(walks)}"
            if command("--json") != 0:
                raise RuntimeError("storelink sync failed")
        finally:
            SyncJob.run = run  # type: ignore[method-assign]
        with (out / "products.jsonl").open("rb") as written:
            lines = sum(1 for _ in written)
    return {"products": lines, **walks[-1]}


async def _connect(store: Store, database: str, keys: Any) -> str:
    from storelink.http import EgressPolicy
    from storelink.hub import Hub

    async with await Hub.open(database=database, keys=keys, egress=EgressPolicy.for_tests()) as hub:
        connection = await hub.connect("occ", store_url=store.url, credentials=store.credentials)
    return connection.id


def page_requests(store: Store) -> int:
    """How many product pages the bench server has answered for *store* so far."""
    return server_paths(store.url).get(PRODUCTS_PATH, 0)


async def read_httpx(
    store: Store, *, page_size: int, concurrency: int, mapped: bool = False, lines: Path | None = None
) -> dict[str, Any]:
    """Walk the catalog with a hand-written httpx loop, *concurrency* pages in flight.

    :param mapped: Also decode and map each page as the OCC plugin does.
    :param lines: Also write each decoded record to this file as a JSON line, a page at a time.
    """
    import httpx

    from storelink_occ import api, mapping
    from storelink_occ.settings import OccSettings

    currency = OccSettings().currency

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
            params: dict[str, str | int] = {
                "offset": offset,
                "limit": page_size,
                "totalResults": "true",
                "includePrices": "true",
            }
            response = await client.get(PRODUCTS_PATH, params=params, headers=headers)
            response.raise_for_status()
            if not mapped:
                body: dict[str, Any] = response.json()
                if out is not None:
                    out.write(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in body["items"]))
                return body
            listing = api.read_listing(response, operation="fetch_products")
            products = listing.map(
                lambda p, path: mapping.product_from_occ(p, currency=currency, storefront=store.url, path=path)
            )
            return {"totalResults": listing.fields["totalResults"], "items": products}

        out = None
        await page(0)  # warm-up
        out = lines.open("wb") if lines is not None else None
        pages = page_requests(store)
        with Walk() as walk:
            first = await page(0)
            total = int(first["totalResults"])
            count = len(first["items"])
            offsets = iter(range(page_size, total, page_size))

            async def worker() -> int:
                got = 0
                for offset in offsets:  # shared iterator: each worker takes the next offset
                    got += len((await page(offset))["items"])
                return got

            count += sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
            if out is not None:
                out.close()
        pages = page_requests(store) - pages
    return {"products": count, **walk.figures, "pages": pages}


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog client")
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--expect", type=int, required=True, help="products in the catalog")
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", help="write cProfile stats of the walk here")
    parser.add_argument("--gc", action="store_true", help="also report the collector's collections in the walk")
    args = parser.parse_args(argv)
    Walk.count_collections = args.gc
    store = Store(urls={0.0: args.url}, credentials=json.loads(os.environ["BENCH_CREDENTIALS"]))
    walk: Coroutine[Any, Any, dict[str, Any]] | None
    with tempfile.TemporaryDirectory(prefix="storelink-bench-lines-") as tmp:
        if args.contender in ("storelink", "storelink-collector"):
            walk = read_storelink(store, fewer_collections=args.contender == "storelink-collector")
        elif args.contender == "sync":
            walk = sync_storelink(store)
        elif args.contender == "sync-cli":
            walk = None
        else:
            concurrency = 1 if args.contender == "sequential" else args.concurrency
            mapped = args.contender == "httpx+mapping"
            lines = Path(tmp) / "products.jsonl" if args.contender == "httpx+lines" else None
            walk = read_httpx(store, page_size=args.page_size, concurrency=concurrency, mapped=mapped, lines=lines)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(sync_cli, store) if walk is None else profiler.runcall(asyncio.run, walk)
            profiler.dump_stats(args.profile)
        else:
            result = sync_cli(store) if walk is None else asyncio.run(walk)
    if result["products"] != args.expect:
        print(f"read {result['products']} products, expected {args.expect}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- the benchmark (parent side)


def shape() -> dict[str, int]:
    """Ask a child for storelink's page size and concurrency (the baseline copies them)."""
    code = "import json; from bench.catalog import storelink_shape; print(json.dumps(storelink_shape()))"
    return {k: int(v) for k, v in last_json_line(run_child([PYTHON, "-c", code]).stdout).items()}


def run(
    *,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    latencies_ms: Sequence[float] = (0.0, 20.0),
    repeat: int | None = None,
) -> Section:
    """Measure catalog throughput for each size and latency; return the section."""
    sizes = tuple(sizes or ((2_000,) if quick else (10_000, 100_000)))
    section = Section(
        name="catalog",
        title="Catalog throughput",
        command="python bench/run.py --only catalog" + (" --quick" if quick else ""),
        quick=quick,
    )
    s = shape()
    section.notes.append(
        f"Page size {s['page_size']} and {s['concurrency']} pages in flight for storelink and the httpx baseline "
        "(read from storelink's own settings); 1 in flight for the sequential pager. "
        f"{runs_note(sizes, quick=quick, repeat=repeat)} per contender, interleaved; "
        "each run is a fresh process that reads one page to warm up, "
        "then times a full walk."
    )
    for n in sizes:
        with SimProcess(products=n, latencies_ms=latencies_ms, memoize=True) as sim:
            for latency in latencies_ms:
                url = sim.stores[0].urls[latency]
                env = {"BENCH_CREDENTIALS": json.dumps(sim.stores[0].credentials)}
                contenders = CONTENDERS if n <= DIAGNOSTIC_MAX else MAIN_CONTENDERS
                results: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
                runs = runs_for(n, quick=quick, repeat=repeat)
                for _ in range(runs):
                    for contender in contenders:
                        cmd = [PYTHON, "-m", "bench.catalog", "client", contender, "--url", url, "--expect", str(n)]
                        cmd += ["--page-size", str(s["page_size"]), "--concurrency", str(s["concurrency"])]
                        child = run_child(cmd, env=env, peak=True)
                        data = last_json_line(child.stdout)
                        data.update(peak_kb=child.peak_kb, cmd=cmd)
                        results[contender].append(data)
                _add_figures(section, results, n=n, latency=latency, server=sim.command)
    return section


def _add_figures(
    section: Section, results: dict[str, list[dict[str, Any]]], *, n: int, latency: float, server: str
) -> None:
    where = f"N={n:,}, {latency:g} ms"
    rates = {c: Stat.of([n / r["seconds"] for r in rs]) for c, rs in results.items()}
    peaks = {c: Stat.of([r["peak_kb"] / 1024 for r in rs]) for c, rs in results.items()}
    cpus = {c: Stat.of([r["cpu"] / n * 1e6 for r in rs]) for c, rs in results.items()}
    base, seq = rates["httpx"].median, rates["sequential"].median
    for contender, stat in rates.items():
        ratio = "baseline" if contender == "httpx" else f"{stat.median / base:.2f}x httpx"
        target, met = "", None
        if contender == "storelink":
            least = READ_TARGET_20MS if latency >= 20 else READ_TARGET_0MS
            target, met = f">= {least:.2f}x httpx", stat.median / base >= least
            if latency >= 20:
                ratio += f", {stat.median / seq:.1f}x sequential"
                target += "; >= 3x sequential"
                met = met and stat.median / seq >= 3.0
        if contender in ("sync", "sync-cli") and "httpx+lines" in rates:
            lines = rates["httpx+lines"].median
            ratio += f", {stat.median / lines:.2f}x httpx+lines"
        if contender == "sync-cli" and "httpx+lines" in rates:
            least = SYNC_TARGET_20MS if latency >= 20 else SYNC_TARGET_0MS
            target, met = f">= {least:.2f}x httpx+lines", stat.median / lines >= least
        cmd = command_text(results[contender][0]["cmd"], {"BENCH_CREDENTIALS": "<key>"})
        section.add(
            Figure.from_stat(
                f"products/s, {contender}, {where}",
                stat,
                "products/s",
                ratio=ratio,
                target=target,
                met=met,
                command=f"{cmd}  (server: {server})",
            )
        )
    for label, stats, unit in (
        ("client CPU per product in the walk", cpus, "us"),
        ("peak RSS (whole process)", peaks, "MiB"),
    ):
        for contender, stat in stats.items():
            ratio = "baseline" if contender == "httpx" else f"{stat.median / stats['httpx'].median:.2f}x httpx"
            target, met = "", None
            if unit == "us" and contender in ("sync", "sync-cli") and "httpx+lines" in stats:
                times = stat.median / stats["httpx+lines"].median
                ratio += f", {times:.2f}x httpx+lines"
                if contender == "sync-cli":
                    target, met = f"<= {SYNC_CPU_TARGET:g}x httpx+lines", times <= SYNC_CPU_TARGET
            section.add(
                Figure.from_stat(
                    f"{label}, {contender}, {where}",
                    stat,
                    unit,
                    ratio=ratio,
                    target=target,
                    met=met,
                    command="(same runs)",
                )
            )
    pages = {c: sorted({r["pages"] for r in rs}) for c, rs in results.items()}
    same = len({tuple(p) for p in pages.values()}) == 1 and all(len(p) == 1 for p in pages.values())
    shown = ", ".join(f"{c} {'/'.join(map(str, p))}" for c, p in pages.items())
    section.notes.append(
        f"{where}: page requests per timed walk: {shown}" + ("" if same else " (NOT the same for every contender)")
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        raise SystemExit(client_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.catalog client CONTENDER --url URL --expect N")
