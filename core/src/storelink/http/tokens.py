"""Access tokens of one connection: when to renew them, and what a rejection means.

:class:`TokenManager` holds one token per audience and knows no platform: it calls the
platform's ``refresh_token`` and ``authenticate`` hooks.

- **Proactive renewal.** A token with lifetime *L* is renewed once it is
  ``L - max(30 s, 20 % of L)`` old (240 s for OCC's 300 s tokens), measured on the
  injected monotonic clock from the moment its login started. The margin is capped at
  half the lifetime, so very short-lived tokens are still used. ``refresh_token`` is
  tried first while the token is valid; if the platform has none, returns ``None`` or
  fails, ``authenticate`` is called.
- **Single flight.** One lock per connection; whoever takes it re-checks first, so a
  hundred requests arriving at expiry cause one login. No request is sent without a
  token: callers wait for the renewal instead.
- **401.** :meth:`TokenManager.rejected` logs in again only if the rejected token is
  still the current one; otherwise the caller resends with the token another request
  already obtained.
- **Shared between processes.** Given a :class:`TokenShare` (the hub gives one backed
  by the connection store, :class:`~storelink.http.tokenstore.StoreTokens`), a due
  token is first looked for in the share: a fresh one another process stored is used
  as is. Otherwise the share grants this process a lease to renew it, and the new
  token is stored before any request uses it; while another process holds the lease,
  this one waits (polling) until the token appears or the lease ends. The in-process
  lock stays in front, so one process makes one store round trip per renewal. A
  share that fails (the database is down) is logged and bypassed: the token is
  renewed locally. A rejected token is erased from the share; so are all of them
  when the credentials are rejected.
- **Revocation.** A :class:`~storelink.CredentialsError` from ``authenticate`` (the
  platform refused the credentials) calls ``on_revoked`` once; from then on every
  call raises :class:`~storelink.ConnectionRevokedError` without touching the
  network, except one probe login per cooldown (``HttpConfig.revoked_probe_after``);
  a successful probe makes the connection usable again and fires ``on_token``.
  Transient login failures (5xx, timeouts) propagate as
  :class:`~storelink.RetryableError` after the request's own retries, and never revoke.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from attrs import define, frozen

from storelink.context import PlatformContext
from storelink.errors import (
    AuthorizationError,
    ConnectionRevokedError,
    CredentialsError,
    PlatformError,
)
from storelink.http.clock import Clock
from storelink.models import AccessToken
from storelink.plugins import Platform

__all__ = [
    "OnRevoked",
    "OnToken",
    "RuntimeStats",
    "ShareClaim",
    "SharedToken",
    "TokenManager",
    "TokenShare",
    "in_token_call",
    "renewal_due",
]

log = logging.getLogger("storelink.http.tokens")
T = TypeVar("T")

OnRevoked = Callable[[str], Awaitable[None]]
OnToken = Callable[[str, AccessToken, bool], Awaitable[None] | None]

_TOKEN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("storelink_token_call", default=False)


#: Seconds between two looks at the share while another process renews a token.
SHARE_POLL = 0.05


def renewal_due(lifetime: float) -> float:
    """Return how many seconds after its login started a token of *lifetime* is renewed.

    ``lifetime - max(30 s, 20 %)``, the margin capped at half the lifetime.
    """
    return lifetime - min(max(30.0, 0.2 * lifetime), 0.5 * lifetime)


@frozen
class SharedToken:
    """A token found in a :class:`TokenShare`, with how long it has left, in seconds from now."""

    token: AccessToken
    refresh_in: float
    expires_in: float


@frozen
class ShareClaim:
    """What :meth:`TokenShare.claim` found.

    :param token: The stored token: fresh when not ``granted``; possibly due (or
        ``None``) when ``granted``.
    :param granted: This process holds the renewal lease: renew, then ``save`` or
        ``release``.
    :param wait: Seconds until another process's lease ends (not granted, no token).
    """

    token: SharedToken | None
    granted: bool
    wait: float = 0.0


class TokenShare(Protocol):
    """Where one connection's tokens are shared with other processes and machines."""

    async def claim(self, audience: str) -> ShareClaim:
        """Return the fresh token of *audience*, or the lease to renew it, or how long to wait."""
        ...

    async def save(self, audience: str, token: AccessToken, *, refresh_in: float, expires_in: float) -> None:
        """Store the renewed token of *audience* and end this process's lease."""
        ...

    async def release(self, audience: str) -> None:
        """End this process's lease of *audience* without a token (the renewal failed)."""
        ...

    async def drop(self, audience: str | None, token: AccessToken | None = None) -> None:
        """Erase *token* of *audience* if it is still the stored one; with ``None``, every token."""
        ...


