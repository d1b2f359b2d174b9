"""WooCommerce payloads as storelink models, and order drafts as WooCommerce payloads.

Named functions, one per record kind; each raises :class:`~storelink.MappingError`
naming the path of what did not fit. Amounts are strings in WooCommerce (``"9.00"``,
``""`` when unset) and are all in the store currency, which the caller passes.

- A **simple** product is one :class:`~storelink.Variant` whose id is the product's;
  a **variable** product's variants are its variations (read from
  ``/products/{id}/variations``), with their attribute options.
- **Stock** is one :class:`~storelink.InventoryLevel` per product or variation (the
  SKU ids of :func:`product_from_woo`). When the store does not count stock for it
  (``manage_stock`` false) ``available`` is 0 and ``status`` says ``instock``,
  ``outofstock`` or ``onbackorder``.
- A **shipping method** is an instance of a method in a shipping zone; its id is
  ``"{zone_id}:{instance_id}"``.
- The order **reference** travels in the order's ``meta_data`` under
  :data:`REFERENCE_KEY`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

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
    Product,
    ShippingMethod,
    ShippingRate,
    Variant,
)
from storelink.payload import expect_list, expect_object, loose_text, money, timestamp
from storelink.payload import record_id as id_of

__all__ = [
    "REFERENCE_KEY",
    "inventory_from_woo",
    "method_id",
    "order_from_woo",
    "order_payload_from_draft",
    "product_from_woo",
    "record_id",
    "reference_of",
    "shipping_method_from_woo",
    "variant_from_woo",
]

#: The order meta key that carries the channel's reference (public: shown in the admin).
REFERENCE_KEY = "storelink_reference"


def record_id(record: Mapping[str, Any], path: str) -> str:
    """Return the id of a WooCommerce record.

    :raises MappingError: It has no integer id.
    """
    return id_of(record, path, integer=True)


def _images(values: Any, path: str) -> list[Image]:
    if values in (None, ""):
        return []
    images = []
    for i, raw in enumerate(expect_list(values, path)):
        image = expect_object(raw, path, i)
        src = image.get("src")
        if isinstance(src, str) and src.startswith(("https://", "http://")):
            images.append(Image(url=src, alt=loose_text(image, "alt")))
    return images


def variant_from_woo(payload: Any, *, currency: str, path: str) -> Variant:
    """Map a variation of ``/products/{id}/variations``."""
    record = expect_object(payload, path)
    options = {
        str(a.get("name")): str(a.get("option"))
        for a in record.get("attributes") or ()
        if isinstance(a, dict) and a.get("name") is not None and a.get("option") is not None
    }
    image = record.get("image")
    return Variant(
        id=id_of(record, path, integer=True),
        sku=loose_text(record, "sku"),
        title=", ".join(options.values()) or None,
        price=money(record, "regular_price", currency, path) or money(record, "price", currency, path),
        sale_price=money(record, "sale_price", currency, path),
        active=record.get("status", "publish") == "publish" and record.get("purchasable", True) is not False,
        options=options,
        images=_images([image] if isinstance(image, dict) else [], f"{path}.image"),
        extra={"stock_status": record.get("stock_status")},
    )


def product_from_woo(payload: Any, *, currency: str, variations: Sequence[Any] = (), path: str) -> Product:
    """Map a product of ``/products``; *variations* are its variations when it is variable."""
    record = expect_object(payload, path)
    product_id = id_of(record, path, integer=True)
    kind = record.get("type") or "simple"
    price = money(record, "regular_price", currency, path) or money(record, "price", currency, path)
    sale = money(record, "sale_price", currency, path)
    active = record.get("status", "publish") == "publish"
    if kind == "variable":
        variants = [
            variant_from_woo(v, currency=currency, path=f"{path}.variations[{i}]") for i, v in enumerate(variations)
        ]
    else:
        variants = [
            Variant(
                id=product_id,
                sku=loose_text(record, "sku"),
                title=loose_text(record, "name"),
                price=price,
                sale_price=sale,
                active=active and record.get("purchasable", True) is not False,
                extra={"stock_status": record.get("stock_status")},
            )
        ]
    categories = [
        str(c["name"]) for c in record.get("categories") or () if isinstance(c, dict) and c.get("name") is not None
    ]
    title = record.get("name")
    if not isinstance(title, str):
        raise MappingError("expected the product's name", path=f"{path}.name")
    return Product(
        id=product_id,
        title=title,
        description=loose_text(record, "description"),
        url=loose_text(record, "permalink"),
        active=active,
        price=price,
        sale_price=sale,
        variants=variants,
        images=_images(record.get("images"), f"{path}.images"),
        categories=categories,
        created_at=timestamp(record, "date_created_gmt", path),
        extra={"type": kind, "status": record.get("status"), "slug": record.get("slug")},
    )


def inventory_from_woo(payload: Any, *, path: str) -> InventoryLevel:
    """Map the stock of a product or variation (``manage_stock``, ``stock_quantity``, ``stock_status``)."""
    record = expect_object(payload, path)
    sku_id = id_of(record, path, integer=True)
    managed = record.get("manage_stock") is True
    quantity = record.get("stock_quantity")
    if managed and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        raise MappingError("expected an integer stock quantity", path=f"{path}.stock_quantity")
    status = record.get("stock_status")
    return InventoryLevel(
        sku_id=sku_id,
        available=max(0, quantity) if managed and isinstance(quantity, int) else 0,
        status=status if isinstance(status, str) else None,
        extra={"manage_stock": managed, "stock_quantity": quantity, "backorders": record.get("backorders")},
    )


def method_id(zone_id: str, instance_id: str) -> str:
    """Return the storelink id of method instance *instance_id* of shipping zone *zone_id*."""
    return f"{zone_id}:{instance_id}"


def _setting(record: Mapping[str, Any], name: str) -> Any:
    settings = record.get("settings")
    entry = settings.get(name) if isinstance(settings, dict) else None
    return entry.get("value") if isinstance(entry, dict) else None


def shipping_method_from_woo(payload: Any, *, zone: Any, currency: str, path: str) -> ShippingMethod:
    """Map a method instance of ``/shipping/zones/{id}/methods`` in *zone* (``{"id", "name"}``)."""
    record = expect_object(payload, path)
    zone_record = expect_object(zone, "zone")
    zone_id = id_of(zone_record, "zone", integer=True)
    instance = id_of(record, path, ("instance_id",), integer=True)
    kind = record.get("method_id")
    rates: list[ShippingRate] = []
    cost = _setting(record, "cost")
    if kind == "free_shipping":
        minimum = _setting(record, "min_amount")
        requires = _setting(record, "requires") or ""
        needs_minimum = "min_amount" in str(requires) and money(
            {"min_amount": minimum}, "min_amount", currency, f"{path}.settings"
        )
        rates.append(
            ShippingRate(
                amount=Money(amount=0, currency=currency),
                min_subtotal=Decimal(str(minimum)) if needs_minimum else None,
            )
        )
    elif isinstance(cost, str | int | float) and str(cost).strip():
        # A cost formula ("10 + [qty] * 2") is no amount: kept in extra, priced by the store.
        with contextlib.suppress(ValueError, InvalidOperation):
            rates.append(ShippingRate(amount=Money(amount=str(cost), currency=currency)))
    title = loose_text(record, "title") or loose_text(record, "method_title") or str(kind)
    zone_name = loose_text(zone_record, "name")
    return ShippingMethod(
        id=method_id(zone_id, instance),
        title=title,
        description=zone_name,
        enabled=record.get("enabled") is not False,
        rates=rates,
        extra={"method_id": kind, "zone_id": zone_id, "zone": zone_name, "cost": cost},
    )


def reference_of(payload: Mapping[str, Any]) -> str | None:
    """Return the reference in an order's ``meta_data``, if it carries one."""
    for entry in payload.get("meta_data") or ():
        if isinstance(entry, dict) and entry.get("key") == REFERENCE_KEY and isinstance(entry.get("value"), str):
            return str(entry["value"])
    return None


