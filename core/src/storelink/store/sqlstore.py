"""The one :class:`~storelink.store.ConnectionStore` implementation, over a small driver.

:class:`SQLStore` holds everything the backends share: which statements each operation
runs (from :mod:`storelink.store.sql`), in which transaction, which checks it makes and
which errors it raises. What differs between databases sits behind :class:`Driver`
and the :class:`Session` it hands out, one class of each per backend
(:mod:`storelink.store.sqlite`, :mod:`storelink.store.postgres`):

- getting a database connection for one operation (a pool, or one worker thread);
- transactions, and the lock that serialises migrations;
- placeholders and value types (statements come with ``?`` placeholders);
- translating the driver's constraint errors into :class:`DuplicateRowError` and
  :class:`MissingParentError`, which the store turns into
  :class:`~storelink.errors.ConnectionStateError`.

A store checks what it can inside the transaction (the connection exists, the id is
free) and also translates the constraint error, so a row deleted or inserted by
another process meanwhile gives the same error on every backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, Self

import attrs

from storelink.errors import ConnectionStateError
from storelink.models import Connection, ConnectionStatus
from storelink.store import sql
from storelink.store.base import (
    UNSET,
    EnvelopeRow,
    StoredAuthorization,
    StoredConnectSession,
    StoredToken,
    Submission,
    SubmissionState,
    TokenClaim,
    TokenKind,
    Unset,
    authorization_from_row,
    connect_session_from_row,
    connection_from_row,
    states,
    submission_from_row,
    token_from_row,
    utc_now,
)
from storelink.store.migrations import MIGRATIONS, VERSION_TABLE, Migration, pending
from storelink.vault.envelope import stored_key_id

__all__ = ["Driver", "DuplicateRowError", "MissingParentError", "Row", "SQLStore", "Session"]

#: One result row, by column name.
Row = dict[str, Any]


class DuplicateRowError(Exception):
    """A driver's translation of a unique or primary key violation."""


class MissingParentError(Exception):
    """A driver's translation of a foreign key violation."""


class Session(Protocol):
    """One database connection, held by one operation of the store.

    A statement run outside :meth:`transaction` is committed by itself.
    """

    async def execute(self, query: sql.Query) -> int:
        """Run *query*; return how many rows it changed.

        :raises DuplicateRowError: It broke a unique or primary key constraint.
        :raises MissingParentError: It broke a foreign key constraint.
        """

    async def one(self, query: sql.Query) -> Row | None:
        """Run *query*; return its first row, or ``None``."""

    async def all(self, query: sql.Query) -> list[Row]:
        """Run *query*; return every row."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Run the block in one transaction that may write: committed, or rolled back on error."""

    async def lock(self, key: str) -> None:
        """Inside :meth:`transaction`: exclude every other transaction that locks *key* until this one ends.

        A backend whose write transactions exclude each other (SQLite's write lock)
        needs to do nothing. The lock ends with the transaction, and with the database
        connection if the process dies, so it never outlives its holder.
        """

    def migration_lock(self) -> AbstractAsyncContextManager[None]:
        """Keep other processes from migrating while the block runs, where the database needs it.

        Each migration also re-reads the version inside its own transaction, so a
        backend whose write transactions exclude each other needs nothing more.
        """


class Driver(Protocol):
    """What one database needs done its own way; :class:`SQLStore` does the rest."""

    #: The key of this database's statements in :class:`~storelink.store.Migration`.
    dialect: ClassVar[str]
    #: Returns one row if the ``schema_version`` table exists, none otherwise.
    version_table_exists: ClassVar[sql.Query]

    def session(self) -> AbstractAsyncContextManager[Session]:
        """Hold one database connection for the block (connecting first if needed).

        :raises RuntimeError: The driver is closed.
        """

    async def close(self) -> None:
        """Release every database connection. Idempotent."""


