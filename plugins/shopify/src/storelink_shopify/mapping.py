"""GraphQL Admin API payloads to storelink models.

One named function per shape: :func:`product_from_shopify`, :func:`variant_from_shopify`,
:func:`inventory_from_shopify`, :func:`shipping_methods_from_profile`,
:func:`order_from_shopify`, and :func:`connection` for a connection's nodes and
``pageInfo``. Each reads the fields its query selects (:mod:`storelink_shopify.queries`)
and raises :class:`~storelink.MappingError` naming where a payload does not fit
(``products.nodes[3].variants.nodes[0].price``), never ``KeyError`` or ``TypeError``.

Identifiers are Shopify's global ids (``gid://shopify/ProductVariant/42``). A variant's
id is its storelink SKU id (inventory levels and order lines refer to it); Shopify's
``sku`` text is optional and not unique, so it is kept as ``Variant.sku`` only.

Prices: a variant's ``price`` is what the customer pays and ``compareAtPrice`` the
"was" price. When ``compareAtPrice`` is above ``price`` the variant is on sale:
``Variant.price`` is the compare-at price and ``Variant.sale_price`` the price.
Catalogue amounts are in the shop's currency; order amounts carry their own
(``shopMoney``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storelink import (
    Address,
    Image,
    InventoryLevel,
    MappingError,
    Money,
    Order,
    OrderLine,
    OrderTotals,
    Product,
    ShippingMethod,
    ShippingRate,
    Variant,
)
from storelink.payload import (
    PLATFORM,
    at,
    build,
    expect_object,
    flag,
    items,
    money,
    required_integer,
    required_text,
    text,
    timestamp,
)

__all__ = [
    "REFERENCE_ATTRIBUTE",
    "Connection",
    "access_scopes",
    "address_from_shopify",
    "connection",
    "inventory_from_shopify",
    "order_from_shopify",
    "product_from_shopify",
    "shipping_methods_from_profile",
    "variant_from_shopify",
]

#: The order custom attribute that carries a storelink order reference.
REFERENCE_ATTRIBUTE = "storelink_reference"


class Connection:
    """A GraphQL connection's nodes and ``pageInfo``.

    :param nodes: The node objects, with their paths.
    :param has_next_page: ``pageInfo.hasNextPage``.
    :param end_cursor: ``pageInfo.endCursor`` (``None`` when not selected or empty).
    """

    def __init__(self, nodes: list[tuple[Mapping[str, Any], str]], has_next_page: bool, end_cursor: str | None) -> None:
        self.nodes = nodes
        self.has_next_page = has_next_page
        self.end_cursor = end_cursor


# --------------------------------------------------------------------------- primitives

#: Return a value if it is a JSON object (:func:`storelink.payload.expect_object`); the
#: plugin's other modules read responses with it.
obj = expect_object


def _text(payload: Mapping[str, Any], key: str, path: str) -> str:
    """Return the text at *key*, which must hold more than whitespace (stripped)."""
    return required_text(payload, key, path, numbers=False, strip=True)


def _opt_text(payload: Mapping[str, Any], key: str, path: str) -> str | None:
    """Return the stripped text at *key*, ``None`` when absent, ``null`` or blank."""
    return text(payload, key, path, numbers=False, strip=True)


def _money_v2(payload: Mapping[str, Any], key: str, path: str) -> Money | None:
    """Map the ``MoneyV2`` (``{amount, currencyCode}``) at *key*."""
    value = payload.get(key)
    if value is None:
        return None
    where = at(path, key)
    entry = expect_object(value, where)
    found = money(entry, "amount", _text(entry, "currencyCode", where), where, floats=False)
    if found is None:
        PLATFORM.refuse("required", where, "amount")
    return found


def _money_set(payload: Mapping[str, Any], key: str, path: str) -> Money | None:
    """Map a ``MoneyBag``'s ``shopMoney``."""
    bag = payload.get(key)
    if bag is None:
        return None
    return _money_v2(expect_object(bag, path, key), "shopMoney", at(path, key))


