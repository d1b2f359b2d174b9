"""The simulated shop's orders, seeded from the catalog, and the ``orders`` search filter.

Order ``k`` is created an hour after order ``k - 1`` and updated 0 to 40 minutes after
its creation, so the order by ``updatedAt`` differs from the order by id and some
orders share an update time. The ``query`` argument understands the ``updated_at``
and ``created_at`` comparisons (``>=``, ``>``, ``<=``, ``<``, a value quoted or not)
and ``tag:`` (a value quoted or not), joined by spaces (AND). Any other term is
refused with a GraphQL error (Shopify itself would ignore a term it does not know), so
the plugin cannot come to rely on search syntax that the simulator does not check.

:meth:`OrderBook.create` takes an ``orderCreate`` input and answers the order, or the
``userErrors`` of an input it refuses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from storelink_shopify.simulator.catalog import EPOCH, Catalog, gid, gid_number, iso

__all__ = ["ORDER_BASE", "OrderBook", "SearchError", "parse_search"]

ORDER_BASE = 5_000_000

_TERM = re.compile(r"(updated_at|created_at):(>=|<=|>|<)'?([0-9T:\-+.Z]+)'?")
_TAG = re.compile(r"tag:(?:'([^'\s]+)'|([^'\s]+))")
_ADDRESSES = (
    ("Ada Lovelace", "12 Analytical Row", "London", "ENG", "N1 9GU", "GB"),
    ("Grace Hopper", "1 Navy Yard", "Arlington", "VA", "22201", "US"),
    ("Alan Turing", "Bletchley Park", "Milton Keynes", "ENG", "MK3 6EB", "GB"),
)


class SearchError(ValueError):
    """The ``query`` argument uses syntax the simulator does not implement."""


Term = tuple[str, str, "datetime | str"]


def parse_search(text: str | None) -> list[Term]:
    """Return the ``(field, operator, value)`` terms of an ``orders`` search (``("tag", ":", name)`` for a tag).

    :raises SearchError: A term is not one the simulator understands.
    """
    if not text or not text.strip():
        return []
    terms: list[Term] = []
    for word in text.split():
        tag = _TAG.fullmatch(word)
        if tag is not None:
            terms.append(("tag", ":", tag.group(1) or tag.group(2)))
            continue
        match = _TERM.fullmatch(word)
        if match is None:
            raise SearchError(f"the simulator does not implement the search term {word[:60]!r}")
        try:
            moment = datetime.fromisoformat(match.group(3))
        except ValueError:
            raise SearchError(f"not a date-time: {match.group(3)[:40]!r}") from None
        if moment.tzinfo is None:
            raise SearchError("a search date-time needs a time zone")
        terms.append((match.group(1), match.group(2), moment))
    return terms


def _matches(order: dict[str, Any], terms: list[Term]) -> bool:
    for name, op, moment in terms:
        if isinstance(moment, str):
            if moment not in order["tags"]:
                return False
            continue
        value = datetime.fromisoformat(order["updatedAt" if name == "updated_at" else "createdAt"])
        if not {">=": value >= moment, ">": value > moment, "<=": value <= moment, "<": value < moment}[op]:
            return False
    return True


class OrderBook:
    """The orders of the simulated shop.

    :param catalog: Where the ordered variants come from.
    :param count: How many orders to seed.
    :param seed: Decides the orders.
    :param now: Wall clock of created orders.
    """

    def __init__(
        self, catalog: Catalog, *, count: int, seed: int, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.catalog = catalog
        self._now = now
        self._orders = [self._seeded(k, random.Random(f"{seed}:order:{k}")) for k in range(count)]
        self._by_id = {o["id"]: o for o in self._orders}

    def _seeded(self, k: int, rng: random.Random) -> dict[str, Any]:
        created = EPOCH + timedelta(hours=k)
        updated = created + timedelta(minutes=10 * rng.randrange(5))
        lines = []
        currency = self.catalog.currency
        subtotal = Decimal(0)
        if self.catalog.size:
            for n in range(1 + rng.randrange(3)):
                i = rng.randrange(self.catalog.size)
                product = self.catalog.product(i)
                variant = rng.choice(product["variants"])
                quantity = 1 + rng.randrange(3)
                subtotal += Decimal(variant["price"]) * quantity
                lines.append(
                    {
                        "id": gid("LineItem", (ORDER_BASE + k) * 10 + n),
                        "sku": variant["sku"] or None,
                        "quantity": quantity,
                        "product": {"id": product["id"]},
                        "variant": {"id": variant["id"]},
                        "originalUnitPriceSet": _money_set(Decimal(variant["price"]), currency),
                    }
                )
        shipping = Decimal("5.00")
        tax = (subtotal * Decimal("0.08")).quantize(Decimal("0.01"))
        name, line1, city, province, postal, country = _ADDRESSES[k % len(_ADDRESSES)]
        cancelled = rng.random() < 0.1
        return {
            "id": gid("Order", ORDER_BASE + k),
            "name": f"#{1001 + k}",
            "email": f"customer{k}@example.com",
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "cancelledAt": iso(updated) if cancelled else None,
            "closed": not cancelled and rng.random() < 0.3,
            "displayFinancialStatus": "REFUNDED" if cancelled else "PAID",
            "displayFulfillmentStatus": "UNFULFILLED" if cancelled else rng.choice(("FULFILLED", "UNFULFILLED")),
            "tags": [],
            "customAttributes": [],
            "subtotalPriceSet": _money_set(subtotal, currency),
            "totalShippingPriceSet": _money_set(shipping, currency),
            "totalTaxSet": _money_set(tax, currency),
            "totalPriceSet": _money_set(subtotal + shipping + tax, currency),
            "shippingAddress": {
                "name": name,
                "address1": line1,
                "address2": None,
                "city": city,
                "provinceCode": province,
                "zip": postal,
                "countryCodeV2": country,
                "phone": None,
            },
            "lineItems": lines,
        }

    def create(self, order: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Create an order from an ``OrderCreateOrderInput``; return it, or ``None`` and the ``userErrors``."""
        if not isinstance(order, Mapping):
            return None, [_user_error([], "The order input is missing.", "INVALID")]
        errors: list[dict[str, Any]] = []
        currency = self.catalog.currency
        lines = []
        items = order.get("lineItems")
        if not isinstance(items, list) or not items:
            errors.append(_user_error(["lineItems"], "Line items must contain at least one item.", "INVALID"))
            items = []
        number = ORDER_BASE + len(self._orders)
        subtotal = Decimal(0)
        for i, item in enumerate(items):
            where = ["lineItems", str(i)]
            variant_number = gid_number(item.get("variantId") if isinstance(item, Mapping) else None, "ProductVariant")
            variant = self.catalog.variant_by_number(variant_number) if variant_number is not None else None
            if variant is None:
                errors.append(_user_error([*where, "variantId"], "The product variant does not exist.", "INVALID"))
                continue
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                errors.append(_user_error([*where, "quantity"], "Quantity must be at least 1.", "INVALID"))
                continue
            price = _amount(item.get("priceSet")) or Decimal(variant["price"])
            subtotal += price * quantity
            lines.append(
                {
                    "id": gid("LineItem", number * 10 + i),
                    "sku": variant["sku"] or None,
                    "quantity": quantity,
                    "product": {"id": variant["product_id"]},
                    "variant": {"id": variant["id"]},
                    "originalUnitPriceSet": _money_set(price, currency),
                }
            )
        address = order.get("shippingAddress")
        if not isinstance(address, Mapping) or not re.fullmatch(r"[A-Z]{2}", str(address.get("countryCode", ""))):
            errors.append(_user_error(["shippingAddress", "countryCode"], "Country code is invalid.", "INVALID"))
        if errors:
            return None, errors
        assert isinstance(address, Mapping)  # noqa: S101  # checked just above
        shipping = sum(
            (_amount(line.get("priceSet")) or Decimal(0) for line in order.get("shippingLines") or []), Decimal(0)
        )
        now = iso(self._now().replace(microsecond=0))
        name = " ".join(str(address[k]) for k in ("firstName", "lastName") if address.get(k))
        created = {
            "id": gid("Order", number),
            "name": f"#{1001 + number - ORDER_BASE}",
            "email": order.get("email"),
            "createdAt": now,
            "updatedAt": now,
            "cancelledAt": None,
            "closed": False,
            "displayFinancialStatus": str(order.get("financialStatus") or "PAID"),
            "displayFulfillmentStatus": "UNFULFILLED",
            "tags": [t for t in order.get("tags") or [] if isinstance(t, str)],
            "customAttributes": [
                {"key": a["key"], "value": a.get("value")}
                for a in order.get("customAttributes") or []
                if isinstance(a, Mapping) and isinstance(a.get("key"), str)
            ],
            "sourceIdentifier": order.get("sourceIdentifier"),
            "subtotalPriceSet": _money_set(subtotal, currency),
            "totalShippingPriceSet": _money_set(shipping, currency),
            "totalTaxSet": _money_set(Decimal(0), currency),
            "totalPriceSet": _money_set(subtotal + shipping, currency),
            "shippingAddress": {
                "name": name or None,
                "address1": address.get("address1"),
                "address2": address.get("address2"),
                "city": address.get("city"),
                "provinceCode": address.get("provinceCode"),
                "zip": address.get("zip"),
                "countryCodeV2": address.get("countryCode"),
                "phone": address.get("phone"),
            },
            "lineItems": lines,
        }
        self._orders.append(created)
        self._by_id[created["id"]] = created
        return created, []

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return the order with global id *order_id*, or ``None``."""
        return self._by_id.get(order_id)

    def search(self, query: str | None) -> list[dict[str, Any]]:
        """Return the orders matching *query*, by ``updatedAt`` then id (``sortKey: UPDATED_AT``).

        :raises SearchError: The query uses syntax the simulator does not implement.
        """
        terms = parse_search(query)
        found = [o for o in self._orders if _matches(o, terms)]
        return sorted(found, key=lambda o: (o["updatedAt"], o["id"]))


def _money_set(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": currency}}


def _user_error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": ["order", *field], "message": message, "code": code}


def _amount(money_bag: Any) -> Decimal | None:
    shop = money_bag.get("shopMoney") if isinstance(money_bag, Mapping) else None
    amount = shop.get("amount") if isinstance(shop, Mapping) else None
    try:
        return Decimal(str(amount)) if amount is not None else None
    except ArithmeticError:
        return None
