"""What a worker needs to know: where the store, the keys, the broker and the sync files are.

Every setting has an environment variable, read by :meth:`WorkerSettings.from_env`, so
that a worker is configured the way containers are. A host that builds its own
settings passes them to :func:`storelink_celery.configure` instead.

=================================== ============================================ ==================
variable                            meaning                                      default
=================================== ============================================ ==================
``STORELINK_DB``                    the connection store: a PostgreSQL URL, or   (required)
                                    an SQLite path (one machine only)
``STORELINK_KEYS``                  the key ring itself (``kid:base64key`` ...)  one of the two
``STORELINK_KEYS_FILE``             or the path of a key file (never created:    is required
                                    a worker must hold the keys the web side
                                    sealed with)
``STORELINK_CELERY_BROKER``         the Celery broker URL (Redis)                ``redis://127.0.0.1:6379/0``
``STORELINK_CELERY_RESULTS``        the Celery result backend (Redis)            the broker URL
``STORELINK_CELERY_QUEUE``          the queue the tasks go to and workers read   ``storelink``
``STORELINK_CELERY_LOCKS``          the Redis holding the per-connection locks   the broker URL
``STORELINK_SYNC_ROOT``             where each connection's files go, in         (required to sync)
                                    ``ROOT/CONNECTION_ID``; on several machines,
                                    the same path on a shared volume
``STORELINK_CELERY_LOCK_LEASE``     seconds a sync's connection lock lasts       ``60``
                                    without renewal (a lost worker's lock
                                    frees after it)
``STORELINK_CELERY_VISIBILITY``     seconds before Redis gives a lost worker's   ``3600``
                                    task to another worker (set it longer than
                                    your longest task)
``STORELINK_HTTP_DEADLINE``         seconds one platform request may take in     ``60``
                                    all (also the order ledger's quiet period)
``STORELINK_HTTP_READ_TIMEOUT``     seconds between two reads of a response      ``30``
=================================== ============================================ ==================

``STORELINK_ALLOW_LOOPBACK`` and ``STORELINK_SHARE_TOKENS`` are read by the hub as
everywhere else (:meth:`storelink.Hub.open`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from attrs import frozen

from storelink.errors import ConfigurationError
from storelink.vault import KeyRing

__all__ = ["DEFAULT_BROKER", "WorkerSettings", "redis_url", "seconds"]

#: The broker a worker uses when ``STORELINK_CELERY_BROKER`` is unset: a Redis on this machine.
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """Read *name* as a positive number of seconds, or *default* when unset."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} is {text!r}; give a positive number of seconds, such as {default:g}")
    return value


def redis_url(name: str, url: str) -> str:
    """Refuse *url* unless it is a Redis URL (the only broker and lock store this package supports)."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"{name} must be a redis://, rediss:// or unix:// URL (it starts {url[:8]!r})")
    return url


@frozen(kw_only=True)
class WorkerSettings:
    """How a worker process reaches the connection store, the keys, Redis and the sync files.

    :param database: The connection store: a PostgreSQL URL, or an SQLite path.
    :param keys: The key ring that opens the store's sealed credentials.
    :param broker: The Celery broker URL.
    :param locks: The Redis URL of the per-connection sync locks.
    :param sync_root: Where each connection's sync files go (``sync_root/CONNECTION_ID``);
        ``None`` when the worker only creates orders.
    :param lock_lease: Seconds a connection lock lasts unless renewed; the holder renews
        it every third of that while it syncs.
    :param visibility_timeout: Seconds before the broker gives an unacknowledged task
        (its worker was lost) to another worker.
    :param http_deadline: Seconds one platform request may take, retries included.
    :param http_read_timeout: Seconds between two reads of a response.
    """

    database: str
    keys: KeyRing
    broker: str = DEFAULT_BROKER
    locks: str = DEFAULT_BROKER
    sync_root: Path | None = None
    lock_lease: float = 60.0
    visibility_timeout: float = 3600.0
    http_deadline: float = 60.0
    http_read_timeout: float = 30.0

    def __repr__(self) -> str:
        # The key ring's repr names its key ids only, never a key; the URLs may hold a password.
        return f"<WorkerSettings database={_no_password(self.database)} broker={_no_password(self.broker)}>"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Read the settings from the environment (see :mod:`storelink_celery.settings`).

        :param environ: The environment to read; the process's by default.
        :raises ConfigurationError: A required variable is unset, or a value is malformed;
            the message names the variable.
        """
        env = os.environ if environ is None else environ
        database = env.get("STORELINK_DB", "").strip()
        if not database:
            raise ConfigurationError(
                "STORELINK_DB is not set; give the connection store every worker shares "
                "(postgresql://... for several machines, or an SQLite path on one machine)"
            )
        if "STORELINK_KEYS" in env:
            keys = KeyRing.from_env(env)
        elif env.get("STORELINK_KEYS_FILE", "").strip():
            keys = KeyRing.load(env["STORELINK_KEYS_FILE"].strip())
        else:
            raise ConfigurationError(
                "neither STORELINK_KEYS nor STORELINK_KEYS_FILE is set; give the key ring the web side seals "
                "credentials with (a worker never makes keys of its own)"
            )
        broker = redis_url("STORELINK_CELERY_BROKER", env.get("STORELINK_CELERY_BROKER", "").strip() or DEFAULT_BROKER)
        locks = redis_url("STORELINK_CELERY_LOCKS", env.get("STORELINK_CELERY_LOCKS", "").strip() or broker)
        root = env.get("STORELINK_SYNC_ROOT", "").strip()
        return cls(
            database=database,
            keys=keys,
            broker=broker,
            locks=locks,
            sync_root=Path(root) if root else None,
            lock_lease=seconds(env, "STORELINK_CELERY_LOCK_LEASE", 60.0),
            visibility_timeout=seconds(env, "STORELINK_CELERY_VISIBILITY", 3600.0),
            http_deadline=seconds(env, "STORELINK_HTTP_DEADLINE", 60.0),
            http_read_timeout=seconds(env, "STORELINK_HTTP_READ_TIMEOUT", 30.0),
        )

    def directory(self, connection_id: str) -> Path:
        """Return where *connection_id*'s sync files go.

        :raises ConfigurationError: ``STORELINK_SYNC_ROOT`` is not set.
        """
        if self.sync_root is None:
            raise ConfigurationError(
                "STORELINK_SYNC_ROOT is not set; give the directory the sync files go to "
                "(on several machines, the same path on a shared volume)"
            )
        return self.sync_root / connection_id


def _no_password(url: str) -> str:
    """Return *url* with the password of its authority, if any, replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    user, _, host = authority.rpartition("@")
    name = user.split(":", 1)[0]
    return f"{scheme}://{name}:***@{host}{slash}{path}"
