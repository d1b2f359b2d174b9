"""The Shopify platform: storelink's hook implementations for the GraphQL Admin API.

Registered as the entry point ``storelink.platforms: shopify``. A shop is connected
through Shopify's OAuth install (:mod:`storelink_shopify.oauth`: the merchant approves
the channel's app, the code is exchanged for an offline access token); the token is
the connection's one credential (:mod:`storelink_shopify.auth`), sent in
``X-Shopify-Access-Token``.

Each list hook makes one query and returns one page with Shopify's opaque cursor
(:class:`~storelink.TokenCursor`, no totals); the core owns the loop. Throttling and
GraphQL errors are mapped in :mod:`storelink_shopify.api`. Orders are created with
``orderCreate``, carrying the draft's reference (:mod:`storelink_shopify.drafts`), and
found again by it with a tag search (``find_order``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from storelink import (
    AccessReport,
    AccessToken,
    CapabilityCheck,
    Credentials,
    Cursor,
    ErrorDetail,
    InventoryLevel,
    MappingError,
    Money,
    NotFoundError,
    OAuthFlow,
    Order,
    OrderDraft,
    Page,
    PlatformContext,
    PlatformError,
    PlatformInfo,
    Product,
    RejectedError,
    Secret,
    ShippingMethod,
    StoreURL,
    cursor_token,
    hookimpl,
    next_offset,
    offset_start,
    token_page,
)
from storelink.context import current_operation
from storelink_shopify import PLATFORM, auth, urls
from storelink_shopify.credentials import (
    APP_CREDENTIALS,
    CAPABILITY_SCOPES,
    CREDENTIAL_SCHEMA,
    SCOPES,
    SHOP_PARAMETER,
    missing_scopes,
)

if TYPE_CHECKING:
    import httpx

    from storelink_shopify import drafts, mapping

# The modules that make requests and map answers (api, mapping, queries, drafts, oauth)
# are imported inside the hooks: `storelink platforms` imports this module for
# platform_info alone, and must not pay for them (or for httpx).

__all__ = [
    "authenticate",
    "build_authorization_url",
    "check_access",
    "complete_authorization",
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
    "verify_callback",
]

#: Delivery-profile pages read at most by :func:`fetch_shipping_methods`.
MAX_PROFILE_PAGES = 20

_ORDER_GID = re.compile(r"gid://shopify/Order/\d+")
_VARIANT_GID = re.compile(r"gid://shopify/ProductVariant/\d+")
_METHOD_GID = re.compile(r"gid://shopify/DeliveryMethodDefinition/\d+")

#: Orders a reference search reads (one is expected; more are logged).
FIND_PAGE = 10

SETUP_GUIDE = (
    "Your shop address is the name before .myshopify.com (Settings > Domains in the Shopify admin shows it); "
    "the address of any admin page, admin.shopify.com/store/<name>, works too.",
    "You are then sent to your Shopify admin (sign in if asked) to install the app: check the access it "
    f"asks for ({', '.join(SCOPES)}) and click Install.",
    "Shopify sends you back here, and the connection is checked at once.",
    "To revoke access later, uninstall the app in Settings > Apps in the Shopify admin.",
)

#: How a merchant connects a shop: Shopify's OAuth install, for an offline token.
OAUTH_FLOW = OAuthFlow(scopes=SCOPES, pkce=False, app_credentials=APP_CREDENTIALS, store_parameter=SHOP_PARAMETER)


# --------------------------------------------------------------------------- identity


@hookimpl
def platform_info() -> PlatformInfo:
    """Describe Shopify: the OAuth install, the access-token credentials it yields, the capabilities."""
    return PlatformInfo(
        slug=PLATFORM,
        title="Shopify",
        credential_schema=CREDENTIAL_SCHEMA,
        capabilities=frozenset(CAPABILITY_SCOPES),
        setup_guide=SETUP_GUIDE,
        audiences=(auth.AUDIENCE,),
        store_url_example="https://mystore.myshopify.com",
        docs_url="https://shopify.dev/docs/api/admin-graphql",
        oauth=OAUTH_FLOW,
        token_header=auth.TOKEN_HEADER,
        token_prefix="",
    )


@hookimpl
def normalize_store_url(raw: str, allow_loopback: bool) -> StoreURL:
    """Return ``https://<name>.myshopify.com`` for what the merchant entered."""
    return urls.normalize_store_url(raw, allow_loopback=allow_loopback)


