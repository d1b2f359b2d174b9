"""The :class:`ConnectionStore` protocol and the records it keeps besides connections.

A store keeps six things: connections (:class:`~storelink.models.Connection`), their
credentials (secret fields as vault envelopes, other fields in clear), the order
submission ledger (:class:`Submission`), sync checkpoints, the tokens processes
share (:class:`StoredToken`, with the lease of whoever renews them), and the connect
flows under way (:class:`StoredConnectSession`, :class:`StoredAuthorization`), so every
web process serves the same flow. It never sees a key or a clear secret: sealing and
opening is the vault's job, done by the caller.

Every method is a coroutine and is safe to call from many tasks at once. Each one is a
single transaction: it happens entirely or not at all.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import attrs
from attrs.validators import ge, instance_of

from storelink.models import Connection, ConnectionStatus, StoreURL

__all__ = [
    "UNSET",
    "ConnectionStore",
    "EnvelopeRow",
    "StoredAuthorization",
    "StoredConnectSession",
    "StoredToken",
    "Submission",
    "SubmissionState",
    "TokenClaim",
    "TokenKind",
    "Unset",
]


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = enum.auto()


#: "Keep the value that is there": the default of optional update arguments.
UNSET = Unset.UNSET


class SubmissionState(enum.StrEnum):
    """Where an order submission stands in the ledger.

    ``pending``: claimed, not sent yet. ``sending``: a request is (or was) in flight.
    ``unknown``: the request may have created the order; reconcile by reference before
    sending again. ``created``: the platform holds the order (``platform_order_id``).
    ``failed``: the platform refused it; it made no order.
    """

    PENDING = "pending"
    SENDING = "sending"
    UNKNOWN = "unknown"
    CREATED = "created"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class Submission:
    """One row of the idempotency ledger: a channel's order, by its reference.

    :param attempts: How many times the order moved to ``sending``.
    :param order_json: The order as the platform returned it, as JSON text, once created.
    """

    connection_id: str
    reference: str
    payload_hash: str
    state: SubmissionState = attrs.field(converter=SubmissionState)
    platform_order_id: str | None = None
    order_json: str | None = None
    attempts: int = attrs.field(default=0, validator=[instance_of(int), ge(0)])
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class EnvelopeRow:
    """One sealed credential, with what its associated data needs (for rewrapping)."""

    connection_id: str
    platform: str
    field: str
    key_id: str
    envelope: str = attrs.field(repr=False)

    @property
    def position(self) -> tuple[str, str]:
        """Where this row sits in :meth:`ConnectionStore.iter_envelopes` order."""
        return (self.connection_id, self.field)


class TokenKind(enum.StrEnum):
    """Which token of an audience a :class:`StoredToken` is."""

    ACCESS = "access"
    REFRESH = "refresh"


@attrs.frozen(kw_only=True)
class StoredToken:
    """One sealed token of a connection, shared by every process that uses the store.

    :param envelope: The token, sealed by the vault for this connection, audience, kind
        and expiry.
    :param refresh_at: When it is due for renewal (UTC).
    :param expires_at: When the platform stops accepting it (UTC).
    """

    connection_id: str
    audience: str
    kind: TokenKind = attrs.field(converter=TokenKind)
    envelope: str = attrs.field(repr=False)
    key_id: str
    refresh_at: datetime
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        """Whether it is not yet due for renewal at *now*."""
        return now < self.refresh_at


@attrs.frozen(kw_only=True)
class TokenClaim:
    """What :meth:`ConnectionStore.claim_token` found.

    :param tokens: The stored tokens of the audience, by kind (due or not).
    :param granted: The caller holds the renewal lease now: renew, then
        :meth:`~ConnectionStore.save_tokens` (or :meth:`~ConnectionStore.release_token_lease`).
    :param busy_until: When another holder's lease ends, if one is renewing.
    """

    tokens: Mapping[TokenKind, StoredToken]
    granted: bool
    busy_until: datetime | None = None


@attrs.frozen(kw_only=True)
class StoredConnectSession:
    """One connect session as the store keeps it (see :mod:`storelink.connect.security`).

    :param channel_id: The channel that started it.
    :param state: The channel's opaque state, returned to it on success.
    :param platforms: The platform slugs offered, in display order.
    :param platform: The platform chosen, once chosen.
    :param store_url: The normalised store URL, once accepted.
    :param ticket_hash: The sha256 of the link's one-time ticket, until the link is opened.
    :param browser_hash: The sha256 of the browser cookie it is bound to, once opened.
    :param attempt_owner: The process checking its credentials now, if one is.
    :param attempt_until: When that check's lease ends.
    :param completed_at: When it made its connection (it is spent).
    :param connection_id: The connection it made.
    """

    id: str
    channel_id: str
    redirect_uri: str
    state: str = attrs.field(repr=False)
    platforms: tuple[str, ...]
    platform: str | None = None
    store_url: str | None = None
    ticket_hash: str | None = attrs.field(default=None, repr=False)
    browser_hash: str | None = attrs.field(default=None, repr=False)
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None = None
    attempt_owner: str | None = None
    attempt_until: datetime | None = None
    completed_at: datetime | None = None
    connection_id: str | None = None


@attrs.frozen(kw_only=True)
class StoredAuthorization:
    """One OAuth authorization under way, by the sha256 of its state (the state is never stored).

    :param authorization_origin: The origin of the platform's authorization URL (the URL
        itself carries the state, so it is not kept).
    :param code_verifier: The PKCE verifier sealed by the vault for this row, or ``None``.
    :param owner: The connect session that started it, or ``None``.
    :param browser_hash: The sha256 of the browser cookie the callback must come with.
    :param used_at: When its callback spent it.
    :param credentials: The credentials an approval flow's platform POSTed, sealed by
        the vault for this row, or ``None`` until they arrive.
    """

    state_hash: str = attrs.field(repr=False)
    platform: str
    store_url: str
    redirect_uri: str
    authorization_origin: str
    code_verifier: str | None = attrs.field(default=None, repr=False)
    owner: str | None = None
    browser_hash: str | None = attrs.field(default=None, repr=False)
    expires_at: datetime
    used_at: datetime | None = None
    credentials: str | None = attrs.field(default=None, repr=False)


class ConnectionStore(Protocol):
    """Where connections, their sealed credentials, the ledger and checkpoints live.

    Get one with :func:`storelink.store.open_store`; call :meth:`migrate` before
    anything else, and :meth:`close` at the end (or use ``async with``).
    """

    async def migrate(self) -> int:
        """Create the schema or upgrade it to the latest version; return that version.

        Safe to run from several processes at once; a failing migration leaves the
        database as it was.

        :raises ConfigurationError: The database is newer than this storelink.
        """

    async def schema_version(self) -> int:
        """Return the schema version of the database (0 if it has none yet)."""

    async def close(self) -> None:
        """Release the database connections. Idempotent."""

    async def __aenter__(self) -> ConnectionStore:
        """Return the store."""

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the store."""

    # ------------------------------------------------------------------ connections

    async def insert_connection(self, conn: Connection, envelopes: Mapping[str, str], plain: Mapping[str, str]) -> None:
        """Add a connection with its credentials.

        :param conn: The connection.
        :param envelopes: Sealed secret fields, by field name.
        :param plain: Non-secret credential fields, by field name.
        :raises ConnectionStateError: A connection with this id exists.
        :raises ValueError: A field is in both *envelopes* and *plain*, or an envelope
            is malformed.
        """

    async def get_connection(self, connection_id: str) -> Connection | None:
        """Return the connection, or ``None`` if there is none with this id."""

    async def list_connections(
        self, *, platform: str | None = None, status: ConnectionStatus | None = None
    ) -> list[Connection]:
        """Return the connections, oldest first, optionally only of one platform or status."""

    async def update_connection(self, conn: Connection, *, last_error: str | Unset | None = UNSET) -> Connection:
        """Store *conn*'s status, store URL, settings, label, expiry, error and ``updated_at``.

        :param last_error: Replaces ``conn.last_error`` when given.
        :return: The connection as stored.
        :raises ConnectionStateError: There is no connection with this id.
        """

    async def get_credentials(self, connection_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """Return ``(envelopes, plain)``: the sealed and the clear fields, by field name.

        Both are empty for a connection without credentials (or no connection).

        :raises VaultError: A sealed field's stored key id is not the one inside its
            envelope (:func:`storelink.vault.envelope.stored_key_id`): the row was altered.
        """

    async def replace_credentials(
        self, connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]
    ) -> None:
        """Replace every credential field of the connection at once, erasing its shared tokens.

        :raises ConnectionStateError: There is no connection with this id.
        :raises ValueError: As :meth:`insert_connection`.
        """

    async def delete_credentials(self, connection_id: str) -> None:
        """Erase every credential field of the connection, and its shared tokens."""

    # ------------------------------------------------------------------ ledger

    async def claim_submission(self, connection_id: str, reference: str, payload_hash: str) -> tuple[Submission, bool]:
        """Return the ledger row of *reference*, creating it ``pending`` if it is new.

        Atomic: of any number of concurrent claims of one reference, exactly one
        returns ``created=True``, and all return the same row. The row's
        ``payload_hash`` is the first claimer's: compare it with yours.

        :return: ``(submission, created)``.
        :raises ConnectionStateError: There is no connection with this id.
        """

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
        """Move a submission to *state*, if it is in *expect_state* (compare-and-swap).

        ``platform_order_id`` and ``order_json`` are kept when given as ``None``;
        ``last_error`` is always replaced (``None`` clears it). Moving to ``sending``
        counts an attempt.

        :param expect_state: The state (or states) the row must be in; any state when
            ``None``.
        :return: Whether the row was updated (``False``: no such row, or another
            state).
        """

    async def get_submission(self, connection_id: str, reference: str) -> Submission | None:
        """Return the ledger row of *reference*, or ``None``."""

    async def list_submissions(
        self,
        *,
        state: SubmissionState | Collection[SubmissionState] | None = None,
        connection_id: str | None = None,
    ) -> list[Submission]:
        """Return ledger rows, oldest first, optionally only in *state* or of one connection."""

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, connection_id: str, kind: str) -> str | None:
        """Return the sync checkpoint of *kind* (``products``, ``orders``...), or ``None``."""

    async def set_checkpoint(self, connection_id: str, kind: str, value: str | None) -> None:
        """Store the sync checkpoint of *kind*; ``None`` erases it.

        :raises ConnectionStateError: There is no connection with this id.
        """

    # ------------------------------------------------------------------ shared tokens

    async def get_tokens(self, connection_id: str, audience: str) -> dict[TokenKind, StoredToken]:
        """Return the stored tokens of *audience*, by kind (none for an unknown connection)."""

    async def claim_token(
        self, connection_id: str, audience: str, *, owner: str, now: datetime, lease: float
    ) -> TokenClaim:
        """Return the tokens of *audience*, or the lease to renew them if they are due.

        One transaction, serialised with every other claim of this connection and
        audience (PostgreSQL: an advisory lock; SQLite: the write lock): if the access
        token is fresh at *now*, it is returned and no lease is taken; else, if another
        owner's lease has not ended, ``busy_until`` says when it ends; else *owner*
        takes the lease until *now* + *lease* seconds (``granted``).

        :param owner: Who asks: unique per process and connection runtime.
        :param now: The caller's wall clock (UTC).
        :param lease: Seconds the lease lasts; a holder that dies blocks no one longer.
        :raises ConnectionStateError: There is no connection with this id.
        """

    async def save_tokens(self, tokens: Collection[StoredToken], *, owner: str) -> None:
        """Store the renewed tokens of one audience at once, and end *owner*'s lease.

        Atomic, so a rotated refresh token is stored together with its access token
        before either is used.

        :raises ConnectionStateError: There is no connection with this id.
        :raises ValueError: The tokens belong to several audiences, or an envelope is
            malformed.
        """

    async def release_token_lease(self, connection_id: str, audience: str, *, owner: str) -> None:
        """End *owner*'s renewal lease of *audience* without storing a token (the renewal failed)."""

    async def delete_tokens(
        self, connection_id: str, audience: str | None = None, *, envelope: str | None = None
    ) -> int:
        """Erase stored tokens: every token of the connection, of one *audience*, or one token.

        :param envelope: Erase only the access token of *audience* sealed as this
            envelope (it was rejected), not a newer one another process stored.
        :return: How many tokens were erased.
        """

    # ------------------------------------------------------------------ connect sessions

    async def create_connect_session(self, session: StoredConnectSession, *, limit: int, now: datetime) -> bool:
        """Erase every expired connect session and OAuth state, then add *session* if its channel has room.

        One transaction, serialised with every other creation for the channel, so the
        limit holds across processes.

        :param limit: Most live (unexpired, unspent) sessions the channel may have.
        :return: Whether it was added (``False``: the channel has *limit* live sessions).
        :raises ConnectionStateError: A session with this id exists.
        """

    async def get_connect_session(self, session_id: str) -> StoredConnectSession | None:
        """Return the connect session, or ``None`` if there is none with this id."""

    async def open_connect_session(
        self, session_id: str, *, ticket_hash: str, browser_hash: str, now: datetime
    ) -> bool:
        """Spend the session's ticket and bind it to a browser, if the ticket is still unused.

        A conditional update (the ticket hash must still be *ticket_hash*): of any
        number of concurrent opens, in any processes, exactly one returns ``True``.

        :return: Whether this call opened it (``False``: used, expired, spent or gone).
        """

    async def update_connect_session(
        self, session_id: str, *, platform: str | None, store_url: str | None, browser_hash: str, now: datetime
    ) -> bool:
        """Record the platform and store URL chosen, if the session is live, unspent and bound to *browser_hash*.

        :return: Whether it was updated.
        """

    async def claim_connect_attempt(
        self, session_id: str, *, owner: str, now: datetime, lease: float
    ) -> StoredConnectSession | None:
        """Take the lease of checking the session's credentials, unless another process holds it.

        :param lease: Seconds the lease lasts; a holder that dies blocks no one longer.
        :return: The session as it is after the attempt (``attempt_owner == owner`` when
            the lease was taken), or ``None`` if it is gone.
        """

    async def release_connect_attempt(self, session_id: str, *, owner: str) -> None:
        """End *owner*'s lease of checking the session's credentials (the check failed)."""

    async def complete_connect_session(self, session_id: str, *, connection_id: str, now: datetime) -> bool:
        """Spend the session: it made *connection_id*. Ends any check's lease.

        :return: Whether this call spent it (``False``: it was spent already, or is gone).
        """

    async def begin_authorization(self, authorization: StoredAuthorization, *, limit: int, now: datetime) -> bool:
        """Erase expired OAuth states and the owner's earlier ones, then add *authorization* if there is room.

        One transaction, serialised with every other beginning, so the limit holds
        across processes; only the newest authorization of an owner stays usable.

        :param limit: Most live OAuth states at once.
        :return: Whether it was added (``False``: *limit* states are live).
        """

    async def get_authorization(self, state_hash: str) -> StoredAuthorization | None:
        """Return the OAuth state with this hash, or ``None``."""

    async def claim_authorization(self, state_hash: str, *, now: datetime) -> bool:
        """Spend the OAuth state, if it is unused and unexpired (a conditional update).

        :return: Whether this call spent it: exactly one of any concurrent claims does.
        """

    async def deliver_authorization(self, state_hash: str, *, credentials: str, now: datetime) -> bool:
        """Keep an approval flow's sealed *credentials* in the OAuth state (a conditional update).

        Only into a state that is unused, unexpired and has none yet.

        :return: Whether this call kept them: exactly one of any concurrent deliveries does.
        """

    async def purge_connect(self, now: datetime) -> int:
        """Erase the connect sessions and OAuth states expired at *now*; return how many."""

    # ------------------------------------------------------------------ key rotation

    async def count_by_key(self) -> dict[str, int]:
        """Return how many sealed credentials each key id sealed, by the stored key id column.

        A quick count that trusts the column; :func:`storelink.vault.list_keys` counts by
        the key id inside each envelope and checks the column against it.
        """

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        """Return up to *limit* sealed credentials, in ``(connection_id, field)`` order.

        :param after: The :attr:`EnvelopeRow.position` of the last row of the previous
            batch; start at the beginning when ``None``.
        :param exclude_key: Leave out rows sealed with this key id.
        :raises VaultError: As :meth:`get_credentials`, for a row of the batch.
        """

    async def swap_envelope(self, connection_id: str, field: str, old: str, new: str) -> bool:
        """Replace the envelope of one field with *new*, only if it is still *old*.

        :return: Whether it was replaced (``False``: the field changed meanwhile, or is gone).
        """


