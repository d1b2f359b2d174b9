"""The HTTP runtimes of a hub: one per connection in use, and throw-away ones for validation.

A :class:`RuntimePool` creates each connection's
:class:`~storelink.http.ConnectionRuntime` (its pooled client and tokens) on first use,
keeps it until the connection's credentials change or the hub closes, and counts what
every runtime did, closed ones included, for :class:`HubStats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import httpx
from attrs import frozen

from storelink.context import PlatformContext
from storelink.credentials import Credentials
from storelink.http import Clock, ConnectionRuntime, EgressPolicy, HttpConfig
from storelink.http.tokens import OnRevoked, OnToken, TokenShare
from storelink.models import Connection, StoreURL
from storelink.plugins import Platform

__all__ = ["PROBE_ID", "ConnectionStats", "HubStats", "RuntimePool"]

T = TypeVar("T")

#: The connection id platform hooks see while credentials are validated.
PROBE_ID = "probe"


@frozen(kw_only=True)
class ConnectionStats:
    """What the HTTP clients of one connection did.

    :param logins: Tokens obtained by logging in.
    :param refreshes: Tokens obtained by refreshing one.
    :param requests: HTTP requests sent, logins and retries included.
    :param retries: Of which retries of a failed attempt.
    """

    logins: int = 0
    refreshes: int = 0
    requests: int = 0
    retries: int = 0

    @classmethod
    def of(cls, runtime: ConnectionRuntime) -> ConnectionStats:
        """Return the counts of *runtime* so far."""
        stats = runtime.stats
        return cls(logins=stats.logins, refreshes=stats.refreshes, requests=stats.requests, retries=stats.retries)

    def __add__(self, other: ConnectionStats) -> ConnectionStats:
        return ConnectionStats(
            logins=self.logins + other.logins,
            refreshes=self.refreshes + other.refreshes,
            requests=self.requests + other.requests,
            retries=self.retries + other.retries,
        )


@frozen(kw_only=True)
class HubStats:
    """What a hub's HTTP clients did since it opened, validation probes included.

    :param logins: Tokens obtained by logging in, over every connection.
    :param refreshes: Tokens obtained by refreshing one.
    :param requests: HTTP requests sent.
    :param retries: Of which retries.
    :param by_connection: The counts of each connection id (validations under ``probe``).
    """

    logins: int
    refreshes: int
    requests: int
    retries: int
    by_connection: Mapping[str, ConnectionStats]


class RuntimePool:
    """Creates, caches, counts and closes the runtimes of a hub.

    :param egress: Where requests may go.
    :param http: Timeouts, limits and retries.
    :param clock: Time for tokens, back-off and deadlines.
    :param transports: In-process transports by store origin.
    """

    def __init__(
        self,
        *,
        egress: EgressPolicy,
        http: HttpConfig,
        clock: Clock,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.egress = egress
        self.http = http
        self.clock = clock
        self.transports = {origin.rstrip("/").lower(): t for origin, t in (transports or {}).items()}
        self._open: dict[str, ConnectionRuntime] = {}
        self._closed: dict[str, ConnectionStats] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def _new(
        self,
        platform: Platform,
        connection_id: str,
        store_url: StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str],
        *,
        on_revoked: OnRevoked | None = None,
        on_token: OnToken | None = None,
        share: TokenShare | None = None,
    ) -> ConnectionRuntime:
        return ConnectionRuntime(
            platform,
            connection_id,
            store_url,
            credentials,
            settings,
            self.egress,
            self.http,
            clock=self.clock,
            transport=self.transports.get(store_url.origin),
            on_revoked=on_revoked,
            on_token=on_token,
            share=share,
        )

    async def probe(
        self,
        platform: Platform,
        store_url: StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str],
        work: Callable[[PlatformContext], Awaitable[T]],
        *,
        on_token: OnToken | None = None,
    ) -> T:
        """Run *work* with a throw-away runtime for credentials not stored yet (counted as ``probe``).

        :param on_token: Called with every token the probe obtains.
        """
        runtime = self._new(platform, PROBE_ID, store_url, credentials, settings, on_token=on_token)
        try:
            return await work(runtime.ctx)
        finally:
            await self._close(PROBE_ID, runtime)

    async def context(
        self,
        conn: Connection,
        platform: Platform,
        credentials: Callable[[], Awaitable[Credentials]],
        *,
        on_revoked: OnRevoked,
        on_token: OnToken,
        share: TokenShare | None = None,
    ) -> PlatformContext:
        """Return the context of *conn*'s runtime, creating the runtime on first use.

        :param credentials: Opens the connection's credentials (called only to create it).
        :param share: Where its tokens are shared with other processes, if anywhere.
        """
        async with self._lock:
            runtime = self._open.get(conn.id)
            if runtime is None:
                runtime = self._new(
                    platform,
                    conn.id,
                    conn.store_url,
                    await credentials(),
                    conn.settings,
                    on_revoked=on_revoked,
                    on_token=on_token,
                    share=share,
                )
                self._open[conn.id] = runtime
        return runtime.ctx

    def revoked(self, connection_id: str) -> bool:
        """Whether the connection's runtime saw its credentials rejected."""
        runtime = self._open.get(connection_id)
        return runtime is not None and runtime.revoked

    async def drop(self, connection_id: str) -> None:
        """Close the connection's runtime, if one is open (the next use creates a new one)."""
        runtime = self._open.pop(connection_id, None)
        if runtime is not None:
            await self._close(connection_id, runtime)

    async def close(self) -> None:
        """Close every runtime."""
        for connection_id in list(self._open):
            await self.drop(connection_id)

    async def _close(self, connection_id: str, runtime: ConnectionRuntime) -> None:
        try:
            await runtime.aclose()
        finally:
            self._closed[connection_id] = self._closed.get(connection_id, ConnectionStats()) + ConnectionStats.of(
                runtime
            )

    @property
    def stats(self) -> HubStats:
        """The counts of every runtime, open and closed, in total and per connection."""
        by_connection = dict(self._closed)
        for connection_id, runtime in self._open.items():
            by_connection[connection_id] = by_connection.get(connection_id, ConnectionStats()) + ConnectionStats.of(
                runtime
            )
        total = sum(by_connection.values(), ConnectionStats())
        return HubStats(
            logins=total.logins,
            refreshes=total.refreshes,
            requests=total.requests,
            retries=total.retries,
            by_connection=by_connection,
        )
