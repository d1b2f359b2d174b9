"""``storelink sync`` makes the collector run less often while its engine runs, and only then.

:mod:`storelink.collector` itself is tested in ``core/tests/foundation/test_collector.py``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from storelink.collector import DEFAULT_THRESHOLD
from storelink.sync import SyncJob

from .conftest import Cli, Sim


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test's own thresholds, put back afterwards whatever the test did."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_the_command_applies_it_around_the_engine_only(
    run_cli: Cli, occ: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thresholds: tuple[int, int, int]
) -> None:
    conn = run_cli.connect(occ)
    seen: list[tuple[int, int, int]] = []
    run = SyncJob.run

    async def recording(job: SyncJob, kinds: Sequence[str] = SyncJob.KINDS) -> Any:
        seen.append(gc.get_threshold())
        return await run(job, kinds)

    monkeypatch.setattr(SyncJob, "run", recording)
    result = run_cli("sync", conn, "--to", str(tmp_path), "--only", "products")
    assert result.exit_code == 0, result.stderr
    assert seen == [(DEFAULT_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == thresholds
