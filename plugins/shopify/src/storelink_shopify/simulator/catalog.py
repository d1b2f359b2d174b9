"""The simulated shop's catalog, stock and delivery profiles, computed from the seed.

Nothing is stored per product: product ``i`` and its variants are drawn from
``Random(f"{seed}:{i}")`` when asked for, so a catalog of any size costs no memory.
Ids are Shopify global ids with numbers the simulator can invert:

- product ``i``: ``gid://shopify/Product/{PRODUCT_BASE + i}``;
- its variant ``j``: ``gid://shopify/ProductVariant/{VARIANT_BASE + 10 * i + j}``, with
  the inventory item of the same number;
- location ``k``: ``gid://shopify/Location/{LOCATION_BASE + k}``.

Payloads have the shape the GraphQL Admin API gives for the fields the plugin selects:
connections as ``{pageInfo, nodes}``, ``Money`` scalars as decimal strings, ``MoneyV2``
as ``{amount, currencyCode}``, date-times as ``...Z`` strings.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["LOCATION_BASE", "PRODUCT_BASE", "VARIANT_BASE", "Catalog", "gid", "gid_number", "iso"]

PRODUCT_BASE = 8_000_000
VARIANT_BASE = 40_000_000
LOCATION_BASE = 60_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_VENDORS = ("Acme Outfitters", "Northwind", "Blue Heron", "Fabrikam")
_TYPES = ("Shirts", "Mugs", "Posters", "Bags", "")
_NOUNS = ("T-shirt", "Mug", "Poster", "Tote bag", "Hoodie", "Cap")
_ADJECTIVES = ("Classic", "Organic", "Vintage", "Minimal", "Bold", "Everyday")
_SIZES = ("S", "M", "L")


def gid(kind: str, number: int) -> str:
    """Return the global id of object *number* of *kind* (``Product``)."""
    return f"gid://shopify/{kind}/{number}"


def gid_number(value: Any, kind: str) -> int | None:
    """Return the number of a global id of *kind*, or ``None`` if *value* is not one."""
    prefix = f"gid://shopify/{kind}/"
    if not isinstance(value, str) or not value.startswith(prefix) or not value[len(prefix) :].isdigit():
        return None
    return int(value[len(prefix) :])


def iso(moment: datetime) -> str:
    """Format *moment* as Shopify does: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Catalog:
    """The products, variants, stock and delivery profiles of the simulated shop.

    :param seed: Decides everything.
    :param size: Number of products.
    :param currency: The shop's currency.
    :param locations: Location names.
    """

    def __init__(self, *, seed: int, size: int, currency: str, locations: tuple[str, ...]) -> None:
        self.seed = seed
        self.size = size
        self.currency = currency
        self.locations = locations

    # ------------------------------------------------------------------ products

    def variant_count(self, i: int) -> int:
        """Return how many variants product *i* has (1 to 3)."""
        return 1 + (i * 7 + self.seed) % 3

    def product(self, i: int) -> dict[str, Any]:
        """Return product *i* as the ``Products`` query selects it (all its variants and images)."""
        rng = random.Random(f"{self.seed}:{i}")
        noun, adjective = rng.choice(_NOUNS), rng.choice(_ADJECTIVES)
        images = [
            {"url": f"https://cdn.shopify.com/s/files/1/0001/products/p{i}-{k}.jpg", "altText": f"{noun} {k + 1}"}
            for k in range(rng.randrange(3))
        ]
        return {
            "id": gid("Product", PRODUCT_BASE + i),
            "title": f"{adjective} {noun} {i}",
            "handle": f"{adjective}-{noun}-{i}".lower().replace(" ", "-"),
            "description": f"A {adjective.lower()} {noun.lower()}.",
            "status": "DRAFT" if rng.random() < 0.1 else "ACTIVE",
            "vendor": rng.choice(_VENDORS),
            "productType": rng.choice(_TYPES),
            "tags": sorted(rng.sample(("new", "sale", "gift", "eco"), rng.randrange(3))),
            "createdAt": iso(EPOCH + timedelta(hours=i)),
            "onlineStoreUrl": None if rng.random() < 0.1 else f"https://shop.example.com/products/{noun.lower()}-{i}",
            "images": images,
            "variants": [self.variant(i, j, rng, images) for j in range(self.variant_count(i))],
        }

    def variant(self, i: int, j: int, rng: random.Random, images: list[dict[str, Any]]) -> dict[str, Any]:
        """Return variant *j* of product *i* (drawn from the product's *rng*)."""
        single = self.variant_count(i) == 1
        price = Decimal(rng.randrange(500, 20_000)) / 100
        on_sale = rng.random() < 0.3
        option = {"name": "Title", "value": "Default Title"} if single else {"name": "Size", "value": _SIZES[j]}
        number = VARIANT_BASE + 10 * i + j
        return {
            "id": gid("ProductVariant", number),
            "title": option["value"],
            "sku": "" if rng.random() < 0.05 else f"SL-{i:06d}-{j}",
            "barcode": f"{rng.randrange(10**12, 10**13)}" if rng.random() < 0.5 else None,
            "price": f"{price:.2f}",
            "compareAtPrice": f"{price * Decimal('1.25'):.2f}" if on_sale else None,
            "selectedOptions": [option],
            "image": images[0] if images and j == 0 else None,
            "tracked": rng.random() >= 0.1,
            "stock": [rng.randrange(-2, 120) for _ in self.locations],
        }

    def variant_by_number(self, number: int) -> dict[str, Any] | None:
        """Return the variant with the id number *number*, or ``None``."""
        i, j = divmod(number - VARIANT_BASE, 10)
        if not 0 <= i < self.size or j >= self.variant_count(i):
            return None
        product = self.product(i)
        return {**product["variants"][j], "product_id": product["id"]}

    def variant_numbers(self, start: int) -> Any:
        """Yield the id numbers of every variant above *start*, in order."""
        i = max((start - VARIANT_BASE) // 10, 0) if start >= VARIANT_BASE else 0
        while i < self.size:
            for j in range(self.variant_count(i)):
                number = VARIANT_BASE + 10 * i + j
                if number > start:
                    yield number
            i += 1

    # ------------------------------------------------------------------ inventory

    def location(self, k: int) -> dict[str, Any]:
        """Return location *k*."""
        return {"id": gid("Location", LOCATION_BASE + k), "name": self.locations[k]}

    def inventory_node(self, variant: dict[str, Any]) -> dict[str, Any]:
        """Return *variant* as the inventory queries select it."""
        number = gid_number(variant["id"], "ProductVariant")
        levels = [
            {"location": self.location(k), "quantities": [{"name": "available", "quantity": quantity}]}
            for k, quantity in enumerate(variant["stock"])
        ]
        return {
            "id": variant["id"],
            "sku": variant["sku"],
            "inventoryItem": {
                "id": gid("InventoryItem", number or 0),
                "tracked": variant["tracked"],
                "inventoryLevels": levels,
            },
        }

    # ------------------------------------------------------------------ shipping

    def delivery_profiles(self) -> list[dict[str, Any]]:
        """Return the shop's delivery profiles, with zones and method definitions (all of them)."""

        def rate(number: int, amount: str) -> dict[str, Any]:
            return {
                "__typename": "DeliveryRateDefinition",
                "id": gid("DeliveryRateDefinition", number),
                "price": {"amount": amount, "currencyCode": self.currency},
            }

        def method(number: int, name: str, provider: dict[str, Any], active: bool = True) -> dict[str, Any]:
            return {
                "id": gid("DeliveryMethodDefinition", number),
                "name": name,
                "active": active,
                "description": None,
                "rateProvider": provider,
            }

        carrier = {"__typename": "DeliveryParticipant", "id": gid("DeliveryParticipant", 1)}
        general = {
            "id": gid("DeliveryProfile", 1),
            "name": "General profile",
            "default": True,
            "profileLocationGroups": [
                {
                    "locationGroupZones": [
                        {
                            "zone": {"id": gid("DeliveryZone", 1), "name": "Domestic"},
                            "methodDefinitions": [
                                method(11, "Standard", rate(111, "5.0")),
                                method(12, "Express", rate(112, "15.0")),
                                method(13, "Overnight", rate(113, "30.0"), active=False),
                            ],
                        },
                        {
                            "zone": {"id": gid("DeliveryZone", 2), "name": "International"},
                            "methodDefinitions": [
                                method(21, "International", rate(121, "25.0")),
                                method(22, "Carrier calculated", carrier),
                            ],
                        },
                    ]
                }
            ],
        }
        oversized = {
            "id": gid("DeliveryProfile", 2),
            "name": "Oversized items",
            "default": False,
            "profileLocationGroups": [
                {
                    "locationGroupZones": [
                        {
                            "zone": {"id": gid("DeliveryZone", 3), "name": "Domestic freight"},
                            "methodDefinitions": [method(31, "Freight", rate(131, "60.0"))],
                        }
                    ]
                }
            ],
        }
        return [general, oversized]
