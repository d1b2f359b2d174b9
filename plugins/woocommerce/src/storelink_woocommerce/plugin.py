"""The WooCommerce platform: storelink's hook implementations for the REST API v3.

Registered as the entry point ``storelink.platforms: woocommerce``. Every request goes
to ``{store URL}{install path}/wp-json/wc/v3`` through the core's HTTP client, with the
consumer key and secret as HTTP Basic credentials (:mod:`storelink_woocommerce.auth`).
The core owns the paging loop: each list hook reads one page (``page``/``per_page``),
reporting the ``X-WP-Total`` header as the page's total so the core can fetch the rest
in parallel. Variable products need one more read each (their variations); those are
made concurrently, at most :data:`VARIATION_CONCURRENCY` at a time per page, through
the same client (which also applies the per-store limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from storelink import (
    AccessReport,
    AccessToken,
    AuthorizationError,
    Capability,
    CapabilityCheck,
    Credentials,
    Cursor,
    ErrorDetail,
    InventoryLevel,
    NotFoundError,
    Order,
    OrderDraft,
    Page,
    PlatformContext,
    PlatformInfo,
    PluginError,
    Product,
    RejectedError,
    ShippingMethod,
    StoreURL,
    hookimpl,
    next_offset,
    numbered_page,
    offset_start,
    page_number_start,
)
from storelink_woocommerce import PLATFORM, auth, urls
from storelink_woocommerce.credentials import APPROVAL, CREDENTIAL_SCHEMA

if TYPE_CHECKING:
    import httpx

    from storelink_woocommerce import api

# The modules that make requests and map answers (api, mapping, approval) are imported
# inside the hooks: `storelink platforms` imports this module for platform_info alone,
# and must not pay for them (or for httpx).

__all__ = [
    "authenticate",
    "build_authorization_url",
    "check_access",
    "create_order",
    "describe_error",
    "fetch_inventory",
    "fetch_orders",
    "fetch_products",
    "fetch_shipping_methods",
    "find_order",
    "get_order",
    "normalize_store_url",
    "platform_info",
    "receive_credentials",
]

T = TypeVar("T")

#: Records per list page: WordPress's maximum (``per_page`` above it is ``rest_invalid_param``).
PAGE_SIZE = 100

#: Variable products whose variations are read at once, per page of products.
VARIATION_CONCURRENCY = 4

#: SKUs per page when inventory is read for given SKUs (one request each, concurrently).
SKU_PAGE_SIZE = 20

#: Pages of the newest orders :func:`find_order` searches for a reference.
FIND_ORDER_PAGES = 3

#: The order status the write probe sends: not a status, so WordPress refuses the body
#: (``rest_invalid_param``, HTTP 400) before any order is made.
PROBE_STATUS = "storelink-access-probe"

_PERMISSIONS = "WooCommerce > Settings > Advanced > REST API"

SETUP_GUIDE = (
    "Copy your site's address (Settings > General > Site Address in WordPress), with its path if "
    "WordPress is installed in a folder (for example https://example.com/shop): that is your store URL.",
    f"In the WordPress admin, open {_PERMISSIONS} and click Add key.",
    "Describe it (for example 'storelink'), choose a user who manages the shop (Administrator or "
    "Shop Manager), and set Permissions to Read/Write (Read is enough to sync the catalog and orders, "
    "but not to create orders).",
    "Click Generate API key and copy the Consumer key (ck_...) and Consumer secret (cs_...): "
    "WooCommerce shows the secret once.",
    f"To revoke access later, open {_PERMISSIONS} and click Revoke under the key.",
)


# --------------------------------------------------------------------------- identity


@hookimpl
def platform_info() -> PlatformInfo:
    """Describe WooCommerce: its credential schema, capabilities and setup guide."""
    return PlatformInfo(
        slug=PLATFORM,
        title="WooCommerce",
        credential_schema=CREDENTIAL_SCHEMA,
        capabilities=frozenset(Capability),
        setup_guide=SETUP_GUIDE,
        store_url_example="https://example.com/shop",
        docs_url="https://woocommerce.github.io/woocommerce-rest-api-docs/",
        token_prefix=auth.TOKEN_PREFIX,
        approval=APPROVAL,
    )


@hookimpl
def normalize_store_url(raw: str, allow_loopback: bool) -> StoreURL:
    """Return the site's origin and install path for what the merchant entered."""
    return urls.normalize_store_url(raw, allow_loopback=allow_loopback)


@hookimpl
def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode WordPress's REST error body (``code``, ``message``, ``data.status``)."""
    from storelink_woocommerce import api

    return api.describe_error(response)


# --------------------------------------------------------------------------- key approval (wc-auth)


