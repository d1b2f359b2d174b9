"""The statements both backends run, built once so SQLite and PostgreSQL behave alike.

Each builder returns a :class:`Query`: SQL text with ``?`` placeholders and its
parameters as Python values (``datetime``, ``dict`` for JSON, ``str``, ``int``,
``None``). Each backend's driver (:mod:`storelink.store.sqlstore`) adapts the
placeholders and the values to its database; the SQL is the same on both (the schema differs only in column types, see
:mod:`storelink.store.migrations`).
"""

# ruff: noqa: S608  # statements are built from constant SQL only; every value is a placeholder

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from storelink.errors import VaultError
from storelink.models import Connection, ConnectionStatus
from storelink.store.base import (
    StoredAuthorization,
    StoredConnectSession,
    StoredToken,
    SubmissionState,
    TokenKind,
    check_fields,
)
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
            conn.store_url.url,
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
            conn.store_url.url,
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
    """Select the credential fields of a connection (sealed ones with their key id)."""
    return Query("SELECT field, envelope, key_id, value FROM credentials WHERE connection_id = ?", (connection_id,))


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


# ---------------------------------------------------------------------- shared tokens

_TOKEN_COLUMNS = "connection_id, audience, kind, envelope, key_id, refresh_at, expires_at"  # noqa: S105  # column names, not a secret


def select_tokens(connection_id: str, audience: str) -> Query:
    """Select the stored tokens of one audience."""
    return Query(
        f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE connection_id = ? AND audience = ?", (connection_id, audience)
    )


def select_lease(connection_id: str, audience: str) -> Query:
    """Select the renewal lease of one audience."""
    return Query(
        "SELECT owner, until FROM token_leases WHERE connection_id = ? AND audience = ?", (connection_id, audience)
    )


def take_lease(connection_id: str, audience: str, owner: str, until: datetime) -> Query:
    """Give the renewal lease of one audience to *owner* (the caller checked it is free)."""
    return Query(
        "INSERT INTO token_leases (connection_id, audience, owner, until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (connection_id, audience) DO UPDATE SET owner = excluded.owner, until = excluded.until",
        (connection_id, audience, owner, until),
    )


def release_lease(connection_id: str, audience: str, owner: str) -> Query:
    """End *owner*'s lease of one audience (a lease someone else took over stays)."""
    return Query(
        "DELETE FROM token_leases WHERE connection_id = ? AND audience = ? AND owner = ?",
        (connection_id, audience, owner),
    )


def upsert_token(token: StoredToken, now: datetime) -> Query:
    """Insert or replace one stored token.

    :raises ValueError: Its envelope is malformed.
    """
    try:
        kid = key_id(token.envelope)
    except VaultError as exc:
        raise ValueError(f"{token.kind.value} token of audience {token.audience!r}: {exc.message}") from None
    return Query(
        f"INSERT INTO tokens ({_TOKEN_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (connection_id, audience, kind) DO UPDATE SET envelope = excluded.envelope, "
        "key_id = excluded.key_id, refresh_at = excluded.refresh_at, expires_at = excluded.expires_at, "
        "updated_at = excluded.updated_at",
        (
            token.connection_id,
            token.audience,
            token.kind.value,
            token.envelope,
            kid,
            token.refresh_at,
            token.expires_at,
            now,
        ),
    )


def delete_tokens(connection_id: str, audience: str | None, envelope: str | None) -> Query:
    """Delete the tokens of a connection, of one audience, or one access token by its envelope."""
    sql = "DELETE FROM tokens WHERE connection_id = ?"
    params: list[Any] = [connection_id]
    if audience is not None:
        sql += " AND audience = ?"
        params.append(audience)
    if envelope is not None:
        if audience is None:
            raise ValueError("erasing one token by its envelope needs its audience")
        sql += " AND kind = ? AND envelope = ?"
        params.extend((TokenKind.ACCESS.value, envelope))
    return Query(sql, tuple(params))


def delete_leases(connection_id: str) -> Query:
    """Delete every renewal lease of a connection."""
    return Query("DELETE FROM token_leases WHERE connection_id = ?", (connection_id,))


# ---------------------------------------------------------------------- connect sessions

_SESSION_COLUMNS = (
    "id, channel_id, redirect_uri, state, platforms, platform, store_url, ticket_hash, browser_hash, created_at, "
    "expires_at, opened_at, attempt_owner, attempt_until, completed_at, connection_id"
)
_AUTHORIZATION_COLUMNS = (
    "state_hash, platform, store_url, redirect_uri, authorization_origin, code_verifier, owner, browser_hash, "
    "expires_at, used_at, credentials"
)
#: A session that can still be used at the time given as the parameter.
_LIVE = "expires_at > ? AND completed_at IS NULL"


def purge_connect_sessions(now: datetime) -> Query:
    """Delete the connect sessions expired at *now*."""
    return Query("DELETE FROM connect_sessions WHERE expires_at <= ?", (now,))


def purge_authorizations(now: datetime) -> Query:
    """Delete the OAuth states expired at *now*."""
    return Query("DELETE FROM oauth_states WHERE expires_at <= ?", (now,))