# ---------------------------------------------------------------------- row helpers shared by backends


def utc_now() -> datetime:
    """Return the current time, in UTC."""
    return datetime.now(UTC)


def check_fields(envelopes: Mapping[str, str], plain: Mapping[str, str]) -> None:
    """Refuse a field that is both sealed and clear.

    :raises ValueError: A field name is in both mappings.
    """
    both = sorted(set(envelopes) & set(plain))
    if both:
        raise ValueError(f"credential field {both[0]!r} is given both sealed and in clear")


def states(value: SubmissionState | Collection[SubmissionState] | None) -> list[str] | None:
    """Return *value* as a list of state strings (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, SubmissionState):
        return [value.value]
    return [SubmissionState(s).value for s in value]


def _timestamp(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _optional_timestamp(value: datetime | str | None) -> datetime | None:
    return None if value is None else _timestamp(value)


def token_from_row(row: Mapping[str, Any]) -> StoredToken:
    """Build a :class:`StoredToken` from a ``tokens`` row (either backend)."""
    return StoredToken(
        connection_id=row["connection_id"],
        audience=row["audience"],
        kind=row["kind"],
        envelope=row["envelope"],
        key_id=row["key_id"],
        refresh_at=_timestamp(row["refresh_at"]),
        expires_at=_timestamp(row["expires_at"]),
    )


def connection_from_row(row: Mapping[str, Any]) -> Connection:
    """Build a :class:`Connection` from a ``connections`` row (either backend)."""
    settings = row["settings"]
    return Connection(
        id=row["id"],
        platform=row["platform"],
        store_url=StoreURL.parse(row["store_url"]),
        status=row["status"],
        settings=json.loads(settings) if isinstance(settings, str) else settings,
        label=row["label"],
        last_error=row["last_error"],
        credentials_expire_at=_optional_timestamp(row["credentials_expire_at"]),
        created_at=_timestamp(row["created_at"]),
        updated_at=_timestamp(row["updated_at"]),
    )


def submission_from_row(row: Mapping[str, Any]) -> Submission:
    """Build a :class:`Submission` from an ``order_submissions`` row (either backend)."""
    return Submission(
        connection_id=row["connection_id"],
        reference=row["reference"],
        payload_hash=row["payload_hash"],
        state=row["state"],
        platform_order_id=row["platform_order_id"],
        order_json=row["order_json"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=_timestamp(row["created_at"]),
        updated_at=_timestamp(row["updated_at"]),
    )


def settings_json(conn: Connection) -> str:
    """Return the connection's settings as canonical JSON text."""
    return json.dumps(dict(conn.settings), sort_keys=True, separators=(",", ":"))


