"""``fewer_collections``: the collector's first threshold raised while a holder runs, then put back."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from storelink.collector import DEFAULT_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test's own thresholds, put back afterwards whatever the test did."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_it_raises_the_first_threshold_and_restores_all(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds
    seen: list[tuple[int, int, int]] = []
    with pytest.raises(RuntimeError, match="the sync failed"):
        _fail_within(fewer_collections(5_000), seen)
    assert seen == [(5_000, 10, 10)]
    assert gc.get_threshold() == thresholds


def _fail_within(context: AbstractContextManager[None], seen: list[tuple[int, int, int]]) -> None:
    with context:
        seen.append(gc.get_threshold())
        raise RuntimeError("the sync failed")


def test_it_never_lowers_a_threshold_nor_enables_automatic_collection() -> None:
    gc.set_threshold(500_000, 3, 4)
    with fewer_collections():
        assert gc.get_threshold() == (500_000, 3, 4)
    assert gc.get_threshold() == (500_000, 3, 4)
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


def test_nested_holders_restore_once_the_last_leaves(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections(5_000):
        with fewer_collections():  # a higher wish raises it further
            assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)  # still held: not lowered
        with fewer_collections(1_000):  # a lower wish leaves it
            assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds


def test_overlapping_holders_in_threads_and_tasks_restore_the_original(thresholds: tuple[int, int, int]) -> None:
    """Holders that leave in another order than they came: the first to leave must not restore."""
    inside, leave = threading.Barrier(4), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def hold() -> None:
        with fewer_collections():
            inside.wait(timeout=10)
            leave.wait(timeout=10)
            seen.append(gc.get_threshold())

    workers = [threading.Thread(target=hold) for _ in range(3)]
    for worker in workers:
        worker.start()
    inside.wait(timeout=10)
    assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)
    leave.set()
    for worker in workers:
        worker.join(timeout=10)
    assert seen == [(DEFAULT_THRESHOLD, 10, 10)] * 3
    assert gc.get_threshold() == thresholds

    async def task(delay: float) -> tuple[int, int, int]:
        with fewer_collections():
            await asyncio.sleep(delay)
            return gc.get_threshold()

    async def overlapping() -> list[tuple[int, int, int]]:
        return list(await asyncio.gather(task(0.0), task(0.02), task(0.01)))

    assert asyncio.run(overlapping()) == [(DEFAULT_THRESHOLD, 10, 10)] * 3
    assert gc.get_threshold() == thresholds


def test_thresholds_the_host_sets_meanwhile_stay() -> None:
    with fewer_collections():
        gc.set_threshold(2_000, 5, 5)  # the host's own choice, made while storelink held it
    assert gc.get_threshold() == (2_000, 5, 5)


@pytest.mark.parametrize("threshold", [0, -1, 1.5, True, "100"])
def test_a_threshold_that_is_not_a_positive_whole_number_is_refused(threshold: object) -> None:
    with pytest.raises(ValueError, match="positive whole number of objects, got"), fewer_collections(threshold):  # type: ignore[arg-type]
        pass
    assert gc.get_threshold() == (700, 10, 10)
