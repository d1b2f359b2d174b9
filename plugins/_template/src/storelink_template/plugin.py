"""The Template platform's hook implementations: what storelink calls.

Each hook makes its requests through ``ctx.http``, which already applies the egress
guard, timeouts, retries, the per-store limit and the access token (with refresh and
the 401 flow), maps failures to storelink errors, and names each request after the
hook that makes it. A hook maps the response with the named functions of
:mod:`storelink_template.mapping` and returns one model or one page, built with the
core's paging helpers (``offset_start``/``offset_page``, ``cursor_token``/``token_page``);
the core owns every loop.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx
from storelink import (
    AccessReport,
    AccessToken,
    Capability,
    CapabilityCheck,
    CredentialsError,
    Cursor,
    ErrorDetail,
    InventoryLevel,
    Order,
    OrderDraft,
    Page,
    PlatformContext,
    PlatformInfo,
    Product,
    Secret,
    ShippingMethod,
    StoreURL,
    cursor_token,
    hookimpl,
    offset_page,
    offset_start,
    token_page,
)

from storelink_template import mapping, urls
from storelink_template.credentials import CREDENTIALS

#: Items asked for per page (the API serves at most 100).
PAGE_SIZE = 50

_AUDIENCE = "default"


@hookimpl
def platform_info() -> PlatformInfo:
    """Describe the Template platform."""
    return PlatformInfo(
        slug="template",
        title="Template",
        credential_schema=CREDENTIALS,
        capabilities=frozenset(Capability),
        setup_guide=(
            "Open the Template admin and go to Settings > API keys.",
            "Create a key with the scopes products, orders, create_orders, inventory and shipping_methods.",
            "Paste the key and your store's address here.",
            "To disconnect later, delete the key in the same page.",
        ),
        audiences=(_AUDIENCE,),
        store_url_example="https://demo-store.example.com",
    )


@hookimpl
def normalize_store_url(raw: str, allow_loopback: bool) -> StoreURL:
    """Return the store's canonical origin (see :func:`storelink_template.urls.normalize`)."""
    return urls.normalize(raw, allow_loopback=allow_loopback)


