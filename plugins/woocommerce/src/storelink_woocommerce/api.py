"""Requests to the WooCommerce REST API v3, and WooCommerce's errors as storelink errors.

Every request goes through the core's HTTP client (``ctx.http``), which owns the
credential, retries, limits and the egress guard, to a path under
:data:`API_BASE` (``/wp-json/wc/v3``), itself under the store's install path. Error
statuses are mapped by the core, with the message and code that :func:`describe_error`
decodes from WooCommerce's (WordPress's) error body::

    {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}

Lists are JSON arrays; their totals come in the ``X-WP-Total`` (items) and
``X-WP-TotalPages`` headers, read by :func:`read_list`.

The store currency (``woocommerce_currency``) is read once per connection, by the
key check (:mod:`storelink_woocommerce.auth`) or by the first read that needs it, and
remembered for that connection's runtime (:func:`store_currency`).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from storelink import ErrorDetail, MappingError, PlatformContext, PlatformError
from storelink.context import current_operation
from storelink.decode import decode_json
from storelink.http.runtime import UnreadableBody, parse_json
from storelink_woocommerce import PLATFORM

__all__ = [
    "API_BASE",
    "CURRENCY_PATH",
    "PLATFORM",
    "Listing",
    "body",
    "call",
    "currency_from_setting",
    "describe_error",
    "error_detail",
    "list_page",
    "read_list",
    "remember_currency",
    "store_currency",
]

#: Where the REST API v3 lives under the site's install path.
API_BASE = "/wp-json/wc/v3"

#: The one setting every price needs: the store currency (ISO 4217).
CURRENCY_PATH = f"{API_BASE}/settings/general/woocommerce_currency"

_MAX_MESSAGE = 300
# Anything that looks like a key or secret is masked in messages a store sends back.
_SECRET_LIKE = re.compile(r"c[ks]_[0-9A-Za-z]{8,}")


@attrs.frozen(kw_only=True)
class Listing:
    """One page of a WooCommerce list: its records and the totals from the headers."""

    items: list[Any]
    total: int | None
    total_pages: int | None


def body(response: httpx.Response, *, operation: str | None = None) -> Any:
    """Decode a successful response's JSON body; an error names *operation*, by default the running hook's.

    :raises ValueError: The body starts as JSON but is cut off: the core reads it again.
    :raises PlatformError: The body is not JSON (a wrong address often answers with the
        site's HTML, or a security plugin's page).
    """
    try:
        return decode_json(response.content)
    except UnreadableBody:
        raise
    except ValueError:
        if response.content.lstrip()[:1] in (b"{", b"["):
            raise
        raise PlatformError(
            "the store answered with something that is not JSON; check the store URL (the site's address, "
            "with its path if WordPress is installed under one) and that pretty permalinks are enabled",
            platform=PLATFORM,
            operation=operation or current_operation(),
            status=response.status_code,
        ) from None


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    text = headers.get(name, "").strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def read_list(response: httpx.Response, *, operation: str | None = None) -> Listing:
    """Decode a list response: a JSON array, with ``X-WP-Total`` and ``X-WP-TotalPages``.

    :raises MappingError: The body is not an array.
    """
    decoded = body(response, operation=operation)
    if not isinstance(decoded, list):
        raise MappingError("expected a JSON array of records", path="")
    return Listing(
        items=decoded,
        total=_header_int(response.headers, "x-wp-total"),
        total_pages=_header_int(response.headers, "x-wp-totalpages"),
    )


async def call(
    ctx: PlatformContext,
    method: str,
    path: str,
    *,
    operation: str | None = None,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
    idempotent: bool = True,
    reference: str | None = None,
) -> Any:
    """Send one authenticated request to ``{API_BASE}{path}`` and return its JSON body.

    The request is named for the running hook unless *operation* says otherwise (a
    probe names the operation whose capability it checks).
    """
    return await ctx.http.read(
        method,
        API_BASE + path,
        reader=lambda response: body(response, operation=operation),
        operation=operation,
        audience="default",
        params=params,
        json=json,
        idempotent=idempotent,
        reference=reference,
    )


async def list_page(
    ctx: PlatformContext, path: str, *, params: Mapping[str, str | int], operation: str | None = None
) -> Listing:
    """Read one page of the list at ``{API_BASE}{path}`` (``page``/``per_page`` in *params*)."""
    return await ctx.http.read(
        "GET",
        API_BASE + path,
        reader=lambda response: read_list(response, operation=operation),
        operation=operation,
        audience="default",
        params=params,
    )


def error_detail(payload: Any) -> ErrorDetail | None:
    """Return the message and code of a WordPress REST error body, or ``None``.

    The body is ``{"code", "message", "data": {"status", ...}}``; anything shaped like a
    consumer key or secret is masked in the message.
    """
    if not isinstance(payload, dict):
        return None
    code, message = payload.get("code"), payload.get("message")
    if not isinstance(code, str) or not code.strip():
        return None
    text = message.strip() if isinstance(message, str) else ""
    text = _SECRET_LIKE.sub("***", re.sub(r"<[^>]{0,200}>", "", text))[:_MAX_MESSAGE]
    return ErrorDetail(message=text or None, code=code.strip()[:100])


def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode a WooCommerce error response for the core (the ``describe_error`` hook)."""
    try:
        payload = parse_json(response.content)
    except (ValueError, httpx.ResponseNotRead):
        return None
    return error_detail(payload)


# --------------------------------------------------------------------------- currency

_CURRENCIES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def currency_from_setting(payload: Any, path: str) -> str:
    """Return the ISO currency of a ``woocommerce_currency`` setting (``{"id", "value", ...}``).

    :raises MappingError: The setting holds no three-letter currency code.
    """
    value = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value.strip()):
        raise MappingError("expected the store currency as a three-letter code", path=f"{path}.value")
    return value.strip()


def remember_currency(ctx: PlatformContext, currency: str) -> None:
    """Remember *currency* for the connection of *ctx* (for as long as its runtime lives)."""
    _CURRENCIES[ctx.http] = currency


async def store_currency(ctx: PlatformContext) -> str:
    """Return the store currency: remembered, or read once with ``GET`` :data:`CURRENCY_PATH`."""
    known = _CURRENCIES.get(ctx.http)
    if known is not None:
        return known
    payload = await ctx.http.read(
        "GET",
        CURRENCY_PATH,
        reader=body,
        audience="default",
    )
    currency = currency_from_setting(payload, "setting")
    remember_currency(ctx, currency)
    return currency
