"""One hub, one event loop and one Redis client per worker process, made on first use.

A task queue's worker runs synchronous task functions; storelink is async. Each
worker process therefore keeps an event loop of its own, and on it one
:class:`~storelink.Hub` (so a connection's HTTP client, its tokens and its rate
limits are shared by every task the process runs) and one Redis client for the
connection locks. They are made by the first task, never before: a prefork worker
forks its children after import, and a loop or a socket must not cross a fork. The
worker's shutdown signal closes them (:meth:`WorkerRuntime.close`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis

from storelink import HttpConfig, Hub
from storelink_celery.locks import RedisConnectionLock
from storelink_celery.settings import WorkerSettings

__all__ = ["WorkerRuntime"]

T = TypeVar("T")


class WorkerRuntime:
    """The process's loop, hub and lock, made lazily from *settings*.

    :param settings: Called once, on first use, for the settings (default: read the
        environment, :meth:`WorkerSettings.from_env`).
    """

    def __init__(self, settings: Callable[[], WorkerSettings] = WorkerSettings.from_env) -> None:
        self._make_settings = settings
        self._settings: WorkerSettings | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._hub: Hub | None = None
        self._redis: Redis | None = None
        self._lock: RedisConnectionLock | None = None

    def __repr__(self) -> str:
        return f"<WorkerRuntime pid={self._pid} hub={'open' if self._hub else 'closed'}>"

    @property
    def settings(self) -> WorkerSettings:
        """The settings, read on first use.

        :raises ConfigurationError: They are incomplete or malformed.
        """
        if self._settings is None:
            self._settings = self._make_settings()
        return self._settings

    def run(self, work: Callable[[WorkerRuntime], Awaitable[T]]) -> T:
        """Run ``work(self)`` to completion on the process's loop; return what it returns."""
        if self._loop is None or self._pid != os.getpid():
            # None yet, or inherited through a fork: the parent's loop and sockets are not ours.
            self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
            self._hub = self._redis = self._lock = None
        return self._loop.run_until_complete(work(self))

    async def hub(self) -> Hub:
        """Return the process's hub, opening it on first use."""
        if self._hub is None:
            s = self.settings
            http = HttpConfig(deadline=s.http_deadline, read_timeout=min(s.http_read_timeout, s.http_deadline))
            self._hub = await Hub.open(database=s.database, keys=s.keys, http=http)
        return self._hub

    def lock(self) -> RedisConnectionLock:
        """Return the process's connection lock (its Redis client connects on first use)."""
        if self._lock is None:
            self._redis = Redis.from_url(self.settings.locks)
            self._lock = RedisConnectionLock(self._redis, lease=self.settings.lock_lease)
        return self._lock

    def close(self) -> None:
        """Close the hub and the Redis client, then the loop; the next :meth:`run` starts afresh."""
        loop, hub, redis = self._loop, self._hub, self._redis
        self._loop = self._hub = self._redis = self._lock = None
        if loop is None or self._pid != os.getpid():
            return
        try:
            if hub is not None:
                loop.run_until_complete(hub.close())
            if redis is not None:
                loop.run_until_complete(redis.aclose())
        finally:
            loop.close()
