"""The state one connect app holds: channels, sessions, authorizations, CSRF key, templates, hub."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from starlette.templating import Jinja2Templates

from storelink.connect.channels import Channel
from storelink.connect.flow import Onboarding
from storelink.connect.security import CsrfTokens, SessionRegistry
from storelink.credentials import Credentials, Secret
from storelink.errors import ConfigurationError
from storelink.onboarding import CALLBACK_PATH, AuthorizationRegistry, LocalAuthorizations, app_credentials
from storelink.plugins import Platform

__all__ = ["DELIVERY_PATH", "RETURN_PATH", "TEMPLATES", "ConnectService", "NotReadyError"]

#: Where an approval flow's platform POSTs the credentials: ``{DELIVERY_PATH}/{platform}``.
DELIVERY_PATH = "/oauth/deliver"
#: Where an approval flow's platform sends the browser back: ``{RETURN_PATH}/{platform}``.
RETURN_PATH = "/oauth/return"

TEMPLATES = Path(__file__).with_name("templates")


class NotReadyError(Exception):
    """The app is starting or stopping: its hub is not open."""


class ConnectService:
    """Everything the pages and the API share.

    :param channels: The registered channels.
    :param development: The local development channel, when no channel is configured.
    :param sessions: Where the connect sessions live.
    :param csrf: The CSRF token issuer.
    :param public_url: The app's public base URL, for the links the API returns;
        ``None`` to use the URL each request arrived on. OAuth platforms need it: the
        redirect URI is ``{public_url}/oauth/callback``, never built from a request.
    :param authorizations: The OAuth authorizations under way.
    :param apps: The deployment's app credentials by platform, for channels (and the
        development channel) that configure none of their own.
    """

    def __init__(
        self,
        *,
        channels: Sequence[Channel],
        development: Channel | None,
        sessions: SessionRegistry,
        csrf: CsrfTokens,
        public_url: str | None,
        authorizations: AuthorizationRegistry | None = None,
        apps: Mapping[str, Mapping[str, str | Secret]] | None = None,
    ) -> None:
        self.channels = tuple(channels)
        self.development = development
        self.sessions = sessions
        self.csrf = csrf
        self.public_url = public_url.rstrip("/") if public_url else None
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.onboarding: Onboarding | None = None
        self.authorizations: AuthorizationRegistry = (
            authorizations if authorizations is not None else LocalAuthorizations()
        )
        self.apps = {slug: dict(values) for slug, values in (apps or {}).items()}

    @property
    def shared(self) -> bool:
        """Whether another process on the same store serves this one's flows (sessions, states, CSRF)."""
        return self.sessions.shared and self.authorizations.shared and self.csrf.shared

    def every_channel(self) -> dict[str, Channel]:
        """Return the channels sessions may belong to, by id (the development one included)."""
        found = {channel.id: channel for channel in self.channels}
        if self.development is not None:
            found[self.development.id] = self.development
        return found

    def require_onboarding(self) -> Onboarding:
        """Return the onboarding steps over the open hub.

        :raises NotReadyError: The hub is not open (the app is starting or stopping).
        """
        if self.onboarding is None:
            raise NotReadyError
        return self.onboarding

    def channel_for_token(self, token: str) -> Channel | None:
        """Return the channel whose API token is *token* (every channel is compared)."""
        found = None
        for channel in self.channels:
            if channel.accepts_token(token):
                found = channel
        return found

    def callback_uri(self) -> str:
        """Return the exact OAuth redirect URI of this deployment.

        :raises ConfigurationError: The app was created without ``public_url``.
        """
        if self.public_url is None:
            raise ConfigurationError("OAuth platforms need the connect app's public_url (the redirect URI's base)")
        return self.public_url + CALLBACK_PATH

    def approval_uris(self, platform: Platform) -> tuple[str, str]:
        """Return the exact return and delivery URLs of *platform*'s approval flow on this deployment.

        :raises ConfigurationError: The app was created without ``public_url``.
        """
        if self.public_url is None:
            raise ConfigurationError("approval flows need the connect app's public_url (the return URL's base)")
        return f"{self.public_url}{RETURN_PATH}/{platform.slug}", f"{self.public_url}{DELIVERY_PATH}/{platform.slug}"

    def app_credentials(self, channel: Channel, platform: Platform) -> Credentials:
        """Return *channel*'s app credentials on *platform* (its own, else the deployment's).

        :raises ConfigurationError: None are configured, or they are malformed.
        """
        values = channel.app_values(platform.slug) or self.apps.get(platform.slug)
        return app_credentials(platform.info, values, owner=f"channel {channel.id!r}")

    @staticmethod
    def new_dev_state() -> str:
        """Return a random ``state`` for a session of the development channel."""
        return secrets.token_urlsafe(16)