@hookimpl
def build_authorization_url(
    store_url: StoreURL,
    client_id: str,
    scopes: tuple[str, ...],
    state: str,
    redirect_uri: str,
    callback_url: str | None,
) -> str:
    """Return the store's ``wc-auth`` approval URL (the channel's name is the ``app_name``)."""
    if callback_url is None:
        raise PluginError("wc-auth needs a callback_url", plugin=PLATFORM, hook="build_authorization_url")
    from storelink_woocommerce import approval

    return approval.authorization_url(
        store_url,
        app_name=client_id,
        scope=scopes[0],
        state=state,
        return_url=redirect_uri,
        callback_url=callback_url,
    )


@hookimpl
def receive_credentials(body: Mapping[str, object]) -> tuple[str, Credentials]:
    """Read the key WooCommerce POSTed to the callback URL."""
    from storelink_woocommerce import approval

    return approval.credentials_from_delivery(body)


# --------------------------------------------------------------------------- auth


@hookimpl
async def authenticate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Check the consumer key and secret; they are the credential of every request."""
    return await auth.validate(ctx, audience)


@hookimpl
async def check_access(ctx: PlatformContext) -> AccessReport:
    """Probe each capability with one cheap request.

    Reads are probed with ``per_page=1`` lists (stock is read from products, so the
    product probe answers for inventory too). Order creation needs the key's ``write``
    permission: it is probed with a ``POST /orders`` whose status is not a status, so
    WordPress refuses the body (400) once the key's permission was checked, and no
    order is made; a key without ``write`` is refused with 401.
    """
    products = await _probe(ctx, Capability.PRODUCTS, "fetch_products", "GET", "/products", {"per_page": 1})
    checks = [
        products,
        CapabilityCheck(capability=Capability.INVENTORY, ok=products.ok, detail=products.detail),
        await _probe(ctx, Capability.ORDERS, "fetch_orders", "GET", "/orders", {"per_page": 1}),
        await _probe(ctx, Capability.SHIPPING_METHODS, "fetch_shipping_methods", "GET", "/shipping/zones", None),
        await _probe_write(ctx),
    ]
    return AccessReport(checks=checks)


async def _probe(
    ctx: PlatformContext,
    capability: Capability,
    operation: str,
    method: str,
    path: str,
    params: dict[str, str | int] | None,
) -> CapabilityCheck:
    from storelink_woocommerce import api

    try:
        await api.call(ctx, method, path, operation=operation, params=params)
    except AuthorizationError as exc:
        detail = (
            f"{exc.message}. The key's user may not {capability.value.replace('_', ' ')}: generate the key "
            f"for an Administrator or Shop Manager in {_PERMISSIONS}"
        )
        return CapabilityCheck(capability=capability, ok=False, detail=detail)
    except RejectedError as exc:
        return CapabilityCheck(capability=capability, ok=False, detail=str(exc))
    return CapabilityCheck(capability=capability, ok=True)


async def _probe_write(ctx: PlatformContext) -> CapabilityCheck:
    from storelink_woocommerce import api

    capability = Capability.CREATE_ORDERS
    try:
        await api.call(
            ctx,
            "POST",
            "/orders",
            operation="create_order",
            json={"status": PROBE_STATUS, "line_items": PROBE_STATUS},
        )
    except AuthorizationError:
        return CapabilityCheck(
            capability=capability,
            ok=False,
            detail=(
                "the key has no write permission, so orders cannot be created: in "
                f"{_PERMISSIONS}, edit the key and set Permissions to Read/Write"
            ),
        )
    except RejectedError as exc:
        if exc.status == 400 and exc.code == "rest_invalid_param":
            return CapabilityCheck(capability=capability, ok=True)  # refused the body, after the key's permission
        return CapabilityCheck(capability=capability, ok=False, detail=str(exc))
    # The store accepted a body it must refuse: something between it and WordPress is
    # not WooCommerce's REST API as documented. Say so rather than claim the right.
    return CapabilityCheck(
        capability=capability,
        ok=False,
        detail="the store accepted an invalid order; it is not answering as WooCommerce does",
    )


# --------------------------------------------------------------------------- paging


async def _bounded(limit: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run *calls* concurrently, at most *limit* at a time, and return their results in order."""
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(run(c) for c in calls)))


async def _variations(ctx: PlatformContext, product_id: str) -> list[Any]:
    """Return every variation of variable product *product_id* (pages of 100, in order)."""
    from storelink_woocommerce import api

    found: list[Any] = []
    page = 1
    while True:
        listing = await api.list_page(
            ctx,
            f"/products/{product_id}/variations",
            params={"page": page, "per_page": PAGE_SIZE, "orderby": "id", "order": "asc"},
        )
        found.extend(listing.items)
        if numbered_page(listing.items, page=page, per_page=PAGE_SIZE, total_pages=listing.total_pages).next is None:
            return found
        page += 1


