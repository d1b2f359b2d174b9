"""A connection's tokens shared through the connection store: :class:`StoreTokens`.

Every process and machine that opens the same store sees the same tokens, so a
connection used by many workers logs in once per token lifetime, not once per worker.

- **Sealed.** A token is stored as a vault envelope (AES-256-GCM) whose associated data
  binds it to the connection, its platform, the audience, the kind (``access``; a
  ``refresh`` kind is reserved for platforms whose hooks hand out refresh tokens) and
  its expiry, so a row copied to another connection or audience, or an expiry moved
  later, fails to open. A row that fails to open is erased and renewed.
- **Fresh.** Each row carries when it is due for renewal and when it expires, on the
  wall clock (UTC): the due time is the in-process cache's
  (:func:`~storelink.http.tokens.renewal_due`), so machines whose clocks agree within
  the margin (30 s at least) agree on freshness.
- **Single flight.** :meth:`StoreTokens.claim` runs
  :meth:`~storelink.store.ConnectionStore.claim_token`: one short transaction, serialised
  per connection and audience (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: the
  ``BEGIN IMMEDIATE`` write lock), that returns the fresh token or gives this process a
  lease to renew it. No database lock is held during the login itself: the lease is a
  row with an end time, so a holder that dies mid-renewal blocks the others for at most
  ``lease`` seconds, after which the next claimer takes it over.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from storelink.errors import ConfigurationError, VaultError
from storelink.http.clock import Clock, SystemClock
from storelink.http.tokens import ShareClaim, SharedToken, renewal_due
from storelink.models import AccessToken
from storelink.store import ConnectionStore, StoredToken, TokenKind
from storelink.store.base import utc_now
from storelink.vault import Vault, open_secret, seal_secret

__all__ = [
    "DEFAULT_LEASE",
    "SHARE_ENV_VAR",
    "ProbeTokens",
    "StoreTokens",
    "share_from_env",
    "token_field",
    "wall_clock",
]

log = logging.getLogger("storelink.http.tokens")

#: Seconds a renewal lease lasts: longer than a login takes, short enough that a
#: holder that died delays the others only briefly.
DEFAULT_LEASE = 10.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def token_field(audience: str, kind: TokenKind, expires_at: datetime) -> str:
    """Return the vault field a token is sealed for (no credential field name has a ``/``)."""
    micros = (expires_at - _EPOCH) // timedelta(microseconds=1)
    return f"token/{TokenKind(kind).value}/{audience}/{micros}"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


class StoreTokens:
    """The :class:`~storelink.http.tokens.TokenShare` of one connection, in its store.

    :param store: The connection store.
    :param vault: Seals and opens the tokens (:mod:`storelink.vault.sealing`, each for
        its own vault field of this connection).
    :param connection_id: The connection.
    :param platform: Its platform slug (bound into every envelope).
    :param lease: Seconds a renewal lease lasts (:data:`DEFAULT_LEASE` when ``None``).
    :param now: The wall clock (UTC); injectable for tests.
    """

    def __init__(
        self,
        store: ConnectionStore,
        vault: Vault,
        *,
        connection_id: str,
        platform: str,
        lease: float | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        lease = DEFAULT_LEASE if lease is None else lease
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        self._store = store
        self._vault = vault
        self._connection_id = connection_id
        self._platform = platform
        self._lease = lease
        self._now = now
        self.owner = _owner()
        # The envelope of each token this share handed out or stored, by audience, so a
        # rejected token is erased only if it is still the stored one.
        self._envelopes: dict[str, tuple[AccessToken, str]] = {}

    def __repr__(self) -> str:
        return f"StoreTokens(connection_id={self._connection_id!r}, lease={self._lease:g})"

    async def claim(self, audience: str) -> ShareClaim:
        """Return the fresh stored token, the renewal lease, or how long another holder has left."""
        for _ in range(2):  # a second time after erasing a row that did not open
            now = self._now()
            claim = await self._store.claim_token(
                self._connection_id, audience, owner=self.owner, now=now, lease=self._lease
            )
            stored = claim.tokens.get(TokenKind.ACCESS)
            shared = None if stored is None else self._open(stored, now)
            if stored is not None and shared is None and not claim.granted and claim.busy_until is None:
                await self._store.delete_tokens(self._connection_id, audience, envelope=stored.envelope)
                continue
            if claim.busy_until is not None:  # another process is renewing the due token: wait for its new one
                return ShareClaim(token=None, granted=False, wait=max(0.0, (claim.busy_until - now).total_seconds()))
            return ShareClaim(token=shared, granted=claim.granted)
        raise AssertionError("the stored token was erased, yet it is still there")

    async def save(self, audience: str, token: AccessToken, *, refresh_in: float, expires_in: float) -> None:
        """Seal and store the renewed token of *audience*, ending this process's lease."""
        now = self._now()
        expires_at = now + timedelta(seconds=expires_in)
        refresh_at = min(now + timedelta(seconds=refresh_in), expires_at)
        envelope = seal_secret(
            self._vault,
            token.value,
            connection_id=self._connection_id,
            platform=self._platform,
            field=token_field(audience, TokenKind.ACCESS, expires_at),
        )
        row = StoredToken(
            connection_id=self._connection_id,
            audience=audience,
            kind=TokenKind.ACCESS,
            envelope=envelope,
            key_id=self._vault.key_id(envelope),
            refresh_at=refresh_at,
            expires_at=expires_at,
        )
        await self._store.save_tokens([row], owner=self.owner)
        self._envelopes[audience] = (token, envelope)

    async def release(self, audience: str) -> None:
        """End this process's lease of *audience*."""
        await self._store.release_token_lease(self._connection_id, audience, owner=self.owner)

    async def drop(self, audience: str | None, token: AccessToken | None = None) -> None:
        """Erase *token* of *audience* if it is still stored; every token when *audience* is ``None``."""
        if audience is None:
            self._envelopes.clear()
            await self._store.delete_tokens(self._connection_id)
            return
        known = self._envelopes.get(audience)
        if token is None:
            self._envelopes.pop(audience, None)
            await self._store.delete_tokens(self._connection_id, audience)
        elif known is not None and known[0] is token:
            del self._envelopes[audience]
            await self._store.delete_tokens(self._connection_id, audience, envelope=known[1])

    def _open(self, stored: StoredToken, now: datetime) -> SharedToken | None:
        if stored.expires_at <= now:
            return None
        try:
            value = open_secret(
                self._vault,
                stored.envelope,
                connection_id=self._connection_id,
                platform=self._platform,
                field=token_field(stored.audience, stored.kind, stored.expires_at),
            )
        except VaultError as exc:
            log.warning(
                "connection %s: the stored %s token did not open (%s); renewing it",
                self._connection_id,
                stored.audience,
                type(exc).__name__,
            )
            return None
        expires_in = (stored.expires_at - now).total_seconds()
        token = AccessToken(value=value, expires_in=expires_in, audience=stored.audience)
        self._envelopes[stored.audience] = (token, stored.envelope)
        return SharedToken(token=token, refresh_in=(stored.refresh_at - now).total_seconds(), expires_in=expires_in)