@hookimpl
def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode Shopify's ``{"errors": ...}`` error body."""
    from storelink_shopify import api

    return api.describe_error(response)


# --------------------------------------------------------------------------- OAuth install


@hookimpl
def build_authorization_url(
    store_url: StoreURL,
    client_id: str,
    scopes: tuple[str, ...],
    state: str,
    redirect_uri: str,
    code_challenge: str | None,
) -> str:
    """Return ``https://{shop}.myshopify.com/admin/oauth/authorize?...`` for an offline token.

    *code_challenge* is always ``None``: Shopify's authorization-code grant has no PKCE.
    """
    from storelink_shopify import oauth

    return oauth.authorization_url(
        store_url, client_id=client_id, scopes=scopes, state=state, redirect_uri=redirect_uri
    )


@hookimpl
def verify_callback(query: str, params: Mapping[str, str], app_credentials: Credentials) -> bool:
    """Check the callback's ``hmac`` (HMAC-SHA256 with the client secret) and its ``shop``."""
    from storelink_shopify import oauth

    return oauth.verify_callback(query, app_credentials.secret("client_secret"))


@hookimpl
async def complete_authorization(
    ctx: PlatformContext,
    params: Mapping[str, str],
    app_credentials: Credentials,
    redirect_uri: str,
    code_verifier: Secret | None,
) -> Credentials:
    """Exchange the code at ``/admin/oauth/access_token``; the grant must cover every scope asked for."""
    from storelink_shopify import oauth

    return await oauth.exchange(ctx, params, app_credentials, scopes=SCOPES)


# --------------------------------------------------------------------------- auth


