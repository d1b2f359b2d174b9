"""The one boundary where HTTP failures become storelink errors.

============================  ==============================================================
failure                       error
============================  ==============================================================
3xx                           :class:`~storelink.RejectedError` (redirects are not followed)
401/403, ``audience=None``    :class:`~storelink.CredentialsError` (a login or refresh call)
401 after the 401 flow        :class:`~storelink.AuthorizationError`
403                           :class:`~storelink.AuthorizationError` (names the capability)
404                           :class:`~storelink.NotFoundError`
409, 412                      :class:`~storelink.ConflictError`
429, 5xx                      :class:`~storelink.RetryableError` (``retry_after`` if given)
other 4xx                     :class:`~storelink.RejectedError`
timeouts, network errors      :class:`~storelink.RetryableError`
TLS certificate refused       :class:`~storelink.EgressError`
============================  ==============================================================

For a write (``idempotent=False``), anything that may have reached the store without
a definite answer (a 3xx, 429 or 5xx, a transport error after the request left, the
deadline) is :class:`~storelink.OrderOutcomeUnknown` instead. An error of a write that
provably never left this process (the request could not be built or is too large, the
egress guard refused it, the connection was refused, the login before it failed, the
deadline passed before it was sent) is marked with :func:`mark_not_sent`, so the order
ledger knows no order can exist (:func:`was_not_sent`).

Errors carry the platform, operation, status, the platform's error code and request
id (from the plugin's ``describe_error``). Messages are scrubbed and single-line; the
platform's message is used only for calls made with an access token, never for login
or refresh calls, whose bodies may echo a credential.

A platform that reports errors inside a successful response (an error envelope in an
HTTP 200) raises what :func:`error_for` returns for the status the envelope names:
the same classes, messages and rules as an error response, from the same code. With
no status, it is a :class:`~storelink.CredentialsError` for a login or refresh call
and a :class:`~storelink.PlatformError` otherwise.
"""

from __future__ import annotations

import logging
import re
import ssl
from typing import TypedDict, TypeVar

import httpx
from attrs import frozen

from storelink.context import TOKEN_OPERATIONS, resolve_operation
from storelink.errors import (
    AuthorizationError,
    ConflictError,
    CredentialsError,
    EgressError,
    NotFoundError,
    OrderOutcomeUnknown,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
    StorelinkError,
)
from storelink.http.retry import TRANSIENT, never_left
from storelink.models import CAPABILITY_HOOKS, ErrorDetail
from storelink.plugins import Platform
from storelink.redaction import neutralize, scrub

__all__ = [
    "Call",
    "deadline_error",
    "error_for",
    "mark_not_sent",
    "oversize_error",
    "response_error",
    "transport_error",
    "was_not_sent",
]

log = logging.getLogger("storelink.http")

_TOKEN = re.compile(r"[\w.:/-]{1,80}")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid")


#: The attribute :func:`mark_not_sent` sets on an error (exceptions take attributes).
_NOT_SENT = "_storelink_not_sent"
#: What to do about a redirect: storelink calls the address the merchant gave, never another.
_REDIRECT_ACTION = "check the store URL: use the address the store answers on, not one that redirects"

E = TypeVar("E", bound=BaseException)


def mark_not_sent(error: E) -> E:
    """Mark *error* as the failure of a request that provably never left this process; return it.

    For a write this proves no order was made: the order ledger releases the
    submission instead of reconciling an unknown outcome.
    """
    setattr(error, _NOT_SENT, True)
    return error


def was_not_sent(error: BaseException) -> bool:
    """Whether *error* was marked by :func:`mark_not_sent` (only *error* itself, not its causes)."""
    return getattr(error, _NOT_SENT, False) is True


class _Fields(TypedDict):
    platform: str
    operation: str
    status: int | None
    code: str | None
    request_id: str | None


@frozen(kw_only=True)
class Call:
    """What the mapping needs to know about the request that failed.

    :param platform: The connection's platform.
    :param operation: The storelink operation (``fetch_products``, ``login``...).
    :param audience: The token audience, ``None`` for login and refresh calls.
    :param idempotent: ``False`` for a write that must not happen twice.
    :param reference: The order reference of a write.
    """

    platform: Platform
    operation: str
    audience: str | None
    idempotent: bool = True
    reference: str | None = None

    @property
    def write(self) -> bool:
        """Whether the call is a non-idempotent write."""
        return not self.idempotent

    @property
    def where(self) -> str:
        """``"<platform> <operation>"``, the prefix of messages that do not add it themselves."""
        return f"{self.platform.slug} {self.operation}"

    def fields(self, status: int | None = None, code: str | None = None, request_id: str | None = None) -> _Fields:
        """Return the keyword arguments of a :class:`~storelink.PlatformError` for this call."""
        return _Fields(
            platform=self.platform.slug, operation=self.operation, status=status, code=code, request_id=request_id
        )

    def unknown(self, why: str) -> OrderOutcomeUnknown:
        """Return the error of a write whose outcome is unknown because of *why*."""
        reference = self.reference or ""
        return OrderOutcomeUnknown(
            f"{self.where}: {why}; the order {reference!r} may or may not exist", reference=reference
        )