def count_live_sessions(channel_id: str, now: datetime) -> Query:
    """Count the channel's connect sessions that are live at *now*."""
    return Query(f"SELECT COUNT(*) AS n FROM connect_sessions WHERE channel_id = ? AND {_LIVE}", (channel_id, now))


def insert_connect_session(session: StoredConnectSession) -> Query:
    """Insert a new connect session (not opened, not spent)."""
    return Query(
        "INSERT INTO connect_sessions (id, channel_id, redirect_uri, state, platforms, platform, store_url, "
        "ticket_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session.id,
            session.channel_id,
            session.redirect_uri,
            session.state,
            json.dumps(list(session.platforms)),
            session.platform,
            session.store_url,
            session.ticket_hash,
            session.created_at,
            session.expires_at,
        ),
    )


def select_connect_session(session_id: str) -> Query:
    """Select one connect session."""
    return Query(f"SELECT {_SESSION_COLUMNS} FROM connect_sessions WHERE id = ?", (session_id,))


def open_connect_session(session_id: str, ticket_hash: str, browser_hash: str, now: datetime) -> Query:
    """Spend the ticket and bind the browser, only if the ticket is unused and the session live."""
    return Query(
        "UPDATE connect_sessions SET ticket_hash = NULL, opened_at = ?, browser_hash = ? "
        f"WHERE id = ? AND ticket_hash = ? AND opened_at IS NULL AND {_LIVE}",
        (now, browser_hash, session_id, ticket_hash, now),
    )


def update_connect_session(
    session_id: str, platform: str | None, store_url: str | None, browser_hash: str, now: datetime
) -> Query:
    """Record the platform and store URL of a live session bound to *browser_hash*."""
    return Query(
        f"UPDATE connect_sessions SET platform = ?, store_url = ? WHERE id = ? AND browser_hash = ? AND {_LIVE}",
        (platform, store_url, session_id, browser_hash, now),
    )


def claim_connect_attempt(session_id: str, owner: str, now: datetime, until: datetime) -> Query:
    """Give *owner* the lease of checking a live session's credentials, if no one else holds it."""
    return Query(
        "UPDATE connect_sessions SET attempt_owner = ?, attempt_until = ? "
        f"WHERE id = ? AND {_LIVE} AND (attempt_owner IS NULL OR attempt_owner = ? OR attempt_until <= ?)",
        (owner, until, session_id, now, owner, now),
    )


def release_connect_attempt(session_id: str, owner: str) -> Query:
    """End *owner*'s lease of checking a session's credentials."""
    return Query(
        "UPDATE connect_sessions SET attempt_owner = NULL, attempt_until = NULL WHERE id = ? AND attempt_owner = ?",
        (session_id, owner),
    )


def complete_connect_session(session_id: str, connection_id: str, now: datetime) -> Query:
    """Spend a session that is not spent yet, recording the connection it made."""
    return Query(
        "UPDATE connect_sessions SET completed_at = ?, connection_id = ?, attempt_owner = NULL, attempt_until = NULL "
        "WHERE id = ? AND completed_at IS NULL",
        (now, connection_id, session_id),
    )


def count_live_authorizations(now: datetime) -> Query:
    """Count the OAuth states live at *now*."""
    return Query("SELECT COUNT(*) AS n FROM oauth_states WHERE expires_at > ? AND used_at IS NULL", (now,))


def delete_owner_authorizations(owner: str) -> Query:
    """Delete every OAuth state of one owner (a newer one replaces them)."""
    return Query("DELETE FROM oauth_states WHERE owner = ?", (owner,))


def insert_authorization(authorization: StoredAuthorization) -> Query:
    """Insert a new OAuth state."""
    return Query(
        f"INSERT INTO oauth_states ({_AUTHORIZATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            authorization.state_hash,
            authorization.platform,
            authorization.store_url,
            authorization.redirect_uri,
            authorization.authorization_origin,
            authorization.code_verifier,
            authorization.owner,
            authorization.browser_hash,
            authorization.expires_at,
            authorization.used_at,
            authorization.credentials,
        ),
    )


def select_authorization(state_hash: str) -> Query:
    """Select one OAuth state by the hash of its state."""
    return Query(f"SELECT {_AUTHORIZATION_COLUMNS} FROM oauth_states WHERE state_hash = ?", (state_hash,))


def claim_authorization(state_hash: str, now: datetime) -> Query:
    """Spend an OAuth state, only if it is unused and unexpired."""
    return Query(
        "UPDATE oauth_states SET used_at = ? WHERE state_hash = ? AND used_at IS NULL AND expires_at > ?",
        (now, state_hash, now),
    )


def deliver_authorization(state_hash: str, credentials: str, now: datetime) -> Query:
    """Keep an approval flow's sealed credentials, only if none came yet and the state is unused and unexpired."""
    return Query(
        "UPDATE oauth_states SET credentials = ? "
        "WHERE state_hash = ? AND credentials IS NULL AND used_at IS NULL AND expires_at > ?",
        (credentials, state_hash, now),
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
