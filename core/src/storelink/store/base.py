"""The :class:`ConnectionStore` protocol and the records it keeps besides connections.

A store keeps four things: connections (:class:`~storelink.models.Connection`), their
credentials (secret fields as vault envelopes, other fields in clear), the order
submission ledger (:class:`Submission`), and sync checkpoints. It never sees a key or a
clear secret: sealing and opening is the vault's job, done by the caller.

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
    "Submission",
    "SubmissionState",
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
        """

    async def replace_credentials(
        self, connection_id: str, envelopes: Mapping[str, str], plain: Mapping[str, str]
    ) -> None:
        """Replace every credential field of the connection at once.

        :raises ConnectionStateError: There is no connection with this id.
        :raises ValueError: As :meth:`insert_connection`.
        """

    async def delete_credentials(self, connection_id: str) -> None:
        """Erase every credential field of the connection."""

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

    # ------------------------------------------------------------------ key rotation

    async def count_by_key(self) -> dict[str, int]:
        """Return how many sealed credentials each key id sealed."""

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        """Return up to *limit* sealed credentials, in ``(connection_id, field)`` order.

        :param after: The :attr:`EnvelopeRow.position` of the last row of the previous
            batch; start at the beginning when ``None``.
        :param exclude_key: Leave out rows sealed with this key id.
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


def connection_from_row(row: Mapping[str, Any]) -> Connection:
    """Build a :class:`Connection` from a ``connections`` row (either backend)."""
    settings = row["settings"]
    return Connection(
        id=row["id"],
        platform=row["platform"],
        store_url=StoreURL(origin=row["store_url"]),
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