@hookimpl
async def authenticate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Check the access token with ``query Shop`` and return it as the *audience* token."""
    return await auth.validate(ctx, audience)


@hookimpl
async def check_access(ctx: PlatformContext) -> AccessReport:
    """Read the scopes granted to the app and name, per capability, the ones it lacks.

    One query (``currentAppInstallation { accessScopes }``) answers for every
    capability; a ``write_`` scope counts as its ``read_`` scope.
    """
    from storelink_shopify import api, mapping

    data = await api.graphql(ctx, "AccessScopes")
    granted = mapping.access_scopes(data, path="data")
    checks = []
    for capability, needed in CAPABILITY_SCOPES.items():
        missing = missing_scopes(granted, needed)
        detail = None
        if missing:
            detail = (
                f"the app lacks the access scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                "connect the shop again and approve the access the app asks for (for a custom app, "
                "add the scope under its Admin API integration first)"
            )
        checks.append(CapabilityCheck(capability=capability, ok=not missing, detail=detail))
    return AccessReport(checks=checks)


# --------------------------------------------------------------------------- reads


@hookimpl
async def fetch_products(ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
    """Return one page of ``products`` (by id), with variants, prices and images."""
    from storelink_shopify import api, mapping, queries

    variables = {"first": queries.PRODUCTS_PAGE, "after": _after(cursor, "fetch_products")}
    data = await api.graphql(ctx, "Products", variables)
    currency = _text(mapping.obj(data.get("shop"), "data.shop").get("currencyCode"), "data.shop.currencyCode")
    conn = mapping.connection(data.get("products"), "data.products")
    products = [mapping.product_from_shopify(node, currency=currency, path=path) for node, path in conn.nodes]
    for product in products:
        if product.extra.get("variants_truncated"):
            ctx.log.warning(
                "product %s has more than %d variants; only the first are read",
                product.id,
                queries.VARIANTS_PER_PRODUCT,
            )
    return token_page(products, _next(conn, "data.products"))


@hookimpl
async def fetch_orders(ctx: PlatformContext, cursor: Cursor | None, since: datetime | None) -> Page[Order]:
    """Return one page of ``orders`` by ``UPDATED_AT``, filtered with ``updated_at:>=`` *since*."""
    from storelink_shopify import api, mapping, queries

    variables: dict[str, Any] = {"first": queries.ORDERS_PAGE, "after": _after(cursor, "fetch_orders")}
    if since is not None:
        variables["query"] = f"updated_at:>='{_iso(since)}'"
    data = await api.graphql(ctx, "Orders", variables)
    conn = mapping.connection(data.get("orders"), "data.orders")
    orders = [mapping.order_from_shopify(node, path=path) for node, path in conn.nodes]
    if since is not None:
        # The search filters to the second; keep exactly what changed at or after since.
        orders = [o for o in orders if (o.updated_at or o.created_at or since) >= since]
    return token_page(orders, _next(conn, "data.orders"))


@hookimpl
async def get_order(ctx: PlatformContext, order_id: str) -> Order:
    """Return ``order(id:)``; a numeric id is taken as the order's legacy id.

    :raises NotFoundError: No such order (Shopify answers ``null``), or *order_id* is
        not an order id at all (nothing is sent then).
    """
    from storelink_shopify import api, mapping

    gid = f"gid://shopify/Order/{order_id}" if order_id.isdigit() else order_id
    if not _ORDER_GID.fullmatch(gid):
        raise NotFoundError(
            f"{order_id[:80]!r} is not a Shopify order id", platform=PLATFORM, operation=current_operation()
        )
    data = await api.graphql(ctx, "Order", {"id": gid})
    if data.get("order") is None:
        raise NotFoundError(f"there is no order {gid}", platform=PLATFORM, operation=current_operation())
    return mapping.order_from_shopify(data["order"], path="data.order")


@hookimpl
async def fetch_inventory(
    ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
) -> Page[InventoryLevel]:
    """Return one page of stock levels per variant and location.

    Without *sku_ids*, a page of ``productVariants`` with their inventory levels. With
    *sku_ids* (variant ids), :data:`~storelink_shopify.queries.INVENTORY_PAGE` of them
    per page through ``nodes(ids:)``; an id that is not a variant's has no levels.
    """
    from storelink_shopify import api, mapping, queries

    if sku_ids is not None:
        return await _inventory_of(ctx, cursor, sku_ids)
    variables = {"first": queries.INVENTORY_PAGE, "after": _after(cursor, "fetch_inventory")}
    data = await api.graphql(ctx, "VariantInventory", variables)
    conn = mapping.connection(data.get("productVariants"), "data.productVariants")
    levels = [level for node, path in conn.nodes for level in mapping.inventory_from_shopify(node, path=path)]
    return token_page(levels, _next(conn, "data.productVariants"))


async def _inventory_of(ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...]) -> Page[InventoryLevel]:
    from storelink_shopify import api, mapping, queries

    start = offset_start(cursor, queries.INVENTORY_PAGE, platform=PLATFORM, hook="fetch_inventory")
    limit = min(start.limit, queries.INVENTORY_PAGE)
    asked = sku_ids[start.offset : start.offset + limit]
    chunk = [s for s in asked if _VARIANT_GID.fullmatch(s)]
    levels: list[InventoryLevel] = []
    if chunk:
        data = await api.graphql(ctx, "VariantInventoryById", {"ids": chunk})
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise MappingError("expected a list", path="data.nodes")
        for i, node in enumerate(nodes):
            if node is None or (isinstance(node, dict) and "id" not in node):
                continue  # no such variant, or another kind of node
            levels.extend(mapping.inventory_from_shopify(node, path=f"data.nodes[{i}]"))
    return Page(items=levels, next=next_offset(start, len(asked), total=len(sku_ids), limit=limit))


@hookimpl
async def fetch_shipping_methods(ctx: PlatformContext) -> list[ShippingMethod]:
    """Return the method definitions of every delivery profile, active or not, with their rates."""
    from storelink_shopify import api, mapping, queries

    methods: list[ShippingMethod] = []
    after: str | None = None
    for _ in range(MAX_PROFILE_PAGES):
        variables = {"first": queries.PROFILES_PAGE, "after": after}
        data = await api.graphql(ctx, "DeliveryProfiles", variables)
        conn = mapping.connection(data.get("deliveryProfiles"), "data.deliveryProfiles")
        for node, path in conn.nodes:
            methods.extend(mapping.shipping_methods_from_profile(node, path=path))
        after = _next(conn, "data.deliveryProfiles")
        if after is None:
            return methods
    ctx.log.warning("more than %d pages of delivery profiles; the rest are not read", MAX_PROFILE_PAGES)
    return methods


# --------------------------------------------------------------------------- orders


@hookimpl
async def create_order(ctx: PlatformContext, draft: OrderDraft) -> Order:
    """Create *draft* with ``orderCreate``, its reference in a custom attribute, a tag and ``sourceIdentifier``.

    The shipping method is read first (its title and rate make the shipping line); the
    mutation is then sent once, as a write. ``userErrors`` become a
    :class:`~storelink.RejectedError` naming each refused field.

    :raises RejectedError: A line's SKU is not a variant id, the shipping method is
        unknown, inactive or carrier-calculated (nothing is sent then), or Shopify
        refused the order.
    """
    from storelink_shopify import api, drafts, mapping

    for i, line in enumerate(draft.lines):
        if not _VARIANT_GID.fullmatch(line.sku_id):
            raise RejectedError(
                f"line {i + 1}: {line.sku_id[:80]!r} is not a Shopify variant id (gid://shopify/ProductVariant/...)",
                platform=PLATFORM,
                operation=current_operation(),
            )
    shipping = await _shipping_line(ctx, draft.shipping_method_id)
    variables = {"order": drafts.order_input(draft, shipping), "options": dict(drafts.ORDER_OPTIONS)}
    data = await api.graphql(ctx, "OrderCreate", variables, reference=draft.reference)
    payload = mapping.obj(data.get("orderCreate"), "data.orderCreate")
    refused = drafts.user_errors_error(payload, "data.orderCreate")
    if refused is not None:
        raise refused
    if payload.get("order") is None:
        raise PlatformError(
            "orderCreate answered without an order or an error",
            platform=PLATFORM,
            operation=current_operation(),
            status=200,
        )
    order = mapping.order_from_shopify(payload["order"], path="data.orderCreate.order")
    return order if order.reference is not None else attrs.evolve(order, reference=draft.reference)


@hookimpl
async def find_order(ctx: PlatformContext, reference: str) -> Order | None:
    """Search ``orders`` for the reference's tag and return the one whose custom attribute is *reference*."""
    from storelink_shopify import api, drafts, mapping

    tag = drafts.reference_tag(reference)
    variables = {"first": FIND_PAGE, "after": None, "query": f"tag:'{tag}'"}
    data = await api.graphql(ctx, "Orders", variables)
    conn = mapping.connection(data.get("orders"), "data.orders")
    found = [mapping.order_from_shopify(node, path=path) for node, path in conn.nodes]
    matches = [o for o in found if o.reference == reference]
    if len(matches) > 1:
        ctx.log.warning("%d Shopify orders carry reference %s; using %s", len(matches), reference, matches[0].id)
    return matches[0] if matches else None


