"""The steps of onboarding, shared by the pages and the JSON API.

:class:`Onboarding` knows the platforms a channel offers, normalises store URLs under
the hub's egress policy, and makes a connection: parse the credentials with the
platform's schema, validate them against the store within a time bound (log in and
probe every capability), and only then store the connection. Every failure comes back
as a :class:`~storelink.connect.failures.Failure`; nothing about the credentials is
logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from attrs import frozen

from storelink.connect.backend import ConnectHub
from storelink.connect.channels import Channel
from storelink.connect.failures import Failure, authorization_rejected, describe_failure, timed_out
from storelink.credentials import Credentials
from storelink.errors import ConfigurationError, CredentialsError, PluginError, StorelinkError
from storelink.keyonboarding import check_settings
from storelink.models import Connection, PlatformInfo, StoreURL
from storelink.onboarding import CallbackError, PendingAuthorization, check_callback
from storelink.plugins import Platform

__all__ = ["DEFAULT_VALIDATE_TIMEOUT", "Offer", "Onboarding"]

#: Seconds a connection attempt may take before the merchant is told to try again. The
#: hub bounds its own check (10 s by default); this is the outer bound of the whole
#: attempt, storing included.
DEFAULT_VALIDATE_TIMEOUT = 15.0

log = logging.getLogger("storelink.connect")


@frozen(kw_only=True)
class Offer:
    """A platform as the start page lists it.

    :param slug: The platform slug.
    :param title: Its human name, or ``None`` when its plugin failed to load.
    """

    slug: str
    title: str | None


class Onboarding:
    """Connect stores through a hub.

    :param hub: The hub that validates and stores connections.
    :param validate_timeout: Seconds allowed for the check of the credentials.
    """

    def __init__(self, hub: ConnectHub, *, validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT) -> None:
        self.hub = hub
        self.validate_timeout = validate_timeout

    def platform(self, slug: str) -> Platform:
        """Return platform *slug*.

        :raises PluginError: It is not installed or failed to load.
        """
        return self.hub.registry.platform(slug)

    def offered(self, channel: Channel) -> list[str]:
        """Return the slugs of the installed platforms *channel* offers, sorted."""
        return [slug for slug in self.hub.registry.available() if channel.allows_platform(slug)]

    def offers(self, slugs: list[str]) -> list[Offer]:
        """Return the start page's entries for *slugs*, sorted by title.

        A plugin that fails to load stays in the list, without a title, and its error
        is logged: a broken plugin must not silently disappear.
        """
        offers = []
        for slug in slugs:
            try:
                offers.append(Offer(slug=slug, title=self.platform(slug).info.title))
            except PluginError:
                log.exception("platform %s failed to load", slug)
                offers.append(Offer(slug=slug, title=None))
        return sorted(offers, key=lambda o: (o.title is None, (o.title or o.slug).casefold()))

    def normalize(self, platform: Platform, raw: str) -> StoreURL:
        """Return the canonical form of the store URL *raw*.

        :raises StoreURLError: It is not acceptable; the message says why.
        """
        return platform.normalize_store_url(raw, allow_loopback=self.hub.egress.allow_loopback)

    async def connect(
        self,
        platform: Platform,
        store_url: StoreURL,
        credentials: Mapping[str, str],
        settings: Mapping[str, str] | None = None,
        *,
        label: str | None = None,
    ) -> Connection | Failure:
        """Check the credentials against the store and, if they work, store the connection.

        The credentials and settings are parsed first, so a malformed value is refused
        without a network call; then the hub logs in, probes every capability and
        stores the connection.

        :param credentials: The values typed, by credential field name.
        :param settings: Values for the platform's settings schema, by name.
        :return: The new connection, or why it could not be made.
        """
        info = platform.info
        try:
            parsed = info.credential_schema.parse(credentials)
        except CredentialsError as exc:
            return Failure(code="invalid_credentials", message=exc.message, field=exc.field)
        try:
            chosen = check_settings(info, {k: v for k, v in (settings or {}).items() if v.strip()})
        except ConfigurationError as exc:
            return Failure(code="invalid_settings", message=exc.message, field=exc.field)
        except CredentialsError as exc:  # a setting declared secret: the plugin's bug, named
            return Failure(code="invalid_settings", message=exc.message, field=exc.field)
        return await self._store(info, store_url, parsed, chosen, label)

    async def complete(
        self,
        platform: Platform,
        pending: PendingAuthorization,
        *,
        query: str,
        params: Mapping[str, str],
        app: Credentials,
        channel_name: str,
        label: str | None = None,
    ) -> Connection | Failure:
        """Finish an OAuth authorization whose state was claimed, and store the connection.

        Checks the callback (declined, failed, wrong store, the platform's own
        verification), has the plugin exchange the code, then validates the
        credentials it returned exactly like typed ones (login, capability probe)
        before storing them.

        :param query: The callback's raw query; *params* the same, decoded.
        :param app: The channel's app credentials on the platform.
        :param channel_name: The channel, as the merchant knows it.
        :return: The new connection, or why it could not be made.
        """
        info = platform.info
        try:
            check_callback(
                platform,
                pending,
                query=query,
                params=params,
                app=app,
                allow_loopback=self.hub.egress.allow_loopback,
                channel_name=channel_name,
            )
        except CallbackError as exc:
            failure = describe_failure(exc, info)
            _log_failure(info, pending.store_url, failure)
            return failure
        except PluginError as exc:
            return self._failed(info, pending.store_url, exc)
        try:
            async with asyncio.timeout(self.validate_timeout):
                obtained = await self.hub.complete_authorization(
                    info.slug,
                    store_url=pending.store_url,
                    params=params,
                    app_credentials=app,
                    redirect_uri=pending.redirect_uri,
                    code_verifier=pending.code_verifier,
                )
        except TimeoutError:
            failure = timed_out(info, self.validate_timeout)
        except CredentialsError:
            failure = authorization_rejected(info)
        except StorelinkError as exc:
            return self._failed(info, pending.store_url, exc)
        else:
            try:
                parsed = info.credential_schema.parse(obtained)
            except CredentialsError as exc:
                problem = f"returned credentials that do not fit its credential_schema: {exc.message}"
                error = PluginError(problem, plugin=info.slug, hook="complete_authorization")
                return self._failed(info, pending.store_url, error)
            return await self._store(info, pending.store_url, parsed, {}, label)
        _log_failure(info, pending.store_url, failure)
        return failure

    async def connect_delivered(
        self, platform: Platform, pending: PendingAuthorization, *, label: str | None = None
    ) -> Connection | Failure:
        """Validate the credentials an approval flow's platform POSTed for *pending* and store the connection.

        They were parsed with the credential schema when they arrived; they are
        checked exactly like typed ones (login, capability probe) before storing.

        :return: The new connection, or why it could not be made.
        """
        info = platform.info
        try:
            parsed = info.credential_schema.parse(pending.credentials or {})
        except CredentialsError as exc:
            return Failure(code="invalid_credentials", message=exc.message, field=exc.field)
        return await self._store(info, pending.store_url, parsed, {}, label)

    def _failed(self, info: PlatformInfo, store_url: StoreURL, exc: StorelinkError) -> Failure:
        failure = describe_failure(exc, info, str(store_url))
        if failure.code in ("plugin_error", "internal_error"):
            log.error("connecting %s at %s failed", info.slug, store_url, exc_info=exc)
        _log_failure(info, store_url, failure)
        return failure

    async def _store(
        self,
        info: PlatformInfo,
        store_url: StoreURL,
        parsed: Credentials,
        chosen: Mapping[str, str],
        label: str | None,
    ) -> Connection | Failure:
        """Validate *parsed* against the store within the time bound, then store the connection."""
        try:
            async with asyncio.timeout(self.validate_timeout):
                connection = await self.hub.connect(
                    info.slug, store_url=store_url, credentials=parsed, settings=chosen, label=label
                )
        except TimeoutError:
            failure = timed_out(info, self.validate_timeout)
        except StorelinkError as exc:
            failure = describe_failure(exc, info, str(store_url))
            if failure.code in ("plugin_error", "internal_error"):
                log.error("connecting %s at %s failed", info.slug, store_url, exc_info=exc)
        else:
            log.info("connected %s at %s as %s", info.slug, store_url, connection.id)
            return connection
        _log_failure(info, store_url, failure)
        return failure


def _log_failure(info: PlatformInfo, store_url: StoreURL, failure: Failure) -> None:
    log.info("connecting %s at %s failed: %s", info.slug, store_url, failure.code)
