"""The embedded store: one SQLite file, no server.

All database work of a :class:`SQLiteStore` runs on one worker thread that owns the
connection, so the event loop never blocks on disk and the store's operations never
interleave. Writes take SQLite's write lock up front (``BEGIN IMMEDIATE``) and wait
up to ``busy_timeout`` for it, so several processes may share the file. The file is in
WAL mode (readers do not block the writer), has foreign keys on, and is created with
mode 0600; ``secure_delete`` overwrites erased credentials on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import attrs

from storelink.errors import ConnectionStateError
from storelink.models import Connection, ConnectionStatus
from storelink.store import sql
from storelink.store.base import (
    UNSET,
    EnvelopeRow,
    Submission,
    SubmissionState,
    Unset,
    connection_from_row,
    states,
    submission_from_row,
    utc_now,
)
from storelink.store.migrations import MIGRATIONS, VERSION_TABLE, Migration, pending

__all__ = ["SQLiteStore"]

T = TypeVar("T")
Row = dict[str, Any]
MEMORY = ":memory:"


def _adapt(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _execute(conn: sqlite3.Connection, query: sql.Query) -> sqlite3.Cursor:
    return conn.execute(query.sql, tuple(_adapt(p) for p in query.params))


def _one(conn: sqlite3.Connection, query: sql.Query) -> Row | None:
    row: Row | None = _execute(conn, query).fetchone()
    return row


def _single(conn: sqlite3.Connection, query: sql.Query) -> Row:
    row = _one(conn, query)
    if row is None:
        raise AssertionError(f"no row from {query.sql!r}")
    return row


def _all(conn: sqlite3.Connection, query: sql.Query) -> list[Row]:
    return list(_execute(conn, query).fetchall())


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself after some errors
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _require_connection(conn: sqlite3.Connection, connection_id: str) -> None:
    if _one(conn, sql.connection_exists(connection_id)) is None:
        raise ConnectionStateError(f"no connection {connection_id!r}")


class SQLiteStore:
    """A :class:`~storelink.store.ConnectionStore` in one SQLite file.

    :param path: The database file (created with mode 0600 if missing), or
        ``":memory:"`` for a private in-memory database.
    :param migrations: The schema migrations to apply in :meth:`migrate`.
    :param busy_timeout: Seconds a write waits for another process's write lock.
    """

    dialect = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout: float = 10.0,
    ) -> None:
        self._path = os.fspath(path)
        self._migrations = tuple(migrations)
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storelink-sqlite")
        self._conn: sqlite3.Connection | None = None  # used only on the worker thread
        self._closed = False

    @property
    def path(self) -> Path | None:
        """The database file, or ``None`` for an in-memory database."""
        return None if self._path == MEMORY else Path(self._path)

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        if self._path != MEMORY and not os.path.exists(self._path):
            Path(self._path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # SQLite gives its -wal and -shm files the mode of the database file.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            conn.row_factory = _dict_row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            if self._path != MEMORY:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return work(self._conn)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    async def close(self) -> None:
        """Close the database file and stop the worker thread. Idempotent."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=False)

    # ------------------------------------------------------------------ schema

    async def migrate(self) -> int:
        """Apply every pending migration; return the schema version."""

        def work(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                conn.execute(VERSION_TABLE[self.dialect])
                todo = pending(int(_single(conn, sql.SCHEMA_VERSION)["version"]), self._migrations)
            for migration in todo:
                with _transaction(conn):
                    # Another process may have migrated meanwhile; the write lock is held now.
                    if int(_single(conn, sql.SCHEMA_VERSION)["version"]) >= migration.version:
                        continue
                    for statement in migration.statements[self.dialect]:
                        conn.execute(statement)
                    _execute(conn, sql.record_version(migration.version, migration.name, utc_now()))
            return int(_single(conn, sql.SCHEMA_VERSION)["version"])

        return await self._run(work)

    async def schema_version(self) -> int:
        """Return the database's schema version (0 when it has none)."""

        def work(conn: sqlite3.Connection) -> int:
            if _one(conn, sql.Query("SELECT name FROM sqlite_master WHERE name = 'schema_version'")) is None:
                return 0
            return int(_single(conn, sql.SCHEMA_VERSION)["version"])

        return await self._run(work)

    # ------------------------------------------------------------------ connections

    async def insert_connection(self, conn: Connection, envelopes: Mapping[str, str], plain: Mapping[str, str]) -> None:
        """Add a connection with its credentials."""
        credentials = sql.insert_credentials(conn.id, envelopes, plain)

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if _one(db, sql.connection_exists(conn.id)) is not None:
                    raise ConnectionStateError(f"connection {conn.id!r} already exists")
                _execute(db, sql.insert_connection(conn))
                for query in credentials:
                    _execute(db, query)

        await self._run(work)

    async def get_connection(self, connection_id: str) -> Connection | None:
        """Return the connection, or ``None``."""
        row = await self._run(lambda db: _one(db, sql.select_connection(connection_id)))
        return None if row is None else connection_from_row(row)

    async def list_connections(
        self, *, platform: str | None = None, status: ConnectionStatus | None = None
    ) -> list[Connection]:
        """Return the connections, oldest first."""
        rows = await self._run(lambda db: _all(db, sql.list_connections(platform, status)))
        return [connection_from_row(row) for row in rows]

    async def update_connection(self, conn: Connection, *, last_error: str | Unset | None = UNSET) -> Connection:
        """Store the connection's mutable fields; return it as stored."""
        error = conn.last_error if isinstance(last_error, Unset) else last_error
        query = sql.update_connection(conn, error)

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if _execute(db, query).rowcount != 1:
                    raise ConnectionStateError(f"no connection {conn.id!r}")

        await self._run(work)
        return attrs.evolve(conn, last_error=error)

    async def get_credentials(self, connection_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """Return ``(envelopes, plain)`` of the connection."""
        rows = await self._run(lambda db: _all(db, sql.select_credentials(connection_id)))
        envelopes = {r["field"]: r["envelope"] for r in rows if r["envelope"] is not None}
        plain = {r["field"]: r["value"] for r in rows if r["envelope"] is None}
        return envelopes, plain

    async def replace_credentials(
        self, connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]
    ) -> None:
        """Replace every credential field of the connection."""
        credentials = sql.insert_credentials(connection_id, envelopes, plain)

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _require_connection(db, connection_id)
                _execute(db, sql.delete_credentials(connection_id))
                for query in credentials:
                    _execute(db, query)

        await self._run(work)

    async def delete_credentials(self, connection_id: str) -> None:
        """Erase every credential field of the connection."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _execute(db, sql.delete_credentials(connection_id))

        await self._run(work)

    # ------------------------------------------------------------------ ledger

    async def claim_submission(self, connection_id: str, reference: str, payload_hash: str) -> tuple[Submission, bool]:
        """Return the ledger row of *reference*, creating it if it is new."""
        query = sql.claim_submission(connection_id, reference, payload_hash, utc_now())

        def work(db: sqlite3.Connection) -> tuple[Row, bool]:
            with _transaction(db):
                _require_connection(db, connection_id)
                created = _execute(db, query).rowcount == 1
                return _single(db, sql.select_submission(connection_id, reference)), created

        row, created = await self._run(work)
        return submission_from_row(row), created

    async def update_submission(
        self,
        connection_id: str,
        reference: str,
        *,
        state: SubmissionState,
        platform_order_id: str | None = None,
        last_error: str | None = None,
        order_json: str | None = None,
        expect_state: SubmissionState | Collection[SubmissionState] | None = None,
    ) -> bool:
        """Move a submission to *state* if it is in *expect_state*."""
        query = sql.update_submission(
            connection_id,
            reference,
            state=state,
            platform_order_id=platform_order_id,
            last_error=last_error,
            order_json=order_json,
            expect=states(expect_state),
            now=utc_now(),
        )

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                return _execute(db, query).rowcount == 1

        return await self._run(work)

    async def get_submission(self, connection_id: str, reference: str) -> Submission | None:
        """Return the ledger row of *reference*, or ``None``."""
        row = await self._run(lambda db: _one(db, sql.select_submission(connection_id, reference)))
        return None if row is None else submission_from_row(row)

    async def list_submissions(
        self,
        *,
        state: SubmissionState | Collection[SubmissionState] | None = None,
        connection_id: str | None = None,
    ) -> list[Submission]:
        """Return ledger rows, oldest first."""
        rows = await self._run(lambda db: _all(db, sql.list_submissions(states(state), connection_id)))
        return [submission_from_row(row) for row in rows]

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, connection_id: str, kind: str) -> str | None:
        """Return the checkpoint of *kind*, or ``None``."""
        row = await self._run(lambda db: _one(db, sql.get_checkpoint(connection_id, kind)))
        return None if row is None else str(row["value"])

    async def set_checkpoint(self, connection_id: str, kind: str, value: str | None) -> None:
        """Store (or with ``None`` erase) the checkpoint of *kind*."""
        query = sql.set_checkpoint(connection_id, kind, value, utc_now())

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if value is not None:
                    _require_connection(db, connection_id)
                _execute(db, query)

        await self._run(work)

    # ------------------------------------------------------------------ key rotation

    async def count_by_key(self) -> dict[str, int]:
        """Return how many sealed credentials each key id sealed."""
        rows = await self._run(lambda db: _all(db, sql.COUNT_BY_KEY))
        return {r["key_id"]: int(r["n"]) for r in rows}

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        """Return a batch of sealed credentials after *after*."""
        query = sql.iter_envelopes(after, limit, exclude_key)
        rows = await self._run(lambda db: _all(db, query))
        return [EnvelopeRow(**row) for row in rows]

    async def swap_envelope(self, connection_id: str, field: str, old: str, new: str) -> bool:
        """Replace one envelope if it is still *old*."""
        query = sql.swap_envelope(connection_id, field, old, new)

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                return _execute(db, query).rowcount == 1

        return await self._run(work)
