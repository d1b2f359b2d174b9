"""The Celery tasks: thin wrappers of :mod:`storelink_celery.jobs` on the process's runtime.

================================ =================================================================
task                             does
================================ =================================================================
``storelink.sync_connection``    sync one connection to ``STORELINK_SYNC_ROOT/CONNECTION_ID``
``storelink.sync_all``           queue one ``sync_connection`` per active connection
``storelink.create_order``       create one draft, at most once per reference
================================ =================================================================

Every task is ``acks_late`` and ``reject_on_worker_lost``: its message is acknowledged
only once it has finished, so a task whose worker is killed part-way is delivered
again (at once when only the pool's child died; after the broker's visibility
timeout when the whole worker or its machine was lost), and the next delivery
resumes from the checkpoint or settles the order through the ledger.

Errors cross the broker as :class:`TaskError` (plain arguments, so any serializer and
any client can rebuild it). Those worth another try are retried by Celery: a busy
connection (after its holder's lease), a lost lock, a store that kept failing
(``retry_after``, else a growing wait) and an order whose outcome is not settled yet.

While ``sync_connection`` runs, the collector's first threshold is raised
(:func:`storelink.collector.fewer_collections`, as ``storelink sync`` does): the pages
in flight are tens of thousands of live objects that the default threshold makes the
collector re-scan for no garbage. It is put back when the last sync of the process
ends, so tasks of other kinds in the same worker run under the worker's own settings.
"""

from __future__ import annotations

import random
from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from storelink import OrderOutcomeUnknown, RetryableError, StorelinkError, SyncBusyError, SyncJob
from storelink.collector import fewer_collections
from storelink.redaction import scrub
from storelink_celery import jobs
from storelink_celery.runtime import WorkerRuntime

__all__ = ["RETRYABLE", "TaskError", "create_order", "runtime", "sync_all", "sync_connection"]

#: The process's runtime: its hub, loop and lock, made by the first task it runs.
runtime = WorkerRuntime()

#: Errors after which a task is tried again (a busy connection waits for its holder's lease).
RETRYABLE = (jobs.ConnectionBusyError, jobs.LockLostError, SyncBusyError, RetryableError, OrderOutcomeUnknown)

#: Seconds of the first wait before retrying a failed store, doubled each time up to the cap.
BACKOFF, BACKOFF_CAP = 5.0, 300.0


class TaskError(Exception):
    """A storelink error as a task's failure, rebuilt the same by any client.

    :param error: The storelink error's class name (``SyncLimitError``...).
    :param message: Its message, secrets masked.
    :param action: What to do about it.
    :param retryable: Whether the same task may succeed later as it is.
    """

    def __init__(self, error: str, message: str, action: str, retryable: bool) -> None:
        super().__init__(error, message, action, retryable)
        self.error, self.message, self.action, self.retryable = error, message, action, retryable

    def __str__(self) -> str:
        return f"{self.error}: {self.message}; {self.action}"

    @classmethod
    def of(cls, exc: StorelinkError) -> TaskError:
        """Return *exc* as a task error."""
        return cls(type(exc).__name__, scrub(str(exc)), exc.action, isinstance(exc, RETRYABLE))


def _countdown(exc: StorelinkError, retries: int) -> float:
    """Return the seconds to wait before retry number *retries* + 1 after *exc*."""
    if isinstance(exc, jobs.ConnectionBusyError):
        return exc.retry_after + random.uniform(0.1, 1.0)  # noqa: S311  # jitter, not a secret
    if isinstance(exc, RetryableError) and exc.retry_after:
        return exc.retry_after
    return float(min(BACKOFF * 2**retries, BACKOFF_CAP) * random.uniform(0.8, 1.2))  # noqa: S311


def _fail_or_retry(task: Any, exc: StorelinkError) -> Exception:
    """Return what the task raises after *exc*: Celery's retry, or a :class:`TaskError`."""
    error = TaskError.of(exc)
    if not isinstance(exc, RETRYABLE):
        return error
    return task.retry(countdown=_countdown(exc, task.request.retries), exc=error)  # type: ignore[no-any-return]


def _sync_connection(
    task: Any, connection_id: str, kinds: list[str] | None = None, full: bool = False, directory: str | None = None
) -> dict[str, Any]:
    """Sync *connection_id*'s *kinds* (all by default) to its directory; see the module."""

    async def work(rt: WorkerRuntime) -> dict[str, Any]:
        where = directory or rt.settings.directory(connection_id)
        chosen = tuple(kinds) if kinds else SyncJob.KINDS
        return await jobs.sync_connection(await rt.hub(), connection_id, where, kinds=chosen, lock=rt.lock(), full=full)

    try:
        with fewer_collections():  # the worker process runs storelink's jobs: see storelink.collector
            result = runtime.run(work)
    except StorelinkError as exc:
        raise _fail_or_retry(task, exc) from None
    return {**result, "worker": task.request.hostname}


def _sync_all(task: Any, kinds: list[str] | None = None, full: bool = False) -> list[dict[str, str]]:
    """Queue one ``sync_connection`` task per active connection; return their ids."""

    async def work(rt: WorkerRuntime) -> list[str]:
        return await jobs.active_connections(await rt.hub())

    try:
        ids = runtime.run(work)
    except StorelinkError as exc:
        raise _fail_or_retry(task, exc) from None
    queued = []
    for connection_id in ids:
        sent = sync_connection.apply_async(args=(connection_id,), kwargs={"kinds": kinds, "full": full})
        queued.append({"connection": connection_id, "task": sent.id})
    return queued


def _create_order(task: Any, connection_id: str, draft: dict[str, Any]) -> dict[str, Any]:
    """Create *draft* (its JSON form) on *connection_id*'s store, once per reference."""

    async def work(rt: WorkerRuntime) -> dict[str, Any]:
        return await jobs.create_order(await rt.hub(), connection_id, draft)

    try:
        return runtime.run(work)
    except StorelinkError as exc:
        raise _fail_or_retry(task, exc) from None


_OPTIONS: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}

#: ``sync_connection(connection_id, kinds=None, full=False, directory=None)``
sync_connection = shared_task(name="storelink.sync_connection", max_retries=10, **_OPTIONS)(_sync_connection)
#: ``sync_all(kinds=None, full=False)``
sync_all = shared_task(name="storelink.sync_all", max_retries=5, **_OPTIONS)(_sync_all)
#: ``create_order(connection_id, draft)``, *draft* as ``storelink.to_jsonable`` gives it
create_order = shared_task(name="storelink.create_order", max_retries=20, **_OPTIONS)(_create_order)


def _close_runtime(**_: object) -> None:
    runtime.close()


# A prefork child sends worker_process_shutdown; a solo or threads worker, worker_shutdown.
worker_process_shutdown.connect(_close_runtime, weak=False)
worker_shutdown.connect(_close_runtime, weak=False)
