"""Requests to OCC and OCC's error envelope.

Every call goes through the core's HTTP client (``ctx.http``), which owns tokens,
retries, limits and the egress guard; :func:`call` only adds OCC's headers and reads
the body. OCC reports errors in one envelope::

    {"message": "Required header is missing: x-ccasset-language", "status": "400", "errorCode": "82001"}

sometimes with an ``errors`` list, sometimes OAuth-style as ``{"error": ...}``, and
sometimes with HTTP 200. :func:`describe_error` decodes it for the core's error mapping
(status 400 and above); :func:`read_json` raises the core's error for the envelope's
status (:func:`storelink.http.error_for`) when it arrives with a successful status.
:func:`read_listing` does the same for a list envelope (``{"items": [...]}``) whose
items are decoded one at a time as they are mapped (the catalog's hot path).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from storelink import ErrorDetail, MappingError, PlatformContext, PlatformError, Secret
from storelink.decode import Listing, decode_json, decode_listing
from storelink.http import current_operation, error_for
from storelink.http.runtime import UnreadableBody, parse_json
from storelink_occ.settings import SETTINGS_SCHEMA, OccSettings

__all__ = ["PLATFORM", "call", "describe_error", "error_detail", "is_error_envelope", "read_json", "read_listing"]

PLATFORM = "occ"

_ENVELOPE_KEYS = frozenset(
    {"message", "status", "errorCode", "errors", "devMessage", "moreInfo", "o:errorPath", "type", "error"}
    | {"error_description", "error_uri"}
)
_REQUEST_ID_HEADERS = ("x-oracle-dms-ecid", "x-request-id")
_SECRET_LIKE = re.compile(r"eyJ[A-Za-z0-9_\-+/=]*(?:\.[A-Za-z0-9_\-+/=]*){0,2}")
_MAX_MESSAGE = 500


def request_headers(settings: OccSettings) -> dict[str, str]:
    """Return the headers OCC expects on every call: asset language, profile type, site."""
    headers = {"X-CCAsset-Language": settings.asset_language, "X-CCProfileType": "applicationAccess"}
    if settings.site_id:
        headers["x-ccsite"] = settings.site_id
    return headers


async def call(
    ctx: PlatformContext,
    method: str,
    path: str,
    *,
    operation: str | None = None,
    audience: str | None = "admin",
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    bearer: Secret | None = None,
    idempotent: bool = True,
    base_url: str | None = None,
    reference: str | None = None,
    reader: Callable[[httpx.Response], Any] | None = None,
) -> Any:
    """Send one request through ``ctx.http`` with OCC's headers and return its JSON body.

    :param ctx: The connection's context.
    :param method: HTTP method.
    :param path: Path on the store (``/ccadmin/v1/products``).
    :param operation: The storelink operation, for errors and logs; inside
        ``authenticate`` and ``refresh_token`` the core names it.
    :param audience: Whose token to attach (``admin``, ``agent``), ``None`` for none.
    :param reader: Reads the successful response instead of :func:`read_json`
        (a catalog page maps its items inside the read, see :func:`read_listing`).
    :return: The decoded body (numbers with a fraction as :class:`~decimal.Decimal`),
        or ``None`` for an empty one; or what *reader* returns.
    :raises PlatformError: The core's mapping of an error status, or an error envelope
        that arrived with a successful status (see :func:`read_json`).
    """
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    return await ctx.http.read(
        method,
        path,
        reader=reader or (lambda response: read_json(response, operation=operation)),
        operation=operation,
        audience=audience,
        params=params,
        json=json,
        data=data,
        headers=request_headers(settings),
        bearer=bearer,
        idempotent=idempotent,
        base_url=base_url,
        reference=reference,
    )


def read_json(response: httpx.Response, *, operation: str | None = None) -> Any:
    """Decode a successful response's JSON body, raising for an error envelope inside it.

    The body is decoded by the core's :func:`storelink.decode.decode_json` (msgspec),
    which bounds its nesting and numbers as :func:`storelink.http.runtime.parse_json` does.

    :raises ValueError: The body starts as JSON but does not parse (cut off on the
        way): the core sends a read again (see ``PlatformHTTP.read``). A body nested too
        deep or holding a number thousands of digits long raises the core's
        ``UnreadableBody``, which the core reports as a platform error.
    :raises PlatformError: The body is not JSON (a wrong host often answers with HTML),
        or it is an OCC error envelope; the class follows the envelope's ``status``
        (:class:`~storelink.RetryableError` for 429 and 5xx, which the core retries).
    """
    if not response.content:
        return None
    try:
        body = decode_json(response.content)
    except UnreadableBody:
        raise  # the core's own refusal: a platform error, never retried
    except ValueError:
        raise _not_json(response, operation) from None
    _refuse_envelope(body, response, operation)
    return body


def read_listing(response: httpx.Response, *, operation: str | None = None) -> Listing:
    """Read a list envelope as :func:`read_json` does, its ``items`` left to decode one at a time.

    Map the items inside the reader (``Listing.map``), so that an item's unreadable
    bytes are the store's malformed answer, as with :func:`read_json`.

    :raises MappingError: The body is empty, not an object, or holds no ``items`` list.
    :raises PlatformError: As :func:`read_json`.
    :raises ValueError: As :func:`read_json`.
    """
    try:
        listing = decode_listing(response.content or b"null")
    except UnreadableBody:
        raise
    except MappingError:  # JSON, but not an object
        raise MappingError(_NOT_A_LISTING, path="items") from None
    except ValueError:
        raise _not_json(response, operation) from None
    _refuse_envelope({**listing.fields, "items": ()} if listing.has_items else listing.fields, response, operation)
    if not listing.has_items:
        raise MappingError(_NOT_A_LISTING, path="items")
    return listing


_NOT_A_LISTING = "expected a list envelope with 'items'"


def _not_json(response: httpx.Response, operation: str | None) -> Exception:
    """Return what a body that does not decode is: cut off (read again) or not JSON at all."""
    if response.content.lstrip()[:1] in (b"{", b"["):
        return ValueError("the store's JSON was cut off on the way")  # the core reads it again
    return PlatformError(
        "the store answered with something that is not JSON; check the store URL",
        platform=PLATFORM,
        operation=operation or current_operation(),
        status=response.status_code,
    )


def _refuse_envelope(body: Any, response: httpx.Response, operation: str | None) -> None:
    """Raise the core's error for *body* if it is an error envelope."""
    if is_error_envelope(body):
        detail = error_detail(body, headers=response.headers)
        raise error_for(_status_of(body), detail, platform=PLATFORM, operation=operation)


