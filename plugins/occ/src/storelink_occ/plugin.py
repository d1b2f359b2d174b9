"""The Oracle Commerce Cloud platform: storelink's hook implementations for OCC.

Registered as the entry point ``storelink.platforms: occ``. Reads use the Admin API
(``/ccadmin/v1``) with an ``admin`` token; orders are created on the Store Extension
Agent API (``/ccappagent/v1``, on the storefront host) with an ``agent`` token. Both
tokens come from the same application key. The core drives everything here: it owns
the HTTP client, the tokens, retries and the paging loop; each hook makes the one
request it describes and maps the answer (:mod:`storelink_occ.mapping`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import attrs

from storelink import (
    AccessReport,
    AccessToken,
    AuthorizationError,
    Capability,
    CapabilityCheck,
    ConfigurationError,
    Credentials,
    Cursor,
    ErrorDetail,
    InventoryLevel,
    MappingError,
    NotFoundError,
    Order,
    OrderDraft,
    Page,
    PlatformContext,
    PlatformInfo,
    Product,
    RejectedError,
    ShippingMethod,
    StoreURL,
    hookimpl,
    next_offset,
    offset_page,
    offset_start,
)
from storelink.context import TOKEN_OPERATIONS
from storelink_occ import urls
from storelink_occ.credentials import CREDENTIAL_SCHEMA, application_key_expires_at
from storelink_occ.settings import SETTINGS_SCHEMA, OccSettings

if TYPE_CHECKING:
    import httpx

    from storelink_occ import api, auth, mapping

T = TypeVar("T")

__all__ = [
    "authenticate",
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
    "refresh_token",
]

#: The slug (``api.PLATFORM``) and token audiences (``auth.AUDIENCES``), here so that
#: :func:`platform_info` (all ``storelink platforms`` calls) imports neither module.
PLATFORM = "occ"
AUDIENCES = ("admin", "agent")


class _OnFirstUse:
    """Stands for a module of this plugin until first used, then puts the module in its place.

    ``api``, ``auth`` and ``mapping`` import the HTTP runtime, msgspec and the mapping
    tables; only the hooks that call the store need them, and listing the platform
    (:func:`platform_info`) must not import them. The first attribute read imports the
    module and rebinds its name in this module's globals, so later calls read the
    module itself, at no cost.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(f"storelink_occ.{self._name}")
        globals()[self._name] = module
        return getattr(module, attribute)


if not TYPE_CHECKING:
    api, auth, mapping = _OnFirstUse("api"), _OnFirstUse("auth"), _OnFirstUse("mapping")


#: OCC's default and documented page size for list endpoints.
PAGE_SIZE = 250

#: SKUs looked up per page when inventory is read for given SKUs (one request each).
SKU_PAGE_SIZE = 25

#: The order id the ``create_orders`` probe asks for; it never exists.
PROBE_ORDER_ID = "storelink-access-probe"

SETUP_GUIDE = (
    "Sign in to the OCC admin console (the address ends in /occs-admin) and copy the part "
    "up to the first '/' after the host: that is your store URL.",
    "Open Settings > Web APIs > Registered Applications and click Register Application.",
    "Name it (for example 'storelink'), choose an expiration, and save: OCC creates an "
    "Application ID and an Application Key.",
    "Click 'Click to reveal' next to the Application Key and copy it into the Application Key field.",
    "If orders are created on a storefront host other than the admin host, enter it as the Storefront URL setting.",
    "To revoke access later, open the application there and click Reset (a new key) or Delete.",
)


# --------------------------------------------------------------------------- identity


@hookimpl
def platform_info() -> PlatformInfo:
    """Describe OCC: its credential schema, settings, capabilities and setup guide."""
    return PlatformInfo(
        slug=PLATFORM,
        title="Oracle Commerce Cloud",
        credential_schema=CREDENTIAL_SCHEMA,
        capabilities=frozenset(Capability),
        setup_guide=SETUP_GUIDE,
        audiences=AUDIENCES,
        settings_schema=SETTINGS_SCHEMA,
        store_url_example="https://p1234567c1prd-admin.occa.ocs.oraclecloud.com",
        docs_url="https://docs.oracle.com/en/cloud/saas/cx-commerce/",
    )


