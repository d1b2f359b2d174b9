"""The state one connect app holds: channels, sessions, CSRF key, templates, hub."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

from starlette.templating import Jinja2Templates

from storelink.connect.channels import Channel
from storelink.connect.flow import Onboarding
from storelink.connect.security import ConnectSessions, CsrfTokens

__all__ = ["TEMPLATES", "ConnectService", "NotReadyError"]

TEMPLATES = Path(__file__).with_name("templates")


class NotReadyError(Exception):
    """The app is starting or stopping: its hub is not open."""


class ConnectService:
    """Everything the pages and the API share.

    :param channels: The registered channels.
    :param development: The local development channel, when no channel is configured.
    :param sessions: The live connect sessions.
    :param csrf: The CSRF token issuer.
    :param public_url: The app's public base URL, for the links the API returns;
        ``None`` to use the URL each request arrived on.
    """

    def __init__(
        self,
        *,
        channels: Sequence[Channel],
        development: Channel | None,
        sessions: ConnectSessions,
        csrf: CsrfTokens,
        public_url: str | None,
    ) -> None:
        self.channels = tuple(channels)
        self.development = development
        self.sessions = sessions
        self.csrf = csrf
        self.public_url = public_url.rstrip("/") if public_url else None
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.onboarding: Onboarding | None = None

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

    @staticmethod
    def new_dev_state() -> str:
        """Return a random ``state`` for a session of the development channel."""
        return secrets.token_urlsafe(16)
