"""The host API example of docs/hub.md runs as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hub_example.py"


async def test_the_hub_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = runpy.run_path(str(EXAMPLE), run_name="example")
    await namespace["main"](tmp_path)
    out = capsys.readouterr().out
    assert "products: 500" in out
    assert "replayed: True same: True" in out
    assert "status: revoked" in out
    assert "after reconnecting: active" in out