@contextlib.contextmanager
def _connection_must_exist(connection_id: str) -> Iterator[None]:
    """Turn a foreign key failure (the connection was deleted meanwhile) into our error."""
    try:
        yield
    except MissingParentError:
        raise ConnectionStateError(f"no connection {connection_id!r}") from None


async def _require_connection(session: Session, connection_id: str) -> None:
    if await session.one(sql.connection_exists(connection_id)) is None:
        raise ConnectionStateError(f"no connection {connection_id!r}")


async def _forget_tokens(session: Session, connection_id: str) -> None:
    await session.execute(sql.delete_tokens(connection_id, None, None))
    await session.execute(sql.delete_leases(connection_id))


def _when(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def _version(session: Session) -> int:
    row = await session.one(sql.SCHEMA_VERSION)
    if row is None:
        raise AssertionError("no row from the schema version query")
    return int(row["version"])


def _checked(connection_id: str, row: Row) -> str:
    """Return the envelope of a sealed credential row, refusing one whose key id column was altered."""
    envelope: str = row["envelope"]
    stored_key_id(envelope, row["key_id"], where=f"credential {row['field']!r} of connection {connection_id!r}")
    return envelope


class SQLStore:
    """A :class:`~storelink.store.ConnectionStore` in a SQL database reached through *driver*.

    :param driver: The database's driver; the store closes it in :meth:`close`.
    :param migrations: The schema migrations to apply in :meth:`migrate`.
    """

    def __init__(self, driver: Driver, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self._driver = driver
        self._migrations = tuple(migrations)

    @property
    def dialect(self) -> str:
        """The SQL dialect of the database, as in :class:`~storelink.store.Migration`."""
        return self._driver.dialect

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the database connections. Idempotent."""
        await self._driver.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Session]:
        async with self._driver.session() as session, session.transaction():
            yield session

    async def _one(self, query: sql.Query) -> Row | None:
        async with self._driver.session() as session:
            return await session.one(query)

    async def _all(self, query: sql.Query) -> list[Row]:
        async with self._driver.session() as session:
            return await session.all(query)

    async def _write(self, query: sql.Query) -> int:
        async with self._transaction() as session:
            return await session.execute(query)

    # ------------------------------------------------------------------ schema

    async def migrate(self) -> int:
        """Apply every pending migration; return the schema version."""
        async with self._driver.session() as session, session.migration_lock():
            async with session.transaction():
                await session.execute(sql.Query(VERSION_TABLE[self.dialect]))
                todo = pending(await _version(session), self._migrations)
            for migration in todo:
                async with session.transaction():
                    # Another process may have migrated meanwhile; this transaction excludes it now.
                    if await _version(session) >= migration.version:
                        continue
                    for statement in migration.statements[self.dialect]:
                        await session.execute(sql.Query(statement))
                    await session.execute(sql.record_version(migration.version, migration.name, utc_now()))
            return await _version(session)

    async def schema_version(self) -> int:
        """Return the database's schema version (0 when it has none)."""
        async with self._driver.session() as session:
            if await session.one(self._driver.version_table_exists) is None:
                return 0
            return await _version(session)

    # ------------------------------------------------------------------ connections

    async def insert_connection(self, conn: Connection, envelopes: Mapping[str, str], plain: Mapping[str, str]) -> None:
        """Add a connection with its credentials."""
        credentials = sql.insert_credentials(conn.id, envelopes, plain)
        exists = ConnectionStateError(f"connection {conn.id!r} already exists")
        try:
            async with self._transaction() as session:
                if await session.one(sql.connection_exists(conn.id)) is not None:
                    raise exists
                await session.execute(sql.insert_connection(conn))
                for query in credentials:
                    await session.execute(query)
        except DuplicateRowError:
            raise exists from None

    async def get_connection(self, connection_id: str) -> Connection | None:
        """Return the connection, or ``None``."""
        row = await self._one(sql.select_connection(connection_id))
        return None if row is None else connection_from_row(row)

    async def list_connections(
        self, *, platform: str | None = None, status: ConnectionStatus | None = None
    ) -> list[Connection]:
        """Return the connections, oldest first."""
        return [connection_from_row(row) for row in await self._all(sql.list_connections(platform, status))]

    async def update_connection(self, conn: Connection, *, last_error: str | Unset | None = UNSET) -> Connection:
        """Store the connection's mutable fields; return it as stored."""
        error = conn.last_error if isinstance(last_error, Unset) else last_error
        if await self._write(sql.update_connection(conn, error)) != 1:
            raise ConnectionStateError(f"no connection {conn.id!r}")
        return attrs.evolve(conn, last_error=error)

    async def get_credentials(self, connection_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """Return ``(envelopes, plain)`` of the connection, each envelope checked against its key id."""
        rows = await self._all(sql.select_credentials(connection_id))
        envelopes = {r["field"]: _checked(connection_id, r) for r in rows if r["envelope"] is not None}
        plain = {r["field"]: r["value"] for r in rows if r["envelope"] is None}
        return envelopes, plain

    async def replace_credentials(
        self, connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]
    ) -> None:
        """Replace every credential field of the connection."""
        credentials = sql.insert_credentials(connection_id, envelopes, plain)
        with _connection_must_exist(connection_id):
            async with self._transaction() as session:
                await _require_connection(session, connection_id)
                await session.execute(sql.delete_credentials(connection_id))
                await _forget_tokens(session, connection_id)  # obtained with the old credentials
                for query in credentials:
                    await session.execute(query)

    async def delete_credentials(self, connection_id: str) -> None:
        """Erase every credential field of the connection, and its shared tokens."""
        async with self._transaction() as session:
            await session.execute(sql.delete_credentials(connection_id))
            await _forget_tokens(session, connection_id)

    # ------------------------------------------------------------------ ledger

    async def claim_submission(self, connection_id: str, reference: str, payload_hash: str) -> tuple[Submission, bool]:
        """Return the ledger row of *reference*, creating it if it is new."""
        query = sql.claim_submission(connection_id, reference, payload_hash, utc_now())
        with _connection_must_exist(connection_id):
            async with self._transaction() as session:
                await _require_connection(session, connection_id)
                # ON CONFLICT waits for a concurrent claim of the same reference to commit;
                # the SELECT, a new statement (under READ COMMITTED where there are
                # several writers), then sees its row.
                created = await session.execute(query) == 1
                row = await session.one(sql.select_submission(connection_id, reference))
        if row is None:
            raise AssertionError(f"the ledger row of {reference!r} vanished inside its transaction")
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
        return await self._write(query) == 1

    async def get_submission(self, connection_id: str, reference: str) -> Submission | None:
        """Return the ledger row of *reference*, or ``None``."""
        row = await self._one(sql.select_submission(connection_id, reference))
        return None if row is None else submission_from_row(row)

    async def list_submissions(
        self,
        *,
        state: SubmissionState | Collection[SubmissionState] | None = None,
        connection_id: str | None = None,
    ) -> list[Submission]:
        """Return ledger rows, oldest first."""
        rows = await self._all(sql.list_submissions(states(state), connection_id))
        return [submission_from_row(row) for row in rows]

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, connection_id: str, kind: str) -> str | None:
        """Return the checkpoint of *kind*, or ``None``."""
        row = await self._one(sql.get_checkpoint(connection_id, kind))
        return None if row is None else str(row["value"])

    async def set_checkpoint(self, connection_id: str, kind: str, value: str | None) -> None:
        """Store (or with ``None`` erase) the checkpoint of *kind*."""
        query = sql.set_checkpoint(connection_id, kind, value, utc_now())
        with _connection_must_exist(connection_id):
            async with self._transaction() as session:
                if value is not None:  # erasing what is not there is a no-op, as for credentials
                    await _require_connection(session, connection_id)
                await session.execute(query)

    # ------------------------------------------------------------------ shared tokens

    async def get_tokens(self, connection_id: str, audience: str) -> dict[TokenKind, StoredToken]:
        """Return the stored tokens of *audience*, by kind."""
        rows = await self._all(sql.select_tokens(connection_id, audience))
        return {token.kind: token for token in map(token_from_row, rows)}

    async def claim_token(
        self, connection_id: str, audience: str, *, owner: str, now: datetime, lease: float
    ) -> TokenClaim:
        """Return the fresh tokens of *audience*, or the renewal lease, or who holds it until when."""
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        with _connection_must_exist(connection_id):
            async with self._transaction() as session:
                await session.lock(f"storelink.token.{connection_id}.{audience}")
                rows = await session.all(sql.select_tokens(connection_id, audience))
                tokens = {token.kind: token for token in map(token_from_row, rows)}
                access = tokens.get(TokenKind.ACCESS)
                if access is not None and access.fresh(now):
                    return TokenClaim(tokens=tokens, granted=False)
                held = await session.one(sql.select_lease(connection_id, audience))
                if held is not None and held["owner"] != owner:
                    until = _when(held["until"])
                    if now < until:
                        return TokenClaim(tokens=tokens, granted=False, busy_until=until)
                await _require_connection(session, connection_id)
                await session.execute(sql.take_lease(connection_id, audience, owner, now + timedelta(seconds=lease)))
        return TokenClaim(tokens=tokens, granted=True)

    async def save_tokens(self, tokens: Collection[StoredToken], *, owner: str) -> None:
        """Store the renewed tokens of one audience and end *owner*'s lease, in one transaction."""
        audiences = {(t.connection_id, t.audience) for t in tokens}
        if len(audiences) != 1:
            raise ValueError(f"save_tokens takes the tokens of exactly one audience, got {len(audiences)}")
        ((connection_id, audience),) = audiences
        now = utc_now()
        queries = [sql.upsert_token(token, now) for token in tokens]
        with _connection_must_exist(connection_id):
            async with self._transaction() as session:
                await session.lock(f"storelink.token.{connection_id}.{audience}")
                await _require_connection(session, connection_id)
                for query in queries:
                    await session.execute(query)
                await session.execute(sql.release_lease(connection_id, audience, owner))

    async def release_token_lease(self, connection_id: str, audience: str, *, owner: str) -> None:
        """End *owner*'s renewal lease of *audience*."""
        await self._write(sql.release_lease(connection_id, audience, owner))

    async def delete_tokens(
        self, connection_id: str, audience: str | None = None, *, envelope: str | None = None
    ) -> int:
        """Erase the connection's tokens, those of one audience, or one access token."""
        return await self._write(sql.delete_tokens(connection_id, audience, envelope))

    # ------------------------------------------------------------------ connect sessions

    async def create_connect_session(self, session: StoredConnectSession, *, limit: int, now: datetime) -> bool:
        """Purge what expired, then add *session* if its channel has fewer than *limit* live ones."""
        exists = ConnectionStateError(f"connect session {session.id!r} already exists")
        try:
            async with self._transaction() as session_db:
                await session_db.lock(f"storelink.connect.{session.channel_id}")
                await session_db.execute(sql.purge_connect_sessions(now))
                await session_db.execute(sql.purge_authorizations(now))
                row = await session_db.one(sql.count_live_sessions(session.channel_id, now))
                if row is not None and int(row["n"]) >= limit:
                    return False
                await session_db.execute(sql.insert_connect_session(session))
        except DuplicateRowError:
            raise exists from None
        return True

    async def get_connect_session(self, session_id: str) -> StoredConnectSession | None:
        """Return the connect session, or ``None``."""
        row = await self._one(sql.select_connect_session(session_id))
        return None if row is None else connect_session_from_row(row)

    async def open_connect_session(
        self, session_id: str, *, ticket_hash: str, browser_hash: str, now: datetime
    ) -> bool:
        """Spend the ticket and bind the browser, if the ticket is still unused (one winner)."""
        return await self._write(sql.open_connect_session(session_id, ticket_hash, browser_hash, now)) == 1

    async def update_connect_session(
        self, session_id: str, *, platform: str | None, store_url: str | None, browser_hash: str, now: datetime
    ) -> bool:
        """Record the platform and store URL of a live session bound to *browser_hash*."""
        return await self._write(sql.update_connect_session(session_id, platform, store_url, browser_hash, now)) == 1

    async def claim_connect_attempt(
        self, session_id: str, *, owner: str, now: datetime, lease: float
    ) -> StoredConnectSession | None:
        """Take the lease of checking the session's credentials if it is free; return the session."""
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        until = now + timedelta(seconds=lease)
        async with self._transaction() as session:
            await session.execute(sql.claim_connect_attempt(session_id, owner, now, until))
            row = await session.one(sql.select_connect_session(session_id))
        return None if row is None else connect_session_from_row(row)

    async def release_connect_attempt(self, session_id: str, *, owner: str) -> None:
        """End *owner*'s lease of checking the session's credentials."""
        await self._write(sql.release_connect_attempt(session_id, owner))

    async def complete_connect_session(self, session_id: str, *, connection_id: str, now: datetime) -> bool:
        """Spend the session, once."""
        return await self._write(sql.complete_connect_session(session_id, connection_id, now)) == 1

    async def begin_authorization(self, authorization: StoredAuthorization, *, limit: int, now: datetime) -> bool:
        """Purge expired states and the owner's earlier ones, then add *authorization* if there is room."""
        async with self._transaction() as session:
            await session.lock("storelink.oauth-states")
            await session.execute(sql.purge_authorizations(now))
            if authorization.owner is not None:
                await session.execute(sql.delete_owner_authorizations(authorization.owner))
            row = await session.one(sql.count_live_authorizations(now))
            if row is not None and int(row["n"]) >= limit:
                return False
            await session.execute(sql.insert_authorization(authorization))
        return True

    async def get_authorization(self, state_hash: str) -> StoredAuthorization | None:
        """Return the OAuth state with this hash, or ``None``."""
        row = await self._one(sql.select_authorization(state_hash))
        return None if row is None else authorization_from_row(row)

    async def deliver_authorization(self, state_hash: str, *, credentials: str, now: datetime) -> bool:
        """Keep the sealed credentials if the state has none yet and is unused and unexpired."""
        return await self._write(sql.deliver_authorization(state_hash, credentials, now)) == 1

    async def claim_authorization(self, state_hash: str, *, now: datetime) -> bool:
        """Spend the OAuth state if it is unused and unexpired (one winner)."""
        return await self._write(sql.claim_authorization(state_hash, now)) == 1

    async def purge_connect(self, now: datetime) -> int:
        """Erase the connect sessions and OAuth states expired at *now*."""
        async with self._transaction() as session:
            sessions = await session.execute(sql.purge_connect_sessions(now))
            states = await session.execute(sql.purge_authorizations(now))
        return sessions + states

    # ------------------------------------------------------------------ key rotation

    async def count_by_key(self) -> dict[str, int]:
        """Return how many sealed credentials each key id sealed."""
        return {r["key_id"]: int(r["n"]) for r in await self._all(sql.COUNT_BY_KEY)}

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        """Return a batch of sealed credentials after *after*, each checked against its key id."""
        query = sql.iter_envelopes(after, limit, exclude_key)
        rows = await self._all(query)
        for row in rows:
            _checked(row["connection_id"], row)
        return [EnvelopeRow(**row) for row in rows]

    async def swap_envelope(self, connection_id: str, field: str, old: str, new: str) -> bool:
        """Replace one envelope if it is still *old*."""
        return await self._write(sql.swap_envelope(connection_id, field, old, new)) == 1
