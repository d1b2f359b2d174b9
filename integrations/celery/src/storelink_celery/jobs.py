"""The work a task queue runs, as plain async functions over a :class:`~storelink.Hub`.

Nothing here imports Celery: a Dramatiq or procrastinate integration calls the same
three functions from its own actors, with its own lock or this module's
:class:`~storelink_celery.locks.RedisConnectionLock`. Each returns a plain dict of
JSON values, which every engine's result store can hold.

- :func:`sync_connection`: one connection's kinds into its directory, resumable from
  the stored checkpoints, holding the connection's lock (one sync per connection at a
  time, on every worker of every machine) and, inside it, the directory's lock.
- :func:`active_connections`: the ids a fan-out syncs.
- :func:`create_order`: one draft, at most once per reference (the hub's order ledger),
  however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from storelink import ConnectionStatus, Hub, OrderDraft, StorelinkError, SyncJob, SyncResult, to_jsonable
from storelink.codec import draft_from_jsonable

__all__ = [
    "ConnectionBusyError",
    "ConnectionLock",
    "LockLostError",
    "active_connections",
    "create_order",
    "sync_connection",
]


class ConnectionBusyError(StorelinkError):
    """Another worker holds the connection's sync lock; nothing was synced.

    :param connection_id: The connection.
    :param retry_after: Seconds until the holder's lease ends unless it renews it.
    """

    action = "let it finish: run the sync again after retry_after seconds"

    def __init__(self, connection_id: str, *, retry_after: float) -> None:
        super().__init__(f"another worker is syncing connection {connection_id} (its lease ends in {retry_after:g} s)")
        self.connection_id = connection_id
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_busy, (self.connection_id, self.retry_after))


class LockLostError(StorelinkError):
    """The connection's lock could not be renewed, so the sync stopped; its files are kept.

    :param connection_id: The connection.
    """

    action = "check the lock store (Redis), then run the sync again: it resumes from its checkpoint"

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"the sync lock of connection {connection_id} was lost, so the sync stopped")
        self.connection_id = connection_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (LockLostError, (self.connection_id,))


def _rebuild_busy(connection_id: str, retry_after: float) -> ConnectionBusyError:
    return ConnectionBusyError(connection_id, retry_after=retry_after)


class ConnectionLock(Protocol):
    """One holder per connection at a time, across processes and machines."""

    def hold(self, connection_id: str) -> AbstractAsyncContextManager[None]:
        """Hold *connection_id*'s lock for the ``async with`` block.

        :raises ConnectionBusyError: Another holder has it.
        :raises LockLostError: The lock was lost while the block ran (the block is cancelled).
        """
        ...


def _result(result: SyncResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "file": result.file,
        "items": result.items,
        "resumed_after": result.resumed_after,
        "since": result.since.isoformat() if result.since else None,
        "retries": result.retries,
        "resumes": result.resumes,
    }


async def sync_connection(
    hub: Hub,
    connection_id: str,
    directory: Path | str,
    *,
    kinds: Sequence[str] = SyncJob.KINDS,
    lock: ConnectionLock | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Sync *connection_id*'s *kinds* to *directory*, resuming from its checkpoints.

    The connection's *lock* is held for the whole run; the job also holds the
    directory's own lock (one machine). Run it again after any interruption, on any
    worker that sees the same store and the same directory path: it continues where
    the last checkpoint left it, with no line written twice.

    :param hub: The worker's hub.
    :param connection_id: The connection.
    :param directory: Where its files go.
    :param kinds: Some of :attr:`storelink.SyncJob.KINDS`.
    :param lock: The cross-worker lock; ``None`` for one process only.
    :param full: Ignore the checkpoints and start every kind over.
    :return: ``{"connection": id, "directory": path, "kinds": [...]}``, one entry per
        kind with ``kind``, ``file``, ``items``, ``resumed_after``, ``since``,
        ``retries`` and ``resumes``.
    :raises ConnectionBusyError: Another worker is syncing the connection.
    :raises StorelinkError: As :meth:`storelink.SyncJob.run` and :meth:`storelink.Hub.session`.
    """
    held: AbstractAsyncContextManager[None] = lock.hold(connection_id) if lock is not None else nullcontext()
    async with held, hub.session(connection_id) as session:
        job = SyncJob.from_hub(hub, session, directory, full=full)
        results = await job.run(kinds)
        return {
            "connection": connection_id,
            "directory": str(job.directory),
            "kinds": [_result(r) for r in results],
        }


async def active_connections(hub: Hub) -> list[str]:
    """Return the ids of the hub's ``active`` connections, the ones a fan-out syncs."""
    return [conn.id for conn in await hub.connections(status=ConnectionStatus.ACTIVE)]


async def create_order(hub: Hub, connection_id: str, draft: OrderDraft | Mapping[str, Any]) -> dict[str, Any]:
    """Create *draft* on *connection_id*'s store, at most once per ``draft.reference``.

    Delivered twice (a task retried after its worker was lost), the second call finds
    the first one's ledger row and returns its order, or settles a row the lost
    worker left open by looking the reference up before it sends anything again.

    :param draft: The draft, or its JSON form (``storelink.to_jsonable`` of one).
    :return: ``{"connection": id, "reference": ..., "replayed": bool, "order": {...}}``.
    :raises InputError: The JSON form is not a valid draft.
    :raises StorelinkError: As :meth:`storelink.Session.create_order`.
    """
    parsed = draft if isinstance(draft, OrderDraft) else draft_from_jsonable(dict(draft))
    async with hub.session(connection_id) as session:
        result = await session.create_order(parsed)
    return {
        "connection": connection_id,
        "reference": parsed.reference,
        "replayed": result.replayed,
        "order": to_jsonable(result.order),
    }
