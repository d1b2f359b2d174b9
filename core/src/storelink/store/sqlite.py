"""The embedded store: one SQLite file, no server.

All database work of a :class:`SQLiteStore` runs on one worker thread that owns the
connection, so the event loop never blocks on disk, and one operation at a time holds
that connection, so operations never interleave. Writes take SQLite's write lock up
front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` for it, so several
processes may share the file. The file is in WAL mode (readers do not block the
writer), has foreign keys on, and is created with mode 0600; ``secure_delete``
overwrites erased credentials on disk.

The file's directory must exist: a mistyped path is refused rather than created
(the hub creates its own default directory). A path that is a directory, a file that
is not a SQLite database or is damaged, and a file that cannot be created or opened
raise :class:`~storelink.ConfigurationError` naming the path and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from storelink.errors import ConfigurationError, StoreBusyError
from storelink.store import sql
from storelink.store.migrations import MIGRATIONS, Migration
from storelink.store.sqlstore import DuplicateRowError, MissingParentError, Row, SQLStore

__all__ = ["SQLiteDriver", "SQLiteStore"]

T = TypeVar("T")
MEMORY = ":memory:"
_DUPLICATE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
#: A file that is not a database, or a damaged one (extended codes start with these).
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
#: Another connection holds the lock: not a problem of the file.
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _adapt(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _busy(path: str, waited: float) -> StoreBusyError:
    return StoreBusyError(
        f"the database file {path} stayed locked by another process for {waited:g} s; nothing was written"
    )


def _damaged(path: str, exc: sqlite3.DatabaseError) -> ConfigurationError:
    return ConfigurationError(
        f"the database file {path} is not a SQLite database, or it is damaged (SQLite says: {exc}); "
        "use another database file (--db, STORELINK_DB), or restore this one from a backup"
    )


def _check_path(path: str) -> None:
    """Refuse a database path that is a directory, or whose directory does not exist."""
    file = Path(path)
    if file.is_dir():
        raise ConfigurationError(
            f"the database path {path} is a directory; name a file, such as {file / 'storelink.db'}"
        )
    parent = file.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigurationError(
            f"{parent}, the directory of the database file {path}, is not a directory; "
            "choose a path in an existing directory"
        )
    if not parent.exists():
        raise ConfigurationError(
            f"the directory {parent} of the database file {path} does not exist, and storelink does not "
            "create it; create it first, or choose a path in an existing directory"
        )


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _cursor(conn: sqlite3.Connection, query: sql.Query) -> sqlite3.Cursor:
    try:
        return conn.execute(query.sql, tuple(_adapt(p) for p in query.params))
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorname in _DUPLICATE:
            raise DuplicateRowError(exc.sqlite_errorname) from exc
        if exc.sqlite_errorname == "SQLITE_CONSTRAINT_FOREIGNKEY":
            raise MissingParentError(exc.sqlite_errorname) from exc
        raise


class _SQLiteSession:
    """The worker thread's connection, held by one operation."""

    def __init__(self, driver: SQLiteDriver) -> None:
        self._driver = driver

    async def execute(self, query: sql.Query) -> int:
        return await self._driver.run(lambda conn: _cursor(conn, query).rowcount)

    async def one(self, query: sql.Query) -> Row | None:
        return await self._driver.run(lambda conn: _cursor(conn, query).fetchone())

    async def all(self, query: sql.Query) -> list[Row]:
        return await self._driver.run(lambda conn: list(_cursor(conn, query).fetchall()))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self._driver.run(lambda conn: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield
        except BaseException:

            def rollback(conn: sqlite3.Connection) -> None:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors
                    conn.execute("ROLLBACK")

            await self._driver.run(rollback)
            raise
        await self._driver.run(lambda conn: conn.execute("COMMIT"))

    async def lock(self, key: str) -> None:
        # BEGIN IMMEDIATE took the database's write lock: every other writer, in this
        # process or another, waits (busy_timeout) until this transaction ends.
        return

    @contextlib.asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[None]:
        # Each migration's BEGIN IMMEDIATE takes the write lock, and migrate() re-reads
        # the version under it: nothing to hold in between.
        yield


class SQLiteDriver:
    """The :class:`~storelink.store.sqlstore.Driver` of one SQLite file.

    :param path: The database file (created with mode 0600 if missing), or
        ``":memory:"`` for a private in-memory database.
    :param busy_timeout: Seconds a write waits for another process's write lock.
    """

    dialect: ClassVar[str] = "sqlite"
    version_table_exists: ClassVar[sql.Query] = sql.Query(
        "SELECT name FROM sqlite_master WHERE name = 'schema_version'"
    )

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storelink-sqlite")
        self._conn: sqlite3.Connection | None = None  # used only on the worker thread
        self._lock = asyncio.Lock()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        if self._path != MEMORY:
            _check_path(self._path)
            if not os.path.exists(self._path):
                try:
                    # SQLite gives its -wal and -shm files the mode of the database file.
                    os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot create the database file {self._path}: {exc.strerror or exc}; "
                        "choose a path you can write to"
                    ) from None
        try:
            conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            if (exc.sqlite_errorname or "").startswith(_BUSY):
                raise
            raise self._unusable(exc) from exc
        try:
            conn.row_factory = _dict_row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            if self._path != MEMORY:
                self._use_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            if (exc.sqlite_errorname or "").startswith(_BUSY):
                raise
            raise self._unusable(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode, waiting up to ``busy_timeout`` for other openers.

        Switching a new file to WAL needs it to itself, and SQLite reports "locked" at
        once, without its busy handler, while another connection is opening or
        switching it too (several processes starting on a fresh file). So wait here as
        a write would. A file already in WAL mode stays in it, and the switch is then
        a no-op.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.002
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not (exc.sqlite_errorname or "").startswith(_BUSY) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _unusable(self, exc: sqlite3.DatabaseError) -> ConfigurationError:
        """Return the error to raise for *exc*, met while opening the file."""
        if (exc.sqlite_errorname or "").startswith(_DAMAGED):
            return _damaged(self._path, exc)
        return ConfigurationError(
            f"cannot open the database file {self._path} (SQLite says: {exc}); "
            "check that it is a file you can read and write"
        )

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return work(self._conn)
        except sqlite3.DatabaseError as exc:
            # Damage can show only when a damaged page is first read, long after opening.
            if (exc.sqlite_errorname or "").startswith(_DAMAGED):
                raise _damaged(self._path, exc) from exc
            if (exc.sqlite_errorname or "").startswith(_BUSY):
                raise _busy(self._path, self._busy_timeout) from exc
            raise

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run *work* with the connection on the worker thread (inside :meth:`session` only)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[_SQLiteSession]:
        """Hold the connection for the block."""
        if self._closed:
            raise RuntimeError("the store is closed")
        async with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            yield _SQLiteSession(self)

    async def close(self) -> None:
        """Close the database file and stop the worker thread. Idempotent."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=False)


class SQLiteStore(SQLStore):
    """A :class:`~storelink.store.ConnectionStore` in one SQLite file.

    :param path: The database file (created with mode 0600 if missing), or
        ``":memory:"`` for a private in-memory database.
    :param migrations: The schema migrations to apply in :meth:`migrate`.
    :param busy_timeout: Seconds a write waits for another process's write lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout: float = 10.0,
    ) -> None:
        self._path = os.fspath(path)
        super().__init__(SQLiteDriver(self._path, busy_timeout=busy_timeout), migrations=migrations)

    @property
    def path(self) -> Path | None:
        """The database file, or ``None`` for an in-memory database."""
        return None if self._path == MEMORY else Path(self._path)

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"