def wall_clock(clock: Clock) -> Callable[[], datetime]:
    """Return the wall clock that goes with *clock*: the system's, or one that moves with an injected clock.

    Shared tokens need the wall clock, which machines agree on; a test's fake
    monotonic clock moves the shared tokens' time along with its own.
    """
    if isinstance(clock, SystemClock):
        return utc_now
    anchor, start = utc_now(), clock.monotonic()
    return lambda: anchor + timedelta(seconds=clock.monotonic() - start)


class ProbeTokens:
    """The tokens a validation obtained, kept so the connection it saves starts with them.

    Pass it as the probe's ``on_token``; :meth:`keep` stores those still fresh. Their age
    is counted from when the probe started, so it is never underestimated.

    :param clock: The clock the probe's tokens are measured on.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._started = clock.monotonic()
        self._tokens: dict[str, AccessToken] = {}

    def __call__(self, audience: str, token: AccessToken, renewed: bool) -> None:
        self._tokens[audience] = token

    def __repr__(self) -> str:
        return f"ProbeTokens(audiences={sorted(self._tokens)!r})"

    async def keep(self, share: StoreTokens) -> int:
        """Store the tokens that are not yet due in *share*; return how many.

        A store that fails is logged and skipped: the connection then logs in on first use.
        """
        age = self._clock.monotonic() - self._started
        kept = 0
        for audience, token in self._tokens.items():
            refresh_in = renewal_due(token.expires_in) - age
            if refresh_in <= 0:
                continue
            try:
                await share.save(audience, token, refresh_in=refresh_in, expires_in=token.expires_in - age)
            except Exception as exc:
                log.warning(
                    "keeping the validation's %s token failed (%s); it is not shared", audience, type(exc).__name__
                )
                continue
            kept += 1
        return kept


#: The environment variable that turns the shared token store off (``0``) for a process.
SHARE_ENV_VAR = "STORELINK_SHARE_TOKENS"
_ON, _OFF = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def share_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether tokens are shared through the store: ``STORELINK_SHARE_TOKENS``, on when unset.

    :raises ConfigurationError: The variable holds something else than 1/0, true/false,
        yes/no or on/off.
    """
    value = (os.environ if environ is None else environ).get(SHARE_ENV_VAR, "").strip().lower()
    if not value or value in _ON:
        return True
    if value in _OFF:
        return False
    raise ConfigurationError(f"{SHARE_ENV_VAR} must be 1 or 0 (true/false, yes/no, on/off), got {value[:20]!r}")