@hookimpl
def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode ``{"error": {"code", "message"}}`` (the core keeps a login's message out of its errors)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), error.get("message")
    return ErrorDetail(
        code=code if isinstance(code, str) else None,
        message=message if isinstance(message, str) else None,
        request_id=response.headers.get("x-request-id"),
    )


# --------------------------------------------------------------------------- auth


def _token(response: httpx.Response, what: str) -> AccessToken:
    body = mapping.decode(response, what)
    value = body.text("token")
    lifetime = body.payload.get("expires_in")
    return AccessToken(
        value=Secret(value), expires_in=lifetime if isinstance(lifetime, int | float) else 600, audience=_AUDIENCE
    )


@hookimpl
async def authenticate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Exchange the API key for a token at ``POST /api/login``."""
    response = await ctx.http.request("POST", "/api/login", audience=None, bearer=ctx.credentials.secret("api_key"))
    return _token(response, "login")


@hookimpl
async def refresh_token(ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
    """Renew *token* at ``POST /api/refresh``; ``None`` (log in again) when it is refused."""
    try:
        response = await ctx.http.request("POST", "/api/refresh", audience=None, bearer=token.value)
    except CredentialsError:
        return None
    return _token(response, "refresh")


@hookimpl
async def check_access(ctx: PlatformContext) -> AccessReport:
    """Compare the key's scopes (``GET /api/me``) with every capability."""
    response = await ctx.http.request("GET", "/api/me", audience=_AUDIENCE)
    scopes = mapping.decode(response, "me").payload.get("scopes") or []
    checks = [
        CapabilityCheck(capability=cap, ok=cap.value in scopes, detail=None if cap.value in scopes else f"grant {cap}")
        for cap in Capability
    ]
    return AccessReport(checks=checks)


# --------------------------------------------------------------------------- reads


def _token_param(ctx: PlatformContext, cursor: Cursor | None, hook: str) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    token = cursor_token(cursor, platform=ctx.platform, hook=hook)
    if token is not None:
        params["cursor"] = token
    return params


@hookimpl
async def fetch_products(ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
    """Return one page of ``GET /api/products``."""
    params = _token_param(ctx, cursor, "fetch_products")
    response = await ctx.http.request("GET", "/api/products", audience=_AUDIENCE, params=params)
    body = mapping.decode(response, "products")
    items = [mapping.product_from_template(p.payload, p.path) for p in body.objects("products")]
    return token_page(items, body.optional_text("next_cursor"))


@hookimpl
async def fetch_inventory(
    ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
) -> Page[InventoryLevel]:
    """Return one page of ``GET /api/inventory``, for *sku_ids* only when given (``sku=a,b``)."""
    params = _token_param(ctx, cursor, "fetch_inventory")
    if sku_ids:
        params["sku"] = ",".join(sku_ids)
    response = await ctx.http.request("GET", "/api/inventory", audience=_AUDIENCE, params=params)
    body = mapping.decode(response, "inventory")
    levels = [mapping.inventory_from_template(i.payload, i.path) for i in body.objects("levels")]
    return token_page(levels, body.optional_text("next_cursor"))


@hookimpl
async def fetch_shipping_methods(ctx: PlatformContext) -> list[ShippingMethod]:
    """Return every method of ``GET /api/shipping-methods``, enabled or not."""
    response = await ctx.http.request("GET", "/api/shipping-methods", audience=_AUDIENCE)
    body = mapping.decode(response, "shipping")
    currency = body.text("currency")
    return [mapping.shipping_method_from_template(m.payload, currency, m.path) for m in body.objects("methods")]


# --------------------------------------------------------------------------- orders


@hookimpl
async def fetch_orders(ctx: PlatformContext, cursor: Cursor | None, since: datetime | None) -> Page[Order]:
    """Return one page of ``GET /api/orders`` (offset paging with a total), oldest first."""
    start = offset_start(cursor, PAGE_SIZE, platform=ctx.platform, hook="fetch_orders")
    params: dict[str, str | int] = {"offset": start.offset, "limit": start.limit}
    if since is not None:
        params["updated_since"] = since.isoformat()
    response = await ctx.http.request("GET", "/api/orders", audience=_AUDIENCE, params=params)
    body = mapping.decode(response, "orders")
    items = [mapping.order_from_template(o.payload, o.path) for o in body.objects("orders")]
    return offset_page(items, start, total=body.integer("total"))


@hookimpl
async def get_order(ctx: PlatformContext, order_id: str) -> Order:
    """Return ``GET /api/orders/{id}``."""
    response = await ctx.http.request("GET", f"/api/orders/{quote(order_id, safe='')}", audience=_AUDIENCE)
    return mapping.order_from_template(mapping.decode(response, "order").payload)


@hookimpl
async def create_order(ctx: PlatformContext, draft: OrderDraft) -> Order:
    """Create *draft* with ``POST /api/orders``; the API refuses a second order with its reference (409)."""
    response = await ctx.http.request(
        "POST",
        "/api/orders",
        audience=_AUDIENCE,
        json=mapping.draft_to_template(draft),
        idempotent=False,
        reference=draft.reference,
    )
    return mapping.order_from_template(mapping.decode(response, "order").payload)


@hookimpl
async def find_order(ctx: PlatformContext, reference: str) -> Order | None:
    """Return the order carrying *reference* (``GET /api/orders?reference=``), or ``None``."""
    response = await ctx.http.request(
        "GET", "/api/orders", audience=_AUDIENCE, params={"reference": reference, "limit": 1}
    )
    found = mapping.decode(response, "orders").objects("orders")
    return mapping.order_from_template(found[0].payload, found[0].path) if found else None