def in_token_call() -> bool:
    """Whether the running code is inside a platform's ``authenticate`` or ``refresh_token``."""
    return _TOKEN_CALL.get()


@define
class RuntimeStats:
    """Counters of one connection's HTTP activity.

    :param logins: ``authenticate`` calls (probes included).
    :param refreshes: ``refresh_token`` calls.
    :param requests: HTTP requests sent, logins and retries included.
    :param retries: Requests that were retries of a failed attempt.
    """

    logins: int = 0
    refreshes: int = 0
    requests: int = 0
    retries: int = 0


@frozen
class _Held:
    token: AccessToken
    refresh_at: float
    expires_at: float


class TokenManager:
    """The tokens of one connection, one per audience.

    :param platform: The connection's platform.
    :param ctx: The context its hooks receive.
    :param clock: Measures token age and the probe cooldown.
    :param stats: Where logins and refreshes are counted.
    :param on_token: Called after every new token with ``(audience, token, renewed)``;
        ``renewed`` is ``True`` when it came from ``refresh_token``.
    :param on_revoked: Called once, with the reason, when the credentials are rejected.
    :param probe_after: Seconds between probe logins of a revoked connection, or ``None``.
    :param share: Where tokens are shared with other processes, or ``None`` (this
        process only).
    """

    def __init__(
        self,
        *,
        platform: Platform,
        ctx: PlatformContext,
        clock: Clock,
        stats: RuntimeStats,
        on_token: OnToken | None = None,
        on_revoked: OnRevoked | None = None,
        probe_after: float | None = None,
        share: TokenShare | None = None,
    ) -> None:
        self._platform = platform
        self._share = share
        self._ctx = ctx
        self._clock = clock
        self._stats = stats
        self._on_token = on_token
        self._on_revoked = on_revoked
        self._probe_after = probe_after
        self._held: dict[str, _Held] = {}
        self._lock = asyncio.Lock()
        self._revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Whether the platform rejected the credentials (and no probe has succeeded since)."""
        return self._revoked_at is not None

    def revoked_error(self) -> ConnectionRevokedError:
        """Return the error raised for calls on a revoked connection."""
        return ConnectionRevokedError(
            "the platform rejected this connection's credentials; no request was sent",
            connection_id=self._ctx.connection_id,
        )

    def refuse_if_revoked(self) -> None:
        """Raise :class:`~storelink.ConnectionRevokedError` if revoked, unless a probe is due."""
        if self._revoked_at is None:
            return
        if self._probe_after is None or self._clock.monotonic() - self._revoked_at < self._probe_after:
            raise self.revoked_error()

    async def get(self, audience: str) -> AccessToken:
        """Return a valid token of *audience*, renewing it first when it is due.

        :raises ConnectionRevokedError: The connection is revoked (no network call).
        :raises CredentialsError: The platform just rejected the credentials.
        :raises RetryableError: The login failed transiently.
        """
        token = self._fresh(audience)
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh(audience)
            if token is not None:
                return token
            if self._share is None:
                token, renewed = await self._renew(audience)
            else:
                obtained = await self._renew_shared(self._share, audience, login=False)
                if obtained is None:  # another process renewed it
                    return self._held[audience].token
                token, renewed = obtained
        await self._announce(audience, token, renewed)
        return token

    async def rejected(self, audience: str, token: AccessToken) -> AccessToken:
        """Return the token to resend with after the store answered 401 to *token*.

        If *token* is still the current one it is dropped and the platform's
        ``authenticate`` is called; otherwise the current token is returned as is.

        :raises ConnectionRevokedError: The connection is revoked.
        :raises CredentialsError: The login was rejected.
        """
        async with self._lock:
            self.refuse_if_revoked()
            held = self._held.get(audience)
            if held is not None and held.token is not token:
                return held.token
            self._held.pop(audience, None)
            log.info("the store refused the current %s token (HTTP 401); logging in again", audience)
            if self._share is None:
                token = await self._login(audience)
            else:
                await self._shared("drop", self._share.drop(audience, token))
                obtained = await self._renew_shared(self._share, audience, login=True)
                if obtained is None:  # another process logged in after the same 401
                    return self._held[audience].token
                token = obtained[0]
        await self._announce(audience, token, False)
        return token

    # ------------------------------------------------------------------ internals

    def _fresh(self, audience: str) -> AccessToken | None:
        self.refuse_if_revoked()
        held = self._held.get(audience)
        if held is not None and self._clock.monotonic() < held.refresh_at:
            return held.token
        return None

    async def _renew(self, audience: str) -> tuple[AccessToken, bool]:
        held = self._held.get(audience)
        if (
            held is not None
            and self._clock.monotonic() < held.expires_at
            and self._platform.implements("refresh_token")
        ):
            started = self._clock.monotonic()
            token = await self._refresh(audience, held.token)
            if token is not None:
                self._store(audience, token, started)
                return token, True
        return await self._login(audience), False

    async def _renew_shared(self, share: TokenShare, audience: str, *, login: bool) -> tuple[AccessToken, bool] | None:
        """Renew through *share*: adopt another process's token (``None``), or renew under the lease."""
        while True:
            claim = await self._shared("claim", share.claim(audience))
            if claim is None:  # the share failed: renew here, store nothing
                return (await self._login(audience), False) if login else await self._renew(audience)
            if claim.token is not None and not claim.granted:
                self._adopt(audience, claim.token)
                log.debug("using the %s token another process stored", audience)
                return None
            if claim.granted:
                break
            await self._clock.sleep(max(0.001, min(claim.wait, SHARE_POLL)))
        try:
            if claim.token is not None and audience not in self._held:
                self._adopt(audience, claim.token)  # a refresh may still use the due token
            obtained = (await self._login(audience), False) if login else await self._renew(audience)
        except BaseException:
            await asyncio.shield(self._shared("release", share.release(audience)))
            raise
        held = self._held[audience]
        now = self._clock.monotonic()
        await self._shared(
            "save",
            share.save(audience, held.token, refresh_in=held.refresh_at - now, expires_in=held.expires_at - now),
        )
        return obtained

    def _adopt(self, audience: str, shared: SharedToken) -> None:
        now = self._clock.monotonic()
        self._held[audience] = _Held(
            shared.token, refresh_at=now + shared.refresh_in, expires_at=now + shared.expires_in
        )

    async def _shared(self, what: str, call: Awaitable[T]) -> T | None:
        """Await a share operation; on failure log it and return ``None`` (tokens are then this process's)."""
        try:
            return await call
        except Exception as exc:
            log.warning(
                "connection %s: the shared token store failed (%s during %s); renewing in this process",
                self._ctx.connection_id,
                type(exc).__name__,
                what,
            )
            return None

    @staticmethod
    async def _token_call(call: Awaitable[T]) -> T:
        """Await a platform's ``authenticate`` or ``refresh_token``, marked as a token call."""
        marker = _TOKEN_CALL.set(True)
        try:
            return await call
        finally:
            _TOKEN_CALL.reset(marker)

    async def _refresh(self, audience: str, token: AccessToken) -> AccessToken | None:
        self._stats.refreshes += 1
        try:
            return await self._token_call(self._platform.refresh_token(self._ctx, token))
        except (CredentialsError, AuthorizationError, PlatformError) as exc:
            log.info("refreshing the %s token failed (%s); logging in instead", audience, type(exc).__name__)
            return None

    async def _login(self, audience: str) -> AccessToken:
        probing = self._revoked_at is not None
        started = self._clock.monotonic()
        self._stats.logins += 1
        try:
            token = await self._token_call(self._platform.authenticate(self._ctx, audience))
        except Exception as exc:
            if probing:  # a failed probe, whatever the cause, restarts the cooldown
                self._revoked_at = self._clock.monotonic()
                raise self.revoked_error() from exc
            if isinstance(exc, CredentialsError):
                await self._revoke(str(exc))
            raise
        if probing:
            log.warning("connection %s: a probe login succeeded; it is usable again", self._ctx.connection_id)
            self._revoked_at = None
        self._store(audience, token, started)
        return token

    def _store(self, audience: str, token: AccessToken, started: float) -> None:
        lifetime = token.expires_in
        due = renewal_due(lifetime)
        self._held[audience] = _Held(token, refresh_at=started + due, expires_at=started + lifetime)
        log.debug("new %s token %r, renewal due in %.0f s", audience, token.value, due)

    async def _revoke(self, reason: str) -> None:
        self._revoked_at = self._clock.monotonic()
        self._held.clear()
        if self._share is not None:
            await self._shared("drop", self._share.drop(None))
        log.warning("connection %s: the platform rejected the credentials: %s", self._ctx.connection_id, reason)
        if self._on_revoked is not None:
            try:
                await self._on_revoked(reason)
            except Exception:
                log.exception("the on_revoked callback of connection %s failed", self._ctx.connection_id)

    async def _announce(self, audience: str, token: AccessToken, renewed: bool) -> None:
        if self._on_token is None:
            return
        try:
            result = self._on_token(audience, token, renewed)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("the on_token callback of connection %s failed", self._ctx.connection_id)
