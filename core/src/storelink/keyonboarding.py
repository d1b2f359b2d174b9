"""Onboarding with typed credentials (the key form): validate against the store, then store sealed.

The steps, the same for the CLI, the connect page and a host calling
:meth:`Hub.connect <storelink.Hub.connect>`::

    prepare: platform, normalised store URL, credentials parsed, settings checked
      ──▶ probe: log in and check every capability, with a throw-away client, in time
      ──▶ Validation (what the key may do; nothing stored)
      ──▶ save: a new connection, its secrets sealed by the vault (storelink.vault.sealing)

:class:`KeyOnboarding` does them for a hub; the hub keeps the host API
(``validate``, ``connect``, ``save``, ``reconnect``), the connection's status and
its events. Credentials obtained by OAuth or an approval flow
(:mod:`storelink.onboarding`) end in the same validation and save.

:func:`check_settings` is the one check of a connection's settings, for every entry
point (the hub, the connect page): unknown, missing and refused settings are a
:class:`~storelink.ConfigurationError` naming the setting, and a typed
:class:`~storelink.SettingsSchema` refuses its values here, not at the first hook.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import attrs
from attrs import field, frozen

from storelink.credentials import Credentials, Secret, SettingsSchema
from storelink.errors import AuthorizationError, InputError, RetryableError
from storelink.http import Clock, EgressPolicy
from storelink.http.tokenstore import ProbeTokens, StoreTokens
from storelink.models import AccessReport, Connection, ConnectionStatus, PlatformInfo, StoreURL
from storelink.plugins import Platform, Registry
from storelink.runtimes import RuntimePool
from storelink.store import ConnectionStore
from storelink.vault import Vault, seal_credentials

__all__ = ["VALIDATION_TTL", "KeyOnboarding", "Validation", "check_settings", "require", "within"]

#: How long a :class:`Validation` may be used to save a connection without probing again.
VALIDATION_TTL = 300.0


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


def check_settings(info: PlatformInfo, values: Mapping[str, str]) -> dict[str, str]:
    """Check *values* as the settings of a connection of *info*'s platform; return the ones set.

    :raises ConfigurationError: A setting is unknown, missing or refused by its
        validator, or the typed settings model refused the values.
    :raises CredentialsError: The schema declares a setting secret (a plugin bug).
    """
    schema = info.settings_schema
    chosen = schema.check_settings(values)
    if isinstance(schema, SettingsSchema):
        schema.load(chosen)  # the typed model refuses them now, not at the first hook
    return chosen


def require(report: AccessReport) -> None:
    """Refuse credentials that lack a capability.

    :raises AuthorizationError: ``.capability`` names the first capability denied.
    """
    if not report.ok:
        missing = ", ".join(c.value for c in report.missing)
        raise AuthorizationError(f"the key is not allowed to use: {missing}", capability=report.missing[0].value)


async def within(seconds: float, handle: Platform, work: Awaitable[AccessReport]) -> AccessReport:
    """Await a capability probe of *handle* for at most *seconds*.

    :raises RetryableError: The store did not answer in time.
    """
    try:
        async with asyncio.timeout(seconds):
            report = await work
    except TimeoutError:
        raise RetryableError(
            f"the store did not answer within {seconds:g} s", platform=handle.slug, operation="check_access"
        ) from None
    return report


def _now() -> datetime:
    return datetime.now(UTC)


class KeyOnboarding:
    """Validate typed credentials against the store and store new connections, for one hub.

    :param registry: The plugins.
    :param runtimes: The hub's clients (a validation uses a throw-away one).
    :param store: The connection store.
    :param vault: Seals the credentials.
    :param clock: Time for the tokens a validation obtains.
    :param egress: Where HTTP calls may go (and whether loopback store URLs are accepted).
    :param validate_timeout: Seconds a validation (login and capability probes) may take.
    :param shared_tokens: The token share of a connection, or ``None`` when tokens are
        not shared; a saved connection's first session reuses its validation's tokens.
    """

    def __init__(
        self,
        *,
        registry: Registry,
        runtimes: RuntimePool,
        store: ConnectionStore,
        vault: Vault,
        clock: Clock,
        egress: EgressPolicy,
        validate_timeout: float,
        shared_tokens: Callable[[Connection], StoreTokens | None],
    ) -> None:
        self.registry = registry
        self.runtimes = runtimes
        self.store = store
        self.vault = vault
        self.clock = clock
        self.egress = egress
        self.validate_timeout = validate_timeout
        self._shared_tokens = shared_tokens

    def __repr__(self) -> str:
        return f"<KeyOnboarding store={self.store!r}>"

    def prepare(
        self,
        platform: str,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None,
    ) -> tuple[Platform, StoreURL, Credentials, dict[str, str]]:
        """Return the platform, the normalised URL, the parsed credentials and the checked settings.

        Nothing goes over the network.

        :raises PluginError: The platform is not installed, or failed to load.
        :raises StoreURLError: The URL is not acceptable.
        :raises CredentialsError: The credentials are malformed.
        :raises ConfigurationError: A setting is (see :func:`check_settings`).
        """
        handle = self.registry.platform(platform)
        raw = store_url.url if isinstance(store_url, StoreURL) else store_url
        url = handle.normalize_store_url(raw, allow_loopback=self.egress.allow_loopback)
        parsed = handle.info.credential_schema.parse(credentials)
        return handle, url, parsed, check_settings(handle.info, settings or {})

    async def probe(
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
            lambda ctx: within(self.validate_timeout, handle, handle.check_access(ctx)),
            on_token=tokens,
        )

    async def validate(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None = None,
    ) -> Validation:
        """Check a store URL and credentials against the store, storing nothing (see :meth:`Hub.validate`)."""
        handle, url, parsed, chosen = self.prepare(platform, store_url, credentials, settings)
        tokens = ProbeTokens(self.clock)  # the first session of a saved connection reuses them
        report = await self.probe(handle, url, parsed, chosen, tokens)
        return Validation(
            platform=handle.slug, store_url=url, report=report, credentials=parsed, settings=chosen, tokens=tokens
        )

    async def save(self, validation: Validation, *, label: str | None = None) -> Connection:
        """Store a new ``active`` connection from *validation*, its secrets sealed (see :meth:`Hub.save`).

        Fires nothing: the hub does.

        :raises InputError: The validation is older than :data:`VALIDATION_TTL`.
        :raises AuthorizationError: It found a capability denied.
        """
        if time.monotonic() - validation.checked_at > VALIDATION_TTL:
            raise InputError(f"the validation is older than {VALIDATION_TTL:g} s; validate again", path="validation")
        require(validation.report)
        handle = self.registry.platform(validation.platform)
        parsed = validation.credentials
        now = _now()
        conn = Connection(
            id=f"{handle.slug}_{secrets.token_hex(6)}",
            platform=handle.slug,
            store_url=validation.store_url,
            status=ConnectionStatus.ACTIVE,
            created_at=now,
            updated_at=now,
            settings=validation.settings,
            label=label,
            credentials_expire_at=handle.credentials_expire_at(parsed),
        )
        envelopes, plain = seal_credentials(self.vault, parsed, connection_id=conn.id, platform=conn.platform)
        await self.store.insert_connection(conn, envelopes, plain)
        share = self._shared_tokens(conn)
        if share is not None and validation.tokens is not None:
            await validation.tokens.keep(share)
        return conn

    async def replace_credentials(self, conn: Connection, credentials: Mapping[str, str | Secret | None]) -> Connection:
        """Validate new *credentials* for *conn*, then replace its stored ones (see :meth:`Hub.reconnect`).

        Closes the connection's client, so the next call logs in with the new
        credentials. Leaves the status to the hub.

        :return: The connection, with the new credentials' expiry.
        :raises AuthorizationError: The new key lacks a capability; nothing changed.
        :raises CredentialsError: It is malformed or rejected; nothing changed.
        """
        handle, url, parsed, settings = self.prepare(conn.platform, conn.store_url, credentials, conn.settings)
        require(await self.probe(handle, url, parsed, settings))
        envelopes, plain = seal_credentials(self.vault, parsed, connection_id=conn.id, platform=conn.platform)
        await self.store.replace_credentials(conn.id, envelopes, plain)
        await self.runtimes.drop(conn.id)
        expiry = handle.credentials_expire_at(parsed)
        if expiry == conn.credentials_expire_at:
            return conn
        return await self.store.update_connection(attrs.evolve(conn, credentials_expire_at=expiry, updated_at=_now()))
