"""Template payloads to storelink models, and order drafts to Template payloads.

One named function per payload kind. Each reads the fields it needs through
:class:`Payload` (the core's :class:`storelink.payload.Object`), which raises
:class:`~storelink.MappingError` with the path of the missing or malformed field
(``products[3].price.amount``), so a payload that does not fit is reported to the
plugin's authors precisely instead of escaping as a ``KeyError``. Whatever the models
have no field for goes to ``extra``.
"""

from __future__ import annotations

from typing import Any

import httpx
from storelink import (
    Address,
    InventoryLevel,
    MappingError,
    Order,
    OrderDraft,
    OrderLine,
    OrderTotals,
    Product,
    ShippingMethod,
    ShippingRate,
    Variant,
)
from storelink.payload import Object as Payload

__all__ = [
    "Payload",
    "decode",
    "draft_to_template",
    "inventory_from_template",
    "order_from_template",
    "product_from_template",
    "shipping_method_from_template",
]


def decode(response: httpx.Response, path: str) -> Payload:
    """Return the JSON object in *response*'s body.

    :param path: Where the body sits in the error's path (``products``).
    :raises MappingError: The body is not a JSON object.
    """
    try:
        payload = response.json()
    except ValueError:
        raise MappingError("the response body is not JSON", path=path) from None
    return Payload(payload, path)


def product_from_template(payload: object, path: str = "product") -> Product:
    """Map one entry of ``GET /api/products`` to a :class:`~storelink.Product`."""
    fields = Payload(payload, path)
    price = fields.money("price")
    variants = [
        v.model(
            Variant,
            id=v.text("id"),
            sku=v.optional_text("sku"),
            price=v.money("price", price.currency),
            options=dict(v.payload.get("options") or {}),
        )
        for v in fields.objects("variants")
    ]
    return fields.model(
        Product,
        id=fields.text("id"),
        title=fields.text("name"),
        description=fields.optional_text("description"),
        active=fields.flag("active", True),
        price=price,
        variants=variants,
        created_at=fields.time("created"),
    )


def inventory_from_template(payload: object, path: str = "level") -> InventoryLevel:
    """Map one entry of ``GET /api/inventory`` to an :class:`~storelink.InventoryLevel`."""
    fields = Payload(payload, path)
    return fields.model(
        InventoryLevel,
        sku_id=fields.text("sku"),
        location_id=fields.optional_text("location"),
        available=fields.integer("available"),
    )


def shipping_method_from_template(payload: object, currency: str, path: str = "method") -> ShippingMethod:
    """Map one entry of ``GET /api/shipping-methods`` to a :class:`~storelink.ShippingMethod`."""
    fields = Payload(payload, path)
    rates = [
        r.model(ShippingRate, amount=r.money("price", currency), max_subtotal=r.optional_text("below"))
        for r in fields.objects("rates")
    ]
    return fields.model(
        ShippingMethod,
        id=fields.text("code"),
        title=fields.text("label"),
        enabled=fields.flag("enabled", True),
        rates=rates,
    )


def order_from_template(payload: object, path: str = "order") -> Order:
    """Map an order of ``GET /api/orders`` (or the one ``POST`` returned) to an :class:`~storelink.Order`."""
    fields = Payload(payload, path)
    total = fields.money("total")
    lines = [
        line.model(
            OrderLine,
            product_id=line.text("product"),
            sku_id=line.text("sku"),
            quantity=line.integer("quantity"),
            price=line.money("price", total.currency),
        )
        for line in fields.objects("lines")
    ]
    return fields.model(
        Order,
        id=fields.text("id"),
        reference=fields.optional_text("reference"),
        state=fields.text("status"),
        lines=lines,
        totals=OrderTotals(total=total),
        created_at=fields.time("created"),
        updated_at=fields.time("updated"),
        extra={"ship_to": fields.payload.get("ship_to")},
    )


def _address(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "street": [line for line in (address.line1, address.line2) if line],
        "city": address.city,
        "region": address.region,
        "zip": address.postal_code,
        "country": address.country,
        "email": address.email,
    }


def draft_to_template(draft: OrderDraft) -> dict[str, Any]:
    """Build the body of ``POST /api/orders`` for *draft*, its reference included."""
    return {
        "reference": draft.reference,
        "lines": [{"product": line.product_id, "sku": line.sku_id, "quantity": line.quantity} for line in draft.lines],
        "ship_to": _address(draft.shipping_address),
        "shipping_method": draft.shipping_method_id,
    }
