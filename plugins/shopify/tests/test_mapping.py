"""GraphQL payloads to models: prices, stock, shipping, orders, and where a bad payload is wrong."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from storelink import MappingError
from storelink_shopify.mapping import (
    REFERENCE_ATTRIBUTE,
    access_scopes,
    inventory_from_shopify,
    order_from_shopify,
    product_from_shopify,
    shipping_methods_from_profile,
    variant_from_shopify,
)


def variant(**fields: Any) -> dict[str, Any]:
    return {"id": "gid://shopify/ProductVariant/1", "title": "M", "sku": "SKU-1", "price": "10.00", **fields}


def test_a_compare_at_price_above_the_price_is_a_sale() -> None:
    mapped = variant_from_shopify(variant(compareAtPrice="12.50"), currency="EUR")
    assert mapped.price is not None
    assert mapped.price.amount == Decimal("12.50")
    assert mapped.sale_price is not None
    assert mapped.sale_price.amount == Decimal("10.00")
    assert mapped.price.currency == "EUR"


def test_a_compare_at_price_at_or_below_the_price_is_ignored() -> None:
    mapped = variant_from_shopify(variant(compareAtPrice="9.00"), currency="USD")
    assert mapped.price is not None
    assert mapped.price.amount == Decimal("10.00")
    assert mapped.sale_price is None


def test_a_product_has_its_variants_images_lowest_price_and_truncation_flag() -> None:
    payload = {
        "id": "gid://shopify/Product/1",
        "title": "Mug",
        "status": "DRAFT",
        "productType": "Mugs",
        "images": {"nodes": [{"url": "https://cdn.shopify.com/a.jpg", "altText": "front"}]},
        "variants": {
            "pageInfo": {"hasNextPage": True},
            "nodes": [variant(), variant(id="gid://shopify/ProductVariant/2", price="8.00", compareAtPrice="9.00")],
        },
    }
    product = product_from_shopify(payload, currency="USD")
    assert [v.id for v in product.variants] == ["gid://shopify/ProductVariant/1", "gid://shopify/ProductVariant/2"]
    assert product.price is not None
    assert product.price.amount == Decimal("8.00")
    assert not product.active
    assert product.categories == ("Mugs",)
    assert product.images[0].alt == "front"
    assert product.extra["variants_truncated"]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"id": "gid://shopify/Product/1", "variants": {"nodes": []}, "images": {"nodes": []}}, "product.title"),
        (
            {"id": "p", "title": "t", "images": {"nodes": []}, "variants": {"nodes": [variant(price="ten")]}},
            "product.variants.nodes[0].price",
        ),
        ({"id": "p", "title": "t", "images": {"nodes": []}, "variants": None}, "product.variants"),
    ],
)
def test_a_payload_that_does_not_fit_names_the_path(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(MappingError) as raised:
        product_from_shopify(payload, currency="USD")
    assert raised.value.path == path


def test_negative_stock_is_floored_at_zero_and_untracked_items_have_no_levels() -> None:
    node = {
        "id": "gid://shopify/ProductVariant/1",
        "inventoryItem": {
            "tracked": True,
            "inventoryLevels": {
                "nodes": [
                    {
                        "location": {"id": "gid://shopify/Location/1", "name": "Main"},
                        "quantities": [{"name": "available", "quantity": -3}],
                    }
                ]
            },
        },
    }
    (level,) = inventory_from_shopify(node)
    assert (level.available, level.extra["quantity"], level.location_id) == (0, -3, "gid://shopify/Location/1")
    node["inventoryItem"]["tracked"] = False
    assert inventory_from_shopify(node) == []


def test_a_carrier_calculated_method_has_no_fixed_rate() -> None:
    profile = {
        "id": "gid://shopify/DeliveryProfile/1",
        "name": "General",
        "profileLocationGroups": [
            {
                "locationGroupZones": {
                    "nodes": [
                        {
                            "zone": {"id": "z", "name": "Domestic"},
                            "methodDefinitions": {
                                "nodes": [
                                    {"id": "m1", "name": "Carrier", "active": True, "rateProvider": {"id": "p"}},
                                    {
                                        "id": "m2",
                                        "name": "Flat",
                                        "active": False,
                                        "rateProvider": {"id": "r", "price": {"amount": "4.5", "currencyCode": "CAD"}},
                                    },
                                ]
                            },
                        }
                    ]
                }
            }
        ],
    }
    carrier, flat = shipping_methods_from_profile(profile)
    assert carrier.rates == ()
    assert carrier.extra["calculated"]
    assert str(flat.rates[0].amount) == "4.5 CAD"
    assert not flat.enabled
    assert flat.extra["zone"] == "Domestic"


def test_an_order_carries_its_reference_totals_and_state() -> None:
    money = {"shopMoney": {"amount": "20.00", "currencyCode": "USD"}}
    payload = {
        "id": "gid://shopify/Order/1",
        "name": "#1001",
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:10:00Z",
        "cancelledAt": "2024-01-02T00:00:00Z",
        "customAttributes": [{"key": "gift", "value": "yes"}, {"key": REFERENCE_ATTRIBUTE, "value": "ch-42"}],
        "totalPriceSet": money,
        "lineItems": {
            "nodes": [{"id": "gid://shopify/LineItem/1", "quantity": 2, "product": None, "variant": None}],
        },
    }
    order = order_from_shopify(payload)
    assert (order.reference, order.state, order.extra["name"]) == ("ch-42", "cancelled", "#1001")
    assert order.totals is not None
    assert order.totals.total.amount == Decimal("20.00")
    assert order.lines[0].sku_id == "gid://shopify/LineItem/1"  # its variant was deleted since


def test_access_scopes_are_read_as_handles() -> None:
    data = {"currentAppInstallation": {"accessScopes": [{"handle": "read_products"}, {"handle": "write_orders"}]}}
    assert access_scopes(data) == ["read_products", "write_orders"]
    with pytest.raises(MappingError):
        access_scopes({"currentAppInstallation": {"accessScopes": [{"handle": ""}]}})
