"""``storelink sync``: JSON Lines per kind, resumable without duplicates, incremental orders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from attrs import evolve

from storelink.session import Session

from .conftest import Cli, Sim, one_line_error


def _ids(path: Path, key: str = "id") -> list[str]:
    return [json.loads(line)[key] for line in path.read_text().splitlines()]


@pytest.fixture
def conn(run_cli: Cli, occ: Sim) -> str:
    return run_cli.connect(occ)


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    """Make the next sync stop as if Ctrl-C was pressed once *pages* pages are done."""
    original = Session.pages

    async def pages_then_interrupt(self: Session, kind: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        done = 0
        async for item in original(self, kind, *args, **kwargs):
            if done == pages:
                raise KeyboardInterrupt
            yield item
            done += 1

    monkeypatch.setattr(Session, "pages", pages_then_interrupt)


def test_sync_writes_one_file_per_kind(run_cli: Cli, conn: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("sync", conn, "--to", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "inventory.jsonl",
        "orders.jsonl",
        "products.jsonl",
        "shipping.jsonl",
    ]
    products = _ids(out / "products.jsonl")
    assert len(products) == 300 == len(set(products))
    assert json.loads((out / "inventory.jsonl").read_text().splitlines()[0])["sku_id"]
    assert _ids(out / "shipping.jsonl")
    assert "products" in result.stdout
    assert "300" in result.stdout
    assert "products" in result.stderr  # the progress bar


def test_sync_only_some_kinds_with_json_results(run_cli: Cli, conn: str, tmp_path: Path) -> None:
    results = run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "shipping,products")
    assert [r["kind"] for r in results] == ["products", "shipping"]
    assert results[0]["items"] == 300
    assert results[0]["resumed_after"] is None
    assert not (tmp_path / "orders.jsonl").exists()


def test_an_interrupted_sync_resumes_from_its_checkpoint_without_duplicates(
    run_cli: Cli, conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _interrupt_after(patch, pages=1)
        result = run_cli("sync", conn, "--to", str(tmp_path), "--only", "products")
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == (
        "error: sync interrupted; run the same command again to resume from the last page"
    )
    written = _ids(tmp_path / "products.jsonl")
    assert 0 < len(written) < 300
    with (tmp_path / "products.jsonl").open("a") as f:
        f.write('{"id": "half-written line of a page the checkpoint does not cover"')

    (result,) = run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "products")
    assert result["resumed_after"] == len(written)
    products = _ids(tmp_path / "products.jsonl")
    assert len(products) == 300 == len(set(products))
    assert products[: len(written)] == written


def test_a_finished_sync_starts_over_and_orders_continue_incrementally(run_cli: Cli, conn: str, tmp_path: Path) -> None:
    first = {r["kind"]: r for r in run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "products,orders")}
    before = _ids(tmp_path / "orders.jsonl", "reference")
    assert first["orders"]["items"] == len(before)
    assert first["orders"]["since"] is None

    (product,) = run_cli.json_lines("products", conn, "--limit", "1")
    method = run_cli.json_lines("shipping-methods", conn)[0]
    draft = {
        "reference": "sync-incremental-1",
        "lines": [{"product_id": product["id"], "sku_id": product["variants"][0]["id"], "quantity": 1}],
        "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Syracuse", "country": "US"},
        "shipping_method_id": method["id"],
    }
    assert run_cli("order", "create", conn, "-f", "-", input=json.dumps(draft)).exit_code == 0

    again = {r["kind"]: r for r in run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "products,orders")}
    assert again["products"]["items"] == 300
    assert len(_ids(tmp_path / "products.jsonl")) == 300
    assert again["orders"]["since"] is not None
    after = _ids(tmp_path / "orders.jsonl", "reference")
    assert after == [*before, "sync-incremental-1"]

    (full,) = run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "orders", "--full")
    assert full["since"] is None
    assert len(_ids(tmp_path / "orders.jsonl")) == full["items"] == len(before) + 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--to", "{dir}", "--only", "products,prices"], "unknown kind 'prices'"),
        (["--to", "{dir}", "--only", ","], "unknown kind"),
        (["--to", "{file}"], "is a file"),
        (["--only", "products"], "Missing option '--to'"),
    ],
)
def test_sync_refuses_bad_input_with_exit_code_2(
    run_cli: Cli, conn: str, tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "file").write_text("")
    args = [a.format(dir=tmp_path, file=tmp_path / "file") for a in args]
    assert expected in one_line_error(run_cli("sync", conn, *args), 2)


def test_sync_of_an_unknown_connection_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    assert "no connection" in one_line_error(run_cli("sync", "occ_nope", "--to", str(tmp_path)), 2)


def test_a_second_sync_to_the_same_directory_is_refused_while_one_runs(run_cli: Cli, conn: str, tmp_path: Path) -> None:
    import fcntl

    with (tmp_path / ".storelink-sync.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert "another storelink sync" in one_line_error(run_cli("sync", conn, "--to", str(tmp_path)), 2)
    assert run_cli("sync", conn, "--to", str(tmp_path), "--only", "shipping").exit_code == 0


def test_a_sync_whose_pages_keep_failing_stops_with_exit_4_and_the_resume_command(
    run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storelink.http.clock import SystemClock
    from storelink.simulation import FaultInjector

    from .conftest import serve

    async def instant(self: SystemClock, seconds: float) -> None:
        return None

    monkeypatch.setattr(SystemClock, "sleep", instant)
    store = serve(products=60)
    sim = next(store)
    try:
        conn = run_cli.connect(sim)
        injector = sim.sim.app
        assert isinstance(injector, FaultInjector)
        injector.config = evolve(injector.config, fail_rate=1.0, fault_paths=("/ccadmin/v1/products",))
        result = run_cli("sync", conn, "--to", str(tmp_path), "--only", "products,shipping", "--resumes", "1")
    finally:
        store.close()
    line = one_line_error(result, 4)
    assert "products sync stopped after 0 items written to" in line
    assert "after its retries and 1 resume" in line
    assert line.endswith(f"resume with: storelink sync {conn} --to {tmp_path.resolve()} --only products,shipping")


# ---------------------------------------------------------------------- bounds: stores that lie

PRODUCT_PAGES = "/ccadmin/v1/products"


class Lying:
    """An ASGI wrapper: the product list claims 10^9 products and answers every page past its end with page 1."""

    def __init__(self, app: Any, *, products: int) -> None:
        self.app = app
        self.products = products
        self.pages = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PRODUCT_PAGES:
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qsl, urlencode

        query = dict(parse_qsl(scope["query_string"].decode()))
        offset = int(query.get("offset", "0"))
        if offset >= self.products:
            scope = {**scope, "query_string": urlencode({**query, "offset": "0"}).encode()}
        self.pages += 1
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = json.loads(b"".join(chunks))
        if isinstance(body, dict) and "items" in body:
            body.update(totalResults=10**9, offset=offset)
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


def test_a_store_that_repeats_its_first_page_past_the_end_stops_the_sync_within_a_few_pages(
    run_cli: Cli, tmp_path: Path
) -> None:
    from storelink.simulation import load, serve_in_thread

    from .conftest import Sim

    sim = load("occ")(products=500, seed=3)
    lying = Lying(sim.app, products=500)
    with serve_in_thread(lying) as url:
        conn = run_cli.connect(Sim(sim, url))
        lying.pages = 0
        result = run_cli("sync", conn, "--to", str(tmp_path), "--only", "products")
    line = one_line_error(result, 1)
    assert "this is a bug" not in result.stderr
    assert line.startswith("error: occ fetch_products: the store repeated items: page 3 of the read (cursor ")
    assert "holds the same 250 items as page 1 (first '" in line
    assert "); it stopped there, after 500 items, so as not to read the same items again" in line
    assert line.endswith("check the store's list: it answers pages with items it already sent")
    assert lying.pages <= 3 + 4  # the bad page, and at most one window of pages in flight
    lines = (tmp_path / "products.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    ids = [json.loads(row)["id"] for row in lines[:-1]]
    assert len(ids) == 500 == len(set(ids))


@pytest.fixture
def small(run_cli: Cli, own_occ: Sim) -> str:
    """A connection to a store of 60 products, paged 25 at a time."""
    return run_cli.connect(own_occ)


def test_a_sync_stops_before_a_page_that_would_pass_max_items_and_resumes_with_a_higher_bound(
    run_cli: Cli, small: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storelink_occ.plugin.PAGE_SIZE", 25)
    result = run_cli("sync", small, "--to", str(tmp_path), "--only", "products,shipping", "--max-items", "55")
    line = one_line_error(result, 2)
    products = tmp_path / "products.jsonl"
    command = f"storelink sync {small} --to {tmp_path.resolve()} --only products,shipping --max-items 110"
    assert line == (
        f"error: products sync stopped at --max-items (55 items): the next page would pass it; the 50 items "
        f"written to {products.resolve()} are kept. If the store really holds more, raise the bound and resume "
        f"with: {command}"
    )
    assert len(products.read_text().splitlines()) == 50
    assert not (tmp_path / "shipping.jsonl").exists()

    results = run_cli.json_lines(*command.split()[1:])
    assert [(r["kind"], r["items"], r["resumed_after"]) for r in results[:1]] == [("products", 60, 50)]
    ids = _ids(products)
    assert len(ids) == 60 == len(set(ids))


def test_a_sync_stops_before_a_page_that_would_pass_max_bytes(
    run_cli: Cli, small: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storelink_occ.plugin.PAGE_SIZE", 25)
    assert run_cli("sync", small, "--to", str(tmp_path), "--only", "products").exit_code == 0
    first_page = sum(len(row) + 1 for row in (tmp_path / "products.jsonl").read_bytes().split(b"\n")[:25])

    result = run_cli("sync", small, "--to", str(tmp_path), "--only", "products", "--max-bytes", str(first_page + 10))
    line = one_line_error(result, 2)
    assert line.startswith("error: products sync stopped at --max-bytes (")
    assert "the 25 items written to" in line
    assert line.endswith(f"--only products --max-bytes {2 * (first_page + 10)}")
    assert (tmp_path / "products.jsonl").stat().st_size == first_page


@pytest.mark.parametrize(
    ("value", "size"),
    [("5000000", 5_000_000), ("500MB", 500 * 1000**2), ("20gb", 20 * 1000**3), ("1GiB", 1024**3), ("2 k", 2000)],
)
def test_max_bytes_takes_sizes_with_units(value: str, size: int) -> None:
    from storelink.cli.sync import ByteSize

    assert ByteSize().convert(value, None, None) == size


@pytest.mark.parametrize("value", ["12XB", "-5", "0", "1.5GB", ""])
def test_a_bad_max_bytes_exits_2(run_cli: Cli, small: str, tmp_path: Path, value: str) -> None:
    line = one_line_error(run_cli("sync", small, "--to", str(tmp_path), "--max-bytes", value), 2)
    assert "Invalid value for '--max-bytes'" in line


def test_the_bounds_default_to_ten_million_items_and_20_gb(run_cli: Cli) -> None:
    result = run_cli("sync", "--help")
    assert "--max-items INTEGER RANGE" in result.stdout
    assert "[default: 10000000; x>=1]" in " ".join(result.stdout.split())
    assert "[default: 20GB]" in result.stdout
