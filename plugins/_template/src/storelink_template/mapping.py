"""Template payloads to storelink models, and order drafts to Template payloads.

One named function per payload kind. Each reads the fields it needs through
:class:`Payload`, which raises :class:`~storelink.MappingError` with the path of the
missing or malformed field (``products[3].price.amount``), so a payload that does not
fit is reported to the plugin's authors precisely instead of escaping as a
``KeyError``. Whatever the models have no field for goes to ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from storelink import (
    Address,
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

__all__ = [
    "Payload",
    "decode",
    "draft_to_template",
    "inventory_from_template",
    "order_from_template",
    "product_from_template",
    "shipping_method_from_template",
]

T = TypeVar("T")


class Payload:
    """Typed access to a JSON object, naming the path of whatever is wrong."""

    def __init__(self, payload: object, path: str) -> None:
        if not isinstance(payload, Mapping):
            raise MappingError(f"expected an object, got {type(payload).__name__}", path=path)
        self.payload: Mapping[str, Any] = payload
        self.path = path

    def at(self, key: str) -> str:
        """Return the path of *key* in this object."""
        return f"{self.path}.{key}"

    def _typed(self, key: str, kind: type[T]) -> T:
        value = self.payload.get(key)
        # bool is an int in Python, never in a payload
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise MappingError(f"expected {kind.__name__}, got {value!r:.40}", path=self.at(key))
        return value

    def text(self, key: str) -> str:
        """Return the text at *key*."""
        return self._typed(key, str)

    def optional_text(self, key: str) -> str | None:
        """Return the text at *key*, or ``None`` when it is absent or null."""
        return None if self.payload.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        """Return the integer at *key*."""
        return self._typed(key, int)

    def flag(self, key: str, default: bool) -> bool:
        """Return the boolean at *key*, or *default* when it is absent or null."""
        return default if self.payload.get(key) is None else self._typed(key, bool)

    def objects(self, key: str) -> list[Payload]:
        """Return the objects of the list at *key* (an absent list is empty)."""
        items = self.payload.get(key) or []
        if not isinstance(items, list):
            raise MappingError(f"expected a list, got {type(items).__name__}", path=self.at(key))
        return [Payload(item, f"{self.at(key)}[{i}]") for i, item in enumerate(items)]

    def obj(self, key: str) -> Payload:
        """Return the object at *key*."""
        return Payload(self.payload.get(key), self.at(key))

    def model(self, build: Callable[..., T], **kwargs: Any) -> T:
        """Call *build* (a model class) with *kwargs*, turning its refusal into a MappingError."""
        try:
            return build(**kwargs)
        except (TypeError, ValueError) as exc:
            raise MappingError(str(exc), path=self.path) from exc

    def money(self, key: str, currency: str | None = None) -> Money:
        """Return the amount at *key*: an ``{amount, currency}`` object, or a string in *currency*."""
        if currency is not None:
            return self.model(Money, amount=self.text(key), currency=currency)
        money = self.obj(key)
        return money.model(Money, amount=money.text("amount"), currency=money.text("currency"))

    def time(self, key: str) -> datetime | None:
        """Return the ISO 8601 timestamp at *key* (``None`` when absent)."""
        text = self.optional_text(key)
        if text is None:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise MappingError(str(exc), path=self.at(key)) from exc


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
