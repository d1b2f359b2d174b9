"""Where storelink keeps connections, sealed credentials, the order ledger and checkpoints.

:func:`open_store` picks the backend from a URL:

- a plain path, or ``sqlite:///relative/path`` / ``sqlite:////absolute/path`` (the
  SQLAlchemy convention): :class:`~storelink.store.sqlite.SQLiteStore`, the embedded
  default. ``:memory:``, ``sqlite://`` or ``sqlite:///:memory:`` give a private
  in-memory database.
- ``postgresql://...`` (or ``postgres://...``): :class:`~storelink.store.postgres.PostgresStore`,
  which needs the ``postgres`` extra.

Both are :class:`~storelink.store.sqlstore.SQLStore`, the one implementation of the
:class:`ConnectionStore` protocol, each over its own driver (connections,
transactions, placeholders, error translation), and pass the same test suite.
"""

from __future__ import annotations

import os

from storelink.errors import ConfigurationError
from storelink.store.base import (
    UNSET,
    ConnectionStore,
    EnvelopeRow,
    StoredAuthorization,
    StoredConnectSession,
    StoredToken,
    Submission,
    SubmissionState,
    TokenClaim,
    TokenKind,
    Unset,
)
from storelink.store.migrations import MIGRATIONS, Migration
from storelink.store.sqlite import MEMORY, SQLiteStore

__all__ = [
    "MIGRATIONS",
    "UNSET",
    "ConnectionStore",
    "EnvelopeRow",
    "Migration",
    "SQLiteStore",
    "StoredAuthorization",
    "StoredConnectSession",
    "StoredToken",
    "Submission",
    "SubmissionState",
    "TokenClaim",
    "TokenKind",
    "Unset",
    "open_store",
]


def open_store(url: str | os.PathLike[str]) -> ConnectionStore:
    """Return the store at *url* (no connection is made until it is first used).

    :param url: A path or ``sqlite:`` URL for SQLite, a ``postgresql:`` URL for PostgreSQL.
    :raises ConfigurationError: The URL's scheme is unknown, or PostgreSQL support is
        not installed. The message never repeats the URL, which may hold a password.
    """
    if not isinstance(url, str):
        return SQLiteStore(url)
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return SQLiteStore(text)
    scheme = scheme.lower()
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        return SQLiteStore(path if path and path != MEMORY else MEMORY)
    if scheme in ("postgresql", "postgres"):
        try:
            from storelink.store.postgres import PostgresStore  # psycopg is an optional extra
        except ImportError:
            raise ConfigurationError(
                "a postgresql:// database needs PostgreSQL support: pip install 'storelink[postgres]'"
            ) from None
        return PostgresStore(text)
    raise ConfigurationError(f"unknown database URL scheme {scheme!r}; use a file path, sqlite:/// or postgresql://")
