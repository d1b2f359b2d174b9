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
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storelink.errors import ConfigurationError
from storelink.store import sql
from storelink.store.migrations import MIGRATIONS, Migration
from storelink.store.sqlstore import DuplicateRowError, MissingParentError, Row, SQLStore

__all__ = ["PostgresDriver", "PostgresStore"]

Conn = psycopg.AsyncConnection[DictRow]
_MIGRATION_LOCK = "hashtext('storelink.migrate.' || COALESCE(current_schema(), ''))"


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


class _PostgresSession:
    """One pooled connection, in autocommit mode outside :meth:`transaction`."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _cursor(self, query: sql.Query) -> psycopg.AsyncCursor[DictRow]:
        try:
            if not query.params:  # a statement without placeholders goes as written
                return await self._conn.execute(query.sql)
            return await self._conn.execute(query.sql.replace("?", "%s"), tuple(_adapt(p) for p in query.params))
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateRowError(exc.sqlstate) from exc
        except psycopg.errors.ForeignKeyViolation as exc:
            raise MissingParentError(exc.sqlstate) from exc

    async def execute(self, query: sql.Query) -> int:
        return (await self._cursor(query)).rowcount

    async def one(self, query: sql.Query) -> Row | None:
        return await (await self._cursor(query)).fetchone()

    async def all(self, query: sql.Query) -> list[Row]:
        return await (await self._cursor(query)).fetchall()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield

    async def lock(self, key: str) -> None:
        # A transaction-level advisory lock, per schema: released at COMMIT or ROLLBACK,
        # and by the server when the connection drops (a killed process holds nothing).
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(current_schema(), '') || '.' || %s, 0))",
            (key,),
        )

    @contextlib.asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[None]:
        # A session-level advisory lock, per schema: it outlives the transactions in it.
        await self._conn.execute(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
        try:
            yield
        finally:
            await self._conn.execute(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")


class PostgresDriver:
    """The :class:`~storelink.store.sqlstore.Driver` of one PostgreSQL database: a pool.

    :param url: A libpq connection URL (``postgresql://user@host:5432/db``).
    :param max_connections: The size of the connection pool.
    :param connect_timeout: Seconds to wait for a connection before giving up.
    """

    dialect: ClassVar[str] = "postgresql"
    version_table_exists: ClassVar[sql.Query] = sql.Query(
        "SELECT 1 AS found WHERE to_regclass('schema_version') IS NOT NULL"
    )

    def __init__(self, url: str, *, max_connections: int = 8, connect_timeout: float = 10.0) -> None:
        info = conninfo_to_dict(url)
        #: Where the database is, without credentials: for messages and reprs.
        self.where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
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

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[_PostgresSession]:
        """Hold one pooled connection for the block, opening the pool on first use.

        :raises ConfigurationError: The server cannot be reached.
        """
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
                        raise ConfigurationError(f"cannot connect to PostgreSQL at {self.where}") from None
                    self._state = "open"
        async with self._pool.connection() as conn:
            yield _PostgresSession(conn)

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        async with self._lock:
            if self._state == "open":
                await self._pool.close()
            self._state = "closed"


class PostgresStore(SQLStore):
    """A :class:`~storelink.store.ConnectionStore` in a PostgreSQL database.

    :param url: A libpq connection URL (``postgresql://user@host:5432/db``).
    :param migrations: The schema migrations to apply in :meth:`migrate`.
    :param max_connections: The size of the connection pool.
    :param connect_timeout: Seconds to wait for a connection before giving up.
    """

    def __init__(
        self,
        url: str,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        max_connections: int = 8,
        connect_timeout: float = 10.0,
    ) -> None:
        self._pg = PostgresDriver(url, max_connections=max_connections, connect_timeout=connect_timeout)
        super().__init__(self._pg, migrations=migrations)

    def __repr__(self) -> str:
        # The URL may hold a password: show where, never how.
        return f"PostgresStore({self._pg.where!r})"
