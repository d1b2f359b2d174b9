"""The simulator's catalog: products, SKUs, stock and shipping methods, computed on demand.

Product *i* is a pure function of ``(seed, i)``: nothing is stored per product, so a
catalog of a million products costs no memory and any page is as fast as the first.
Only the stock that orders have taken is remembered. The payloads have the shape of
OCC's Admin API responses (``listProducts``, ``listInventories``, ``getInventory``,
``listShippingMethods``), with prices as JSON numbers and image URLs as the relative,
unencoded paths OCC returns.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import product as combinations
from typing import Any

__all__ = ["FIRST_PRODUCT", "Catalog", "iso"]

#: Product ids are ``prod<FIRST_PRODUCT + index>`` and SKU ids ``sku<N>_<j>`` (``prod100``,
#: ``sku100_0``), the ids the documentation's example order uses.
FIRST_PRODUCT = 100

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")

_ADJECTIVES = (
    "Classic", "Everyday", "Rugged", "Featherweight", "Heritage", "Urban", "Coastal", "Alpine",
    "Vintage", "Essential", "Modern", "Relaxed", "Tailored", "Weekend", "Studio", "Nordic",
)  # fmt: skip
_MATERIALS = (
    "Linen", "Cotton", "Merino", "Canvas", "Leather", "Denim", "Bamboo", "Cashmere",
    "Oak", "Ceramic", "Walnut", "Steel", "Wool", "Silk", "Cork", "Hemp",
)  # fmt: skip
_NOUNS = (
    ("Shirt", "cat-shirts", "apparel"), ("Jacket", "cat-outerwear", "apparel"),
    ("Sweater", "cat-knitwear", "apparel"), ("Tote Bag", "cat-bags", "accessories"),
    ("Backpack", "cat-bags", "accessories"), ("Wallet", "cat-accessories", "accessories"),
    ("Mug", "cat-kitchen", "home"), ("Serving Bowl", "cat-kitchen", "home"),
    ("Desk Lamp", "cat-lighting", "home"), ("Throw Blanket", "cat-textiles", "home"),
    ("Sneaker", "cat-footwear", "footwear"), ("Boot", "cat-footwear", "footwear"),
)  # fmt: skip
_FINISHES = ("hand-finished", "responsibly made", "built for every day")
_BRANDS = ("Northwind", "Fjellstad", "Marigold & Co", "Bluewater", "Kestrel", "Oakhaven", "Solace", "Tidewell")
_COLORS = ("Black", "Navy", "Olive", "Sand", "Rust", "White", "Charcoal", "Sky")
_SIZES = ("S", "M", "L", "XL")
_COUNTRIES = ("PT", "IT", "VN", "US", "DE", "IN", "JP", "MX")


def iso(moment: datetime) -> str:
    """Format *moment* as OCC does: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _price(rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(5, 400)) + Decimal("0.99") if rng.random() < 0.7 else Decimal(rng.randrange(5, 400))


