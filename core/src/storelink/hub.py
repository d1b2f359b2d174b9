"""The host's API: connect merchants' stores, keep their keys sealed, open sessions.

:class:`Hub` is where a host application starts::

    async with await Hub.open() as hub:
        conn = await hub.connect("occ", store_url="https://shop.example.com", credentials={...})
        async with hub.session(conn.id) as session:
            async for product in session.products():
                ...

A hub holds a connection store (SQLite by default), a vault over a key ring, the
egress policy and HTTP settings, and one :class:`~storelink.http.ConnectionRuntime` per
connection in use (its pooled client and tokens; :mod:`storelink.runtimes`), closed
with the hub.

Connections move between statuses, each move firing ``connection_status_changed``:

- ``active``: usable;
- ``needs_attention``: :meth:`Hub.check` found a capability denied;
- ``revoked``: the platform rejected the key; every call is refused without network
  traffic until :meth:`Hub.reconnect` gives a new key (or :meth:`Hub.check` finds the
  old one accepted again);
- ``removed``: :meth:`Hub.remove` erased the credentials.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
import httpx
import platformdirs

from storelink.context import PlatformContext
from storelink.credentials import Credentials, Secret
from storelink.errors import ConnectionStateError, CredentialsError, RetryableError
from storelink.events import Events
from storelink.http import Clock, EgressPolicy, HttpConfig, SystemClock
from storelink.http.tokenstore import StoreTokens, share_from_env, wall_clock
from storelink.keyonboarding import VALIDATION_TTL, KeyOnboarding, Validation, within
from storelink.ledger import OrderLedger
from storelink.models import AccessReport, AccessToken, Connection, ConnectionStatus, StoreURL
from storelink.paging import PagingConfig
from storelink.plugins import Platform, Registry, default_registry
from storelink.runtimes import HubStats, RuntimePool
from storelink.session import Session
from storelink.store import ConnectionStore, open_store
from storelink.vault import KeyRing, Vault, open_credentials

__all__ = ["VALIDATION_TTL", "Hub", "Validation", "default_directory"]

#: The embedded default's directory: SQLite file ``storelink.db`` and key file ``keys``.
APP_NAME = "storelink"


def _now() -> datetime:
    return datetime.now(UTC)


def default_directory() -> Path:
    """Return (creating it, mode 0700) the user data directory of the embedded default."""
    path = platformdirs.user_data_path(APP_NAME, appauthor=False)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class Hub:
    """Connections, their sealed credentials, and the clients that call their stores.

    Make one with :meth:`open`; the constructor takes the parts already built.

    :param store: The migrated connection store.
    :param vault: Seals and opens credentials.
    :param egress: Where HTTP calls may go.
    :param registry: The plugins.
    :param http: Timeouts, limits and retries of every client.
    :param clock: Time for tokens, back-off and the order ledger's quiet period.
    :param transports: In-process transports by store origin (simulators in tests).
    :param paging: Page limit and concurrency of the page loop.
    :param validate_timeout: Seconds a validation (login and capability probes) may take.
    :param owns_store: Close *store* when the hub closes.
    :param share_tokens: Keep access tokens in the store (sealed) for every process and
        machine that uses it, with one renewal at a time across all of them; ``False``
        keeps each process's tokens to itself.
    """

    def __init__(
        self,
        *,
        store: ConnectionStore,
        vault: Vault,
        egress: EgressPolicy,
        registry: Registry,
        http: HttpConfig,
        clock: Clock,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        paging: PagingConfig | None = None,
        validate_timeout: float = 10.0,
        owns_store: bool = False,
        share_tokens: bool = True,
    ) -> None:
        self.store = store
        self.vault = vault
        self.egress = egress
        self.registry = registry
        self.http = http
        self.clock = clock
        self.paging = paging or PagingConfig()
        self.validate_timeout = validate_timeout
        # Longer than any request may stay in flight: after it, an unanswered order is over.
        quiet = max(http.deadline, 2 * http.read_timeout)
        self.ledger = OrderLedger(store, sleep=clock.sleep, quiet_period=quiet)
        self.runtimes = RuntimePool(egress=egress, http=http, clock=clock, transports=transports)
        self._owns_store = owns_store
        self.share_tokens = share_tokens
        self._connections: dict[str, Connection] = {}
        #: Where the hub and its sessions fire every event.
        self.events = Events(registry)
        #: The key-form onboarding: validation and saving of typed credentials.
        self.onboarding = KeyOnboarding(
            registry=registry,
            runtimes=self.runtimes,
            store=store,
            vault=vault,
            clock=clock,
            egress=egress,
            validate_timeout=validate_timeout,
            shared_tokens=lambda conn: self._token_share(conn) if self.share_tokens else None,
        )

    @classmethod
    async def open(
        cls,
        *,
        database: str | os.PathLike[str] | ConnectionStore | None = None,
        keys: KeyRing | str | os.PathLike[str] | None = None,
        egress: EgressPolicy | None = None,
        registry: Registry | None = None,
        http: HttpConfig | None = None,
        clock: Clock | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        paging: PagingConfig | None = None,
        validate_timeout: float = 10.0,
        share_tokens: bool | None = None,
    ) -> Hub:
        """Open a hub, with the embedded defaults for what is not given.

        :param database: A store URL or path (:func:`storelink.store.open_store`), or a
            store (left open when the hub closes). Default: ``storelink.db`` in the user
            data directory.
        :param keys: A key ring, or the path of a key file (created, mode 0600, if
            missing). Default: ``STORELINK_KEYS`` if set, else the key file ``keys`` in
            the user data directory.
        :param egress: Default :meth:`EgressPolicy.from_env` (loopback only with
            ``STORELINK_ALLOW_LOOPBACK=1``).
        :param registry: Default: the process's registry of installed plugins.
        :param http: Default :class:`HttpConfig` ().
        :param clock: Default: the system clock.
        :param transports: In-process transports by store origin, such as
            ``{"http://127.0.0.1:9": httpx.ASGITransport(simulator.app)}``.
        :param paging: Default :class:`PagingConfig` ().
        :param validate_timeout: Seconds a validation may take.
        :param share_tokens: Share access tokens through the store (see :class:`Hub`).
            Default: on, unless ``STORELINK_SHARE_TOKENS=0``.
        :raises ConfigurationError: The database or the key ring is unusable, or
            ``STORELINK_SHARE_TOKENS`` is neither 1 nor 0.
        """
        share = share_from_env() if share_tokens is None else share_tokens
        if isinstance(keys, KeyRing):
            ring = keys
        elif keys is not None:
            ring = KeyRing.load_or_create(keys)
        else:
            ring = KeyRing.from_env_or_file(default_directory() / "keys")
        if database is None or isinstance(database, str | os.PathLike):
            store = open_store(default_directory() / "storelink.db" if database is None else database)
            owns = True
        else:
            store, owns = database, False
        try:
            await store.migrate()
        except BaseException:
            if owns:
                await store.close()
            raise
        return cls(
            store=store,
            vault=Vault(ring),
            egress=egress or EgressPolicy.from_env(),
            registry=registry or default_registry(),
            http=http or HttpConfig(),
            clock=clock or SystemClock(),
            transports=transports,
            paging=paging,
            validate_timeout=validate_timeout,
            owns_store=owns,
            share_tokens=share,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection's client, and the store if the hub opened it."""
        try:
            await self.runtimes.close()
        finally:
            if self._owns_store:
                await self.store.close()

    def __repr__(self) -> str:
        return f"<Hub store={self.store!r} open={len(self.runtimes)}>"

    # ------------------------------------------------------------------ platforms

    def platform(self, slug: str) -> Platform:
        """Return the platform *slug*.

        :raises PluginError: It is not installed, or failed to load.
        """
        return self.registry.platform(slug)

    @property
    def stats(self) -> HubStats:
        """Logins, refreshes, requests and retries, in total and per connection."""
        return self.runtimes.stats

    # ------------------------------------------------------------------ onboarding

    async def _bounded(self, handle: Platform, work: Awaitable[AccessReport]) -> AccessReport:
        return await within(self.validate_timeout, handle, work)

    async def validate(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None = None,
    ) -> Validation:
        """Check a store URL and credentials against the store, storing nothing.

        Normalises the URL, parses the credentials with the platform's schema, logs in
        and probes each capability, all within ``validate_timeout`` seconds. A denied
        capability is reported, not raised.

        :param platform: The platform slug (``occ``).
        :param store_url: What the merchant typed, or a :class:`~storelink.StoreURL`.
        :param credentials: Values by credential field name (or parsed
            :class:`~storelink.Credentials`).
        :param settings: Values of the platform's settings schema.
        :raises StoreURLError: The URL is not acceptable.
        :raises EgressError: It points where storelink does not connect.
        :raises CredentialsError: The credentials are malformed or were rejected.
        :raises RetryableError: The store is unreachable, unavailable, or too slow.
        """
        return await self.onboarding.validate(platform, store_url=store_url, credentials=credentials, settings=settings)

    async def connect(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Connection:
        """Validate, then store a new connection with its credentials sealed.

        Fires ``connection_created``.

        :param label: A name for people (``"Acme EU store"``).
        :return: The new, ``active`` connection.
        :raises AuthorizationError: A capability is denied (``.capability`` names the
            first); nothing is stored.
        :raises StoreURLError: As :meth:`validate`, and the other errors it raises.
        """
        validation = await self.validate(platform, store_url=store_url, credentials=credentials, settings=settings)
        return await self.save(validation, label=label)

    async def complete_authorization(
        self,
        platform: str,
        *,
        store_url: StoreURL,
        params: Mapping[str, str],
        app_credentials: Credentials,
        redirect_uri: str,
        code_verifier: Secret | None,
    ) -> Credentials:
        """Exchange an OAuth callback's code for credentials, storing nothing.

        Runs the platform's ``complete_authorization`` over a throw-away client on the
        store (egress guard, timeouts and retries apply), within ``validate_timeout``
        seconds. The caller (:mod:`storelink.onboarding`) has checked the callback;
        pass the result to :meth:`validate` or :meth:`connect` like typed credentials.

        :raises CredentialsError: The platform refused the code.
        :raises RetryableError: The platform is unreachable, unavailable, or too slow.
        """
        handle = self.platform(platform)

        async def exchange(ctx: PlatformContext) -> Credentials:
            try:
                async with asyncio.timeout(self.validate_timeout):
                    return await handle.complete_authorization(
                        ctx,
                        params=params,
                        app_credentials=app_credentials,
                        redirect_uri=redirect_uri,
                        code_verifier=code_verifier,
                    )
            except TimeoutError:
                raise RetryableError(
                    f"the platform did not answer within {self.validate_timeout:g} s",
                    platform=handle.slug,
                    operation="complete_authorization",
                ) from None

        return await self.runtimes.probe(handle, store_url, Credentials({}), {}, exchange)

    async def save(self, validation: Validation, *, label: str | None = None) -> Connection:
        """Store a connection from a :meth:`validate` result, without probing the store again.

        Lets a caller show the validation report and then save what was checked, with
        one login instead of two. Fires ``connection_created``.

        :param validation: A result of :meth:`validate` on this hub, at most
            five minutes old.
        :param label: A name for people (``"Acme EU store"``).
        :return: The new, ``active`` connection.
        :raises AuthorizationError: The validation found a capability denied.
        :raises InputError: The validation is too old; validate again.
        """
        conn = await self.onboarding.save(validation, label=label)
        self._connections[conn.id] = conn
        self.events.connection_created(conn)
        return conn

    async def _unseal(self, conn: Connection) -> Credentials:
        envelopes, plain = await self.store.get_credentials(conn.id)
        if not envelopes and not plain:
            raise ConnectionStateError(f"connection {conn.id} has no credentials", status=conn.status.value)
        return open_credentials(self.vault, envelopes, plain, connection_id=conn.id, platform=conn.platform)

    # ------------------------------------------------------------------ connections

    async def connections(self, *, status: ConnectionStatus | None = None) -> list[Connection]:
        """Return the connections, oldest first; removed ones only when *status* asks for them."""
        found = await self.store.list_connections(status=status)
        return [c for c in found if status is not None or c.status is not ConnectionStatus.REMOVED]

    async def get(self, connection_id: str) -> Connection:
        """Return the connection *connection_id* (removed ones too).

        :raises ConnectionStateError: There is no such connection.
        """
        conn = await self.store.get_connection(connection_id)
        if conn is None:
            raise ConnectionStateError(f"there is no connection {connection_id!r}")
        self._connections[conn.id] = conn
        return conn

    def cached(self, connection_id: str) -> Connection | None:
        """Return the connection as this hub last saw it, without reading the store."""
        return self._connections.get(connection_id)

    async def _live(self, connection_id: str) -> Connection:
        conn = await self.get(connection_id)
        if conn.status is ConnectionStatus.REMOVED:
            raise ConnectionStateError(f"connection {connection_id} was removed", status=conn.status.value)
        return conn

    async def check(self, connection_id: str) -> AccessReport:
        """Log in again and probe every capability; update the status to match.

        ``active`` if everything is allowed, ``needs_attention`` if a capability is
        denied, ``revoked`` if the key is rejected. A revoked connection gets one
        fresh login attempt here.

        :raises CredentialsError: The key is rejected (the connection is now revoked).
        :raises RetryableError: The store is unreachable or too slow.
        :raises ConnectionStateError: No such connection, or it was removed.
        """
        conn = await self._live(connection_id)
        handle = self.platform(conn.platform)
        if conn.status is ConnectionStatus.REVOKED or self.runtimes.revoked(connection_id):
            await self.runtimes.drop(connection_id)
        ctx = await self.context(conn)
        try:
            report = await self._bounded(handle, handle.check_access(ctx))
        except CredentialsError as exc:
            await self._set_status(connection_id, ConnectionStatus.REVOKED, reason=exc.message)
            raise
        if report.ok:
            await self._set_status(connection_id, ConnectionStatus.ACTIVE, reason=None)
        else:
            missing = ", ".join(c.value for c in report.missing)
            await self._set_status(connection_id, ConnectionStatus.NEEDS_ATTENTION, reason=f"not allowed: {missing}")
        return report

    async def reconnect(self, connection_id: str, *, credentials: Mapping[str, str | Secret | None]) -> Connection:
        """Give a connection new credentials, keeping its id, settings and history.

        The new credentials are validated first; only then do they replace the old
        ones, and the connection is ``active`` again.

        :raises AuthorizationError: The new key lacks a capability; nothing changed.
        :raises CredentialsError: The new key is malformed or rejected; nothing changed.
        :raises ConnectionStateError: No such connection, or it was removed.
        """
        conn = await self._live(connection_id)
        await self.onboarding.replace_credentials(conn, credentials)
        return await self._set_status(conn.id, ConnectionStatus.ACTIVE, reason=None)

    async def remove(self, connection_id: str) -> Connection:
        """Erase the connection's credentials and mark it ``removed`` (it stays listed as such).

        :raises ConnectionStateError: There is no such connection.
        """
        conn = await self.get(connection_id)
        await self.runtimes.drop(conn.id)
        await self.store.delete_credentials(conn.id)
        return await self._set_status(conn.id, ConnectionStatus.REMOVED, reason=None)

    async def _set_status(self, connection_id: str, status: ConnectionStatus, *, reason: str | None) -> Connection:
        """Store a status (and the reason, as ``last_error``); fire the event if it changed."""
        current = await self.get(connection_id)
        if current.status is status and current.last_error == reason:
            return current
        updated = await self.store.update_connection(
            attrs.evolve(current, status=status, updated_at=_now()), last_error=reason
        )
        self._connections[connection_id] = updated
        if current.status is not status:
            self.events.connection_status_changed(updated, current.status, status, reason)
        return updated

    # ------------------------------------------------------------------ sessions

    def session(self, connection_id: str) -> Session:
        """Return the session of *connection_id*; use it as ``async with hub.session(id) as s``."""
        return Session(self, connection_id)

    async def context(self, conn: Connection) -> PlatformContext:
        """Return the platform context of *conn*, opening its client on first use.

        The client reports a rejected login (the connection becomes ``revoked``) and
        every new token (``token_refreshed``).
        """
        handle = self.platform(conn.platform)

        async def revoked(reason: str) -> None:
            await self._set_status(conn.id, ConnectionStatus.REVOKED, reason=reason)

        def token(audience: str, value: AccessToken, renewed: bool) -> None:
            self.events.token_refreshed(conn.id, conn.platform, audience, value.expires_in, renewed)

        share = self._token_share(conn) if self.share_tokens else None
        return await self.runtimes.context(
            conn, handle, lambda: self._unseal(conn), on_revoked=revoked, on_token=token, share=share
        )

    def _token_share(self, conn: Connection) -> StoreTokens:
        return StoreTokens(
            self.store,
            self.vault,
            connection_id=conn.id,
            platform=conn.platform,
            now=wall_clock(self.clock),
        )