def _address(value: Any, path: str) -> Address | None:
    if not isinstance(value, dict) or not value.get("address_1") or not value.get("country"):
        return None
    name = " ".join(p for p in (loose_text(value, "first_name"), loose_text(value, "last_name")) if p)
    try:
        return Address(
            name=name or loose_text(value, "company") or "-",
            line1=str(value["address_1"]),
            line2=loose_text(value, "address_2"),
            city=loose_text(value, "city") or "-",
            region=loose_text(value, "state"),
            postal_code=loose_text(value, "postcode"),
            country=str(value["country"]).upper(),
            email=loose_text(value, "email"),
            phone=loose_text(value, "phone"),
        )
    except (ValueError, TypeError) as exc:
        raise MappingError(f"the address does not fit: {exc}", path=path) from None


def order_from_woo(payload: Any, *, path: str) -> Order:
    """Map an order of ``/orders`` (amounts in the order's own ``currency``)."""
    record = expect_object(payload, path)
    currency = record.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise MappingError("expected the order's currency", path=f"{path}.currency")
    lines = []
    for i, raw in enumerate(record.get("line_items") or ()):
        where = f"{path}.line_items[{i}]"
        item = expect_object(raw, where)
        product_id = id_of(item, where, ("product_id",), integer=True)
        variation = item.get("variation_id") or 0
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise MappingError("expected a positive quantity", path=f"{where}.quantity")
        lines.append(
            OrderLine(
                product_id=product_id,
                sku_id=id_of(item, where, ("variation_id",), integer=True) if variation else product_id,
                quantity=quantity,
                price=money(item, "price", currency, where),
            )
        )
    total = money(record, "total", currency, path)
    totals = None
    if total is not None:
        totals = OrderTotals(
            total=total,
            shipping=money(record, "shipping_total", currency, path),
            tax=money(record, "total_tax", currency, path),
        )
    status = record.get("status")
    if not isinstance(status, str) or not status:
        raise MappingError("expected the order's status", path=f"{path}.status")
    return Order(
        id=id_of(record, path, integer=True),
        reference=reference_of(record),
        state=status,
        lines=lines,
        totals=totals,
        shipping_address=_address(record.get("shipping"), f"{path}.shipping"),
        created_at=timestamp(record, "date_created_gmt", path),
        updated_at=timestamp(record, "date_modified_gmt", path),
        extra={"number": record.get("number"), "created_via": record.get("created_via")},
    )


