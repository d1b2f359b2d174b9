"""Running CPython's cyclic garbage collector less often while storelink moves a lot of data.

A read of a big catalog holds a few pages at a time, each page of 250 OCC products
some 25,000 objects the collector tracks (decoded JSON, models, lines): 60,000 to
85,000 in flight. With the default first threshold (700 net new objects) the
collector runs about 70 times a page. Every one of those young collections
traverses the pages in flight, which survive it, are promoted, and are traversed
again by the older generations' collections: measured, a quarter to a third of a
sync's CPU, for no garbage, since reference counting frees each page's objects once
it is used. :func:`fewer_collections` raises the first threshold above the objects in
flight, so collections happen only where objects really accumulate (reference
cycles, such as a retried request's exception), still at least every *threshold* net
new objects.

The thresholds belong to the whole process, so storelink never changes them behind a
host's back: ``storelink sync`` and the Celery worker's sync task, which own their
process, use it; a host that reads big catalogs through :meth:`storelink.Session.products`
or runs :class:`storelink.SyncJob` itself can wrap that work in it too::

    with fewer_collections():
        async for product in session.products():
            ...

It nests, and any number of threads or tasks may hold it at once: the first holder
raises the threshold, and the last one to leave restores what was there before it
was raised, unless the host set other thresholds in the meantime, which then stay.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_THRESHOLD", "fewer_collections"]

#: The first threshold while a holder runs: above the objects a sync has in flight
#: (60,000-85,000), low enough that a leak of reference cycles is still collected often.
DEFAULT_THRESHOLD = 100_000

_lock = threading.Lock()
_holders = 0
#: The thresholds before the first holder raised them, and those it set (``None``: unchanged).
_before: tuple[int, int, int] | None = None
_raised: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections(threshold: int = DEFAULT_THRESHOLD) -> Iterator[None]:
    """Raise the collector's first threshold to at least *threshold* while the block runs.

    The other thresholds stay. A threshold is never lowered, and a first threshold of 0
    (automatic collection switched off) stays 0. On leaving, after an error too, the
    last holder puts back the thresholds from before the first one, unless they were
    changed by someone else meanwhile.

    :param threshold: The least first threshold while the block runs (a positive
        number of net new objects).
    :raises ValueError: *threshold* is not positive.
    """
    if type(threshold) is not int or threshold <= 0:
        raise ValueError(f"the threshold must be a positive whole number of objects, got {threshold!r}")
    _enter(threshold)
    try:
        yield
    finally:
        _leave()


def _enter(threshold: int) -> None:
    global _holders, _before, _raised
    with _lock:
        current = gc.get_threshold()
        if _holders == 0:
            _before, _raised = current, None
        if current[0] and current[0] < threshold:
            _raised = (threshold, current[1], current[2])
            gc.set_threshold(*_raised)
        _holders += 1


def _leave() -> None:
    global _holders, _before, _raised
    with _lock:
        _holders -= 1
        if _holders == 0:
            if _raised is not None and _before is not None and gc.get_threshold() == _raised:
                gc.set_threshold(*_before)
            _before = _raised = None
