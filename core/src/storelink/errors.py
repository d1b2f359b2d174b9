"""The storelink error tree.

Every error a host or a plugin sees is a :class:`StorelinkError`. The branches are
grouped by what the caller should do next, not by where the error came from::

    StorelinkError
    ├── ConfigurationError        fix settings; never retried
    ├── InputError                the host's or user's input is malformed (.path)
    ├── PluginError               plugin missing, failed to load, broke the contract
    ├── StoreURLError             the merchant's URL is not acceptable (human message)
    ├── EgressError               the URL resolved to an address we refuse to call
    ├── CredentialsError          rejected or malformed credentials: re-onboard
    │   └── ConnectionRevokedError the connection is revoked: no call was made
    ├── AuthorizationError        authenticated, but not allowed (names the capability)
    ├── ConnectionStateError      no such connection, or it was removed
    ├── StoreBusyError            the connection store stayed locked: retry later
    ├── VaultError                a stored secret could not be decrypted
    │   └── UnknownKeyError       the envelope names a key the key ring does not hold
    ├── PlatformError             .platform .operation .status .code .request_id
    │   ├── RetryableError        429, 5xx, timeouts, connect errors (.retry_after)
    │   │   └── ReadInterruptedError a list read stopped part-way (.resume_from .items)
    │   └── RejectedError         other 4xx, and redirects (3xx are never followed)
    │       ├── NotFoundError
    │       └── ConflictError
    ├── OrderOutcomeUnknown       the order may exist: reconcile, do not re-send
    └── MappingError              payload did not fit the model (.path)

Messages are written for a person who has to act on them. They never contain a
secret: no application key, access token or encryption key, and no raw response body
of an authentication endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storelink.models import Cursor

__all__ = [
    "AuthorizationError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionRevokedError",
    "ConnectionStateError",
    "CredentialsError",
    "EgressError",
    "InputError",
    "MappingError",
    "NotFoundError",
    "OrderOutcomeUnknown",
    "PlatformError",
    "PluginError",
    "ReadInterruptedError",
    "RejectedError",
    "RetryableError",
    "StoreBusyError",
    "StoreURLError",
    "StorelinkError",
    "UnknownKeyError",
    "VaultError",
]


class StorelinkError(Exception):
    """Base of every error storelink raises on purpose."""

    #: What the caller should do, in a few words; shown by the CLI and the connect page.
    action: str = "report this as a bug"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(StorelinkError):
    """The settings are wrong (a bad key ring, an unknown database URL...); fix them.

    :param field: The connection setting at fault, when one is (``None`` for the
        host's own configuration, or a refusal that names no single setting).
    """

    action = "fix the configuration"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PluginError(StorelinkError):
    """A plugin is missing, failed to load, or broke the hook contract.

    :param plugin: The plugin's name (entry-point name or registration name).
    :param hook: The hook at fault, when there is one.
    """

    action = "fix or reinstall the plugin"

    def __init__(self, message: str, *, plugin: str | None = None, hook: str | None = None) -> None:
        parts = []
        if plugin:
            parts.append(f"plugin {plugin!r}")
        if hook:
            parts.append(f"hook {hook!r}")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.plugin = plugin
        self.hook = hook


class StoreURLError(StorelinkError, ValueError):
    """The store URL a merchant typed is not acceptable; the message says why."""

    action = "check the store URL"


class EgressError(StorelinkError):
    """The store's address is one storelink refuses to connect to (loopback, private...)."""

    action = "use the store's public address"


class CredentialsError(StorelinkError):
    """The platform rejected the credentials, or they are malformed: re-onboard.

    :param field: The credential field at fault, when known.
    """

    action = "enter a valid key (re-onboard the connection)"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthorizationError(StorelinkError):
    """Authenticated, but the platform refused the operation.

    :param capability: The capability that is missing (``orders``, ``products``...).
    """

    action = "grant the missing permission to the key"

    def __init__(self, message: str, *, capability: str | None = None) -> None:
        super().__init__(message)
        self.capability = capability


class ConnectionRevokedError(CredentialsError):
    """The connection is revoked (its credentials were rejected); no call was made.

    Reconnect it with new credentials (``hub.reconnect``).

    :param connection_id: The connection.
    """

    action = "reconnect with a new key"

    def __init__(self, message: str, *, connection_id: str) -> None:
        super().__init__(message)
        self.connection_id = connection_id


class ConnectionStateError(StorelinkError):
    """There is no such connection, or it was removed, so no call was made.

    :param status: The connection's status (``removed``), or ``None`` if unknown.
    """

    action = "check the connection id"

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class StoreBusyError(StorelinkError):
    """The connection store stayed locked by another process or connection past its wait.

    Nothing was written by the operation that met it; running it again later is safe.
    """

    action = "retry later; if it persists, find the process that holds the database (a long sync, a stuck command)"


class VaultError(StorelinkError):
    """A stored secret could not be decrypted: tampered, moved to another row, or corrupt."""

    action = "restore the database or re-onboard the connection"


class UnknownKeyError(VaultError):
    """The envelope was sealed with a key the key ring does not hold.

    :param key_id: The missing key's id (an id is not secret).
    :param source: Where the ring came from (``STORELINK_KEYS``, ``key file /path``),
        named in the message and the action.
    """

    action = "add the missing key to the key ring"

    def __init__(self, key_id: str, *, source: str = "the key ring") -> None:
        super().__init__(f"no key with id {key_id!r} in {source}")
        self.key_id = key_id
        self.source = source
        self.action = f"add the missing key to {source}"


class PlatformError(StorelinkError):
    """The platform answered with an error, or could not be reached.

    :param platform: The platform slug.
    :param operation: The storelink operation (``fetch_products``, ``login``...).
    :param status: The HTTP status, if a response arrived.
    :param code: The platform's own error code, if it sent one.
    :param request_id: The platform's request id, if it sent one.
    """

    action = "see the platform's message"

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.operation = operation
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        where = " ".join(x for x in (self.platform, self.operation) if x)
        details = [f"HTTP {self.status}" if self.status is not None else "", f"code {self.code}" if self.code else ""]
        tail = ", ".join(d for d in details if d)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} ({tail})" if tail else text


