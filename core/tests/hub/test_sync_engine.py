"""storelink.SyncJob, the sync engine, run by a host without the CLI (over the fake platform)."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink import (
    Address,
    InputError,
    OrderDraft,
    OrderLine,
    Page,
    Registry,
    RetryableError,
    SyncBusyError,
    SyncJob,
    SyncLimitError,
    SyncProgress,
    SyncResult,
    SyncStoppedError,
    SyncTargetError,
    SyncWriteError,
)
from storelink.http import EgressPolicy, HttpConfig
from storelink.hub import Hub
from storelink.sync.lines import LinesFile
from storelink.testing import FakeClock
from storelink.vault import KeyRing

from .conftest import ORIGIN, FakeShop

pytestmark = pytest.mark.filterwarnings("error")


async def connect(hub: Hub, shop: FakeShop) -> Any:
    return await hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})


def draft(reference: str) -> OrderDraft:
    return OrderDraft(
        reference=reference,
        lines=(OrderLine(product_id="p1", sku_id="s1", quantity=1),),
        shipping_address=Address(name="Ada", line1="1 Main St", city="Syracuse", country="US"),
        shipping_method_id="ground",
    )


class Stubborn:
    """The fake shop, but the product page at *offset* answers 503 to its first *times* requests."""

    def __init__(self, shop: FakeShop, *, offset: int | None = None, times: int = 0) -> None:
        self.shop = shop
        self.offset = offset
        self.times = times

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/products" and request.url.params.get("offset") == str(self.offset) and self.times:
            self.times -= 1
            return httpx.Response(503, json={"message": "still down"})
        return self.shop.handle(request)


@pytest.fixture
def stubborn(shop: FakeShop) -> Stubborn:
    return Stubborn(shop)


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
async def hub(
    tmp_path: Path, stubborn: Stubborn, registry: Registry, clock: FakeClock, keys: KeyRing
) -> AsyncIterator[Hub]:
    async with await Hub.open(
        database=tmp_path / "hub.db",
        keys=keys,
        egress=EgressPolicy.default(),
        registry=registry,
        http=HttpConfig(),
        clock=clock,
        transports={ORIGIN: httpx.MockTransport(stubborn.handle)},
    ) as opened:
        yield opened


class Recorder(SyncProgress):
    """Every progress call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def started(self, kind: str, *, items: int, resumed: bool) -> None:
        self.calls.append(("started", {"kind": kind, "items": items, "resumed": resumed}))

    def progressed(self, kind: str, *, items: int, total: int | None, retries: int, resumes: int) -> None:
        self.calls.append(("progressed", {"kind": kind, "items": items, "total": total, "resumes": resumes}))

    def resuming(
        self, kind: str, *, items: int, delay: float, attempt: int, attempts: int, cause: RetryableError
    ) -> None:
        self.calls.append(("resuming", {"kind": kind, "items": items, "delay": delay, "attempt": attempt}))

    def finished(self, result: SyncResult) -> None:
        self.calls.append(("finished", {"kind": result.kind, "items": result.items}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [call for event, call in self.calls if event == name]


def ids(path: Path, key: str = "id") -> list[str]:
    return [json.loads(row)[key] for row in path.read_text().splitlines()]


CATALOG = [f"p{i}" for i in range(25)]  # the fake shop's 25 products, 10 a page


# --------------------------------------------------------------------------- a host runs a sync


async def test_a_host_syncs_products_to_a_directory(hub: Hub, shop: FakeShop, tmp_path: Path) -> None:
    conn = await connect(hub, shop)
    progress = Recorder()
    async with hub.session(conn.id) as session:
        result = await SyncJob.from_hub(hub, session, tmp_path / "out", progress).run_kind("products")
    file = tmp_path / "out" / "products.jsonl"
    assert result == SyncResult(kind="products", file=str(file.resolve()), items=25)
    assert ids(file) == CATALOG
    first = json.loads(file.read_text().splitlines()[0])
    assert (first["title"], first["price"]) == ("Product 0", {"amount": "0.50", "currency": "USD"})
    assert progress.named("started") == [{"kind": "products", "items": 0, "resumed": False}]
    assert [c["items"] for c in progress.named("progressed")] == [10, 20, 25]
    assert {c["total"] for c in progress.named("progressed")} == {25}
    assert progress.named("finished") == [{"kind": "products", "items": 25}]


async def test_run_syncs_every_kind_in_order_and_a_finished_products_sync_starts_over(
    hub: Hub, shop: FakeShop, tmp_path: Path
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        job = SyncJob.from_hub(hub, session, tmp_path)
        first = await job.run(("orders", "shipping", "products"))
        again = await job.run_kind("products")
    assert [r.kind for r in first] == ["products", "shipping", "orders"]
    assert ids(tmp_path / "shipping.jsonl") == ["ground", "express"]
    assert (again.items, again.resumed_after) == (25, None)
    assert ids(tmp_path / "products.jsonl") == CATALOG


async def test_a_finished_orders_sync_appends_the_orders_changed_since(
    hub: Hub, shop: FakeShop, tmp_path: Path
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        await session.create_order(draft("chan-1"))
        job = SyncJob.from_hub(hub, session, tmp_path)
        first = await job.run_kind("orders")
        await session.create_order(draft("chan-2"))
        second = await job.run_kind("orders")
    assert (first.items, first.since) == (1, None)
    assert second.since is not None
    # The fake shop ignores ``since`` and answers both orders: the file has the first run's and the second's.
    assert ids(tmp_path / "orders.jsonl", "reference") == ["chan-1", "chan-1", "chan-2"]


def test_the_engine_imports_neither_click_nor_rich() -> None:
    """Hosts and workers use the engine without the CLI's libraries."""
    code = "import sys, storelink.sync; print(sorted(m for m in ('click', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- resuming


class Crash(Exception):
    """The process died here."""


class CrashAfter(SyncProgress):
    """Dies once *pages* pages are checkpointed, as a killed worker would."""

    def __init__(self, pages: int) -> None:
        self.pages = pages

    def progressed(self, kind: str, *, items: int, total: int | None, retries: int, resumes: int) -> None:
        self.pages -= 1
        if self.pages == 0:
            raise Crash


async def test_an_interrupted_sync_resumes_from_its_checkpoint_without_duplicates(
    hub: Hub, shop: FakeShop, tmp_path: Path
) -> None:
    conn = await connect(hub, shop)
    file = tmp_path / "products.jsonl"
    async with hub.session(conn.id) as session:
        with pytest.raises(Crash):
            await SyncJob.from_hub(hub, session, tmp_path, CrashAfter(pages=2)).run_kind("products")
        assert ids(file) == CATALOG[:20]
        with file.open("a") as f:
            f.write('{"id": "half a line the checkpoint does not cover"')
        progress = Recorder()
        result = await SyncJob.from_hub(hub, session, tmp_path, progress).run_kind("products")
    assert progress.named("started") == [{"kind": "products", "items": 20, "resumed": True}]
    assert (result.items, result.resumed_after) == (25, 20)
    assert ids(file) == CATALOG


async def test_a_job_in_another_hub_resumes_from_the_stored_checkpoint(
    hub: Hub, shop: FakeShop, tmp_path: Path, registry: Registry, clock: FakeClock, stubborn: Stubborn, keys: KeyRing
) -> None:
    """A worker that takes over (another process, another machine) needs only the store and the path."""
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        with pytest.raises(Crash):
            await SyncJob.from_hub(hub, session, tmp_path / "out", CrashAfter(pages=1)).run_kind("products")
    async with (
        await Hub.open(
            database=tmp_path / "hub.db",
            keys=keys,
            egress=EgressPolicy.default(),
            registry=registry,
            clock=clock,
            transports={ORIGIN: httpx.MockTransport(stubborn.handle)},
        ) as other,
        other.session(conn.id) as session,
    ):
        result = await SyncJob.from_hub(other, session, str(tmp_path / "out")).run_kind("products")
    assert (result.items, result.resumed_after) == (25, 10)
    assert ids(tmp_path / "out" / "products.jsonl") == CATALOG


async def test_a_page_failing_beyond_its_retries_is_resumed_from_the_checkpoint(
    hub: Hub, shop: FakeShop, tmp_path: Path, stubborn: Stubborn, clock: FakeClock
) -> None:
    conn = await connect(hub, shop)
    stubborn.offset, stubborn.times = 10, HttpConfig().retry.attempts + 1  # one attempt's retries, and one more
    progress = Recorder()
    async with hub.session(conn.id) as session:
        result = await SyncJob.from_hub(hub, session, tmp_path, progress).run_kind("products")
    assert (result.items, result.resumes) == (25, 1)
    assert result.retries >= HttpConfig().retry.attempts - 1
    assert progress.named("resuming") == [{"kind": "products", "items": 10, "delay": 2.0, "attempt": 1}]
    assert 2.0 in clock.sleeps
    assert ids(tmp_path / "products.jsonl") == CATALOG


async def test_a_page_failing_beyond_the_resumes_stops_with_the_items_written(
    hub: Hub, shop: FakeShop, tmp_path: Path, stubborn: Stubborn
) -> None:
    """The error counts the checkpointed items, not those the failed attempt started from."""
    conn = await connect(hub, shop)
    stubborn.offset, stubborn.times = 20, 1000
    async with hub.session(conn.id) as session:
        job = SyncJob.from_hub(hub, session, tmp_path, resumes=0)
        with pytest.raises(SyncStoppedError) as stopped:
            await job.run(("products", "shipping"))
        assert (stopped.value.items, stopped.value.resumes) == (20, 0)
        assert stopped.value.remaining == ("products", "shipping")
        assert stopped.value.status == 503
        assert isinstance(stopped.value.cause, RetryableError)
        assert "the products sync stopped after 20 items written to" in stopped.value.message
        assert ids(tmp_path / "products.jsonl") == CATALOG[:20]

        stubborn.times = 0
        result = await job.run_kind("products")
    assert (result.items, result.resumed_after) == (25, 20)
    assert ids(tmp_path / "products.jsonl") == CATALOG


# --------------------------------------------------------------------------- bounds


async def test_max_items_stops_before_the_page_that_would_pass_it_and_a_higher_bound_resumes(
    hub: Hub, shop: FakeShop, tmp_path: Path
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        with pytest.raises(SyncLimitError) as limited:
            await SyncJob.from_hub(hub, session, tmp_path, max_items=15).run(("products", "shipping"))
        error = limited.value
        assert (error.kind, error.bound, error.limit, error.items) == ("products", "max_items", 15, 10)
        assert error.remaining == ("products", "shipping")
        assert ids(tmp_path / "products.jsonl") == CATALOG[:10]
        assert not (tmp_path / "shipping.jsonl").exists()

        result = await SyncJob.from_hub(hub, session, tmp_path, max_items=30).run_kind("products")
    assert (result.items, result.resumed_after) == (25, 10)
    assert ids(tmp_path / "products.jsonl") == CATALOG


async def test_max_bytes_stops_before_the_page_that_would_pass_it(hub: Hub, shop: FakeShop, tmp_path: Path) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        await SyncJob.from_hub(hub, session, tmp_path).run_kind("products")
        page = sum(len(row) + 1 for row in (tmp_path / "products.jsonl").read_bytes().split(b"\n")[:10])
        with pytest.raises(SyncLimitError) as limited:
            await SyncJob.from_hub(hub, session, tmp_path, max_bytes=page + 1).run_kind("products")
    assert (limited.value.bound, limited.value.items) == ("max_bytes", 10)
    assert (tmp_path / "products.jsonl").stat().st_size == page


# --------------------------------------------------------------------------- the directory


async def test_a_second_job_on_a_busy_directory_is_refused(hub: Hub, shop: FakeShop, tmp_path: Path) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        job = SyncJob.from_hub(hub, session, tmp_path)
        await job.run_kind("shipping")
        with (job.directory / ".storelink-sync.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(SyncBusyError) as busy:
                await job.run_kind("shipping")
    assert busy.value.directory == str(job.directory)
    assert busy.value.action == "let it finish first"


async def test_a_directory_that_cannot_be_created_is_refused(hub: Hub, shop: FakeShop, tmp_path: Path) -> None:
    conn = await connect(hub, shop)
    (tmp_path / "file").write_text("")
    async with hub.session(conn.id) as session:
        with pytest.raises(SyncTargetError) as refused:
            await SyncJob.from_hub(hub, session, tmp_path / "file" / "out").run_kind("shipping")
    assert refused.value.message.startswith(f"cannot write the sync files to {tmp_path / 'file' / 'out'}: ")


async def test_a_file_that_fails_part_way_keeps_the_pages_before(
    hub: Hub, shop: FakeShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await connect(hub, shop)
    original = LinesFile.append

    def disk_fills(self: LinesFile, data: bytes) -> None:
        if self.offset:
            raise OSError(28, "No space left on device")
        original(self, data)

    async with hub.session(conn.id) as session:
        monkeypatch.setattr(LinesFile, "append", disk_fills)
        with pytest.raises(SyncWriteError) as failed:
            await SyncJob.from_hub(hub, session, tmp_path).run_kind("products")
        assert failed.value.reason == "No space left on device"
        assert ids(tmp_path / "products.jsonl") == CATALOG[:10]
        monkeypatch.setattr(LinesFile, "append", original)
        result = await SyncJob.from_hub(hub, session, tmp_path).run_kind("products")
    assert result.resumed_after == 10
    assert ids(tmp_path / "products.jsonl") == CATALOG


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kinds", "problem"),
    [
        (("products", "prices"), "kinds: has the unknown kind 'prices'; choose from products, inventory"),
        ((), "kinds: is empty"),
        ("products", "kinds: is the string 'products'; give a sequence of kinds, such as ('products',)"),
    ],
)
async def test_run_refuses_unknown_kinds(hub: Hub, shop: FakeShop, tmp_path: Path, kinds: Any, problem: str) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        with pytest.raises(InputError) as refused:
            await SyncJob.from_hub(hub, session, tmp_path).run(kinds)
    assert str(refused.value).startswith(problem)
    assert not (tmp_path / "products.jsonl").exists()


@pytest.mark.parametrize(
    ("option", "value"), [("max_items", 0), ("max_bytes", -1), ("max_items", True), ("resumes", -1), ("resumes", 1.5)]
)
async def test_bad_bounds_are_refused(hub: Hub, shop: FakeShop, tmp_path: Path, option: str, value: Any) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        with pytest.raises(InputError) as refused:
            SyncJob.from_hub(hub, session, tmp_path, **{option: value})
    assert refused.value.path == option


# --------------------------------------------------------------------------- on_page, as the engine uses it


async def test_on_page_sees_each_page_once_the_body_finished_it_and_never_a_refused_one(
    hub: Hub, shop: FakeShop
) -> None:
    conn = await connect(hub, shop)
    seen: list[tuple[str, int]] = []

    async def checkpoint(page: Page[Any], resume: Any) -> None:
        seen.append(("checkpoint", len(page.items)))

    async with hub.session(conn.id) as session:
        pages = session.pages("products", on_page=checkpoint)
        async for page, _ in pages:
            seen.append(("body", len(page.items)))
            if len(seen) == 3:
                break  # the body gives up on its second page
        await pages.aclose()
        everything = [len(page.items) async for page, _ in session.pages("products", on_page=checkpoint)]
    assert seen[:3] == [("body", 10), ("checkpoint", 10), ("body", 10)]  # the page the body raised on: none
    assert seen[3:] == [("checkpoint", 10), ("checkpoint", 10), ("checkpoint", 5)]
    assert everything == [10, 10, 5]


def test_a_blocking_session_hands_on_page_to_the_walk(tmp_path: Path, shop: FakeShop, registry: Registry) -> None:
    from storelink import SyncHub

    pages: list[int] = []

    async def checkpoint(page: Page[Any], resume: Any) -> None:
        pages.append(len(page.items))

    with SyncHub.open(
        database=tmp_path / "blocking.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
    ) as blocking:
        conn = blocking.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
        with blocking.session(conn.id) as session, session.pages("products", on_page=checkpoint) as walk:
            assert [len(page.items) for page, _ in walk] == [10, 10, 5]
    assert pages == [10, 10, 5]
