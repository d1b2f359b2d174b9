"""storelink on Celery: sync connections and create orders on workers spread over machines.

The seam is small, so that another engine (Dramatiq, procrastinate) can be added the
same way:

- :mod:`storelink_celery.jobs`: the work, as plain async functions over a hub (sync one
  connection, list the active ones, create an order); no Celery in it.
- :mod:`storelink_celery.locks`: one sync per connection at a time across workers, a
  Redis lease.
- :mod:`storelink_celery.runtime`: one hub, loop and Redis client per worker process.
- :mod:`storelink_celery.settings`: what a worker reads from its environment.
- :mod:`storelink_celery.tasks` and :mod:`storelink_celery.app`: the Celery tasks, and a
  ready-made app (``celery -A storelink_celery.app worker``).
"""

from __future__ import annotations

from storelink_celery.jobs import (
    ConnectionBusyError,
    ConnectionLock,
    LockLostError,
    active_connections,
    create_order,
    sync_connection,
)
from storelink_celery.locks import RedisConnectionLock
from storelink_celery.runtime import WorkerRuntime
from storelink_celery.settings import WorkerSettings

__all__ = [
    "ConnectionBusyError",
    "ConnectionLock",
    "LockLostError",
    "RedisConnectionLock",
    "WorkerRuntime",
    "WorkerSettings",
    "active_connections",
    "create_order",
    "sync_connection",
]