@hookimpl
def normalize_store_url(raw: str, allow_loopback: bool) -> StoreURL:
    """Return the canonical admin origin for what the merchant entered."""
    return urls.normalize_store_url(raw, allow_loopback=allow_loopback)


@hookimpl
def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode OCC's error envelope (``message``, ``errorCode``, ``errors[]``)."""
    return api.describe_error(response)


@hookimpl
def credentials_expire_at(credentials: Credentials) -> datetime | None:
    """Read the application key's ``exp`` claim, for the "key expires soon" warning."""
    return application_key_expires_at(credentials)


# --------------------------------------------------------------------------- auth


@hookimpl
async def authenticate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Log in to the ``admin`` or ``agent`` surface with the application key."""
    return await auth.login(ctx, audience)


@hookimpl
async def refresh_token(ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
    """Renew an admin token with ``/ccadmin/v1/refresh``; ``None`` to log in again."""
    return await auth.refresh(ctx, token)


@hookimpl
async def check_access(ctx: PlatformContext) -> AccessReport:
    """Probe each capability with one cheap request.

    Reads are probed with ``limit=1`` lists. Order creation is probed by asking the
    agent surface for an order that does not exist: "not found" proves that the agent
    login works and the token is accepted, without creating anything. A login that
    fails (rejected, redirected, unreadable) fails the whole check with its error.
    """
    agent_base = ctx.typed_settings(SETTINGS_SCHEMA).agent_base_url
    probes: list[tuple[Capability, str, str, dict[str, str | int] | None]] = [
        (Capability.PRODUCTS, "fetch_products", "/ccadmin/v1/products", {"limit": 1}),
        (Capability.ORDERS, "fetch_orders", "/ccadmin/v1/orders", {"limit": 1}),
        (Capability.INVENTORY, "fetch_inventory", "/ccadmin/v1/inventories", {"limit": 1}),
        (Capability.SHIPPING_METHODS, "fetch_shipping_methods", "/ccadmin/v1/shippingMethods", None),
        (Capability.CREATE_ORDERS, "create_order", f"/ccappagent/v1/orders/{PROBE_ORDER_ID}", None),
    ]
    checks = [
        await _probe(ctx, capability, operation, path, params, agent_base)
        for capability, operation, path, params in probes
    ]
    return AccessReport(checks=checks)


async def _probe(
    ctx: PlatformContext,
    capability: Capability,
    operation: str,
    path: str,
    params: dict[str, str | int] | None,
    agent_base: str | None,
) -> CapabilityCheck:
    audience = "agent" if capability is Capability.CREATE_ORDERS else "admin"
    try:
        await api.call(
            ctx,
            "GET",
            path,
            operation=operation,
            audience=audience,
            params=params,
            base_url=agent_base if audience == "agent" else None,
        )
    except (AuthorizationError, ConfigurationError) as exc:
        return CapabilityCheck(capability=capability, ok=False, detail=exc.message)
    except RejectedError as exc:
        if exc.operation in TOKEN_OPERATIONS:
            # The login itself was refused (a redirect, a 400...): no capability was
            # probed, so none may be reported, allowed or not. The whole check fails.
            raise
        # The agent probe asks for an order that does not exist: a refusal by the
        # surface itself shows that the agent login worked and the token was accepted.
        if capability is not Capability.CREATE_ORDERS:
            return CapabilityCheck(capability=capability, ok=False, detail=str(exc))
    return CapabilityCheck(capability=capability, ok=True)


# --------------------------------------------------------------------------- reads


@hookimpl
async def fetch_products(ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
    """Return one page of ``/ccadmin/v1/products`` with child SKUs as variants."""
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    start = offset_start(cursor, PAGE_SIZE, platform=api.PLATFORM, hook="fetch_products")
    currency, storefront = settings.currency, settings.agent_base_url or ctx.store_url.origin

    def product(payload: Any, path: str) -> Product:
        return mapping.product_from_occ(payload, currency=currency, storefront=storefront, path=path)

    params: dict[str, str | int] = {
        "offset": start.offset,
        "limit": start.limit,
        "totalResults": "true",
        "includePrices": "true",
    }
    fields, products = await _listing(ctx, "/ccadmin/v1/products", "fetch_products", params, product)
    return offset_page(products, start, total=fields.get("totalResults"), limit=fields.get("limit"))


@hookimpl
async def fetch_orders(ctx: PlatformContext, cursor: Cursor | None, since: datetime | None) -> Page[Order]:
    """Return one page of ``/ccadmin/v1/orders``, oldest first, filtered by date with SCIM.

    The date property (``submittedDate`` unless the ``order_date_property`` setting
    says otherwise) is both the filter (``ge`` *since*) and the sort key.
    """
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    start = offset_start(cursor, PAGE_SIZE, platform=api.PLATFORM, hook="fetch_orders")
    prop = settings.order_date_property
    params: dict[str, str | int] = {
        "offset": start.offset,
        "limit": start.limit,
        "totalResults": "true",
        "sort": f"{prop}:asc",
    }
    if since is not None:
        params.update(queryFormat="SCIM", q=f"{prop} ge {_scim_string(_iso(since))}")
    fields, orders = await _listing(
        ctx, "/ccadmin/v1/orders", "fetch_orders", params, lambda payload, path: _order(settings, payload, path)
    )
    return offset_page(orders, start, total=fields.get("totalResults"), limit=fields.get("limit"))


@hookimpl
async def get_order(ctx: PlatformContext, order_id: str) -> Order:
    """Return ``/ccadmin/v1/orders/{id}``."""
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    body = await api.call(ctx, "GET", f"/ccadmin/v1/orders/{quote(order_id, safe='')}", operation="get_order")
    return _order(settings, body, "order")


@hookimpl
async def fetch_inventory(
    ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
) -> Page[InventoryLevel]:
    """Return one page of stock levels per SKU and location.

    Without *sku_ids*, a page of ``/ccadmin/v1/inventories`` (its items are products
    with one record per SKU and location). With *sku_ids*, one
    ``/ccadmin/v1/inventories/{id}`` per SKU, :data:`SKU_PAGE_SIZE` SKUs per page; an
    unknown SKU has no levels. ``Page.total`` is not set: OCC counts products or SKUs,
    not levels.
    """
    if sku_ids is not None:
        return await _inventory_of(ctx, cursor, sku_ids)
    start = offset_start(cursor, PAGE_SIZE, platform=api.PLATFORM, hook="fetch_inventory")
    params: dict[str, str | int] = {"offset": start.offset, "limit": start.limit, "totalResults": "true"}
    fields, records = await _listing(
        ctx,
        "/ccadmin/v1/inventories",
        "fetch_inventory",
        params,
        lambda item, path: mapping.inventory_from_occ(item, path=path),
    )
    levels = [level for record in records for level in record]
    following = next_offset(start, len(records), total=fields.get("totalResults"), limit=fields.get("limit"))
    return Page(items=levels, next=following)


async def _inventory_of(ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...]) -> Page[InventoryLevel]:
    start = offset_start(cursor, SKU_PAGE_SIZE, platform=api.PLATFORM, hook="fetch_inventory")
    chunk = sku_ids[start.offset : start.offset + start.limit]
    levels: list[InventoryLevel] = []
    for sku_id in chunk:
        try:
            body = await api.call(
                ctx, "GET", f"/ccadmin/v1/inventories/{quote(sku_id, safe='')}", operation="fetch_inventory"
            )
        except NotFoundError:
            continue
        levels.extend(mapping.inventory_from_occ(body, path=f"inventories[{sku_id!r}]"))
    return Page(items=levels, next=next_offset(start, len(chunk), total=len(sku_ids)))


@hookimpl
async def fetch_shipping_methods(ctx: PlatformContext) -> list[ShippingMethod]:
    """Return every shipping method (``enabledOnly=false``), as a bare list or ``{items}``."""
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    body = await api.call(
        ctx,
        "GET",
        "/ccadmin/v1/shippingMethods",
        operation="fetch_shipping_methods",
        params={"enabledOnly": "false"},
    )
    methods = body if isinstance(body, list) else _items(body)
    return [
        mapping.shipping_method_from_occ(m, currency=settings.currency, path=f"items[{i}]")
        for i, m in enumerate(methods)
    ]


# --------------------------------------------------------------------------- orders


@hookimpl
async def create_order(ctx: PlatformContext, draft: OrderDraft) -> Order:
    """Create *draft* with ``POST /ccappagent/v1/orders`` (``op: createOrder``).

    The reference travels as the custom order property named by the
    ``order_reference_property`` setting, where :func:`find_order` looks for it.
    """
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    body = await api.call(
        ctx,
        "POST",
        "/ccappagent/v1/orders",
        operation="create_order",
        audience="agent",
        json=mapping.order_payload_from_draft(draft, reference_property=settings.reference_property),
        idempotent=False,
        reference=draft.reference,
        base_url=settings.agent_base_url,
    )
    order = _order(settings, body, "order")
    # OCC echoes custom properties only when they are configured to be returned;
    # the order carries the reference either way, since it was sent in it.
    return order if order.reference is not None else attrs.evolve(order, reference=draft.reference)


@hookimpl
async def find_order(ctx: PlatformContext, reference: str) -> Order | None:
    """Search ``/ccadmin/v1/orders`` with SCIM for the order carrying *reference*."""
    settings = ctx.typed_settings(SETTINGS_SCHEMA)
    prop = settings.reference_property
    params: dict[str, str | int] = {"queryFormat": "SCIM", "q": f"{prop} eq {_scim_string(reference)}", "limit": 10}
    _, orders = await _listing(
        ctx, "/ccadmin/v1/orders", "find_order", params, lambda payload, path: _order(settings, payload, path)
    )
    matches = [o for o in orders if o.reference == reference]
    if len(matches) > 1:
        ctx.log.warning("%d OCC orders carry reference %s; using %s", len(matches), reference, matches[0].id)
    return matches[0] if matches else None


# --------------------------------------------------------------------------- helpers


def _order(settings: OccSettings, payload: Any, path: str) -> Order:
    return mapping.order_from_occ(
        payload, reference_property=settings.reference_property, currency=settings.currency, path=path
    )


async def _listing(
    ctx: PlatformContext,
    path: str,
    operation: str,
    params: Mapping[str, str | int],
    mapper: Callable[[Any, str], T],
) -> tuple[dict[str, Any], list[T]]:
    """GET a list envelope; return its other members and its items mapped, each decoded just before.

    The items are mapped inside the read (:func:`api.read_listing
    <storelink_occ.api.read_listing>`), so that an item's unreadable bytes are the
    store's malformed answer, as for a body decoded whole.
    """

    def read(response: httpx.Response) -> tuple[dict[str, Any], list[T]]:
        listing = api.read_listing(response, operation=operation)
        return listing.fields, listing.map(mapper)

    result: tuple[dict[str, Any], list[T]] = await api.call(
        ctx, "GET", path, operation=operation, params=params, reader=read
    )
    return result


def _items(body: Any) -> list[Any]:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MappingError("expected a list envelope with 'items'", path="items")
    return items


def _iso(moment: datetime) -> str:
    """Format *moment* as OCC does: UTC, milliseconds, ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _scim_string(value: str) -> str:
    """Quote *value* as a SCIM string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
