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
import secrets
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
import httpx
import platformdirs
from attrs import field, frozen

from storelink.context import PlatformContext
from storelink.credentials import Credentials, Secret, SettingsSchema
from storelink.errors import (
    AuthorizationError,
    ConnectionStateError,
    CredentialsError,
    InputError,
    RetryableError,
)
from storelink.http import Clock, EgressPolicy, HttpConfig, SystemClock
from storelink.http.tokenstore import ProbeTokens, StoreTokens, share_from_env, wall_clock
from storelink.ledger import OrderLedger
from storelink.models import AccessReport, AccessToken, Connection, ConnectionStatus, StoreURL
from storelink.paging import PagingConfig
from storelink.plugins import Platform, Registry, default_registry
from storelink.runtimes import HubStats, RuntimePool
from storelink.session import Session
from storelink.store import ConnectionStore, open_store
from storelink.vault import KeyRing, Vault

__all__ = ["Hub", "Validation", "default_directory"]

#: The embedded default's directory: SQLite file ``storelink.db`` and key file ``keys``.
APP_NAME = "storelink"


@frozen(kw_only=True)
class Validation:
    """What :meth:`Hub.validate` found: the normalised store URL and what the key may do.

    :param platform: The platform slug.
    :param store_url: The canonical store URL that was checked.
    :param report: Each capability, allowed or not.
    """

    platform: str
    store_url: StoreURL
    report: AccessReport
    credentials: Credentials = field(repr=False, eq=False)
    settings: Mapping[str, str] = field(factory=dict)
    checked_at: float = field(factory=time.monotonic, repr=False, eq=False)
    tokens: ProbeTokens | None = field(default=None, repr=False, eq=False)

    @property
    def ok(self) -> bool:
        """Whether every capability is allowed, so :meth:`Hub.save` would accept it."""
        return self.report.ok


#: How long a :class:`Validation` may be used to save a connection without probing again.
VALIDATION_TTL = 300.0


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

    def _prepare(
        self,
        platform: str,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None,
    ) -> tuple[Platform, StoreURL, Credentials, dict[str, str]]:
        handle = self.platform(platform)
        raw = store_url.url if isinstance(store_url, StoreURL) else store_url
        url = handle.normalize_store_url(raw, allow_loopback=self.egress.allow_loopback)
        parsed = handle.info.credential_schema.parse(credentials)
        schema = handle.info.settings_schema
        chosen = schema.check_settings(settings or {})
        if isinstance(schema, SettingsSchema):
            schema.load(chosen)  # the typed model refuses them now, not at the first hook
        return handle, url, parsed, chosen

    async def _probe(
        self,
        handle: Platform,
        store_url: StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str],
        tokens: ProbeTokens | None = None,
    ) -> AccessReport:
        """Log in and probe every capability with a throw-away client, within the time limit."""
        return await self.runtimes.probe(
            handle,
            store_url,
            credentials,
            settings,
            lambda ctx: self._bounded(handle, handle.check_access(ctx)),
            on_token=tokens,
        )

    async def _bounded(self, handle: Platform, work: Awaitable[AccessReport]) -> AccessReport:
        try:
            async with asyncio.timeout(self.validate_timeout):
                report = await work
        except TimeoutError:
            raise RetryableError(
                f"the store did not answer within {self.validate_timeout:g} s",
                platform=handle.slug,
                operation="check_access",
            ) from None
        return report

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
        handle, url, parsed, chosen = self._prepare(platform, store_url, credentials, settings)
        tokens = ProbeTokens(self.clock)  # the first session of a saved connection reuses them
        report = await self._probe(handle, url, parsed, chosen, tokens)
        return Validation(
            platform=handle.slug, store_url=url, report=report, credentials=parsed, settings=chosen, tokens=tokens
        )

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
        if time.monotonic() - validation.checked_at > VALIDATION_TTL:
            raise InputError(f"the validation is older than {VALIDATION_TTL:g} s; validate again", path="validation")
        _require(validation.report)
        handle = self.platform(validation.platform)
        parsed, url, chosen = validation.credentials, validation.store_url, validation.settings
        now = _now()
        conn = Connection(
            id=f"{handle.slug}_{secrets.token_hex(6)}",
            platform=handle.slug,
            store_url=url,
            status=ConnectionStatus.ACTIVE,
            created_at=now,
            updated_at=now,
            settings=chosen,
            label=label,
            credentials_expire_at=handle.credentials_expire_at(parsed),
        )
        envelopes, plain = self._seal(conn, parsed)
        await self.store.insert_connection(conn, envelopes, plain)
        if self.share_tokens and validation.tokens is not None:
            await validation.tokens.keep(self._token_share(conn))
        self._connections[conn.id] = conn
        handle.fire_connection_created(conn)
        return conn

    def _seal_secret(self, conn: Connection, field: str, value: Secret) -> str:
        """Seal one secret of *conn* (a credential field, or a shared token's field)."""
        return self.vault.seal(value.reveal().encode(), connection_id=conn.id, platform=conn.platform, field=field)

    def _seal(self, conn: Connection, credentials: Credentials) -> tuple[dict[str, str], dict[str, str]]:
        envelopes: dict[str, str] = {}
        plain: dict[str, str] = {}
        for name, value in credentials.items():
            if isinstance(value, Secret):
                envelopes[name] = self._seal_secret(conn, name, value)
            else:
                plain[name] = value
        return envelopes, plain

    async def _unseal(self, conn: Connection) -> Credentials:
        envelopes, plain = await self.store.get_credentials(conn.id)
        if not envelopes and not plain:
            raise ConnectionStateError(f"connection {conn.id} has no credentials", status=conn.status.value)
        values: dict[str, str | Secret] = dict(plain)
        for name, envelope in envelopes.items():
            clear = self.vault.open(envelope, connection_id=conn.id, platform=conn.platform, field=name)
            values[name] = Secret(clear.decode())
        return Credentials(values)

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
        handle, url, parsed, settings = self._prepare(conn.platform, conn.store_url, credentials, conn.settings)
        _require(await self._probe(handle, url, parsed, settings))
        envelopes, plain = self._seal(conn, parsed)
        await self.store.replace_credentials(conn.id, envelopes, plain)
        await self.runtimes.drop(conn.id)
        expiry = handle.credentials_expire_at(parsed)
        if expiry != conn.credentials_expire_at:
            await self.store.update_connection(attrs.evolve(conn, credentials_expire_at=expiry, updated_at=_now()))
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
            self.platform(updated.platform).fire_status_changed(updated, current.status, status, reason)
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
            self.registry.fire(
                "token_refreshed",
                connection_id=conn.id,
                platform=conn.platform,
                audience=audience,
                expires_in=value.expires_in,
                renewed=renewed,
            )

        share = self._token_share(conn) if self.share_tokens else None
        return await self.runtimes.context(
            conn, handle, lambda: self._unseal(conn), on_revoked=revoked, on_token=token, share=share
        )

    def _token_share(self, conn: Connection) -> StoreTokens:
        return StoreTokens(
            self.store,
            self.vault,
            lambda value, field: self._seal_secret(conn, field, value),
            connection_id=conn.id,
            platform=conn.platform,
            now=wall_clock(self.clock),
        )


def _require(report: AccessReport) -> None:
    """Refuse credentials that lack a capability."""
    if not report.ok:
        missing = ", ".join(c.value for c in report.missing)
        raise AuthorizationError(f"the key is not allowed to use: {missing}", capability=report.missing[0].value)