def is_error_envelope(body: Any) -> bool:
    """Whether *body* is OCC's error envelope (or the OAuth-style ``{"error": ...}``)."""
    if not isinstance(body, dict):
        return False
    if body.get("errorCode") not in (None, ""):
        return True
    if not body or not set(body) <= _ENVELOPE_KEYS:
        return False
    status = _status_of(body)
    return bool(body.get("error") or body.get("errors")) or (status is not None and status >= 400)


def error_detail(body: Any, *, headers: Mapping[str, str] | None = None) -> ErrorDetail | None:
    """Return the message, code and request id of an error envelope, or ``None``.

    Anything shaped like a token is masked in the message, so that an authentication
    endpoint's echo can never carry a secret into an exception.
    """
    if not is_error_envelope(body):
        return None
    message = _text(body.get("message")) or _text(body.get("error_description")) or _text(body.get("error"))
    code = _text(body.get("errorCode"))
    nested = [e for e in body.get("errors") or () if isinstance(e, dict)]
    if nested:
        inner = "; ".join(m for m in (_text(e.get("message")) for e in nested) if m)
        message = f"{message}: {inner}" if message and inner else message or inner
        code = code or _text(nested[0].get("errorCode"))
    request_id = None
    if headers is not None:
        request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if headers.get(h)), None)
    if message:
        message = _SECRET_LIKE.sub("***", message)[:_MAX_MESSAGE]
    return ErrorDetail(message=message or None, code=code, request_id=request_id)


def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode an OCC error response for the core (the ``describe_error`` hook)."""
    try:
        body = parse_json(response.content)
    except (ValueError, httpx.ResponseNotRead):  # not JSON, cut off, too deep, or not loaded
        return None
    return error_detail(body, headers=response.headers)


def _status_of(body: Mapping[str, Any]) -> int | None:
    status = body.get("status")
    text = str(status).strip() if isinstance(status, str | int) and not isinstance(status, bool) else ""
    return int(text) if text.isdigit() else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None
