"""Schema migrations: numbered, per-dialect SQL, applied in order, one transaction each.

The ``schema_version`` table records every migration applied (version, name, time).
A store's ``migrate()`` takes a lock (SQLite: the write lock; PostgreSQL: an advisory
lock), reads the highest version, and runs each later :class:`Migration` in its own
transaction together with the row that records it, so a failure leaves the database
at the previous version. A database newer than the code is refused rather than used.

To change the schema, append a :class:`Migration` to :data:`MIGRATIONS` with the next
version and the statements for every dialect; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import field, frozen

from storelink.errors import ConfigurationError

__all__ = ["DIALECTS", "MIGRATIONS", "VERSION_TABLE", "Migration", "pending"]

#: The SQL dialects a migration must provide statements for.
DIALECTS = ("sqlite", "postgresql")

#: The statement that creates the ``schema_version`` table, by dialect.
VERSION_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
}


@frozen(kw_only=True)
class Migration:
    """One step of the schema.

    :param version: Its number; migrations are numbered 1, 2, 3... without gaps.
    :param name: What it does, in a few words.
    :param statements: The SQL statements of each dialect, run in order.
    """

    version: int
    name: str
    statements: Mapping[str, tuple[str, ...]] = field()

    @statements.validator
    def _check(self, _attr: object, value: Mapping[str, tuple[str, ...]]) -> None:
        missing = [d for d in DIALECTS if not value.get(d)]
        if missing:
            raise ValueError(f"migration {self.version} has no statements for {', '.join(missing)}")


def pending(current: int, migrations: Sequence[Migration]) -> list[Migration]:
    """Return the migrations to apply to a database at version *current*, in order.

    :raises ValueError: *migrations* are not numbered 1, 2, 3...
    :raises ConfigurationError: The database is at a version above the last migration.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3... without gaps, got {versions}")
    if current > len(migrations):
        raise ConfigurationError(
            f"the database is at schema version {current}, newer than this storelink knows "
            f"({len(migrations)}); upgrade storelink"
        )
    return list(migrations[current:])


_STATES = "'pending', 'sending', 'unknown', 'created', 'failed'"
_STATUSES = "'active', 'needs_attention', 'revoked', 'removed'"


def _initial(timestamp: str, json_type: str) -> tuple[str, ...]:
    """Migration 1 in a dialect with these column types for times and JSON."""
    return (
        f"""CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            store_url TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
            settings {json_type} NOT NULL,
            label TEXT,
            last_error TEXT,
            credentials_expire_at {timestamp},
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL
        )""",
        "CREATE INDEX connections_platform_status ON connections (platform, status)",
        """CREATE TABLE credentials (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            field TEXT NOT NULL,
            envelope TEXT,
            key_id TEXT,
            value TEXT,
            PRIMARY KEY (connection_id, field),
            CHECK ((envelope IS NULL) = (key_id IS NULL)),
            CHECK ((envelope IS NULL) <> (value IS NULL))
        )""",
        "CREATE INDEX credentials_key_id ON credentials (key_id) WHERE key_id IS NOT NULL",
        f"""CREATE TABLE order_submissions (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            reference TEXT NOT NULL,
            payload_hash TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ({_STATES})),
            platform_order_id TEXT,
            order_json TEXT,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_error TEXT,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL,
            CONSTRAINT order_submissions_reference UNIQUE (connection_id, reference)
        )""",
        "CREATE INDEX order_submissions_state ON order_submissions (state, created_at)",
        f"""CREATE TABLE sync_checkpoints (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at {timestamp} NOT NULL,
            PRIMARY KEY (connection_id, kind)
        )""",
    )


_TOKEN_KINDS = "'access', 'refresh'"  # noqa: S105  # the kind column's values, not a secret