def connection(payload: Any, path: str) -> Connection:
    """Read a connection: ``{pageInfo {hasNextPage endCursor}, nodes [...]}``."""
    conn = obj(payload, path)
    nodes = items(conn, "nodes", path, required=True)
    info = conn.get("pageInfo")
    has_next, end = False, None
    if info is not None:
        page_info = obj(info, f"{path}.pageInfo")
        has_next = flag(page_info, "hasNextPage", f"{path}.pageInfo", False)
        end = _opt_text(page_info, "endCursor", f"{path}.pageInfo")
        if has_next and end is None and "endCursor" in page_info:
            raise MappingError("hasNextPage is true but there is no endCursor", path=f"{path}.pageInfo.endCursor")
    checked = [(obj(n, f"{path}.nodes[{i}]"), f"{path}.nodes[{i}]") for i, n in enumerate(nodes)]
    return Connection(checked, has_next, end)


def _image(payload: Any, path: str) -> Image | None:
    if payload is None:
        return None
    image = obj(payload, path)
    url = _text(image, "url", path)
    alt = _opt_text(image, "altText", path)
    return build(path, Image, url=url, alt=alt)


def access_scopes(payload: Any, *, path: str = "data") -> list[str]:
    """Return the handles of ``currentAppInstallation.accessScopes`` (``read_products``...)."""
    installation = obj(obj(payload, path).get("currentAppInstallation"), f"{path}.currentAppInstallation")
    scopes = items(installation, "accessScopes", f"{path}.currentAppInstallation", required=True)
    where = f"{path}.currentAppInstallation.accessScopes"
    return [_text(obj(scope, f"{where}[{i}]"), "handle", f"{where}[{i}]") for i, scope in enumerate(scopes)]


# --------------------------------------------------------------------------- catalog


def variant_from_shopify(payload: Any, *, currency: str, path: str = "variant") -> Variant:
    """Map a ``ProductVariant`` (price and compare-at price in the shop's *currency*)."""
    node = obj(payload, path)
    price = money(node, "price", currency, path, floats=False)
    compare_at = money(node, "compareAtPrice", currency, path, floats=False)
    sale_price = None
    if price is not None and compare_at is not None and compare_at.amount > price.amount:
        price, sale_price = compare_at, price
    options: dict[str, str] = {}
    for i, option in enumerate(items(node, "selectedOptions", path)):
        where = f"{path}.selectedOptions[{i}]"
        entry = obj(option, where)
        options[_text(entry, "name", where)] = _text(entry, "value", where)
    image = _image(node.get("image"), f"{path}.image")
    ident = _text(node, "id", path)
    return build(
        path,
        Variant,
        id=ident,
        sku=_opt_text(node, "sku", path),
        title=_opt_text(node, "title", path),
        price=price,
        sale_price=sale_price,
        barcode=_opt_text(node, "barcode", path),
        options=options,
        images=(image,) if image else (),
    )


def product_from_shopify(payload: Any, *, currency: str, path: str = "product") -> Product:
    """Map a ``Product`` with its first variants and images.

    ``Product.price`` is the lowest variant price. ``extra`` keeps ``handle``,
    ``status``, ``tags`` and, when the product has more variants than were read,
    ``variants_truncated``.
    """
    node = obj(payload, path)
    variants_conn = connection(node.get("variants"), f"{path}.variants")
    variants = [variant_from_shopify(v, currency=currency, path=p) for v, p in variants_conn.nodes]
    images_conn = connection(node.get("images"), f"{path}.images")
    images = [img for n, p in images_conn.nodes if (img := _image(n, p)) is not None]
    tags = node.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MappingError("expected a list of strings", path=f"{path}.tags")
    status = _opt_text(node, "status", path) or "ACTIVE"
    prices = [v.sale_price or v.price for v in variants if v.price is not None]
    lowest = min(prices, key=lambda m: m.amount) if prices else None
    product_type = _opt_text(node, "productType", path)
    extra: dict[str, Any] = {"handle": _opt_text(node, "handle", path), "status": status, "tags": list(tags)}
    if variants_conn.has_next_page:
        extra["variants_truncated"] = True
    ident = _text(node, "id", path)
    title = _text(node, "title", path)
    return build(
        path,
        Product,
        id=ident,
        title=title,
        description=_opt_text(node, "description", path),
        url=_opt_text(node, "onlineStoreUrl", path),
        active=status == "ACTIVE",
        brand=_opt_text(node, "vendor", path),
        price=lowest,
        variants=variants,
        images=images,
        categories=(product_type,) if product_type else (),
        created_at=timestamp(node, "createdAt", path, naive="refuse"),
        extra=extra,
    )