async def _shipping_line(ctx: PlatformContext, method_id: str) -> drafts.ShippingLine:
    from storelink_shopify import api, drafts

    def refused(why: str) -> RejectedError:
        return RejectedError(
            f"shipping method {method_id[:80]!r} {why}; pick one from fetch_shipping_methods",
            platform=PLATFORM,
            operation=current_operation(),
        )

    if not _METHOD_GID.fullmatch(method_id):
        raise refused("is not a Shopify delivery method id (gid://shopify/DeliveryMethodDefinition/...)")
    data = await api.graphql(ctx, "ShippingMethod", {"id": method_id})
    node = data.get("node")
    if not isinstance(node, dict) or not node.get("id"):
        raise NotFoundError(
            f"there is no shipping method {method_id[:80]!r}; pick one from fetch_shipping_methods",
            platform=PLATFORM,
            operation=current_operation(),
        )
    title = _text(node.get("name"), "data.node.name")
    if node.get("active") is False:
        raise refused("is not active in the shop")
    provider = node.get("rateProvider")
    price = provider.get("price") if isinstance(provider, dict) else None
    if not isinstance(price, dict):
        raise refused("is priced by a carrier at checkout, so it has no rate to put on the order")
    amount = _text(price.get("amount"), "data.node.rateProvider.price.amount")
    currency = _text(price.get("currencyCode"), "data.node.rateProvider.price.currencyCode")
    try:
        money = Money(amount=amount, currency=currency)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise MappingError(f"not a price: {exc}", path="data.node.rateProvider.price") from None
    return drafts.ShippingLine(code=method_id, title=title, price=money)


# --------------------------------------------------------------------------- helpers


def _after(cursor: Cursor | None, hook: str) -> str | None:
    return cursor_token(cursor, platform=PLATFORM, hook=hook)


def _next(conn: mapping.Connection, path: str) -> str | None:
    """Return the token of the page after *conn*, ``None`` on the last page."""
    if not conn.has_next_page:
        return None
    if not conn.end_cursor:
        raise MappingError("hasNextPage is true but there is no endCursor", path=f"{path}.pageInfo.endCursor")
    if not conn.nodes:
        raise MappingError("hasNextPage is true on an empty page", path=f"{path}.pageInfo")
    return conn.end_cursor


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise MappingError("expected a non-empty string", path=path)
    return value


def _iso(moment: datetime) -> str:
    """Format *moment* as Shopify's search syntax takes it: UTC, whole seconds, ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
