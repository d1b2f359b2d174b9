"""The simulator's orders: created by the agent API, read and searched by the admin API.

An order is stored as the admin API returns it (``getOrder``): ``priceInfo``,
``commerceItems``, ``shippingGroups``, addresses, and every custom property the
``createOrder`` body carried, both at the top level and in ``dynamicProperties``, so
a SCIM search on a custom property (the channel's reference) finds it.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from storelink_occ.simulator.catalog import Catalog, iso
from storelink_occ.simulator.scim import Predicate

__all__ = ["OccError", "OrderBook"]

#: The keys of a ``createOrder`` body that are not custom properties.
ORDER_FIELDS = frozenset(
    {
        "op",
        "profileId",
        "shippingMethod",
        "shoppingCart",
        "shippingAddress",
        "billingAddress",
        "payments",
        "shippingGroups",
        "combineLineItems",
        "orderProfileId",
    }
)
_CARD_FIELDS = frozenset({"cardNumber", "cardCVV", "giftCardPin"})
_SEEDED_STATES = ("SUBMITTED", "PROCESSING", "NO_PENDING_ACTION", "PENDING_PAYMENT")
_HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)


class OccError(Exception):
    """An error the simulator answers with OCC's envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def envelope(self) -> dict[str, str]:
        """Return OCC's ``errorModel`` body (``status`` and ``errorCode`` are strings)."""
        return {"errorCode": self.code, "message": self.message, "status": str(self.status)}


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