def _number(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


class Catalog:
    """A deterministic catalog of *size* products.

    :param seed: Decides every product, SKU and stock level.
    :param size: Number of products.
    :param currency: The currency prices are in (not part of OCC's product payload).
    :param locations: Inventory locations besides the default one.
    """

    def __init__(self, *, seed: int, size: int, currency: str, locations: tuple[str, ...]) -> None:
        self.seed = seed
        self.size = size
        self.currency = currency
        self.locations = locations
        self._taken: dict[str, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ products

    def index_of(self, product_id: str) -> int | None:
        """Return the index of *product_id*, or ``None`` if the catalog has no such product."""
        digits = product_id.removeprefix("prod")
        if digits == product_id or not digits.isdigit():
            return None
        index = int(digits) - FIRST_PRODUCT
        return index if 0 <= index < self.size else None

    def product(self, index: int) -> dict[str, Any]:
        """Return product *index* as OCC's Admin API does, with its ``childSKUs``."""
        rng = random.Random(f"{self.seed}:product:{index}")
        product_id = f"prod{FIRST_PRODUCT + index}"
        noun, category, product_type = rng.choice(_NOUNS)
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_MATERIALS)} {noun}"
        slug = name.lower().replace(" ", "-").replace("&", "and")
        list_price = _price(rng)
        sale_price = (
            (list_price * Decimal(rng.choice(("0.8", "0.85", "0.9")))).quantize(_CENT) if rng.random() < 0.25 else None
        )
        version = rng.randrange(10**17, 10**18)
        # Some merchants upload files with spaces in their names; OCC does not encode them.
        stem = f"{product_id} front" if index % 7 == 3 else product_id
        files = [f"/file/v{version}/products/{stem}_{k}.jpg" for k in range(1, rng.randint(1, 3) + 1)]
        images = {
            size: [f"/ccstore/v1/images/?source={f}" + (f"&height={px}&width={px}" if px else "") for f in files]
            for size, px in (("full", 0), ("large", 940), ("medium", 475), ("small", 300), ("thumb", 100))
        }
        skus, options = self._skus(rng, product_id, name, list_price, sale_price, version)
        created = _EPOCH + timedelta(seconds=rng.randrange(0, 4 * 365 * 86400), milliseconds=rng.randrange(1000))
        return {
            "id": product_id,
            "repositoryId": product_id,
            "displayName": name,
            "description": f"{name} by {rng.choice(_BRANDS)}, made to last.",
            "longDescription": f"<p>The {name.lower()} is {rng.choice(_FINISHES)}.</p>",
            "active": rng.random() >= 0.05,
            "brand": rng.choice(_BRANDS),
            "type": product_type,
            "creationDate": iso(created),
            "route": f"/{slug}/product/{product_id}",
            "seoUrlSlugDerived": slug,
            "listPrice": _number(list_price),
            "salePrice": _number(sale_price),
            "listPrices": {"defaultPriceGroup": _number(list_price)},
            "salePrices": {"defaultPriceGroup": _number(sale_price)},
            "parentCategories": [
                {"repositoryId": category, "fixedParentCategories": [{"repositoryId": "rootCategory"}]}
            ],
            "parentCategory": {"repositoryId": category},
            "primaryFullImageURL": images["full"][0],
            "primaryLargeImageURL": images["large"][0],
            "primaryMediumImageURL": images["medium"][0],
            "primarySmallImageURL": images["small"][0],
            "primaryThumbImageURL": images["thumb"][0],
            "fullImageURLs": images["full"],
            "largeImageURLs": images["large"],
            "mediumImageURLs": images["medium"],
            "smallImageURLs": images["small"],
            "thumbImageURLs": images["thumb"],
            "orderLimit": None,
            "notForIndividualSale": False,
            "nonreturnable": rng.random() < 0.1,
            "configurable": False,
            "addOnProducts": [],
            "weight": round(rng.uniform(0.1, 4.0), 2),
            "unitOfMeasure": None,
            "productVariantOptions": options,
            "childSKUs": skus,
            "x_countryOfOrigin": rng.choice(_COUNTRIES),
        }

    def _skus(
        self,
        rng: random.Random,
        product_id: str,
        name: str,
        list_price: Decimal,
        sale_price: Decimal | None,
        version: int,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        count = rng.randint(1, 5)
        if count == 1:
            combos: list[tuple[str, ...]] = [()]
            aliases: tuple[str, ...] = ()
        else:
            combos = rng.sample(list(combinations(_COLORS[:3], _SIZES)), count)
            aliases = ("color", "size")
        skus = []
        for j, combo in enumerate(combos):
            sku_id = f"sku{product_id.removeprefix('prod')}_{j}"
            uplift = Decimal(2 * _SIZES.index(combo[1])) if combo else Decimal(0)
            sku: dict[str, Any] = {
                "repositoryId": sku_id,
                "displayName": " / ".join((name, *combo)),
                "listPrice": _number(list_price + uplift),
                "salePrice": _number(None if sale_price is None else sale_price + uplift),
                "listPrices": {"defaultPriceGroup": _number(list_price + uplift)},
                "salePrices": {"defaultPriceGroup": _number(None if sale_price is None else sale_price + uplift)},
                "barcode": f"{rng.randrange(10**12, 10**13)}",
                "active": True,
                "largeImageURLs": [
                    f"/ccstore/v1/images/?source=/file/v{version}/products/{sku_id}.jpg&height=940&width=940"
                ],
                "quantity": None,
            }
            sku.update(zip(aliases, combo, strict=True))
            skus.append(sku)
        options = [
            {
                "optionId": alias,
                "optionName": alias.capitalize(),
                "mapKeyPropertyAlias": alias,
                "optionValueMap": {v: k for k, v in enumerate(sorted({s[alias] for s in skus}))},
            }
            for alias in aliases
        ]
        return skus, options

    def find_sku(self, sku_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Return ``(product, sku)`` for *sku_id*, or ``None``."""
        digits, _, _ = sku_id.removeprefix("sku").partition("_")
        index = self.index_of(f"prod{digits}")
        if index is None:
            return None
        product = self.product(index)
        sku = next((s for s in product["childSKUs"] if s["repositoryId"] == sku_id), None)
        return None if sku is None else (product, sku)

    # ------------------------------------------------------------------ inventory

    def take(self, sku_id: str, quantity: int) -> None:
        """Remove *quantity* of *sku_id* from the default location's stock (an order took it)."""
        with self._lock:
            self._taken[sku_id] = self._taken.get(sku_id, 0) + quantity

    def stock_record(self, product: dict[str, Any], sku: dict[str, Any], location: str | None) -> dict[str, Any]:
        """Return the inventory record of *sku* at *location* (``None``: the default one)."""
        sku_id = sku["repositoryId"]
        rng = random.Random(f"{self.seed}:stock:{sku_id}:{location}")
        level = 0 if rng.random() < 0.1 else rng.randint(1, 500)
        if location is None:
            level = max(0, level - self._taken.get(sku_id, 0))
        return {
            "skuId": sku_id,
            "skuNumber": sku_id,
            "displayName": sku["displayName"],
            "inventoryId": f"{sku_id}@{location or 'default'}",
            "locationId": location,
            "stockLevel": level,
            "stockThreshold": 5,
            "availableToPromise": None,
            "backorderLevel": 0,
            "backorderThreshold": 0,
            "preorderLevel": 0,
            "preorderThreshold": 0,
            "availabilityDate": None,
            "availabilityStatus": 1000 if level > 0 else 1001,
            "availabilityStatusMsg": "inStock" if level > 0 else "outOfStock",
        }

    def inventory_item(self, index: int) -> dict[str, Any]:
        """Return product *index* as a ``listInventories`` item: one record per SKU and location."""
        product = self.product(index)
        records = [
            self.stock_record(product, sku, location)
            for sku in product["childSKUs"]
            for location in (None, *self.locations)
        ]
        total = sum(r["stockLevel"] for r in records)
        in_stock = sum(1 for r in records if r["stockLevel"] > 0)
        status = "inStock" if in_stock == len(records) else "partialAvailability" if in_stock else "outOfStock"
        return {
            "id": product["id"],
            "displayName": product["displayName"],
            "productNumber": product["id"],
            "stockStatus": status,
            "totalStockLevel": total,
            "childSKUs": records,
        }

    def sku_inventory(self, sku_id: str) -> dict[str, Any] | None:
        """Return ``getInventory`` for *sku_id*: the default record, other locations nested."""
        found = self.find_sku(sku_id)
        if found is None:
            return None
        product, sku = found
        record = self.stock_record(product, sku, None)
        record["locationInventoryInfo"] = [self.stock_record(product, sku, loc) for loc in self.locations] or None
        return record

    # ------------------------------------------------------------------ shipping

    def shipping_methods(self) -> list[dict[str, Any]]:
        """Return the store's shipping methods, enabled or not, as ``listShippingMethods`` does."""
        return [dict(m) for m in _SHIPPING_METHODS]

    def iter_products(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        """Yield products *start* to *stop* (clamped to the catalog)."""
        for index in range(max(0, start), min(stop, self.size)):
            yield self.product(index)


def _method(
    method_id: str, name: str, sequence: int, ranges: list[tuple[float, float | None, float]], **extra: Any
) -> dict[str, Any]:
    return {
        "repositoryId": method_id,
        "id": method_id,
        "displayName": name,
        "description": f"{name} delivery",
        "displaySequence": sequence,
        "enabled": True,
        "eligibleForProductWithSurcharges": False,
        "shippingCalculator": "priceRange",
        "shippingGroupType": "hardgoodShippingGroup",
        "shipToLocations": [],
        "taxCode": None,
        "type": 0,
        "ranges": [
            {"repositoryId": f"{method_id}Range{k}", "low": low, "high": high, "amount": amount}
            for k, (low, high, amount) in enumerate(ranges, start=1)
        ],
        **extra,
    }


_SHIPPING_METHODS = (
    _method("ground", "Ground", 1, [(0, 49.99, 5.99), (50, 99.99, 3.99), (100, None, 0.0)]),
    _method("expressShippingMethod", "Express", 2, [(0, None, 14.99)]),
    _method("overnightShippingMethod", "Overnight", 3, [(0, None, 29.99)], enabled=False),
    _method("freightShippingMethod", "Freight", 4, [(0, 20, 20.0), (20, None, 45.0)], shippingCalculator="weightRange"),
)
