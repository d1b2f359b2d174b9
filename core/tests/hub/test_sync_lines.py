"""The bytes a sync writes: 20,000 OCC simulator products, each line as the standard library writes it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from storelink import SyncJob, SyncProgress, to_jsonable
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.simulation import load
from storelink.vault import KeyRing

pytestmark = pytest.mark.filterwarnings("error")

ORIGIN = "http://127.0.0.1:9"
PRODUCTS = 20_000


def old_line(model: object) -> bytes:
    """A line as the sync wrote it before encode_line: ``to_jsonable`` and ``json.dumps``."""
    return json.dumps(to_jsonable(model), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Interrupt(Exception):
    """Raised by :class:`StopAfter` to stop a sync part-way."""


class StopAfter(SyncProgress):
    """Stop the sync once *items* are checkpointed, as a crash between two pages would."""

    def __init__(self, items: int) -> None:
        self.items = items

    def progressed(self, kind: str, *, items: int, total: int | None, retries: int, resumes: int) -> None:
        if items >= self.items:
            raise Interrupt(items)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Hub, str]]:
    sim = load("occ")(products=PRODUCTS, seed=7)
    async with await Hub.open(
        database=tmp_path / "hub.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        transports={ORIGIN: httpx.ASGITransport(app=sim.app)},
    ) as opened:
        conn = await opened.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
        yield opened, conn.id


async def test_a_sync_of_20000_products_writes_the_bytes_of_the_standard_library_even_across_a_resume(
    hub: tuple[Hub, str], tmp_path: Path
) -> None:
    """Every line is ``json.dumps(to_jsonable(product))``; a run stopped part-way and resumed changes no byte."""
    opened, conn = hub
    out = tmp_path / "out"
    async with opened.session(conn) as session:
        expected = b"".join([old_line(product) async for product in session.products()])
        with pytest.raises(Interrupt):
            await SyncJob.from_hub(opened, session, out, StopAfter(7_500)).run_kind("products")
        stopped = (out / "products.jsonl").read_bytes()
        result = await SyncJob.from_hub(opened, session, out).run_kind("products")
    assert 7_500 <= stopped.count(b"\n") < PRODUCTS
    assert result.resumed_after == stopped.count(b"\n")
    assert result.items == PRODUCTS == expected.count(b"\n")
    assert (out / "products.jsonl").read_bytes() == expected