def _clean(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    return neutralize(scrub(text))[:limit]


def _token(text: str | None) -> str | None:
    """Keep a code or request id only if it looks like one (never free text)."""
    if text is None:
        return None
    cleaned = _clean(str(text), 80)
    return cleaned if cleaned and _TOKEN.fullmatch(cleaned) else None


def _capability(operation: str) -> str | None:
    for capability, hooks in CAPABILITY_HOOKS.items():
        if operation in hooks:
            return capability.value
    return None


def _describe(call: Call, response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    try:
        detail = call.platform.describe_error(response)
    except PluginError:
        log.warning("%s: describe_error failed; reporting the bare status", call.where, exc_info=True)
        detail = None
    header_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None)
    if detail is None:
        return None, None, _token(header_id)
    message = _clean(detail.message) if call.audience is not None else None
    return message, _token(detail.code), _token(detail.request_id or header_id)


def _redirect_target(response: httpx.Response) -> str:
    try:
        host = httpx.URL(response.headers.get("location", "")).host
    except httpx.InvalidURL:
        host = ""
    return _clean(host, 100) or "another path on the same host"


def response_error(call: Call, response: httpx.Response, *, retry_after: float | None = None) -> StorelinkError:
    """Return the error for *response* (status 300 or more; its body is loaded).

    :param retry_after: The seconds from its ``Retry-After`` header, if any.
    """
    status = response.status_code
    message, code, request_id = _describe(call, response)
    if 300 <= status < 400:
        text = f"the store redirected to {_redirect_target(response)} (HTTP {status}); redirects are not followed"
        if call.write:
            return call.unknown(text)
        redirected = RejectedError(text, **call.fields(status, code, request_id))
        redirected.action = _REDIRECT_ACTION
        return redirected
    if call.write and (status == 429 or status >= 500):
        return call.unknown(f"the store answered {_tail(status, code)}")
    return _status_error(
        call.platform.slug,
        call.operation,
        status,
        message=message,
        phrase=response.reason_phrase,
        code=code,
        request_id=request_id,
        credentials_call=call.audience is None,
        renewed=True,
        retry_after=retry_after,
    )


def error_for(
    status: int | None,
    detail: ErrorDetail | None,
    *,
    platform: str,
    operation: str | None = None,
    credentials_call: bool | None = None,
    retry_after: float | None = None,
) -> StorelinkError:
    """Return the storelink error for a platform error of HTTP *status* described by *detail*.

    For platforms that report errors inside a successful response: raise what this
    returns from the ``reader`` given to ``ctx.http.read``, and the caller gets what an
    error response of that status would have given (same classes, messages, scrubbing
    and capability names). The mapping is that of a read; a 401 here is not followed by
    a new login (the core renews a token only on an HTTP 401).

    :param status: The status the platform reported, ``None`` when it gave none.
    :param detail: The platform's message, code and request id (what ``describe_error``
        returns); the message is dropped for login and refresh calls.
    :param platform: The platform slug.
    :param operation: The storelink operation; ``None``: the running hook's, as the
        core names the hook's requests (``login`` inside ``authenticate``, ``refresh``
        inside ``refresh_token``, whatever is given there).
    :param credentials_call: Whether the call exchanged credentials for a token;
        ``None``: it did when the operation is ``login`` or ``refresh``.
    :param retry_after: Seconds the platform asked to wait, for a 429 or 5xx.
    :raises ValueError: *operation* is ``None`` outside a hook.
    """
    name = resolve_operation(operation)
    if name is None:
        raise ValueError("error_for needs the operation outside a platform hook")
    if credentials_call is None:
        credentials_call = name in TOKEN_OPERATIONS
    message = None if credentials_call or detail is None else _clean(detail.message)
    return _status_error(
        platform,
        name,
        status,
        message=message,
        phrase=_phrase(status),
        code=_token(detail.code) if detail else None,
        request_id=_token(detail.request_id) if detail else None,
        credentials_call=credentials_call,
        renewed=False,
        retry_after=retry_after,
    )


def _tail(status: int | None, code: str | None) -> str:
    """``"HTTP 403, code E1"``: what a message adds about the answer."""
    parts = (f"HTTP {status}" if status is not None else "", f"code {code}" if code else "")
    return ", ".join(part for part in parts if part)


def _phrase(status: int | None) -> str | None:
    """Return the reason phrase of *status*, as httpx gives it for a response (``None`` if unknown)."""
    return (httpx.codes.get_reason_phrase(status) or None) if status is not None else None


def _status_error(
    platform: str,
    operation: str,
    status: int | None,
    *,
    message: str | None,
    phrase: str | None,
    code: str | None,
    request_id: str | None,
    credentials_call: bool,
    renewed: bool,
    retry_after: float | None,
) -> StorelinkError:
    """Map an error *status* of a read (or of a write that provably failed) to its error.

    :param message: The platform's message (never one of a login or refresh call).
    :param phrase: The status's reason phrase, the text when there is no message.
    :param renewed: A 401 came after the core renewed the token (the 401 flow).
    """
    where = f"{platform} {operation}"
    tail = _tail(status, code)
    shown = f" ({tail})" if tail else ""
    fields = _Fields(platform=platform, operation=operation, status=status, code=code, request_id=request_id)
    if credentials_call and status in (None, 401, 403):
        return CredentialsError(f"{where}: the platform rejected the credentials{shown}")
    if status == 401:
        again = " again after renewing it" if renewed else ""
        return AuthorizationError(
            f"{where}: the platform refused the access token{again}{shown}", capability=_capability(operation)
        )
    if status == 403:
        detail = f": {message}" if message else ""
        return AuthorizationError(
            f"{where}: the credentials are not allowed to do this{shown}{detail}", capability=_capability(operation)
        )
    text = message or phrase or "the store answered with an error"
    if status is None or status < 400:
        return PlatformError(text, **fields)
    if status == 429 or status >= 500:
        return RetryableError(text, retry_after=retry_after, **fields)
    if status == 404:
        return NotFoundError(text, **fields)
    if status in (409, 412):
        return ConflictError(text, **fields)
    return RejectedError(text, **fields)


def _certificate_problem(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return None


def transport_error(call: Call, exc: httpx.RequestError) -> StorelinkError:
    """Return the error for a request that raised *exc* instead of answering."""
    kind = type(exc).__name__
    try:
        host = exc.request.url.host
    except RuntimeError:  # raised by httpx when the error carries no request
        host = "the store"
    problem = _certificate_problem(exc)
    if problem is not None:
        refused = EgressError(f"the TLS certificate of {host} was refused ({_clean(problem, 120)})")
        return mark_not_sent(refused) if call.write else refused
    if call.write and not never_left(exc):
        return call.unknown(f"the connection failed after the request was sent ({kind})")
    fields = call.fields()
    if isinstance(exc, TRANSIENT):
        unreachable = RetryableError(f"could not reach {host} ({kind})", **fields)
        return mark_not_sent(unreachable) if call.write else unreachable
    if isinstance(exc, httpx.DecodingError):
        return PlatformError(f"the answer of {host} could not be decoded ({kind})", **fields)
    return PluginError(f"the request could not be sent ({kind}: {_clean(str(exc), 120)})", plugin=call.platform.slug)


def deadline_error(call: Call, seconds: float, *, sent: bool) -> StorelinkError:
    """Return the error for an operation that used up its deadline.

    :param sent: Whether the request may have reached the store.
    """
    text = f"no complete answer within the {seconds:g} s deadline"
    if call.write and sent:
        return call.unknown(text)
    late = RetryableError(text, **call.fields())
    return mark_not_sent(late) if call.write else late


def oversize_error(call: Call, status: int, limit: int) -> StorelinkError:
    """Return the error for a response body larger than *limit* bytes."""
    text = f"the answer is larger than {limit} bytes"
    if call.write and not 400 <= status < 500:
        return call.unknown(text)
    if call.write and status in (409, 412):  # may mean "this reference exists": the ledger looks it up
        return ConflictError(f"the store answered HTTP {status}; {text}", **call.fields(status))
    if call.write and status not in (401, 403, 429):  # the store refused the write, whatever its body says
        return RejectedError(f"the store refused the request (HTTP {status}); {text}", **call.fields(status))
    return PlatformError(text, **call.fields(status))
