"""The sync engine: stream a connection's data to JSON Lines files, resumably.

A :class:`SyncJob` writes one file per kind in its directory: ``products.jsonl``,
``inventory.jsonl``, ``shipping.jsonl`` and ``orders.jsonl``, one model per line (as
``storelink.to_jsonable`` gives it). ``storelink sync`` is this engine behind a command
line; a host or a task queue's worker runs it the same way::

    async with hub.session(connection_id) as session:
        result = await SyncJob.from_hub(hub, session, "exports/acme").run_kind("products")

Resuming without duplicates. The engine walks each list with
:meth:`Session.pages <storelink.Session.pages>`: the loop body writes a page's lines,
flushes and fsyncs them, and the page loop's ``on_page`` callback, which runs only
once the body has finished with the page, then stores the checkpoint: the page's
resume cursor and the file's byte length. A run that was interrupted (an exception,
a crash, ``kill -9``, a worker lost) left a checkpoint that is not done; the next run
truncates the file to the stored length, dropping any lines written after the
checkpoint, and continues from the cursor. So every item is in the file exactly once,
whatever the moment of the interruption, and the next run may be in another process
or on another machine, given the same store and the same directory path.

A page that fails after the HTTP layer's retries does not lose the run: the job waits
(2 s, then twice as long each time) and resumes from its last checkpoint by itself, up
to ``resumes`` times (default 3). Only then does it raise :class:`SyncStoppedError`
(a :class:`~storelink.RetryableError`), saying how many items were written.

Bounds. A store that keeps sending items (its list never ends, or it sends the same
items again and again) must not fill the disk. The page loop refuses a store that
repeats items (:class:`~storelink.PagingConfig`); beyond that, one kind's run writes
at most ``max_items`` items (default 10,000,000) and ``max_bytes`` bytes (default
20 GB). The page that would pass a bound is not written: the job raises
:class:`SyncLimitError`, the file holds whole lines up to the last checkpoint, and a
job with a higher bound resumes from there.

Checkpoints live in the connection store, one per connection, kind and directory. A
finished products or inventory sync starts over the next time (the file is
rewritten); a finished orders sync continues incrementally: the next run appends the
orders changed since the previous run started. ``full=True`` ignores checkpoints. A
job holds its directory's lock while it runs, so two jobs never write to one directory
at once (:class:`SyncBusyError`).
"""

from __future__ import annotations

from storelink.sync.errors import SyncBusyError, SyncLimitError, SyncStoppedError, SyncTargetError, SyncWriteError
from storelink.sync.job import DEFAULT_MAX_BYTES, DEFAULT_MAX_ITEMS, SyncJob, SyncProgress, SyncResult

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ITEMS",
    "SyncBusyError",
    "SyncJob",
    "SyncLimitError",
    "SyncProgress",
    "SyncResult",
    "SyncStoppedError",
    "SyncTargetError",
    "SyncWriteError",
]