def _woo_address(address: Address, email: str | None) -> dict[str, str]:
    first, _, last = address.name.partition(" ")
    out = {
        "first_name": first,
        "last_name": last,
        "address_1": address.line1,
        "address_2": address.line2 or "",
        "city": address.city,
        "state": address.region or "",
        "postcode": address.postal_code or "",
        "country": address.country,
    }
    if email or address.email:
        out["email"] = address.email or email or ""
    if address.phone:
        out["phone"] = address.phone
    return out


def order_payload_from_draft(draft: OrderDraft, *, method: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``POST /orders`` body for *draft*, shipped with *method* (a method instance).

    The reference goes into ``meta_data`` (:data:`REFERENCE_KEY`); the order is not
    marked paid (``set_paid`` false): payment is the channel's and is recorded by the
    store's own workflow.
    """
    email = draft.customer.email if draft.customer else None
    line_items = []
    for line in draft.lines:
        item: dict[str, Any] = {"product_id": int(line.product_id), "quantity": line.quantity}
        if line.sku_id != line.product_id:
            item["variation_id"] = int(line.sku_id)
        if line.price is not None:
            item["subtotal"] = item["total"] = str(line.price.amount * line.quantity)
        line_items.append(item)
    cost = _setting(method, "cost")
    shipping_total = str(cost).strip() if isinstance(cost, str) and _is_amount(cost) else "0"
    payload: dict[str, Any] = {
        "set_paid": False,
        "shipping": _woo_address(draft.shipping_address, None),
        "billing": _woo_address(draft.billing_address or draft.shipping_address, email),
        "line_items": line_items,
        "shipping_lines": [
            {
                "method_id": str(method.get("method_id")),
                "instance_id": str(method.get("instance_id")),
                "method_title": str(method.get("title") or method.get("method_title") or ""),
                "total": shipping_total,
            }
        ],
        "meta_data": [{"key": REFERENCE_KEY, "value": draft.reference}],
    }
    if draft.payment is not None:
        payload["payment_method"] = draft.payment.type
    if draft.customer is not None and draft.customer.id and draft.customer.id.isdigit():
        payload["customer_id"] = int(draft.customer.id)
    return payload


def _is_amount(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False
