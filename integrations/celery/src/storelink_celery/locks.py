"""One sync per connection at a time, across every worker of every machine: a Redis lease.

A sync takes the connection's lock in Redis (``SET NX PX``, through redis-py's
:class:`redis.asyncio.lock.Lock`, whose release and renewal compare the holder's token)
for *lease* seconds, and renews it every third of that while it runs. A worker that is
lost (``kill -9``, a machine gone) stops renewing, so its lock ends at most *lease*
seconds later and the task, delivered again, takes it then. A holder that cannot renew
(Redis unreachable for longer than its lease, or the lock taken over) has its sync
cancelled: it raises :class:`~storelink_celery.jobs.LockLostError` rather than write
alongside another holder. Whatever stops a sync, its files end at their last
checkpoint, so the next holder resumes with no line written twice.

This lock is per connection. The sync's directory lock (``flock`` on
``.storelink-sync.lock``) still holds too, but only among the processes of one machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, LockNotOwnedError, RedisError

from storelink_celery.jobs import ConnectionBusyError, LockLostError

__all__ = ["RedisConnectionLock"]


class RedisConnectionLock:
    """A :class:`~storelink_celery.jobs.ConnectionLock` held in Redis with a renewed lease.

    :param redis: The client (its event loop is the worker's).
    :param lease: Seconds the lock lasts unless renewed.
    :param prefix: Prefix of the lock keys (``PREFIX`` + connection id).
    """

    def __init__(self, redis: Redis, *, lease: float = 60.0, prefix: str = "storelink:sync-lock:") -> None:
        if lease <= 0:
            raise ValueError(f"the lease is {lease!r} s; give a positive number of seconds")
        self.redis = redis
        self.lease = lease
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"<RedisConnectionLock lease={self.lease:g}s>"

    @asynccontextmanager
    async def hold(self, connection_id: str) -> AsyncIterator[None]:
        """Hold *connection_id*'s lock for the block, renewing it; see the module's docstring.

        :raises ConnectionBusyError: Another holder has it (``retry_after``: its lease's end).
        :raises LockLostError: It could not be renewed; the block was cancelled.
        """
        name = self.prefix + connection_id
        lock = self.redis.lock(name, timeout=self.lease, blocking=False, thread_local=False)
        if not await lock.acquire():
            left = await self.redis.pttl(name)
            raise ConnectionBusyError(connection_id, retry_after=round(left / 1000, 3) if left > 0 else self.lease)
        holder = asyncio.current_task()
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew(lock, holder, lost), name=f"renew {name}")
        try:
            yield
        except asyncio.CancelledError:
            if lost.is_set() and holder is not None and holder.uncancel() == 0:
                raise LockLostError(connection_id) from None
            raise
        finally:
            renewer.cancel()
            with suppress(asyncio.CancelledError):
                await renewer
            if not lost.is_set():
                with suppress(LockError, RedisError):  # it ends with its lease anyway
                    await lock.release()

    async def _renew(self, lock: Lock, holder: asyncio.Task[object] | None, lost: asyncio.Event) -> None:
        """Extend the lease every third of it; cancel *holder* once it cannot be kept."""
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await lock.extend(self.lease, replace_ttl=True)
                renewed = loop.time()
                continue
            except LockNotOwnedError:
                pass  # it expired and someone else may hold it: stop at once
            except RedisError:
                if loop.time() - renewed < self.lease * 2 / 3:
                    continue  # Redis may be back before the lease ends
            lost.set()
            if holder is not None:
                holder.cancel()
            return