def inventory_from_shopify(payload: Any, *, path: str = "variant") -> list[InventoryLevel]:
    """Map a ``ProductVariant``'s ``inventoryItem.inventoryLevels`` to one level per location.

    The SKU id is the variant's id; ``available`` is the ``available`` quantity, floored
    at zero (Shopify allows negative stock when overselling; ``extra.quantity`` keeps the
    signed value). A variant whose inventory is not tracked has no levels.
    """
    node = obj(payload, path)
    sku_id = _text(node, "id", path)
    item_payload = node.get("inventoryItem")
    if item_payload is None:
        return []
    item = obj(item_payload, f"{path}.inventoryItem")
    if not flag(item, "tracked", f"{path}.inventoryItem", True):
        return []
    levels_conn = connection(item.get("inventoryLevels"), f"{path}.inventoryItem.inventoryLevels")
    levels: list[InventoryLevel] = []
    for level, where in levels_conn.nodes:
        location = obj(level.get("location"), f"{where}.location")
        quantities = items(level, "quantities", where, required=True)
        available = None
        for i, entry in enumerate(quantities):
            quantity = obj(entry, f"{where}.quantities", i)
            if quantity.get("name") == "available":
                available = required_integer(quantity, "quantity", f"{where}.quantities[{i}]")
        if available is None:
            raise MappingError("no 'available' quantity", path=f"{where}.quantities")
        location_id = _text(location, "id", f"{where}.location")
        signed = available
        extra = {"location_name": _opt_text(location, "name", f"{where}.location"), "quantity": signed}
        levels.append(
            build(where, InventoryLevel, sku_id=sku_id, location_id=location_id, available=max(signed, 0), extra=extra)
        )
    return levels


# --------------------------------------------------------------------------- shipping


def shipping_methods_from_profile(payload: Any, *, path: str = "profile") -> list[ShippingMethod]:
    """Map a ``DeliveryProfile``'s method definitions, one :class:`ShippingMethod` each.

    A method definition belongs to one zone of one location group; its id is the
    method's id, and the profile and zone go in ``extra``. A merchant-defined rate
    (``DeliveryRateDefinition``) is the method's one rate; a carrier-calculated one
    (``DeliveryParticipant``) has no fixed rate (``extra.calculated``).
    """
    profile = obj(payload, path)
    profile_id = _text(profile, "id", path)
    profile_name = _opt_text(profile, "name", path)
    groups = items(profile, "profileLocationGroups", path)
    methods: list[ShippingMethod] = []
    for g, group in enumerate(groups):
        group_path = f"{path}.profileLocationGroups[{g}]"
        zones = connection(obj(group, group_path).get("locationGroupZones"), f"{group_path}.locationGroupZones")
        for zone_node, zone_path in zones.nodes:
            zone = obj(zone_node.get("zone"), f"{zone_path}.zone")
            zone_name = _opt_text(zone, "name", f"{zone_path}.zone")
            definitions = connection(zone_node.get("methodDefinitions"), f"{zone_path}.methodDefinitions")
            for definition, where in definitions.nodes:
                methods.append(_method(definition, where, profile_id, profile_name, zone_name))
    return methods


def _method(
    definition: Mapping[str, Any], path: str, profile_id: str, profile_name: str | None, zone: str | None
) -> ShippingMethod:
    provider = obj(definition.get("rateProvider"), f"{path}.rateProvider")
    price = _money_v2(provider, "price", f"{path}.rateProvider")
    rates = [build(path, ShippingRate, id=_opt_text(provider, "id", path), amount=price)] if price else []
    extra: dict[str, Any] = {"profile_id": profile_id, "profile_name": profile_name, "zone": zone}
    if price is None:
        extra["calculated"] = True
    ident = _text(definition, "id", path)
    title = _text(definition, "name", path)
    return build(
        path,
        ShippingMethod,
        id=ident,
        title=title,
        description=_opt_text(definition, "description", path) or (f"{title} ({zone})" if zone else None),
        enabled=flag(definition, "active", path, True),
        rates=rates,
        extra=extra,
    )