class RetryableError(PlatformError):
    """A transient failure: 429, 5xx, timeout or connect error; try again later.

    :param retry_after: Seconds the platform asked us to wait, when it said so.
    """

    action = "try again later"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]  # forwards PlatformError's keywords
        self.retry_after = retry_after


class ReadInterruptedError(RetryableError):
    """A list read failed part-way, after retrying and resuming as far as it was allowed.

    Pass :attr:`resume_from` back as ``start`` (``session.products(start=...)``,
    ``session.pages(kind, start)``) to continue after the last page delivered: no item
    is delivered twice and none is skipped. The error that stopped the read is its
    ``__cause__``; its platform, operation, status and ``retry_after`` are copied here.

    :param resume_from: Where to continue: the cursor after the last page delivered
        (the walk's own start when none was).
    :param items: Items this read delivered before it stopped, over every resume.
    :param resumes: How many times it resumed by itself before giving up.
    """

    action = "resume from the error's resume_from cursor later"

    def __init__(
        self,
        message: str,
        *,
        resume_from: Cursor | None,
        items: int,
        resumes: int = 0,
        retry_after: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)
        self.resume_from = resume_from
        self.items = items
        self.resumes = resumes


class RejectedError(PlatformError):
    """The platform refused the request (a 4xx other than 401/429, or a redirect); do not retry as is."""

    action = "fix the request"


class NotFoundError(RejectedError):
    """The record does not exist on the platform."""

    action = "check the id"


class ConflictError(RejectedError):
    """The request conflicts with existing state (same reference, different payload...)."""

    action = "use a new reference, or resend the original payload"


class OrderOutcomeUnknown(StorelinkError):
    """The order request may or may not have created an order.

    Reconcile with ``find_order(reference)``; never send the order again blindly.

    :param reference: The channel's reference (idempotency key) of the order.
    """

    action = "reconcile the order by its reference before sending it again"

    def __init__(self, message: str, *, reference: str) -> None:
        super().__init__(message)
        self.reference = reference


class MappingError(StorelinkError):
    """A platform payload did not fit the model.

    :param path: Where in the payload the problem is, e.g. ``items[3].listPrice``.
    """

    action = "report this to the plugin's authors with the path"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class InputError(StorelinkError, ValueError):
    """Input given to storelink (an order draft file, a cursor) is malformed.

    :param path: The field at fault, e.g. ``lines[0].quantity``.
    """

    action = "fix the input"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
