"""What a platform hook receives: :class:`PlatformContext` and the HTTP protocol.

It also holds the operation being run: the core names every request a hook makes
after the hook (:func:`current_operation`), so that errors and logs read the same
for every platform. Requests made inside ``authenticate`` are the ``login``
operation and inside ``refresh_token`` the ``refresh`` operation, whatever the plugin
passes; elsewhere a plugin may name a request itself (``check_access`` probing
``fetch_orders``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from attrs import field, frozen

if TYPE_CHECKING:
    import httpx

from storelink.credentials import Credentials, Secret, SettingsSchema
from storelink.models import StoreURL

__all__ = [
    "LOGIN",
    "REFRESH",
    "TOKEN_OPERATIONS",
    "PlatformContext",
    "PlatformHTTP",
    "current_operation",
    "resolve_operation",
    "running_hook",
]

T = TypeVar("T")
S = TypeVar("S")

#: The operation of every request made inside a platform's ``authenticate``.
LOGIN = "login"
#: The operation of every request made inside a platform's ``refresh_token``.
REFRESH = "refresh"
#: The operations that exchange credentials for a token (their bodies never reach an error).
TOKEN_OPERATIONS = frozenset({LOGIN, REFRESH})

_TOKEN_HOOKS = {"authenticate": LOGIN, "refresh_token": REFRESH}
_OPERATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("storelink_operation", default=None)


def current_operation() -> str | None:
    """Return the operation of the platform hook running now, or ``None`` outside one.

    The hook's name, except :data:`LOGIN` for ``authenticate`` and :data:`REFRESH`
    for ``refresh_token``.
    """
    return _OPERATION.get()


def resolve_operation(given: str | None) -> str | None:
    """Return the operation a request is named for: the core's inside a token hook, else *given*, else the hook's."""
    running = _OPERATION.get()
    if running in TOKEN_OPERATIONS:
        return running
    return given or running


@contextlib.contextmanager
def running_hook(hook: str) -> Iterator[None]:
    """Run the block as platform hook *hook*: its requests are named after it (see :func:`current_operation`)."""
    marker = _OPERATION.set(_TOKEN_HOOKS.get(hook, hook))
    try:
        yield
    finally:
        _OPERATION.reset(marker)


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
        operation: str | None = None,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
        cost: float | None = None,
    ) -> httpx.Response:
        """Send a request to the store and return its (successful) response.

        :param method: HTTP method.
        :param path: Path on the store (``/ccadmin/v1/products``), under the store URL's
            install path if it has one, or an absolute URL on *base_url*'s host.
        :param operation: The storelink operation, for errors and logs. Leave it out:
            the core names a request after the hook making it (``fetch_products``),
            and every request inside ``authenticate`` and ``refresh_token`` ``login``
            and ``refresh`` (ignoring another name). Give it for a request made for
            another operation (a ``check_access`` probe of ``fetch_orders``), and
            outside any hook.
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
        :param cost: What the request uses of the store's request budget, in the
            units the platform reports it in (:meth:`report_budget`); the request
            then waits until the budget, as last reported, can pay for it (see
            :mod:`storelink.http.pacing`). ``None``: the request is never held.
        :return: The response; its status is below 300 (2xx). Redirects are never
            followed: a 3xx raises like an error response.
        :raises CredentialsError: 401/403 on a call with ``audience=None``.
        :raises AuthorizationError: 403, or 401 again after a fresh token.
        :raises RetryableError: 429, 5xx, timeouts, connect errors, once the retry
            policy gave up.
        :raises RejectedError: Other 4xx (``NotFoundError`` for 404, ``ConflictError``
            for 409 and 412), and 3xx redirects.
        :raises OrderOutcomeUnknown: With ``idempotent=False``, when the request may
            have reached the store but its answer was lost, a 429, a 5xx or a 3xx.
        :raises EgressError: The store's address is not allowed.
        """
        ...

    async def read(
        self,
        method: str,
        path: str,
        *,
        reader: Callable[[httpx.Response], T],
        operation: str | None = None,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
        cost: float | None = None,
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

    def report_budget(self, *, capacity: float, available: float, restore_rate: float) -> None:
        """Report the store's request budget, as the platform's answer states it.

        For a platform that meters requests by cost in a bucket (Shopify's
        ``extensions.cost.throttleStatus``): call it from a reader with every answer
        that carries the bucket, throttled ones included. Requests made with a
        ``cost`` then wait, per connection and across concurrent pages, until the
        bucket can pay for them, instead of being refused.

        :param capacity: The most points the bucket holds.
        :param available: The points it holds now (kept between 0 and *capacity*).
        :param restore_rate: The points it regains per second.
        :raises PluginError: A value is not a finite number, or *capacity* or
            *restore_rate* is not above 0.
        """
        ...


@frozen(kw_only=True)
class PlatformContext:
    """Everything a platform hook needs about one connection.

    :param connection_id: The connection's id (``"probe"`` while onboarding validates).
    :param platform: The platform slug.
    :param store_url: The store's canonical origin.
    :param credentials: The parsed credentials (secret fields are :class:`Secret`).
    :param settings: Non-secret per-connection settings (``PlatformInfo.settings_schema``),
        as stored; hooks read them typed with :meth:`typed_settings`.
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
    _typed: dict[int, tuple[SettingsSchema[Any], Any]] = field(init=False, factory=dict, repr=False, eq=False)

    def setting(self, name: str, default: str | None = None) -> str | None:
        """Return the setting *name*, or *default* when it is unset or empty."""
        return self.settings.get(name) or default

    def typed_settings(self, schema: SettingsSchema[S]) -> S:
        """Return this connection's settings as *schema*'s model, parsed on first use only.

        Parsed once per connection (the context lives as long as the connection's
        runtime), whatever the number of hooks and requests that read them.

        :param schema: The platform's settings schema (``PlatformInfo.settings_schema``).
        :raises ConfigurationError: A setting is unknown or not valid (see
            :meth:`SettingsSchema.load`); raised again on each use until fixed.
        """
        held = self._typed.get(id(schema))
        if held is None or held[0] is not schema:
            held = (schema, schema.load(self.settings))
            self._typed[id(schema)] = held
        value: S = held[1]
        return value