async def _products_page(
    ctx: PlatformContext, cursor: Cursor | None, hook: str
) -> tuple[api.Listing, list[Any], int, int]:
    """Read one page of products and the variations of its variable ones (concurrently)."""
    from storelink_woocommerce import api, mapping

    page, per_page = page_number_start(cursor, PAGE_SIZE, platform=PLATFORM, hook=hook)
    listing = await api.list_page(
        ctx,
        "/products",
        params={"page": page, "per_page": per_page, "orderby": "id", "order": "asc"},
    )

    def reader(index: int, record: Any) -> Callable[[], Awaitable[list[Any]]]:
        async def read() -> list[Any]:
            if not isinstance(record, dict) or record.get("type") != "variable":
                return []
            product_id = mapping.record_id(record, f"items[{index}]")
            return await _variations(ctx, product_id)

        return read

    variations = await _bounded(VARIATION_CONCURRENCY, [reader(i, r) for i, r in enumerate(listing.items)])
    return listing, variations, page, per_page


# --------------------------------------------------------------------------- reads


@hookimpl
async def fetch_products(ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
    """Return one page of ``/products``, variable products with their variations as variants."""
    from storelink_woocommerce import api, mapping

    currency = await api.store_currency(ctx)
    listing, variations, page, per_page = await _products_page(ctx, cursor, "fetch_products")
    products = [
        mapping.product_from_woo(p, currency=currency, variations=v, path=f"items[{i}]")
        for i, (p, v) in enumerate(zip(listing.items, variations, strict=True))
    ]
    return numbered_page(
        products,
        page=page,
        per_page=per_page,
        count=len(listing.items),
        total_pages=listing.total_pages,
        total=listing.total,
    )


@hookimpl
async def fetch_orders(ctx: PlatformContext, cursor: Cursor | None, since: datetime | None) -> Page[Order]:
    """Return one page of ``/orders``, oldest first; with *since*, those modified at or after it.

    WooCommerce's ``modified_after`` is exclusive and counts whole seconds, so the
    request asks from one second before *since* and the orders modified before it are
    dropped here. The page's total is then not reported (it counts the dropped ones).
    """
    from storelink_woocommerce import api, mapping

    page, per_page = page_number_start(cursor, PAGE_SIZE, platform=PLATFORM, hook="fetch_orders")
    params: dict[str, str | int] = {"page": page, "per_page": per_page, "orderby": "date", "order": "asc"}
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        start = since.astimezone(UTC).replace(microsecond=0) - timedelta(seconds=1)
        params.update(modified_after=start.strftime("%Y-%m-%dT%H:%M:%S"), dates_are_gmt="true")
    listing = await api.list_page(ctx, "/orders", params=params)
    orders = [mapping.order_from_woo(o, path=f"items[{i}]") for i, o in enumerate(listing.items)]
    if since is not None:
        orders = [o for o in orders if (o.updated_at or o.created_at or since) >= since]
    return numbered_page(
        orders,
        page=page,
        per_page=per_page,
        count=len(listing.items),
        total_pages=listing.total_pages,
        total=listing.total if since is None else None,  # the total counts the dropped ones
    )


@hookimpl
async def get_order(ctx: PlatformContext, order_id: str) -> Order:
    """Return ``/orders/{id}``."""
    from storelink_woocommerce import api, mapping

    if not order_id.isdigit():
        raise NotFoundError(f"WooCommerce order ids are numbers; there is no order {order_id[:40]!r}")
    payload = await api.call(ctx, "GET", f"/orders/{order_id}")
    return mapping.order_from_woo(payload, path="order")


@hookimpl
async def fetch_inventory(
    ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
) -> Page[InventoryLevel]:
    """Return one page of stock levels: one per simple product and per variation.

    Without *sku_ids*, a page of ``/products`` (variations read concurrently). With
    *sku_ids*, ``/products/{id}`` for each (a variation's id answers with the
    variation), :data:`SKU_PAGE_SIZE` at a time; an unknown SKU has no level.
    ``Page.total`` is not set: WooCommerce counts products, not levels.
    """
    from storelink_woocommerce import mapping

    if sku_ids is not None:
        return await _inventory_of(ctx, cursor, sku_ids)
    listing, variations, page, per_page = await _products_page(ctx, cursor, "fetch_inventory")
    levels: list[InventoryLevel] = []
    for i, (product, variants) in enumerate(zip(listing.items, variations, strict=True)):
        if isinstance(product, dict) and product.get("type") == "variable":
            levels.extend(
                mapping.inventory_from_woo(v, path=f"items[{i}].variations[{j}]") for j, v in enumerate(variants)
            )
        else:
            levels.append(mapping.inventory_from_woo(product, path=f"items[{i}]"))
    return numbered_page(
        levels, page=page, per_page=per_page, count=len(listing.items), total_pages=listing.total_pages
    )


async def _inventory_of(ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...]) -> Page[InventoryLevel]:
    from storelink_woocommerce import api, mapping

    start = offset_start(cursor, SKU_PAGE_SIZE, platform=PLATFORM, hook="fetch_inventory")
    chunk = sku_ids[start.offset : start.offset + SKU_PAGE_SIZE]

    def reader(sku_id: str) -> Callable[[], Awaitable[InventoryLevel | None]]:
        async def read() -> InventoryLevel | None:
            if not sku_id.isdigit():
                return None
            try:
                payload = await api.call(ctx, "GET", f"/products/{sku_id}")
            except NotFoundError:
                return None
            return mapping.inventory_from_woo(payload, path=f"products[{sku_id!r}]")

        return read

    found = await _bounded(VARIATION_CONCURRENCY, [reader(s) for s in chunk])
    following = next_offset(start, len(chunk), total=len(sku_ids), limit=SKU_PAGE_SIZE)
    return Page(items=[level for level in found if level is not None], next=following)


