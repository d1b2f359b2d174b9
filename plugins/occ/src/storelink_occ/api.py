"""Requests to OCC and OCC's error envelope.

Every call goes through the core's HTTP client (``ctx.http``), which owns tokens,
retries, limits and the egress guard; :func:`call` only adds OCC's headers and reads
the body. OCC reports errors in one envelope::

    {"message": "Required header is missing: x-ccasset-language", "status": "400", "errorCode": "82001"}

sometimes with an ``errors`` list, sometimes OAuth-style as ``{"error": ...}``, and
sometimes with HTTP 200. :func:`describe_error` decodes it for the core's error mapping
(status 400 and above); :func:`read_json` raises the matching storelink error when an
envelope arrives with a successful status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import httpx

from storelink import (
    AuthorizationError,
    Capability,
    ConflictError,
    CredentialsError,
    ErrorDetail,
    NotFoundError,
    PlatformContext,
    PlatformError,
    RejectedError,
    RetryableError,
    Secret,
    StorelinkError,
)
from storelink_occ.settings import OccSettings

__all__ = ["PLATFORM", "call", "describe_error", "error_detail", "error_for", "is_error_envelope", "read_json"]

PLATFORM = "occ"

#: Operations that exchange a credential for a token; a 401 or 403 there means the
#: credential itself was refused.
AUTH_OPERATIONS = frozenset({"login", "refresh"})

#: The capability an operation needs, named in :class:`AuthorizationError`.
OPERATION_CAPABILITY: Mapping[str, Capability] = {
    "fetch_products": Capability.PRODUCTS,
    "fetch_orders": Capability.ORDERS,
    "get_order": Capability.ORDERS,
    "fetch_inventory": Capability.INVENTORY,
    "fetch_shipping_methods": Capability.SHIPPING_METHODS,
    "create_order": Capability.CREATE_ORDERS,
    "find_order": Capability.CREATE_ORDERS,
}

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
    operation: str,
    audience: str | None = "admin",
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    bearer: Secret | None = None,
    idempotent: bool = True,
    base_url: str | None = None,
    reference: str | None = None,
) -> Any:
    """Send one request through ``ctx.http`` with OCC's headers and return its JSON body.

    :param ctx: The connection's context.
    :param method: HTTP method.
    :param path: Path on the store (``/ccadmin/v1/products``).
    :param operation: The storelink operation, for errors and logs.
    :param audience: Whose token to attach (``admin``, ``agent``), ``None`` for none.
    :return: The decoded body (numbers with a fraction as :class:`~decimal.Decimal`),
        or ``None`` for an empty one.
    :raises PlatformError: The core's mapping of an error status, or an error envelope
        that arrived with a successful status (see :func:`read_json`).
    """
    settings = OccSettings.from_mapping(ctx.settings)
    return await ctx.http.read(
        method,
        path,
        reader=lambda response: read_json(response, operation=operation),
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


def read_json(response: httpx.Response, *, operation: str) -> Any:
    """Decode a successful response's JSON body, raising for an error envelope inside it.

    :raises ValueError: The body starts as JSON but does not parse (cut off on the
        way): the core sends a read again (see ``PlatformHTTP.read``).
    :raises PlatformError: The body is not JSON (a wrong host often answers with HTML),
        or it is an OCC error envelope; the class follows the envelope's ``status``
        (:class:`~storelink.RetryableError` for 429 and 5xx, which the core retries).
    """
    if not response.content:
        return None
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        if response.content.lstrip()[:1] in (b"{", b"["):
            raise  # JSON cut off on the way: the core reads it again
        raise PlatformError(
            "the store answered with something that is not JSON; check the store URL",
            platform=PLATFORM,
            operation=operation,
            status=response.status_code,
        ) from None
    if is_error_envelope(body):
        detail = error_detail(body, headers=response.headers)
        if detail is not None and operation in AUTH_OPERATIONS:
            # A login or refresh body never goes into an error: it may echo the key or
            # token in a form the masking does not recognise (reliability.md 2.2).
            detail = attrs.evolve(detail, message=None)
        raise error_for(_status_of(body), detail, operation=operation)
    return body


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
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    return error_detail(body, headers=response.headers)


def error_for(status: int | None, detail: ErrorDetail | None, *, operation: str) -> StorelinkError:
    """Return the storelink error for an OCC error of HTTP *status* during *operation*."""
    message = (detail.message if detail else None) or f"the store reported an error (HTTP {status})"
    fields: dict[str, Any] = {
        "platform": PLATFORM,
        "operation": operation,
        "status": status,
        "code": detail.code if detail else None,
        "request_id": detail.request_id if detail else None,
    }
    if operation in AUTH_OPERATIONS and status in (None, 401, 403):
        return CredentialsError(f"The store refused the Application Key: {message}", field="application_key")
    if status in (401, 403):
        capability = OPERATION_CAPABILITY.get(operation)
        return AuthorizationError(
            f"The store refused {operation}: {message}", capability=capability.value if capability else None
        )
    if status == 404:
        return NotFoundError(message, **fields)
    if status in (409, 412):
        return ConflictError(message, **fields)
    if status == 429 or (status is not None and status >= 500):
        return RetryableError(message, **fields)
    if status is not None and 400 <= status < 500:
        return RejectedError(message, **fields)
    return PlatformError(message, **fields)


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
