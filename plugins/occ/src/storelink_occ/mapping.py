"""OCC payloads to storelink models, and order drafts to OCC payloads.

One named function per shape: :func:`product_from_occ`, :func:`variant_from_occ`,
:func:`inventory_from_occ`, :func:`shipping_method_from_occ`, :func:`order_from_occ`,
and :func:`order_payload_from_draft` the other way. Each reads only the fields it maps
and puts every other field in the model's ``extra``, unchanged. A payload that does not
fit raises :class:`~storelink.MappingError` naming where (``items[3].listPrice``) and
the record (``product 'p1'``, ``SKU 's1'``, ``order 'o1'``...). Values no real store
holds are refused the same way: negative prices or stock, amounts of a thousand
trillion or more (``1E+400``), stock over :data:`~storelink.models.MAX_STOCK`; a number
too long to be useful is never repeated in the message.

Amounts become :class:`~storelink.Money` in the store currency (a setting), except an
order's, which carry their own ``priceInfo.currencyCode``. OCC sends image and product
URLs as paths (``/ccstore/v1/images/?source=/file/...``); they are made absolute on the
storefront origin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urljoin

from storelink import (
    Address,
    Image,
    InventoryLevel,
    MappingError,
    Money,
    Order,
    OrderDraft,
    OrderLine,
    OrderTotals,
    Payment,
    Product,
    ShippingMethod,
    ShippingRate,
    Variant,
)
from storelink.models import MAX_STOCK, trusted_constructor
from storelink.payload import (
    PLATFORM,
    at,
    build,
    expect_list,
    expect_object,
    flag,
    integer,
    items,
    leftovers,
    money,
    record_id,
    text,
    timestamp,
)

__all__ = [
    "address_from_occ",
    "address_to_occ",
    "inventory_from_occ",
    "order_from_occ",
    "order_payload_from_draft",
    "product_from_occ",
    "shipping_method_from_occ",
    "variant_from_occ",
]

#: Image sizes OCC renders, largest first; a product's images use the largest it lists.
IMAGE_SIZES = ("Full", "Large", "Medium", "Small", "Thumb")
_IMAGE_KEYS = tuple((f"primary{size}ImageURL", f"{size.lower()}ImageURLs") for size in IMAGE_SIZES)

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
_UNSAFE = re.compile(r"[^A-Za-z0-9:/?#\[\]@!$&'()*+,;=%~\-._]")
_PLAIN = re.compile(r"[A-Za-z0-9:/?#\[\]@!$&'()*+,;=%~\-._]*")  # no character of _UNSAFE (so no whitespace)
#: The characters of _PLAIN, as bytes: ``not url.encode().translate(None, _PLAIN_BYTES)`` is
#: ``_PLAIN.fullmatch(url)`` for ASCII text, in a third less time.
_PLAIN_BYTES = bytes(c for c in range(128) if _PLAIN.fullmatch(chr(c)))
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_IMAGE_URL = re.compile(r"https?://\S+")  # what Image accepts (its validator's pattern)

# The catalog's models, built without re-running validators on values the mapping has
# just checked (ids, texts, flags, non-negative Money, aware dates, image URLs) and put
# in their final form (tuples, read-only mappings): equal to ``Product(**values)``.
_new_product = trusted_constructor(Product)
_new_variant = trusted_constructor(Variant)
_new_image = trusted_constructor(Image)

#: What to do about a store record that does not fit: it may hold an implausible value.
RECORD_ACTION = "check this record in the store; if it looks right, report this to the plugin's authors with the path"
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d*)?(?:[Ee][-+]?\d+)?")
_LONGEST_NUMBER = 20  # digits, or decimal exponent, of a number repeated in a message
_NAMED = "_occ_record"  # on a MappingError already worded here: whether it names a record


# --------------------------------------------------------------------------- errors


def _shortened(match: re.Match[str]) -> str:
    mantissa, _, exponent = match.group().upper().partition("E")
    digits = sum(c.isdigit() for c in mantissa)
    power = exponent.lstrip("+-")
    if digits > _LONGEST_NUMBER or len(power) > 2 or (power and int(power) > _LONGEST_NUMBER):
        return "(a number too large to show)"
    return match.group()


def _record_error(error: MappingError, kind: str, payload: Any, *keys: str) -> MappingError:
    """Return *error* naming the record it happened in (``product 'p1'``), long numbers left out.

    :param kind: What the record is, for people (``product``, ``SKU``, ``order``).
    :param keys: Where the record's id may be, in order.
    """
    record = next((payload.get(k) for k in keys if payload.get(k)), None) if isinstance(payload, dict) else None
    reason = error.message.removeprefix(f"{error.path}: ")
    if not hasattr(error, _NAMED):  # the innermost record: shorten the model's own words once
        reason = _NUMBER.sub(_shortened, reason)
    named = bool(getattr(error, _NAMED, False))
    if isinstance(record, str | int) and not isinstance(record, bool):
        label = f"{kind} {str(record)[:80]!r}"
        reason = f"{label}, {reason}" if named else f"{label}: {reason}"
        named = True
    refused = MappingError(reason, path=error.path)
    setattr(refused, _NAMED, named)
    refused.action = RECORD_ACTION
    return refused


def _price(record: Mapping[str, Any], key: str, currency: str, path: str) -> Money | None:
    """Return ``record[key]`` as money, refusing a negative price."""
    price = money(record, key, currency, path)
    if price is not None and price.amount < 0:
        raise MappingError(f"a price must not be negative, got {price.amount}", path=at(path, key))
    return price


def _units(record: Mapping[str, Any], key: str, path: str, *, signed: bool = False) -> int | None:
    """Return a stock figure as a whole number of at most MAX_STOCK units (non-negative unless *signed*)."""
    number = integer(record, key, path, loose=True)
    if number is not None and not (-MAX_STOCK if signed else 0) <= number <= MAX_STOCK:
        low = f"{-MAX_STOCK:,}" if signed else "0"
        raise MappingError(f"expected between {low} and {MAX_STOCK:,} units, got {number}", path=at(path, key))
    return number


def _bound(record: Mapping[str, Any], key: str, currency: str, path: str) -> Decimal | None:
    """Return a subtotal bound as an amount, refused out of the range of money (or negative)."""
    bound = money(record, key, currency, path)
    if bound is not None and bound.amount < 0:
        raise MappingError(f"a subtotal bound must not be negative, got {bound.amount}", path=at(path, key))
    return None if bound is None else bound.amount


# --------------------------------------------------------------------------- catalog


def product_from_occ(payload: Any, *, currency: str, storefront: str, path: str = "product") -> Product:
    """Map an OCC product (from ``/ccadmin/v1/products``) with its child SKUs.

    :param payload: The product object.
    :param currency: The store currency of ``listPrice`` and ``salePrice``.
    :param storefront: The storefront origin that relative URLs are resolved on.
    :param path: Where *payload* is in the response, for error messages.
    :raises MappingError: The product does not fit, or holds an implausible value;
        the message names the product and the path the field.
    """
    try:
        return _product(payload, currency, storefront, path)
    except MappingError as exc:
        raise _record_error(exc, "product", payload, "repositoryId", "id") from None


def _product(payload: Any, currency: str, storefront: str, path: str) -> Product:
    # Each field is taken as it is when its type is the expected one (a cheap type
    # check); anything else goes to the payload reader, which converts it or raises
    # the error naming its path. The fields are read in the same order either way.
    item = payload if type(payload) is dict else expect_object(payload, path)
    get = item.get
    product_id = get("repositoryId") or get("id")
    if type(product_id) is not str or not product_id:
        product_id = record_id(item, path, _ID_KEYS)
    title = get("displayName")
    if type(title) is not str:
        title = text(item, "displayName", path) or ""
    aliases = _variant_aliases(item, path)
    skus = get("childSKUs")
    if type(skus) is not list:
        skus = items(item, "childSKUs", path)
    resolved: dict[str, str] = {}  # image URLs made absolute, shared with the SKUs
    base = _image_base(storefront)
    images, image_keys = _images(item, storefront, base, title or None, path, resolved)
    route = get("route")
    if route is not None and type(route) is not str:
        route = text(item, "route", path)
    description = get("description")
    if description is not None and type(description) is not str:
        description = text(item, "description", path)
    url = _absolute(route, storefront) if route else None
    active = get("active")
    if type(active) is not bool:
        active = flag(item, "active", path, True, True)  # default true, "true" accepted
    brand = get("brand")
    if brand is not None and type(brand) is not str:
        brand = text(item, "brand", path)
    price = _price(item, "listPrice", currency, path)
    sale_price = _price(item, "salePrice", currency, path)
    variants = []
    for i, sku in enumerate(skus):
        try:
            variants.append(_sku(sku, currency, storefront, base, aliases, "", resolved))
        except MappingError:
            # A SKU's path is made for its refusal only: mapped again with its path, the
            # SKU raises the same refusal (mapping is deterministic), there and naming it.
            _variant(sku, currency, storefront, base, aliases, f"{path}.childSKUs[{i}]", {})
            raise
    categories = _category_ids(item, "parentCategories", path)
    created_at = timestamp(item, "creationDate", path) if get("creationDate") is not None else None
    extra = leftovers(item, *_PRODUCT_USED[image_keys])
    return _new_product(
        id=product_id,
        title=title,
        description=description,
        url=url,
        active=active,
        brand=brand,
        price=price,
        sale_price=sale_price,
        variants=tuple(variants),
        images=images,
        categories=tuple(categories),
        created_at=created_at,
        extra=MappingProxyType(extra),
    )


#: The product and SKU fields the mappings read (besides image, option and alias keys).
_PRODUCT_KEYS = (
    "id",
    "repositoryId",
    "displayName",
    "description",
    "route",
    "active",
    "brand",
    "listPrice",
    "salePrice",
    "childSKUs",
    "parentCategories",
    "creationDate",
)
_SKU_KEYS = ("id", "repositoryId", "displayName", "listPrice", "salePrice", "barcode", "active")
_ID_KEYS = ("repositoryId", "id")
#: The product's fields read, by the image keys read (those of the largest size listed).
_PRODUCT_USED = {keys: _PRODUCT_KEYS + keys for keys in ((), *_IMAGE_KEYS)}


def variant_from_occ(
    payload: Any,
    *,
    currency: str,
    storefront: str,
    aliases: Mapping[str, str] | None = None,
    path: str = "sku",
) -> Variant:
    """Map an OCC SKU (a product's ``childSKUs`` entry).

    OCC's SKU id is the SKU code orders refer to (``catRefId``), so it is both
    ``Variant.id`` and ``Variant.sku``.

    :param aliases: The product's variant options, SKU property to option name
        (``{"color": "Color"}``); those properties become ``Variant.options``.
    """
    return _variant(payload, currency, storefront, _image_base(storefront), aliases, path, {})


def _variant(
    payload: Any,
    currency: str,
    storefront: str,
    base: bool,
    aliases: Mapping[str, str] | None,
    path: str,
    resolved: dict[str, str],
) -> Variant:
    """:func:`variant_from_occ`, sharing the product's *resolved* image URLs (see :func:`_images`)."""
    try:
        return _sku(payload, currency, storefront, base, aliases, path, resolved)
    except MappingError as exc:
        raise _record_error(exc, "SKU", payload, "repositoryId", "id") from None


def _sku(
    payload: Any,
    currency: str,
    storefront: str,
    base: bool,
    aliases: Mapping[str, str] | None,
    path: str,
    resolved: dict[str, str],
) -> Variant:
    # As _product: well-typed fields as they are, anything else through the readers.
    sku = payload if type(payload) is dict else expect_object(payload, path)
    get = sku.get
    sku_id = get("repositoryId") or get("id")
    if type(sku_id) is not str or not sku_id:
        sku_id = record_id(sku, path, _ID_KEYS)
    title = get("displayName")
    if title is not None and type(title) is not str:
        title = text(sku, "displayName", path)
    options: dict[str, str] = {}
    option_keys: list[str] = []
    if aliases:
        for alias, name in aliases.items():
            value = get(alias)
            if value is not None:
                options[name] = (value if type(value) is str else text(sku, alias, path)) or ""
                option_keys.append(alias)
    images, image_keys = _images(sku, storefront, base, title, path, resolved)
    price = _price(sku, "listPrice", currency, path)
    sale_price = _price(sku, "salePrice", currency, path)
    barcode = get("barcode")
    if barcode is not None and type(barcode) is not str:
        barcode = text(sku, "barcode", path)
    active = get("active")
    if type(active) is not bool:
        active = flag(sku, "active", path, True, True)  # default true, "true" accepted
    extra = leftovers(sku, *_SKU_KEYS, *option_keys, *image_keys)
    return _new_variant(
        id=sku_id,
        sku=sku_id,
        title=title,
        price=price,
        sale_price=sale_price,
        barcode=barcode,
        active=active,
        options=MappingProxyType(options),
        images=images,
        extra=MappingProxyType(extra),
    )


def inventory_from_occ(payload: Any, *, path: str = "inventory") -> tuple[InventoryLevel, ...]:
    """Map OCC inventory records to one level per SKU and location.

    Accepts the three shapes OCC uses: a ``listInventories`` item (a product whose
    ``childSKUs`` are records), a flat SKU record (``getInventory``), and a record whose
    ``locationInventoryInfo`` lists its locations. ``locationId`` ``null`` is the
    default location.

    :raises MappingError: A record does not fit, or its stock is negative or
        implausibly large; the message names the SKU (and product) and the path the field.
    """
    try:
        return _inventory(payload, path)
    except MappingError as exc:
        products = isinstance(payload, dict) and "childSKUs" in payload
        keys = ("repositoryId", "id") if products else ("skuId", ("repositoryId", "id"))
        raise _record_error(exc, "product" if products else "SKU", payload, *keys) from None


def _inventory(payload: Any, path: str) -> tuple[InventoryLevel, ...]:
    item = expect_object(payload, path)
    if "childSKUs" in item:
        records = items(item, "childSKUs", path)
        return tuple(
            level
            for i, record in enumerate(records)
            for level in inventory_from_occ(record, path=f"{path}.childSKUs[{i}]")
        )
    sku_id = record_id(item, path, ("skuId", "repositoryId", "id"), name="skuId")
    nested = items(item, "locationInventoryInfo", path)
    levels = []
    if item.get("stockLevel") is not None or not nested:
        levels.append(_level(sku_id, item, path, "skuId", "repositoryId", "id", "locationInventoryInfo"))
    for i, entry in enumerate(nested):
        where = f"{path}.locationInventoryInfo[{i}]"
        levels.append(_level(sku_id, expect_object(entry, where), where, "skuId"))
    return tuple(levels)


def _level(sku_id: str, record: Mapping[str, Any], path: str, *also_used: str) -> InventoryLevel:
    return build(
        path,
        InventoryLevel,
        sku_id=sku_id,
        location_id=text(record, "locationId", path),
        available=_units(record, "stockLevel", path) or 0,
        threshold=_units(record, "stockThreshold", path, signed=True),
        backorderable=_units(record, "backorderLevel", path, signed=True),
        status=text(record, "availabilityStatusMsg", path),
        extra=leftovers(
            record,
            "locationId",
            "stockLevel",
            "stockThreshold",
            "backorderLevel",
            "availabilityStatusMsg",
            *also_used,
        ),
    )


def shipping_method_from_occ(payload: Any, *, currency: str, path: str = "shippingMethod") -> ShippingMethod:
    """Map an OCC shipping method with its price ranges.

    The ``ranges`` of a ``priceRange`` calculator (or of a method that names none)
    become rates bounded by the order subtotal (``high`` ``null`` is open-ended). Other
    calculators' ranges measure something else (weight), so only a single unbounded
    range becomes a rate; otherwise the ranges stay in ``extra``.

    :raises MappingError: The method does not fit, or a rate is negative or out of
        range; the message names the method and the path the field.
    """
    try:
        return _shipping_method(payload, currency, path)
    except MappingError as exc:
        raise _record_error(exc, "shipping method", payload, "repositoryId", "id") from None


def _shipping_method(payload: Any, currency: str, path: str) -> ShippingMethod:
    method = expect_object(payload, path)
    ranges = items(method, "ranges", path)
    calculator = method.get("shippingCalculator")
    unbounded = len(ranges) == 1 and isinstance(ranges[0], dict) and ranges[0].get("high") is None
    by_subtotal = calculator in (None, "priceRange") or unbounded
    rates = [_rate(r, currency, f"{path}.ranges[{i}]") for i, r in enumerate(ranges)] if by_subtotal else []
    used = ("id", "repositoryId", "displayName", "description", "enabled") + (("ranges",) if by_subtotal else ())
    return build(
        path,
        ShippingMethod,
        id=record_id(method, path, ("repositoryId", "id")),
        title=text(method, "displayName", path) or "",
        description=text(method, "description", path),
        enabled=flag(method, "enabled", path, strings=True),
        rates=rates,
        extra=leftovers(method, *used),
    )


def _rate(payload: Any, currency: str, path: str) -> ShippingRate:
    entry = expect_object(payload, path)
    rate = money(entry, "amount", currency, path)
    if rate is None:
        raise MappingError("a shipping range needs an amount", path=f"{path}.amount")
    if rate.amount < 0:
        raise MappingError(f"a shipping rate must not be negative, got {rate.amount}", path=f"{path}.amount")
    return build(
        path,
        ShippingRate,
        id=text(entry, "repositoryId", path),
        amount=rate,
        min_subtotal=_bound(entry, "low", currency, path),
        max_subtotal=_bound(entry, "high", currency, path),
    )


# --------------------------------------------------------------------------- orders


def order_from_occ(payload: Any, *, reference_property: str, currency: str, path: str = "order") -> Order:
    """Map an OCC order (admin ``getOrder``/``getOrders`` or agent ``createOrder``).

    :param reference_property: The order property holding the channel's reference,
        read at the top level or from ``dynamicProperties``.
    :param currency: Used when ``priceInfo`` has no ``currencyCode``.
    :raises MappingError: The order does not fit, or holds an implausible value; the
        message names the order and the path the field.
    """
    try:
        return _order(payload, reference_property, currency, path)
    except MappingError as exc:
        raise _record_error(exc, "order", payload, "id") from None


def _order(payload: Any, reference_property: str, currency: str, path: str) -> Order:
    order = expect_object(payload, path)
    price_info = expect_object(order.get("priceInfo") or {}, path, "priceInfo")
    currency = text(price_info, "currencyCode", f"{path}.priceInfo") or currency
    if "commerceItems" in order:
        items_key, items_path = "commerceItems", f"{path}.commerceItems"
        lines = expect_list(order["commerceItems"], items_path)
    else:
        items_key, items_path = "shoppingCart", f"{path}.shoppingCart.items"
        cart = expect_object(order.get("shoppingCart") or {}, path, "shoppingCart")
        lines = items(cart, "items", f"{path}.shoppingCart")
    state = text(order, "state", path)
    if not state:
        raise MappingError("an order needs a state", path=f"{path}.state")
    address, address_key = _order_address(order, path)
    return build(
        path,
        Order,
        id=record_id(order, path, ("repositoryId", "id")),
        reference=_reference(order, reference_property, path),
        state=state,
        lines=[_line(item, currency, f"{items_path}[{i}]") for i, item in enumerate(lines)],
        totals=_totals(price_info, currency, f"{path}.priceInfo") if price_info else None,
        shipping_address=address,
        created_at=timestamp(order, "creationDate", path) or timestamp(order, "submittedDate", path),
        updated_at=timestamp(order, "lastModifiedDate", path),
        extra=leftovers(
            order,
            "id",
            "state",
            "priceInfo",
            items_key,
            reference_property,
            "creationDate",
            "lastModifiedDate",
            *((address_key,) if address_key else ()),
        ),
    )


def _reference(order: Mapping[str, Any], name: str, path: str) -> str | None:
    """Read the reference property at the top level, or from ``dynamicProperties``."""
    if order.get(name) is not None:
        return text(order, name, path)
    for i, prop in enumerate(items(order, "dynamicProperties", path)):
        if isinstance(prop, dict) and prop.get("id") == name:
            return text(prop, "value", f"{path}.dynamicProperties[{i}]")
    return None


def _line(payload: Any, currency: str, path: str) -> OrderLine:
    item = expect_object(payload, path)
    info = expect_object(item.get("priceInfo") or {}, path, "priceInfo")
    on_sale = bool(info.get("onSale")) and info.get("salePrice") is not None
    return build(
        path,
        OrderLine,
        product_id=text(item, "productId", path),
        sku_id=text(item, "catRefId", path),
        quantity=integer(item, "quantity", path, loose=True),
        price=money(info, "salePrice" if on_sale else "listPrice", currency, f"{path}.priceInfo"),
    )


def _totals(info: Mapping[str, Any], currency: str, path: str) -> OrderTotals:
    total = money(info, "total", currency, path)
    if total is None:
        raise MappingError("an order's priceInfo needs a total", path=f"{path}.total")
    return OrderTotals(
        subtotal=money(info, "subTotal", currency, path),
        shipping=money(info, "shipping", currency, path),
        tax=money(info, "tax", currency, path),
        total=total,
    )


def _order_address(order: Mapping[str, Any], path: str) -> tuple[Address | None, str | None]:
    """Return the order's shipping address and the top-level key it came from."""
    if order.get("shippingAddress"):
        return address_from_occ(order["shippingAddress"], path=f"{path}.shippingAddress"), "shippingAddress"
    groups = items(order, "shippingGroups", path)
    if groups and isinstance(groups[0], dict) and groups[0].get("shippingAddress"):
        return address_from_occ(groups[0]["shippingAddress"], path=f"{path}.shippingGroups[0].shippingAddress"), None
    return None, None


def address_from_occ(payload: Any, *, path: str = "address") -> Address | None:
    """Map an OCC address; ``None`` when it lacks a name, street, city or country."""
    data = expect_object(payload, path)
    names = (text(data, k, path) for k in ("firstName", "lastName"))
    name = " ".join(n for n in names if n) or text(data, "companyName", path)
    line1 = text(data, "address1", path)
    city = text(data, "city", path)
    country = text(data, "country", path) or text(data, "selectedCountry", path)
    if not (name and line1 and city and country):
        return None
    return build(
        path,
        Address,
        name=name,
        line1=line1,
        line2=text(data, "address2", path),
        city=city,
        region=text(data, "state", path),
        postal_code=text(data, "postalCode", path),
        country=country.upper(),
        email=text(data, "email", path),
        phone=text(data, "phoneNumber", path),
    )


def address_to_occ(address: Address) -> dict[str, Any]:
    """Return *address* as an OCC address (the name split at its first space)."""
    first, _, last = address.name.partition(" ")
    payload: dict[str, Any] = {"firstName": first, "lastName": last, "address1": address.line1}
    optional = {
        "address2": address.line2,
        "state": address.region,
        "postalCode": address.postal_code,
        "email": address.email,
        "phoneNumber": address.phone,
    }
    payload.update({k: v for k, v in optional.items() if v})
    payload.update(city=address.city, country=address.country, selectedCountry=address.country)
    return payload


def order_payload_from_draft(draft: OrderDraft, *, reference_property: str) -> dict[str, Any]:
    """Return the body of ``POST /ccappagent/v1/orders`` (``op: createOrder``) for *draft*.

    The draft's reference travels as the custom order property *reference_property*;
    ``draft.extra`` entries become further top-level (custom) properties, never
    overriding the fields set here.
    """
    body: dict[str, Any] = dict(draft.extra)
    body.update(
        op="createOrder",
        shoppingCart={
            "items": [
                {"productId": ln.product_id, "catRefId": ln.sku_id, "quantity": ln.quantity} for ln in draft.lines
            ]
        },
        shippingMethod={"value": draft.shipping_method_id},
        shippingAddress=address_to_occ(draft.shipping_address),
    )
    body[reference_property] = draft.reference
    if draft.billing_address is not None:
        body["billingAddress"] = address_to_occ(draft.billing_address)
    if draft.payment is not None:
        body["payments"] = [_payment_to_occ(draft.payment)]
    if draft.customer is not None and draft.customer.id:
        body["profileId"] = draft.customer.id
    if draft.customer is not None and draft.customer.email and not draft.shipping_address.email:
        body["shippingAddress"]["email"] = draft.customer.email
    return body


def _payment_to_occ(payment: Payment) -> dict[str, Any]:
    entry: dict[str, Any] = dict(payment.extra)
    entry["type"] = payment.type
    if payment.po_number:
        entry["PONumber"] = payment.po_number
    if payment.amount is not None:
        entry["amount"] = float(payment.amount.amount)  # OCC takes JSON numbers
    return entry


def _absolute(url: str, storefront: str) -> str:
    """Resolve an OCC path on *storefront*, encoding what OCC leaves unencoded ("urls are not encoded")."""
    if _PLAIN.fullmatch(url) is None:  # the common case (no spaces, nothing to encode) skips both steps
        url = url.strip()
        if _UNSAFE.search(url):
            # quote(url, safe=_URL_SAFE), a character at a time: the same text, without
            # urllib's per-call set-up (OCC's image paths often hold a space).
            url = _UNSAFE.sub(_escaped, url) if url.isascii() else quote(url, safe=_URL_SAFE)
    if url.startswith("//"):
        return "https:" + url
    if url.startswith("/"):
        return storefront + url
    return url if _SCHEME.match(url) else urljoin(storefront + "/", url)


#: Each ASCII character :data:`_UNSAFE` matches, percent-encoded as :func:`urllib.parse.quote` does.
_ESCAPES = {chr(c): f"%{c:02X}" for c in range(128) if _UNSAFE.match(chr(c))}


def _escaped(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


#: Whether each storefront (a setting: one per connection) is one that an image path
#: resolved on it makes an http(s) image URL of; a few, kept once computed.
_IMAGE_BASES: dict[str, bool] = {}


def _image_base(storefront: str) -> bool:
    """Return whether *storefront* + a plain OCC path (``/ccstore/...``) is an http(s) image URL.

    ``storefront`` matches :data:`_IMAGE_URL` and a plain path (:data:`_PLAIN`) holds no
    whitespace, so the joined URL matches it too: :func:`_images` then skips the check.
    """
    base = _IMAGE_BASES.get(storefront)
    if base is None:
        if len(_IMAGE_BASES) >= 64:
            _IMAGE_BASES.clear()
        base = _IMAGE_BASES[storefront] = _IMAGE_URL.fullmatch(storefront) is not None
    return base


def _images(
    payload: Mapping[str, Any], storefront: str, base: bool, alt: str | None, path: str, resolved: dict[str, str]
) -> tuple[tuple[Image, ...], tuple[str, ...]]:
    """Return the images of the largest size *payload* lists, and the keys read.

    :param base: :func:`_image_base` of *storefront*.
    :param resolved: Absolute URLs by OCC path, filled and reused across calls: a
        product and its SKUs often list the same images, so each is resolved (and
        checked) once.
    :raises MappingError: An image URL is not an http(s) URL once resolved.
    """
    get = payload.get
    for keys in _IMAGE_KEYS:
        primary = get(keys[0])
        listed = get(keys[1])
        if not primary and not listed:
            continue
        images = []
        for url in _image_paths(primary, listed, path, keys):
            absolute = resolved.get(url)
            if absolute is None:
                if (
                    base
                    and url[0] == "/"
                    and url[1:2] != "/"
                    and url.isascii()
                    and not url.encode().translate(None, _PLAIN_BYTES)
                ):
                    absolute = storefront + url  # what _absolute returns, an http(s) URL (see _image_base)
                else:
                    absolute = _absolute(url, storefront)
                    if _IMAGE_URL.fullmatch(absolute) is None:
                        where = f"{path}.{keys[0]}" if url == primary else f"{path}.{keys[1]}"
                        raise MappingError(f"expected an http(s) image URL, got {absolute[:200]!r}", path=where)
                resolved[url] = absolute
            images.append(_new_image(url=absolute, alt=alt, role="primary" if url == primary else None))
        return tuple(images), keys
    return (), ()


def _image_paths(primary: Any, listed: Any, path: str, keys: tuple[str, str]) -> list[str]:
    """Return the primary image path, then the listed ones, without blanks or repeats."""
    if primary is not None and type(primary) is not str:
        PLATFORM.refuse("text", path, keys[0], primary)
    urls = [primary] if primary else []
    if type(listed) is not list:
        listed = expect_list(listed, path, keys[1])
    for i, url in enumerate(listed):
        if type(url) is not str:
            PLATFORM.refuse("text", at(path, keys[1]), i, url)
        if url and url not in urls:
            urls.append(url)
    return urls


def _variant_aliases(product: Mapping[str, Any], product_path: str) -> dict[str, str]:
    """Map a product's ``productVariantOptions`` to {SKU property: option name}."""
    aliases: dict[str, str] = {}
    options = items(product, "productVariantOptions", product_path)
    if not options:
        return aliases
    path = f"{product_path}.productVariantOptions"
    for i, option in enumerate(options):
        entry = option if type(option) is dict else expect_object(option, path, i)
        alias = entry.get("mapKeyPropertyAlias") or entry.get("optionId")
        if alias is not None and type(alias) is not str:
            key = "mapKeyPropertyAlias" if entry.get("mapKeyPropertyAlias") else "optionId"
            alias = text(entry, key, at(path, i))
        if alias:
            name = entry.get("optionName")
            if name is not None and type(name) is not str:
                name = text(entry, "optionName", at(path, i))
            aliases[alias] = name or alias
    return aliases


def _category_ids(product: Mapping[str, Any], key: str, product_path: str) -> list[str]:
    ids: list[str] = []
    categories = items(product, key, product_path)
    if not categories:
        return ids
    for i, category in enumerate(categories):
        entry = category if type(category) is dict else expect_object(category, at(product_path, key), i)
        category_id = entry.get("repositoryId") or entry.get("id")
        if category_id is not None and type(category_id) is not str:
            id_key = "repositoryId" if entry.get("repositoryId") else "id"
            category_id = text(entry, id_key, at(at(product_path, key), i))
        if category_id:
            ids.append(category_id)
    return ids