class OrderBook:
    """The orders of the simulated store.

    :param catalog: Prices, SKUs and shipping methods orders are checked against.
    :param now: The wall clock, for order dates.
    :param sites: The instance's sites; the first is the default.
    """

    def __init__(self, catalog: Catalog, *, now: Callable[[], datetime], sites: tuple[str, ...]) -> None:
        self._catalog = catalog
        self._now = now
        self._sites = sites
        self._orders: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(30001)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._orders)

    def all(self) -> list[dict[str, Any]]:
        """Return every order, oldest first."""
        with self._lock:
            return list(self._orders.values())

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return order *order_id*, or ``None``."""
        return self._orders.get(order_id)

    def search(self, predicate: Predicate | None, *, site_id: str | None, sort: str | None) -> list[dict[str, Any]]:
        """Return the orders matching *predicate* on *site_id* (``None``: every site), sorted.

        :param sort: ``property:asc`` or ``property:desc``, comma-separated; ``None``
            keeps creation order.
        """
        found = [
            o
            for o in self.all()
            if (site_id is None or o.get("siteId") == site_id) and (predicate is None or predicate(o))
        ]
        for key in reversed([k for k in (sort or "").split(",") if k.strip()]):
            prop, _, direction = key.strip().partition(":")
            found.sort(key=lambda o: str(o.get(prop) or ""), reverse=direction.lower() == "desc")
        return found

    def create(self, body: Any, *, site_id: str | None) -> dict[str, Any]:
        """Create an order from a ``createOrder`` body and return it.

        :raises OccError: The body is not a valid order (400, with OCC-style messages).
        """
        if not isinstance(body, dict) or body.get("op") != "createOrder":
            raise OccError(400, "28001", "The operation must be createOrder.")
        if site_id is not None and site_id not in self._sites:
            raise OccError(400, "60001", f"Site {site_id} is invalid or non-existent.")
        lines, weight = self._lines(body.get("shoppingCart"))
        address = body.get("shippingAddress")
        if not isinstance(address, dict) or not all(address.get(k) for k in ("address1", "city", "country")):
            raise OccError(400, "28120", "A shipping address with address1, city and country is required.")
        method = self._shipping_method(body.get("shippingMethod"))
        currency = self._catalog.currency
        subtotal = sum((line["priceInfo"]["amount"] for line in lines), Decimal(0))
        shipping = _shipping_cost(method, subtotal if method["shippingCalculator"] == "priceRange" else weight)
        for line in lines:
            line["priceInfo"] = {k: float(v) if isinstance(v, Decimal) else v for k, v in line["priceInfo"].items()}
        moment = iso(self._now())
        custom = {k: v for k, v in body.items() if k not in ORDER_FIELDS}
        with self._lock:
            order_id = f"o{next(self._serial)}"
            order: dict[str, Any] = {
                "id": order_id,
                "uuid": f"sim-{order_id}",
                "state": "SUBMITTED",
                "siteId": site_id or self._sites[0],
                "profileId": body.get("profileId") or f"guest-{order_id}",
                "creationDate": moment,
                "submittedDate": moment,
                "lastModifiedDate": moment,
                "priceInfo": {
                    "amount": float(subtotal),
                    "subTotal": float(subtotal),
                    "shipping": float(shipping),
                    "tax": 0.0,
                    "total": float(subtotal + shipping),
                    "currencyCode": currency,
                },
                "commerceItems": lines,
                "shippingGroups": [
                    {
                        "shippingGroupId": f"sg{order_id}",
                        "shippingAddress": address,
                        "shippingMethod": {"value": method["repositoryId"], "cost": float(shipping)},
                        "items": [{k: ln[k] for k in ("productId", "catRefId", "quantity")} for ln in lines],
                    }
                ],
                "shippingAddress": address,
                "shippingMethod": {"value": method["repositoryId"], "cost": float(shipping)},
                "billingAddress": body.get("billingAddress") or address,
                "payments": [
                    {k: v for k, v in p.items() if k not in _CARD_FIELDS}
                    for p in body.get("payments") or ()
                    if isinstance(p, dict)
                ],
                "dynamicProperties": [{"id": k, "label": k, "value": v} for k, v in custom.items()],
                **custom,
            }
            self._orders[order_id] = order
        for line in lines:
            self._catalog.take(line["catRefId"], line["quantity"])
        return order

    def _lines(self, cart: Any) -> tuple[list[dict[str, Any]], Decimal]:
        """Check and price the cart's items; return the order's lines and their weight."""
        items = cart.get("items") if isinstance(cart, dict) else None
        if not isinstance(items, list) or not items:
            raise OccError(400, "28100", "The shopping cart has no items.")
        lines = []
        weight = Decimal(0)
        for k, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise OccError(400, "28100", "A shopping cart item must be an object.")
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
                raise OccError(400, "28101", "Quantity must be a positive whole number.")
            found = self._catalog.find_sku(str(item.get("catRefId")))
            if found is None:
                raise OccError(400, "20032", f"SKU Id {item.get('catRefId')} is invalid or non-existent.")
            product, sku = found
            if product["id"] != item.get("productId"):
                raise OccError(400, "20031", f"Product Id {item.get('productId')} is invalid or non-existent.")
            list_price = _money(sku["listPrice"])
            on_sale = sku["salePrice"] is not None
            unit = _money(sku["salePrice"]) if on_sale else list_price
            lines.append(
                {
                    "id": f"ci{k}",
                    "productId": product["id"],
                    "catRefId": sku["repositoryId"],
                    "quantity": quantity,
                    "displayName": sku["displayName"],
                    "priceInfo": {
                        "amount": unit * quantity,
                        "listPrice": list_price,
                        "salePrice": _money(sku["salePrice"]),
                        "onSale": on_sale,
                        "currencyCode": self._catalog.currency,
                    },
                }
            )
            weight += _money(product["weight"]) * quantity
        return lines, weight

    def _shipping_method(self, value: Any) -> dict[str, Any]:
        method_id = value.get("value") if isinstance(value, dict) else None
        for method in self._catalog.shipping_methods():
            if method["repositoryId"] == method_id and method["enabled"]:
                return method
        raise OccError(400, "28130", f"Shipping method {method_id} is invalid or not enabled.")

    def seed(self, count: int, *, seed: int) -> None:
        """Add *count* historical orders, three hours apart from 2024-01-01, decided by *seed*."""
        rng = random.Random(f"{seed}:orders")
        if self._catalog.size == 0:
            return
        for n in range(count):
            product = self._catalog.product(rng.randrange(self._catalog.size))
            sku = rng.choice(product["childSKUs"])
            body = {
                "op": "createOrder",
                "shoppingCart": {
                    "items": [
                        {"productId": product["id"], "catRefId": sku["repositoryId"], "quantity": rng.randint(1, 3)}
                    ]
                },
                "shippingMethod": {"value": "ground"},
                "shippingAddress": {
                    "firstName": "Sam",
                    "lastName": f"Shopper{n}",
                    "address1": f"{n + 1} Market Street",
                    "city": "Springfield",
                    "state": "IL",
                    "postalCode": "62701",
                    "country": "US",
                    "email": f"shopper{n}@example.com",
                },
            }
            order = self.create(body, site_id=None)
            moment = iso(_HISTORY_START + timedelta(hours=3 * n))
            order.update(
                state=rng.choice(_SEEDED_STATES), creationDate=moment, submittedDate=moment, lastModifiedDate=moment
            )


def _shipping_cost(method: dict[str, Any], measure: Decimal) -> Decimal:
    for entry in method["ranges"]:
        high = entry["high"]
        if _money(entry["low"]) <= measure and (high is None or measure <= _money(high)):
            return _money(entry["amount"])
    return _money(method["ranges"][-1]["amount"])
