"""What a platform hook receives: :class:`PlatformContext` and the HTTP protocol."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from attrs import field, frozen

if TYPE_CHECKING:
    import httpx

from storelink.credentials import Credentials, Secret
from storelink.models import StoreURL

__all__ = ["PlatformContext", "PlatformHTTP"]

T = TypeVar("T")


class PlatformHTTP(Protocol):
    """The HTTP client the core gives a platform plugin (``ctx.http``).

    It applies, for every call: the egress guard (the address that was checked is the
    one dialled), timeouts and an overall deadline, the per-store concurrency limit, the
    retry policy, the access token of *audience* (with refresh and the 401 flow), the
    mapping of failures to storelink errors, and log scrubbing.
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
    ) -> httpx.Response:
        """Send a request to the store and return its (successful) response.

        :param method: HTTP method.
        :param path: Path on the store (``/ccadmin/v1/products``), or an absolute URL
            on *base_url*'s host.
        :param operation: The storelink operation, for errors and logs (``fetch_products``).
        :param audience: Attach this audience's access token; ``None`` attaches none
            (for login and refresh calls).
        :param bearer: With ``audience=None``: send ``Authorization: Bearer`` with this
            secret (an application key at login, the current token at refresh). The
            core is the only place a secret is revealed.
        :param idempotent: ``False`` for writes that must not happen twice (create
            order): retried only when the request provably never left; a lost
            response raises :class:`~storelink.OrderOutcomeUnknown` (give *reference*).
        :param base_url: Another origin of the same store (OCC's storefront host);
            egress-guarded like the store URL. Defaults to the store URL.
        :param reference: The order reference, with ``idempotent=False``.
        :return: The response; its status is below 400.
        :raises CredentialsError: 401/403 on a call with ``audience=None``.
        :raises AuthorizationError: 403, or 401 again after a fresh token.
        :raises RetryableError: 429, 5xx, timeouts, connect errors, once the retry
            policy gave up.
        :raises RejectedError: Other 4xx (``NotFoundError`` for 404, ``ConflictError``
            for 409 and 412).
        :raises EgressError: The store's address is not allowed.
        """
        ...

    async def read(
        self,
        method: str,
        path: str,
        *,
        reader: Callable[[httpx.Response], T],
        operation: str,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
    ) -> T:
        """Send a request like :meth:`request` and return ``reader(response)``.

        *reader* decodes the successful response (parses the body, checks for an error
        envelope inside a 2xx) and runs inside the retry loop, so a read is sent again,
        under the same back-off, budget and deadline as a 503, when *reader* raises:

        - :class:`ValueError` (what JSON decoders raise): the body was cut off or is
          not what was expected; after the retries, :class:`~storelink.RetryableError`;
        - :class:`~storelink.RetryableError`: the platform said "try again" inside a
          successful status (an error envelope the plugin classifies as transient).

        Any other error *reader* raises is final and raised as it is. For a write
        (``idempotent=False``) nothing is resent: a body that cannot be read raises
        :class:`~storelink.OrderOutcomeUnknown`.

        :param reader: Turns the response into the hook's value.
        :return: What *reader* returned.
        """
        ...


@frozen(kw_only=True)
class PlatformContext:
    """Everything a platform hook needs about one connection.

    :param connection_id: The connection's id (``"probe"`` while onboarding validates).
    :param platform: The platform slug.
    :param store_url: The store's canonical origin.
    :param credentials: The parsed credentials (secret fields are :class:`Secret`).
    :param settings: Non-secret per-connection settings (``PlatformInfo.settings_schema``).
    :param http: The store's HTTP client.
    :param log: A logger for this connection; its records are scrubbed of secrets.
    """

    connection_id: str
    platform: str
    store_url: StoreURL
    credentials: Credentials = field(repr=False)
    settings: Mapping[str, str] = field(factory=dict)
    http: PlatformHTTP = field(repr=False)
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = field(
        factory=lambda: logging.getLogger("storelink.platform"), repr=False
    )

    def setting(self, name: str, default: str | None = None) -> str | None:
        """Return the setting *name*, or *default* when it is unset or empty."""
        return self.settings.get(name) or default