def connect_session_from_row(row: Mapping[str, Any]) -> StoredConnectSession:
    """Build a :class:`StoredConnectSession` from a ``connect_sessions`` row (either backend)."""
    return StoredConnectSession(
        id=row["id"],
        channel_id=row["channel_id"],
        redirect_uri=row["redirect_uri"],
        state=row["state"],
        platforms=tuple(json.loads(row["platforms"])),
        platform=row["platform"],
        store_url=row["store_url"],
        ticket_hash=row["ticket_hash"],
        browser_hash=row["browser_hash"],
        created_at=_timestamp(row["created_at"]),
        expires_at=_timestamp(row["expires_at"]),
        opened_at=_optional_timestamp(row["opened_at"]),
        attempt_owner=row["attempt_owner"],
        attempt_until=_optional_timestamp(row["attempt_until"]),
        completed_at=_optional_timestamp(row["completed_at"]),
        connection_id=row["connection_id"],
    )


def authorization_from_row(row: Mapping[str, Any]) -> StoredAuthorization:
    """Build a :class:`StoredAuthorization` from an ``oauth_states`` row (either backend)."""
    return StoredAuthorization(
        state_hash=row["state_hash"],
        platform=row["platform"],
        store_url=row["store_url"],
        redirect_uri=row["redirect_uri"],
        authorization_origin=row["authorization_origin"],
        code_verifier=row["code_verifier"],
        owner=row["owner"],
        browser_hash=row["browser_hash"],
        expires_at=_timestamp(row["expires_at"]),
        used_at=_optional_timestamp(row["used_at"]),
        credentials=row["credentials"],
    )
