"""``storelink sync`` makes the collector run less often while its engine runs, and only then."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from storelink.cli.sync import SYNC_GC_THRESHOLD, fewer_collections
from storelink.sync import SyncJob

from .conftest import Cli, Sim


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test's own thresholds, put back afterwards whatever the test did."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def _fail_within(context: AbstractContextManager[None], *, expected: tuple[int, int, int]) -> None:
    with context:
        assert gc.get_threshold() == expected
        raise RuntimeError("the sync failed")


def test_fewer_collections_raises_the_first_threshold_and_restores_all(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (SYNC_GC_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds
    with pytest.raises(RuntimeError, match="the sync failed"):
        _fail_within(fewer_collections(5_000), expected=(5_000, 10, 10))
    assert gc.get_threshold() == thresholds


def test_fewer_collections_never_lowers_a_threshold_nor_enables_automatic_collection(
    thresholds: tuple[int, int, int],
) -> None:
    gc.set_threshold(500_000, 3, 4)
    with fewer_collections():
        assert gc.get_threshold() == (500_000, 3, 4)
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


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
    assert seen == [(SYNC_GC_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == thresholds
