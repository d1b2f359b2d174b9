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
deadline) is :class:`~storelink.OrderOutcomeUnknown` instead.

Errors carry the platform, operation, status, the platform's error code and request
id (from the plugin's ``describe_error``). Messages are scrubbed and single-line; the
platform's message is used only for calls made with an access token, never for login
or refresh calls, whose bodies may echo a credential.
"""

from __future__ import annotations

import logging
import re
import ssl
from typing import TypedDict

import httpx
from attrs import frozen

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
from storelink.models import CAPABILITY_HOOKS
from storelink.plugins import Platform
from storelink.redaction import neutralize, scrub

__all__ = ["Call", "deadline_error", "oversize_error", "response_error", "transport_error"]

log = logging.getLogger("storelink.http")

_TOKEN = re.compile(r"[\w.:/-]{1,80}")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid")


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
    fields = call.fields(status, code, request_id)
    tail = f"HTTP {status}" + (f", code {code}" if code else "")
    if 300 <= status < 400:
        text = f"the store redirected to {_redirect_target(response)} (HTTP {status}); redirects are not followed"
        return call.unknown(text) if call.write else RejectedError(text, **fields)
    if status in (401, 403) and call.audience is None:
        return CredentialsError(f"{call.where}: the platform rejected the credentials ({tail})")
    if status == 401:
        return AuthorizationError(
            f"{call.where}: the platform refused the access token again after renewing it ({tail})",
            capability=_capability(call.operation),
        )
    if status == 403:
        detail = f": {message}" if message else ""
        return AuthorizationError(
            f"{call.where}: the credentials are not allowed to do this ({tail}){detail}",
            capability=_capability(call.operation),
        )
    text = message or response.reason_phrase or "the store answered with an error"
    if status == 429 or status >= 500:
        if call.write:
            return call.unknown(f"the store answered {tail}")
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
        return EgressError(f"the TLS certificate of {host} was refused ({_clean(problem, 120)})")
    if call.write and not never_left(exc):
        return call.unknown(f"the connection failed after the request was sent ({kind})")
    fields = call.fields()
    if isinstance(exc, TRANSIENT):
        return RetryableError(f"could not reach {host} ({kind})", **fields)
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
    return RetryableError(text, **call.fields())


def oversize_error(call: Call, status: int, limit: int) -> StorelinkError:
    """Return the error for a response body larger than *limit* bytes."""
    text = f"the answer is larger than {limit} bytes"
    if call.write and not 400 <= status < 500:
        return call.unknown(text)
    return PlatformError(text, **call.fields(status))