@hookimpl
async def fetch_shipping_methods(ctx: PlatformContext) -> list[ShippingMethod]:
    """Return every method instance of every shipping zone (zones' methods read concurrently)."""
    from storelink_woocommerce import api, mapping

    currency = await api.store_currency(ctx)
    zones = await api.call(ctx, "GET", "/shipping/zones")
    if not isinstance(zones, list):
        zones = []
    usable = [z for z in zones if isinstance(z, dict) and isinstance(z.get("id"), int)]

    def reader(zone: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        async def read() -> Any:
            return await api.call(ctx, "GET", f"/shipping/zones/{zone['id']}/methods")

        return read

    methods = await _bounded(VARIATION_CONCURRENCY, [reader(z) for z in usable])
    return [
        mapping.shipping_method_from_woo(m, zone=zone, currency=currency, path=f"zones[{zone['id']}].methods[{j}]")
        for zone, listed in zip(usable, methods, strict=True)
        for j, m in enumerate(listed if isinstance(listed, list) else [])
    ]


# --------------------------------------------------------------------------- orders


@hookimpl
async def create_order(ctx: PlatformContext, draft: OrderDraft) -> Order:
    """Create *draft* with ``POST /orders``, its reference in ``meta_data``.

    The shipping method (``"{zone}:{instance}"``) is read first, for the method's type,
    title and cost the shipping line needs; an unknown one refuses the draft before
    anything is sent.
    """
    from storelink_woocommerce import api, mapping

    zone, _, instance = draft.shipping_method_id.partition(":")
    if not (zone.isdigit() and instance.isdigit()):
        raise RejectedError(
            f"shipping method {draft.shipping_method_id[:40]!r} is not a WooCommerce method id "
            "('zone:instance', as fetch_shipping_methods returns)",
            platform=PLATFORM,
            operation="create_order",
        )
    try:
        method = await api.call(ctx, "GET", f"/shipping/zones/{zone}/methods/{instance}")
    except NotFoundError:
        raise RejectedError(
            f"the store has no shipping method {draft.shipping_method_id!r}",
            platform=PLATFORM,
            operation="create_order",
            status=404,
        ) from None
    for line in draft.lines:
        if not (line.product_id.isdigit() and line.sku_id.isdigit()):
            raise RejectedError(
                f"WooCommerce product and variation ids are numbers; line {line.product_id[:40]!r}/"
                f"{line.sku_id[:40]!r} is not",
                platform=PLATFORM,
                operation="create_order",
            )
    payload = await api.call(
        ctx,
        "POST",
        "/orders",
        json=mapping.order_payload_from_draft(draft, method=method if isinstance(method, dict) else {}),
        idempotent=False,
        reference=draft.reference,
    )
    return mapping.order_from_woo(payload, path="order")


@hookimpl
async def find_order(ctx: PlatformContext, reference: str) -> Order | None:
    """Look for the order carrying *reference* among the newest orders.

    WooCommerce's order search does not look into ``meta_data``, so the newest
    :data:`FIND_ORDER_PAGES` pages of orders are read, newest first, and their meta
    checked. The core asks right after an unknown outcome, when the order, if it was
    made, is among the newest.
    """
    from storelink_woocommerce import api, mapping

    for page in range(1, FIND_ORDER_PAGES + 1):
        listing = await api.list_page(
            ctx,
            "/orders",
            params={"page": page, "per_page": PAGE_SIZE, "orderby": "date", "order": "desc"},
        )
        for i, raw in enumerate(listing.items):
            if isinstance(raw, dict) and mapping.reference_of(raw) == reference:
                return mapping.order_from_woo(raw, path=f"items[{i}]")
        if (listing.total_pages is not None and page >= listing.total_pages) or len(listing.items) < PAGE_SIZE:
            return None
    return None
