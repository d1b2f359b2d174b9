"""The PostgreSQL store, for hosts that run on several machines.

Needs the ``postgres`` extra (``pip install 'storelink[postgres]'``: psycopg 3 and its
pool). A :class:`PostgresStore` keeps a small pool of connections in autocommit mode
and runs each operation in its own transaction (``READ COMMITTED``); the ledger claim
is a single ``INSERT ... ON CONFLICT DO NOTHING``, which PostgreSQL makes atomic across
every connection and machine. Migrations hold an advisory lock, so several hosts can
start at once.

The tables live in the connection's ``search_path``: to keep storelink in its own
schema, add ``?options=-csearch_path%3Dstorelink`` to the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any, Self

import attrs
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storelink.errors import ConfigurationError, ConnectionStateError
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

__all__ = ["PostgresStore"]

Conn = psycopg.AsyncConnection[DictRow]


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


async def _execute(conn: Conn, query: sql.Query) -> psycopg.AsyncCursor[DictRow]:
    return await conn.execute(query.sql.replace("?", "%s"), tuple(_adapt(p) for p in query.params))


async def _one(conn: Conn, query: sql.Query) -> DictRow | None:
    return await (await _execute(conn, query)).fetchone()


async def _single(conn: Conn, query: sql.Query) -> DictRow:
    row = await _one(conn, query)
    if row is None:
        raise AssertionError(f"no row from {query.sql!r}")
    return row


async def _all(conn: Conn, query: sql.Query) -> list[DictRow]:
    return await (await _execute(conn, query)).fetchall()


async def _require_connection(conn: Conn, connection_id: str) -> None:
    if await _one(conn, sql.connection_exists(connection_id)) is None:
        raise ConnectionStateError(f"no connection {connection_id!r}")


@contextlib.asynccontextmanager
async def _connection_must_exist(connection_id: str) -> AsyncIterator[None]:
    """Turn a foreign-key failure (the connection was deleted meanwhile) into our error."""
    try:
        yield
    except psycopg.errors.ForeignKeyViolation:
        raise ConnectionStateError(f"no connection {connection_id!r}") from None


class PostgresStore:
    """A :class:`~storelink.store.ConnectionStore` in a PostgreSQL database.

    :param url: A libpq connection URL (``postgresql://user@host:5432/db``).
    :param migrations: The schema migrations to apply in :meth:`migrate`.
    :param max_connections: The size of the connection pool.
    :param connect_timeout: Seconds to wait for a connection before giving up.
    """

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        max_connections: int = 8,
        connect_timeout: float = 10.0,
    ) -> None:
        info = conninfo_to_dict(url)
        self._where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        self._migrations = tuple(migrations)
        self._timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            connection_class=psycopg.AsyncConnection[DictRow],
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=max_connections,
            timeout=connect_timeout,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="storelink",
        )
        self._lock = asyncio.Lock()
        self._state = "new"

    def __repr__(self) -> str:
        # The URL may hold a password: show where, never how.
        return f"PostgresStore({self._where!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if self._state != "open":
            async with self._lock:
                if self._state == "closed":
                    raise RuntimeError("the store is closed")
                if self._state == "new":
                    try:
                        await self._pool.open(wait=True, timeout=self._timeout)
                    except PoolTimeout:
                        await self._pool.close()
                        self._state = "closed"
                        raise ConfigurationError(f"cannot connect to PostgreSQL at {self._where}") from None
                    self._state = "open"
        async with self._pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        async with self._lock:
            if self._state == "open":
                await self._pool.close()
            self._state = "closed"

    # ------------------------------------------------------------------ schema

    async def migrate(self) -> int:
        """Apply every pending migration; return the schema version."""
        async with self._connection() as conn:
            lock = "SELECT pg_advisory_lock(hashtext('storelink.migrate.' || COALESCE(current_schema(), '')))"
            await conn.execute(lock)
            try:
                async with conn.transaction():
                    await conn.execute(VERSION_TABLE[self.dialect])
                    current = int((await _single(conn, sql.SCHEMA_VERSION))["version"])
                for migration in pending(current, self._migrations):
                    async with conn.transaction():
                        for statement in migration.statements[self.dialect]:
                            await conn.execute(statement)
                        await _execute(conn, sql.record_version(migration.version, migration.name, utc_now()))
                return int((await _single(conn, sql.SCHEMA_VERSION))["version"])
            finally:
                await conn.execute(lock.replace("pg_advisory_lock", "pg_advisory_unlock"))

    async def schema_version(self) -> int:
        """Return the database's schema version (0 when it has none)."""
        async with self._connection() as conn:
            if (await _single(conn, sql.Query("SELECT to_regclass('schema_version') AS t")))["t"] is None:
                return 0
            return int((await _single(conn, sql.SCHEMA_VERSION))["version"])

    # ------------------------------------------------------------------ connections

    async def insert_connection(self, conn: Connection, envelopes: Mapping[str, str], plain: Mapping[str, str]) -> None:
        """Add a connection with its credentials."""
        credentials = sql.insert_credentials(conn.id, envelopes, plain)
        async with self._connection() as db:
            try:
                async with db.transaction():
                    await _execute(db, sql.insert_connection(conn))
                    for query in credentials:
                        await _execute(db, query)
            except psycopg.errors.UniqueViolation:
                raise ConnectionStateError(f"connection {conn.id!r} already exists") from None

    async def get_connection(self, connection_id: str) -> Connection | None:
        """Return the connection, or ``None``."""
        async with self._connection() as db:
            row = await _one(db, sql.select_connection(connection_id))
        return None if row is None else connection_from_row(row)

    async def list_connections(
        self, *, platform: str | None = None, status: ConnectionStatus | None = None
    ) -> list[Connection]:
        """Return the connections, oldest first."""
        async with self._connection() as db:
            rows = await _all(db, sql.list_connections(platform, status))
        return [connection_from_row(row) for row in rows]

    async def update_connection(self, conn: Connection, *, last_error: str | Unset | None = UNSET) -> Connection:
        """Store the connection's mutable fields; return it as stored."""
        error = conn.last_error if isinstance(last_error, Unset) else last_error
        async with self._connection() as db:
            if (await _execute(db, sql.update_connection(conn, error))).rowcount != 1:
                raise ConnectionStateError(f"no connection {conn.id!r}")
        return attrs.evolve(conn, last_error=error)

    async def get_credentials(self, connection_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """Return ``(envelopes, plain)`` of the connection."""
        async with self._connection() as db:
            rows = await _all(db, sql.select_credentials(connection_id))
        envelopes = {r["field"]: r["envelope"] for r in rows if r["envelope"] is not None}
        plain = {r["field"]: r["value"] for r in rows if r["envelope"] is None}
        return envelopes, plain

    async def replace_credentials(
        self, connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]
    ) -> None:
        """Replace every credential field of the connection."""
        credentials = sql.insert_credentials(connection_id, envelopes, plain)
        async with self._connection() as db, _connection_must_exist(connection_id), db.transaction():
            await _require_connection(db, connection_id)
            await _execute(db, sql.delete_credentials(connection_id))
            for query in credentials:
                await _execute(db, query)

    async def delete_credentials(self, connection_id: str) -> None:
        """Erase every credential field of the connection."""
        async with self._connection() as db:
            await _execute(db, sql.delete_credentials(connection_id))

    # ------------------------------------------------------------------ ledger

    async def claim_submission(self, connection_id: str, reference: str, payload_hash: str) -> tuple[Submission, bool]:
        """Return the ledger row of *reference*, creating it if it is new."""
        query = sql.claim_submission(connection_id, reference, payload_hash, utc_now())
        async with self._connection() as db, _connection_must_exist(connection_id), db.transaction():
            # ON CONFLICT waits for a concurrent claim of the same reference to commit;
            # the SELECT, a new statement under READ COMMITTED, then sees its row.
            created = (await _execute(db, query)).rowcount == 1
            row = await _single(db, sql.select_submission(connection_id, reference))
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
        async with self._connection() as db:
            return (await _execute(db, query)).rowcount == 1

    async def get_submission(self, connection_id: str, reference: str) -> Submission | None:
        """Return the ledger row of *reference*, or ``None``."""
        async with self._connection() as db:
            row = await _one(db, sql.select_submission(connection_id, reference))
        return None if row is None else submission_from_row(row)

    async def list_submissions(
        self,
        *,
        state: SubmissionState | Collection[SubmissionState] | None = None,
        connection_id: str | None = None,
    ) -> list[Submission]:
        """Return ledger rows, oldest first."""
        async with self._connection() as db:
            rows = await _all(db, sql.list_submissions(states(state), connection_id))
        return [submission_from_row(row) for row in rows]

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, connection_id: str, kind: str) -> str | None:
        """Return the checkpoint of *kind*, or ``None``."""
        async with self._connection() as db:
            row = await _one(db, sql.get_checkpoint(connection_id, kind))
        return None if row is None else str(row["value"])

    async def set_checkpoint(self, connection_id: str, kind: str, value: str | None) -> None:
        """Store (or with ``None`` erase) the checkpoint of *kind*."""
        async with self._connection() as db, _connection_must_exist(connection_id):
            await _execute(db, sql.set_checkpoint(connection_id, kind, value, utc_now()))

    # ------------------------------------------------------------------ key rotation

    async def count_by_key(self) -> dict[str, int]:
        """Return how many sealed credentials each key id sealed."""
        async with self._connection() as db:
            rows = await _all(db, sql.COUNT_BY_KEY)
        return {r["key_id"]: int(r["n"]) for r in rows}

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        """Return a batch of sealed credentials after *after*."""
        query = sql.iter_envelopes(after, limit, exclude_key)
        async with self._connection() as db:
            rows = await _all(db, query)
        return [EnvelopeRow(**row) for row in rows]

    async def swap_envelope(self, connection_id: str, field: str, old: str, new: str) -> bool:
        """Replace one envelope if it is still *old*."""
        query = sql.swap_envelope(connection_id, field, old, new)
        async with self._connection() as db:
            return (await _execute(db, query)).rowcount == 1
