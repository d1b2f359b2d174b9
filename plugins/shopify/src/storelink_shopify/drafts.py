"""An order draft as the ``orderCreate`` mutation takes it, and the mutation's ``userErrors``.

The draft's reference travels in the created order three ways:

- the custom attribute :data:`~storelink_shopify.mapping.REFERENCE_ATTRIBUTE`, which
  the mapping reads back as ``Order.reference``;
- the tag :func:`reference_tag` (``storelink-`` and 24 hex digits of the reference's
  SHA-256: tags are searchable, and short), which ``find_order`` searches for;
- ``sourceIdentifier``, Shopify's field for an order's id on the channel that sent it.

The order is created unpaid (``financialStatus: PENDING``), without a receipt to the
customer, decrementing stock as the shop's inventory policy says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from storelink import Address, MappingError, Money, OrderDraft, RejectedError
from storelink.context import current_operation
from storelink_shopify.api import PLATFORM
from storelink_shopify.mapping import REFERENCE_ATTRIBUTE

__all__ = ["ORDER_OPTIONS", "ShippingLine", "order_input", "reference_tag", "user_errors_error"]

#: How the order is created: stock follows the shop's policy; no receipt is sent.
ORDER_OPTIONS: Mapping[str, Any] = {
    "inventoryBehaviour": "DECREMENT_OBEYING_POLICY",
    "sendReceipt": False,
    "sendFulfillmentReceipt": False,
}

_MAX_MESSAGE = 500


def reference_tag(reference: str) -> str:
    """Return the tag that marks the order made for *reference* (34 characters)."""
    return "storelink-" + hashlib.sha256(reference.encode()).hexdigest()[:24]


class ShippingLine:
    """The shipping line of an order: the method's title, its id and its price.

    :param code: The delivery method definition's id (the draft's ``shipping_method_id``).
    :param title: The method's name.
    :param price: Its rate.
    """

    def __init__(self, *, code: str, title: str, price: Money) -> None:
        self.code = code
        self.title = title
        self.price = price


def _money_bag(money: Money) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(money.amount), "currencyCode": money.currency}}


def _address(address: Address) -> dict[str, Any]:
    first, _, last = address.name.strip().rpartition(" ")
    fields: dict[str, Any] = {
        "firstName": first or None,
        "lastName": last,
        "address1": address.line1,
        "address2": address.line2,
        "city": address.city,
        "provinceCode": address.region,
        "zip": address.postal_code,
        "countryCode": address.country,
        "phone": address.phone,
    }
    return {k: v for k, v in fields.items() if v is not None}


def order_input(draft: OrderDraft, shipping: ShippingLine) -> dict[str, Any]:
    """Return the ``OrderCreateOrderInput`` for *draft*, carrying its reference."""
    lines = []
    for line in draft.lines:
        item: dict[str, Any] = {"variantId": line.sku_id, "quantity": line.quantity}
        if line.price is not None:
            item["priceSet"] = _money_bag(line.price)
        lines.append(item)
    email = (draft.customer.email if draft.customer else None) or draft.shipping_address.email
    order: dict[str, Any] = {
        "lineItems": lines,
        "shippingAddress": _address(draft.shipping_address),
        "billingAddress": _address(draft.billing_address or draft.shipping_address),
        "shippingLines": [{"title": shipping.title, "code": shipping.code, "priceSet": _money_bag(shipping.price)}],
        "financialStatus": "PENDING",
        "sourceIdentifier": draft.reference,
        "tags": [reference_tag(draft.reference)],
        "customAttributes": [{"key": REFERENCE_ATTRIBUTE, "value": draft.reference}],
    }
    if email:
        order["email"] = email
    if draft.payment is not None and draft.payment.po_number:
        order["poNumber"] = draft.payment.po_number
    return order


def user_errors_error(payload: Any, path: str) -> RejectedError | None:
    """Return the :class:`~storelink.RejectedError` for a payload's ``userErrors``, or ``None`` if empty.

    Every error's message is kept, with the input field it names (``lineItems.0.variantId``).
    """
    errors = payload.get("userErrors") if isinstance(payload, dict) else None
    if errors is None:
        raise MappingError("expected the mutation's userErrors", path=f"{path}.userErrors")
    if not isinstance(errors, list):
        raise MappingError("expected a list", path=f"{path}.userErrors")
    if not errors:
        return None
    said: list[str] = []
    codes: list[str] = []
    for entry in errors:
        if not isinstance(entry, dict):
            continue
        message = entry.get("message") if isinstance(entry.get("message"), str) else "invalid"
        field = entry.get("field")
        where = ".".join(str(p) for p in field if p != "order") if isinstance(field, list) else ""
        said.append(f"{where}: {message}" if where else str(message))
        if isinstance(entry.get("code"), str):
            codes.append(entry["code"])
    text = "; ".join(said)[:_MAX_MESSAGE] or "the shop refused the order"
    return RejectedError(
        f"Shopify refused the order: {text}",
        platform=PLATFORM,
        operation=current_operation(),
        status=200,
        code=codes[0] if codes else None,
    )
