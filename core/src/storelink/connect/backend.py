"""What the connect app needs from the hub, as a protocol.

The app is written against :class:`ConnectHub`, so it runs on the real
:class:`storelink.hub.Hub` and, in unit tests, on a small fake. It needs the registry
(the platforms to offer), the egress policy (whether loopback store URLs are
acceptable), ``connect``, which checks the credentials against the store before it
stores anything (one login per attempt), and, for OAuth platforms,
``complete_authorization``, which exchanges a callback's code for credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from storelink.credentials import Credentials, Secret
from storelink.models import Connection, StoreURL
from storelink.plugins import Registry

__all__ = ["ConnectHub", "EgressView"]


class EgressView(Protocol):
    """The part of the hub's egress policy the app reads."""

    @property
    def allow_loopback(self) -> bool:
        """Whether loopback store URLs are acceptable (development and tests only)."""
        ...


class ConnectHub(Protocol):
    """The hub operations the connect flow uses."""

    @property
    def registry(self) -> Registry:
        """The plugins the hub serves: the platforms the start page lists."""
        ...

    @property
    def egress(self) -> EgressView:
        """The egress policy the hub's HTTP calls obey."""
        ...

    async def connect(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Connection:
        """Check the credentials against the store, then store the connection (keys sealed).

        Checking means logging in and probing every capability, within a few seconds.

        :raises StoreURLError: The URL is not acceptable.
        :raises EgressError: The URL points where storelink does not connect.
        :raises CredentialsError: The platform rejected the credentials.
        :raises AuthorizationError: A capability is refused (``.capability`` names it);
            nothing is stored.
        :raises RetryableError: The store could not be reached, or is unavailable.
        """
        ...

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
        """Have the platform exchange an OAuth callback's code for credentials; store nothing.

        :raises CredentialsError: The platform refused the code.
        :raises RetryableError: The platform could not be reached.
        """
        ...
