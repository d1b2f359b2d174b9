"""The host example of docs/sync.md runs as written, and the page shows it."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "sync_example.py"


async def test_the_sync_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = runpy.run_path(str(EXAMPLE), run_name="example")
    await namespace["main"](tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert "stopped at max_items=300: 250 items kept in products.jsonl" in out
    assert "products: resuming after 250" in out
    assert "products: 1000 items, resumed after 250" in out
    assert [line.split(":")[0] for line in out if "items, resumed after" in line] == [
        "products",
        "inventory",
        "shipping",
        "orders",
    ]
    ids = [json.loads(row)["id"] for row in (tmp_path / "out" / "products.jsonl").read_text().splitlines()]
    assert len(ids) == 1000 == len(set(ids))


def test_the_sync_page_links_the_example() -> None:
    page = (ROOT / "docs" / "sync.md").read_text()
    assert "(examples/sync_example.py)" in page
