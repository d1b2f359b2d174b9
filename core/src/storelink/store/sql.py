"""The statements both backends run, built once so SQLite and PostgreSQL behave alike.

Each builder returns a :class:`Query`: SQL text with ``?`` placeholders and its
parameters as Python values (``datetime``, ``dict`` for JSON, ``str``, ``int``,
``None``). Each backend's driver (:mod:`storelink.store.sqlstore`) adapts the
placeholders and the values to its database; the SQL is the same on both (the schema differs only in column types, see
:mod:`storelink.store.migrations`).
"""

# ruff: noqa: S608  # statements are built from constant SQL only; every value is a placeholder

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from storelink.errors import VaultError
from storelink.models import Connection, ConnectionStatus
from storelink.store.base import SubmissionState, check_fields
from storelink.vault.envelope import key_id

__all__ = ["Query"]

_CONNECTION_COLUMNS = (
    "id, platform, store_url, status, settings, label, last_error, credentials_expire_at, created_at, updated_at"
)
_SUBMISSION_COLUMNS = (
    "connection_id, reference, payload_hash, state, platform_order_id, order_json, attempts, last_error, "
    "created_at, updated_at"
)


class Query(NamedTuple):
    """A statement with ``?`` placeholders and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


def _in(column: str, values: list[str]) -> str:
    # An empty IN () is valid in SQLite but not in PostgreSQL; it matches nothing.
    return f"{column} IN ({', '.join('?' for _ in values)})" if values else "1 = 0"


# ---------------------------------------------------------------------- schema version

SCHEMA_VERSION = Query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")


def record_version(version: int, name: str, now: datetime) -> Query:
    """Record that migration *version* was applied."""
    return Query("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)", (version, name, now))


# ---------------------------------------------------------------------- connections


def connection_exists(connection_id: str) -> Query:
    """Select one row if the connection exists."""
    return Query("SELECT 1 AS found FROM connections WHERE id = ?", (connection_id,))


def insert_connection(conn: Connection) -> Query:
    """Insert the connection row."""
    return Query(
        f"INSERT INTO connections ({_CONNECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conn.id,
            conn.platform,
            conn.store_url.origin,
            conn.status.value,
            dict(conn.settings),
            conn.label,
            conn.last_error,
            conn.credentials_expire_at,
            conn.created_at,
            conn.updated_at,
        ),
    )


def select_connection(connection_id: str) -> Query:
    """Select one connection by id."""
    return Query(f"SELECT {_CONNECTION_COLUMNS} FROM connections WHERE id = ?", (connection_id,))


def list_connections(platform: str | None, status: ConnectionStatus | None) -> Query:
    """Select connections, oldest first, filtered by platform and status."""
    where: list[str] = []
    params: list[Any] = []
    if platform is not None:
        where.append("platform = ?")
        params.append(platform)
    if status is not None:
        where.append("status = ?")
        params.append(ConnectionStatus(status).value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return Query(f"SELECT {_CONNECTION_COLUMNS} FROM connections{clause} ORDER BY created_at, id", tuple(params))


def update_connection(conn: Connection, last_error: str | None) -> Query:
    """Update every mutable column of the connection (not its platform or creation time)."""
    return Query(
        "UPDATE connections SET store_url = ?, status = ?, settings = ?, label = ?, last_error = ?, "
        "credentials_expire_at = ?, updated_at = ? WHERE id = ?",
        (
            conn.store_url.origin,
            conn.status.value,
            dict(conn.settings),
            conn.label,
            last_error,
            conn.credentials_expire_at,
            conn.updated_at,
            conn.id,
        ),
    )


# ---------------------------------------------------------------------- credentials


def select_credentials(connection_id: str) -> Query:
    """Select the credential fields of a connection."""
    return Query("SELECT field, envelope, value FROM credentials WHERE connection_id = ?", (connection_id,))


def delete_credentials(connection_id: str) -> Query:
    """Delete every credential field of a connection."""
    return Query("DELETE FROM credentials WHERE connection_id = ?", (connection_id,))


def insert_credentials(connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]) -> list[Query]:
    """Insert credential fields: sealed ones with their key id, the others in clear.

    :raises ValueError: A field is both sealed and clear, or an envelope is malformed.
    """
    check_fields(envelopes, plain)
    sql = "INSERT INTO credentials (connection_id, field, envelope, key_id, value) VALUES (?, ?, ?, ?, ?)"
    queries = []
    for name, envelope in sorted(envelopes.items()):
        try:
            kid = key_id(envelope)
        except VaultError as exc:
            raise ValueError(f"credential field {name!r}: {exc.message}") from None
        queries.append(Query(sql, (connection_id, name, envelope, kid, None)))
    queries.extend(Query(sql, (connection_id, name, None, None, value)) for name, value in sorted(plain.items()))
    return queries


# ---------------------------------------------------------------------- ledger


def claim_submission(connection_id: str, reference: str, payload_hash: str, now: datetime) -> Query:
    """Insert a ``pending`` ledger row unless the reference has one already."""
    return Query(
        "INSERT INTO order_submissions (connection_id, reference, payload_hash, state, attempts, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (connection_id, reference) DO NOTHING",
        (connection_id, reference, payload_hash, SubmissionState.PENDING.value, now, now),
    )


def select_submission(connection_id: str, reference: str) -> Query:
    """Select one ledger row."""
    return Query(
        f"SELECT {_SUBMISSION_COLUMNS} FROM order_submissions WHERE connection_id = ? AND reference = ?",
        (connection_id, reference),
    )


def update_submission(
    connection_id: str,
    reference: str,
    *,
    state: SubmissionState,
    platform_order_id: str | None,
    last_error: str | None,
    order_json: str | None,
    expect: list[str] | None,
    now: datetime,
) -> Query:
    """Move a ledger row to *state*, if it is in one of the *expect* states."""
    state = SubmissionState(state)
    sql = (
        "UPDATE order_submissions SET state = ?, platform_order_id = COALESCE(?, platform_order_id), "
        "order_json = COALESCE(?, order_json), last_error = ?, attempts = attempts + ?, updated_at = ? "
        "WHERE connection_id = ? AND reference = ?"
    )
    params: list[Any] = [
        state.value,
        platform_order_id,
        order_json,
        last_error,
        1 if state is SubmissionState.SENDING else 0,
        now,
        connection_id,
        reference,
    ]
    if expect is not None:
        sql += f" AND {_in('state', expect)}"
        params.extend(expect)
    return Query(sql, tuple(params))


def list_submissions(states: list[str] | None, connection_id: str | None) -> Query:
    """Select ledger rows, oldest first, filtered by state and connection."""
    where: list[str] = []
    params: list[Any] = []
    if states is not None:
        where.append(_in("state", states))
        params.extend(states)
    if connection_id is not None:
        where.append("connection_id = ?")
        params.append(connection_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return Query(
        f"SELECT {_SUBMISSION_COLUMNS} FROM order_submissions{clause} ORDER BY created_at, connection_id, reference",
        tuple(params),
    )


# ---------------------------------------------------------------------- checkpoints


def get_checkpoint(connection_id: str, kind: str) -> Query:
    """Select one checkpoint value."""
    return Query("SELECT value FROM sync_checkpoints WHERE connection_id = ? AND kind = ?", (connection_id, kind))


def set_checkpoint(connection_id: str, kind: str, value: str | None, now: datetime) -> Query:
    """Insert or replace a checkpoint, or delete it when *value* is ``None``."""
    if value is None:
        return Query("DELETE FROM sync_checkpoints WHERE connection_id = ? AND kind = ?", (connection_id, kind))
    return Query(
        "INSERT INTO sync_checkpoints (connection_id, kind, value, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (connection_id, kind) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (connection_id, kind, value, now),
    )


# ---------------------------------------------------------------------- key rotation

COUNT_BY_KEY = Query("SELECT key_id, COUNT(*) AS n FROM credentials WHERE key_id IS NOT NULL GROUP BY key_id")


def iter_envelopes(after: tuple[str, str] | None, limit: int, exclude_key: str | None) -> Query:
    """Select a batch of sealed credentials with their platform, in key order."""
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    where = ["c.envelope IS NOT NULL"]
    params: list[Any] = []
    if after is not None:
        where.append("(c.connection_id, c.field) > (?, ?)")
        params.extend(after)
    if exclude_key is not None:
        where.append("c.key_id <> ?")
        params.append(exclude_key)
    return Query(
        "SELECT c.connection_id, n.platform, c.field, c.key_id, c.envelope FROM credentials c "
        f"JOIN connections n ON n.id = c.connection_id WHERE {' AND '.join(where)} "
        "ORDER BY c.connection_id, c.field LIMIT ?",
        (*params, limit),
    )


def swap_envelope(connection_id: str, field: str, old: str, new: str) -> Query:
    """Replace one envelope, only if it is still *old* (compare-and-swap).

    :raises ValueError: *new* is not a well-formed envelope.
    """
    try:
        kid = key_id(new)
    except VaultError as exc:
        raise ValueError(f"new envelope: {exc.message}") from None
    return Query(
        "UPDATE credentials SET envelope = ?, key_id = ? WHERE connection_id = ? AND field = ? AND envelope = ?",
        (new, kid, connection_id, field, old),
    )