# --------------------------------------------------------------------------- orders


def address_from_shopify(payload: Any, *, path: str = "address", email: str | None = None) -> Address | None:
    """Map a ``MailingAddress``; ``None`` when it lacks a name, street, city or country."""
    if payload is None:
        return None
    address = obj(payload, path)
    name, line1 = _opt_text(address, "name", path), _opt_text(address, "address1", path)
    city, country = _opt_text(address, "city", path), _opt_text(address, "countryCodeV2", path)
    if not (name and line1 and city and country):
        return None
    return build(
        path,
        Address,
        name=name,
        line1=line1,
        line2=_opt_text(address, "address2", path),
        city=city,
        region=_opt_text(address, "provinceCode", path),
        postal_code=_opt_text(address, "zip", path),
        country=country,
        email=email,
        phone=_opt_text(address, "phone", path),
    )


def _state(order: Mapping[str, Any], path: str) -> str:
    if order.get("cancelledAt"):
        return "cancelled"
    if flag(order, "closed", path, False):
        return "closed"
    return "open"


def _reference(order: Mapping[str, Any], path: str) -> str | None:
    for i, attribute in enumerate(items(order, "customAttributes", path)):
        entry = obj(attribute, f"{path}.customAttributes[{i}]")
        if entry.get("key") == REFERENCE_ATTRIBUTE:
            return _opt_text(entry, "value", f"{path}.customAttributes[{i}]")
    return None


def _line(payload: Mapping[str, Any], path: str) -> OrderLine:
    line_id = _text(payload, "id", path)
    # A line whose product or variant was deleted since keeps the line's own id.
    product = payload.get("product")
    variant = payload.get("variant")
    product_id = _text(obj(product, path, "product"), "id", f"{path}.product") if product is not None else line_id
    sku_id = _text(obj(variant, path, "variant"), "id", f"{path}.variant") if variant is not None else line_id
    quantity = required_integer(payload, "quantity", path)
    price = _money_set(payload, "originalUnitPriceSet", path)
    return build(path, OrderLine, product_id=product_id, sku_id=sku_id, quantity=quantity, price=price)


def order_from_shopify(payload: Any, *, path: str = "order") -> Order:
    """Map an ``Order`` with its first line items, totals and shipping address.

    ``state`` is ``cancelled``, ``closed`` or ``open``; the financial and fulfilment
    statuses, the order's name (``#1001``) and tags go in ``extra``. The reference is
    the :data:`REFERENCE_ATTRIBUTE` custom attribute, when the order has it.
    """
    order = obj(payload, path)
    lines_conn = connection(order.get("lineItems"), f"{path}.lineItems")
    lines = [_line(node, where) for node, where in lines_conn.nodes]
    total = _money_set(order, "totalPriceSet", path)
    totals = None
    if total is not None:
        subtotal = _money_set(order, "subtotalPriceSet", path)
        shipping = _money_set(order, "totalShippingPriceSet", path)
        tax = _money_set(order, "totalTaxSet", path)
        totals = build(path, OrderTotals, subtotal=subtotal, shipping=shipping, tax=tax, total=total)
    email = _opt_text(order, "email", path)
    address = address_from_shopify(order.get("shippingAddress"), path=f"{path}.shippingAddress", email=email)
    extra: dict[str, Any] = {
        "name": _opt_text(order, "name", path),
        "financial_status": _opt_text(order, "displayFinancialStatus", path),
        "fulfillment_status": _opt_text(order, "displayFulfillmentStatus", path),
        "tags": [t for t in order.get("tags") or [] if isinstance(t, str)],
    }
    if lines_conn.has_next_page:
        extra["lines_truncated"] = True
    ident = _text(order, "id", path)
    return build(
        path,
        Order,
        id=ident,
        reference=_reference(order, path),
        state=_state(order, path),
        lines=lines,
        totals=totals,
        shipping_address=address,
        created_at=timestamp(order, "createdAt", path, naive="refuse"),
        updated_at=timestamp(order, "updatedAt", path, naive="refuse"),
        extra=extra,
    )