def _tokens(timestamp: str) -> tuple[str, ...]:
    """Migration 2: tokens shared between processes, and the leases of their renewal."""
    return (
        # One row per (connection, audience, kind): the access token, and a refresh token
        # for platforms that have one. The envelope is sealed by the vault, bound to the
        # connection, the audience, the kind and the expiry; no clear token is stored.
        f"""CREATE TABLE tokens (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            audience TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({_TOKEN_KINDS})),
            envelope TEXT NOT NULL,
            key_id TEXT NOT NULL,
            refresh_at {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL,
            PRIMARY KEY (connection_id, audience, kind),
            CHECK (refresh_at <= expires_at)
        )""",
        # Who is renewing a connection's token of one audience, until when: a holder
        # that dies mid-renewal blocks the others only until its lease ends.
        f"""CREATE TABLE token_leases (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            audience TEXT NOT NULL,
            owner TEXT NOT NULL,
            until {timestamp} NOT NULL,
            PRIMARY KEY (connection_id, audience)
        )""",
    )


def _connect(timestamp: str) -> tuple[str, ...]:
    """Migration 3: connect sessions and OAuth authorizations under way, shared by every web process."""
    return (
        # One row per connect session. The link's ticket and the browser cookie are kept
        # only as their sha256; the ticket hash is cleared when the link is opened, so a
        # ticket works once across every process. attempt_owner/attempt_until is the
        # lease of the process checking the credentials; connection_id is set when the
        # session made its connection (completed_at), which spends it.
        f"""CREATE TABLE connect_sessions (
            id TEXT PRIMARY KEY,
            channel_id TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            state TEXT NOT NULL,
            platforms TEXT NOT NULL,
            platform TEXT,
            store_url TEXT,
            ticket_hash TEXT,
            browser_hash TEXT,
            created_at {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL,
            opened_at {timestamp},
            attempt_owner TEXT,
            attempt_until {timestamp},
            completed_at {timestamp},
            connection_id TEXT,
            CHECK ((ticket_hash IS NULL) <> (opened_at IS NULL)),
            CHECK ((completed_at IS NULL) = (connection_id IS NULL))
        )""",
        "CREATE INDEX connect_sessions_channel ON connect_sessions (channel_id, expires_at)",
        "CREATE INDEX connect_sessions_expiry ON connect_sessions (expires_at)",
        # One row per OAuth authorization started, by the sha256 of its state (the state
        # itself is never stored). The PKCE verifier is a vault envelope bound to this
        # row's state hash; used_at spends the state across every process.
        f"""CREATE TABLE oauth_states (
            state_hash TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            store_url TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            authorization_origin TEXT NOT NULL,
            code_verifier TEXT,
            owner TEXT,
            browser_hash TEXT,
            expires_at {timestamp} NOT NULL,
            used_at {timestamp}
        )""",
        "CREATE INDEX oauth_states_owner ON oauth_states (owner)",
        "CREATE INDEX oauth_states_expiry ON oauth_states (expires_at)",
    )


#: Every migration, in order. The last one's version is the current schema version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="connections, credentials, order submissions, sync checkpoints",
        statements={
            # SQLite keeps times as ISO 8601 text in UTC, which sorts like the times do.
            "sqlite": _initial(timestamp="TEXT", json_type="TEXT"),
            "postgresql": _initial(timestamp="TIMESTAMPTZ", json_type="JSONB"),
        },
    ),
    Migration(
        version=2,
        name="shared access tokens and their renewal leases",
        statements={"sqlite": _tokens(timestamp="TEXT"), "postgresql": _tokens(timestamp="TIMESTAMPTZ")},
    ),
    Migration(
        version=3,
        name="connect sessions and OAuth states shared by web processes",
        statements={"sqlite": _connect(timestamp="TEXT"), "postgresql": _connect(timestamp="TIMESTAMPTZ")},
    ),
    Migration(
        version=4,
        name="credentials POSTed to an approval flow, sealed in its OAuth state",
        # The vault envelope of the credentials an approval flow's platform POSTed for
        # the state, sealed for the row; NULL until they arrive.
        statements=dict.fromkeys(("sqlite", "postgresql"), ("ALTER TABLE oauth_states ADD COLUMN credentials TEXT",)),
    ),
)
