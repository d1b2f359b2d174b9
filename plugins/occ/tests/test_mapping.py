"""Mapping OCC payloads (JSON fixtures shaped like OCC's documented responses) to models."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import Address, Customer, MappingError, Money, OrderDraft, OrderLine, Payment
from storelink_occ.mapping import (
    address_from_occ,
    address_to_occ,
    inventory_from_occ,
    order_from_occ,
    order_payload_from_draft,
    product_from_occ,
    shipping_method_from_occ,
    variant_from_occ,
)

STOREFRONT = "https://www.example-store.com"
REFERENCE = "x_storelink_reference"


Load = Callable[[str], Any]


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


# --------------------------------------------------------------------------- products


def test_a_product_maps_with_its_skus_prices_images_and_leftovers(fixture: Load) -> None:
    payload = fixture("products_page_1")["items"][0]
    product = product_from_occ(payload, currency="BRL", storefront=STOREFRONT)

    assert product.id == "20PTSFULLER100"
    assert product.title == "Cerveja Fuller's London Pride 500ml"
    assert product.description == "English pale ale."
    assert product.url == f"{STOREFRONT}/cerveja-fullers-london-pride-500ml/product/20PTSFULLER100"
    assert product.brand == "Fuller's"
    assert product.price == Money(amount=Decimal("24.9"), currency="BRL")
    assert product.sale_price == Money(amount=Decimal("19.9"), currency="BRL")
    assert product.categories == ("cat-beers", "cat-imported")
    assert product.created_at == datetime(2021, 3, 4, 12, 30, tzinfo=UTC)
    assert [i.url for i in product.images] == [
        f"{STOREFRONT}/ccstore/v1/images/?source=/file/v5230226353434224432/products/20PTSFULLER100%20front.png",
        f"{STOREFRONT}/ccstore/v1/images/?source=/file/v5230226353434224432/products/20PTSFULLER100_back.png",
    ]
    assert [i.role for i in product.images] == ["primary", None]
    assert product.extra["x_abv"] == "4.7"
    assert product.extra["longDescription"] == "<p>A classic English pale ale.</p>"
    assert product.extra["listPrices"] == {"defaultPriceGroup": Decimal("24.9"), "brlPriceGroup": Decimal("24.9")}
    assert product.extra["thumbImageURLs"]  # other renditions stay available
    assert not {"id", "displayName", "childSKUs", "primaryFullImageURL", "fullImageURLs"} & set(product.extra)

    single, six = product.variants
    assert single.id == single.sku == "20PTSFULLER100-1"
    assert single.title == "London Pride, single bottle"
    assert single.options == {"Pack size": "1"}
    assert single.barcode == "5000213000017"
    assert single.images[0].url.endswith("20PTSFULLER100-1.png&height=940&width=940")
    assert single.extra == {
        "listPrices": {"defaultPriceGroup": Decimal("24.9")},
        "salePrices": {"defaultPriceGroup": Decimal("19.9")},
    }
    assert six.price == Money(amount=Decimal("139.0"), currency="BRL")
    assert six.sale_price is None
    assert six.active is False
    assert six.barcode is None


def test_a_minimal_product_maps_with_defaults(fixture: Load) -> None:
    product = product_from_occ(fixture("products_page_1")["items"][1], currency="USD", storefront=STOREFRONT)
    assert product.id == "xprod2001"
    assert product.price == usd("50")
    assert product.images == ()
    assert product.categories == ()
    assert [v.id for v in product.variants] == ["xsku2001"]


def test_string_booleans_and_prices_and_absolute_images_are_accepted(fixture: Load) -> None:
    product = product_from_occ(fixture("products_page_2")["items"][0], currency="USD", storefront=STOREFRONT)
    assert product.active is False
    assert product.price == usd("12.50")
    assert product.images[0].url == "https://cdn.example.com/glass.jpg"
    assert product.variants == ()


def test_a_payload_that_does_not_fit_names_where(fixture: Load) -> None:
    broken = fixture("products_bad_price")["items"][1]
    with pytest.raises(MappingError) as caught:
        product_from_occ(broken, currency="USD", storefront=STOREFRONT, path="items[1]")
    assert caught.value.path == "items[1].childSKUs[0].listPrice"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ([], "product"),
        ({"displayName": "no id"}, "product.id"),
        ({"id": "p", "childSKUs": {"not": "a list"}}, "product.childSKUs"),
        ({"id": "p", "creationDate": "yesterday"}, "product.creationDate"),
        ({"id": "p", "active": "maybe"}, "product.active"),
        ({"id": "p", "displayName": ["x"]}, "product.displayName"),
    ],
)
def test_shapes_that_do_not_fit_raise_mapping_error(payload: Any, path: str) -> None:
    with pytest.raises(MappingError) as caught:
        product_from_occ(payload, currency="USD", storefront=STOREFRONT)
    assert caught.value.path == path


def test_a_sku_maps_on_its_own() -> None:
    variant = variant_from_occ({"repositoryId": "xsku1", "listPrice": 3}, currency="EUR", storefront=STOREFRONT)
    assert variant.price == Money(amount=Decimal("3"), currency="EUR")
    assert variant.options == {}


# --------------------------------------------------------------------------- inventory


def test_an_inventory_item_maps_to_one_level_per_sku_and_location(fixture: Load) -> None:
    levels = inventory_from_occ(fixture("inventories_page_1")["items"][0])
    assert [(lv.sku_id, lv.location_id, lv.available) for lv in levels] == [
        ("xsku5014", None, 135),
        ("xsku5014", "Warehouse13", 75),
        ("xsku5015", None, 0),
    ]
    default, warehouse, empty = levels
    assert (default.threshold, default.backorderable, default.status) == (10, 0, "inStock")
    assert warehouse.threshold == 10
    assert warehouse.backorderable == 5
    assert warehouse.extra["availableToPromise"] == "70"
    assert empty.status == "outOfStock"
    assert "skuId" not in default.extra


def test_a_flat_sku_record_maps_to_the_default_location(fixture: Load) -> None:
    (level,) = inventory_from_occ(fixture("inventory_sku_flat"))
    assert (level.sku_id, level.location_id, level.available) == ("xsku5014", None, 135)
    assert "locationInventoryInfo" not in level.extra


def test_nested_location_records_map_to_their_locations(fixture: Load) -> None:
    levels = inventory_from_occ(fixture("inventory_sku_locations"))
    assert [(lv.sku_id, lv.location_id, lv.available) for lv in levels] == [
        ("xsku5014", "loc1", 120),
        ("xsku5014", "loc2", 0),
    ]
    assert levels[0].extra == {"preorderLevel": 0}


def test_a_fractional_stock_level_is_refused() -> None:
    with pytest.raises(MappingError, match="whole number") as caught:
        inventory_from_occ({"skuId": "x", "stockLevel": Decimal("1.5")})
    assert caught.value.path == "inventory.stockLevel"


# --------------------------------------------------------------------------- shipping


def test_price_range_methods_map_their_ranges_to_rates(fixture: Load) -> None:
    ground, two_day = (
        shipping_method_from_occ(m, currency="USD", path=f"[{i}]")
        for i, m in enumerate(fixture("shipping_methods_bare_list"))
    )
    assert (ground.id, ground.title, ground.enabled) == ("groundShippingMethod", "Ground", True)
    assert [(r.id, r.amount, r.min_subtotal, r.max_subtotal) for r in ground.rates] == [
        ("groundRange1", usd("4.75"), Decimal("0"), Decimal("14.99")),
        ("groundRange2", usd("5.5"), Decimal("15"), Decimal("49.99")),
        ("groundRange3", usd("6.5"), Decimal("50"), None),
    ]
    assert ground.extra["shipToLocations"] == ["US"]
    assert "ranges" not in ground.extra
    assert two_day.enabled is False
    assert two_day.description is None


def test_other_calculators_keep_bounded_ranges_in_extra(fixture: Load) -> None:
    freight, flat = (shipping_method_from_occ(m, currency="USD") for m in fixture("shipping_methods_items")["items"])
    assert freight.rates == ()
    assert len(freight.extra["ranges"]) == 2
    assert [(r.amount, r.max_subtotal) for r in flat.rates] == [(usd("7.95"), None)]


def test_a_range_without_an_amount_is_refused() -> None:
    with pytest.raises(MappingError) as caught:
        shipping_method_from_occ({"repositoryId": "m", "ranges": [{"low": 0}]}, currency="USD")
    assert caught.value.path == "shippingMethod.ranges[0].amount"


# --------------------------------------------------------------------------- orders


def test_an_admin_order_maps_with_lines_totals_address_and_reference(fixture: Load) -> None:
    order = order_from_occ(fixture("orders_page_1")["items"][0], reference_property=REFERENCE, currency="USD")
    eur = "EUR"
    assert order.id == "o10001"
    assert order.state == "PROCESSING"
    assert order.reference == "MKT-1001"
    assert order.lines == (
        OrderLine(
            product_id="prod20006", sku_id="sku40105", quantity=2, price=Money(amount=Decimal("25.0"), currency=eur)
        ),
        OrderLine(
            product_id="prod20007", sku_id="sku40106", quantity=1, price=Money(amount=Decimal("10.0"), currency=eur)
        ),
    )
    assert order.totals is not None
    assert order.totals.total == Money(amount=Decimal("70.3"), currency=eur)
    assert order.totals.tax == Money(amount=Decimal("4.8"), currency=eur)
    assert order.shipping_address == Address(
        name="Ada Lovelace",
        line1="12 St James's Square",
        line2="Flat 3",
        city="London",
        region=None,
        postal_code="SW1Y 4JH",
        country="GB",
        email="ada@example.com",
        phone="+44 20 7946 0000",
    )
    assert order.created_at == datetime(2024, 2, 1, 9, 15, tzinfo=UTC)
    assert order.updated_at == datetime(2024, 2, 2, 10, tzinfo=UTC)
    assert order.extra["siteId"] == "siteUS"
    assert order.extra["submittedDate"] == "2024-02-01T09:16:30.250Z"


def test_an_incomplete_order_without_prices_maps(fixture: Load) -> None:
    order = order_from_occ(fixture("orders_page_1")["items"][1], reference_property=REFERENCE, currency="USD")
    assert (order.state, order.lines, order.totals, order.reference) == ("INCOMPLETE", (), None, None)


def test_a_single_order_reads_its_reference_at_the_top_level(fixture: Load) -> None:
    order = order_from_occ(fixture("order_get"), reference_property=REFERENCE, currency="EUR")
    assert order.reference == "MKT-1002"
    assert order.totals is not None
    assert order.totals.total == usd("150.12")
    assert order.created_at == datetime(2024, 3, 10, 18, 45, 12, 7000, tzinfo=UTC)
    assert order.shipping_address is not None
    assert order.shipping_address.region == "VA"
    assert order.extra["paymentGroups"][0]["type"] == "invoice"
    assert REFERENCE not in order.extra
    assert "shippingAddress" not in order.extra


def test_a_created_order_maps_from_the_agent_response(fixture: Load) -> None:
    order = order_from_occ(fixture("order_created"), reference_property=REFERENCE, currency="USD")
    assert order.id == "o30017"
    assert order.lines == (
        OrderLine(product_id="20PTSFULLER100", sku_id="20PTSFULLER100-1", quantity=2, price=usd("19.9")),
    )
    assert order.shipping_address is not None
    assert order.shipping_address.name == "Ada Lovelace"
    assert "shoppingCart" not in order.extra


def test_an_order_without_state_is_refused() -> None:
    with pytest.raises(MappingError) as caught:
        order_from_occ({"id": "o1"}, reference_property=REFERENCE, currency="USD")
    assert caught.value.path == "order.state"


def test_an_address_missing_its_street_is_not_an_address() -> None:
    assert address_from_occ({"firstName": "A", "city": "B", "country": "US"}) is None


# --------------------------------------------------------------------------- create order


def draft() -> OrderDraft:
    address = Address(
        name="Ada Lovelace King",
        line1="12 Market St",
        line2="Suite 4",
        city="Springfield",
        region="IL",
        postal_code="62701",
        country="US",
        email="ada@example.com",
        phone="+1 217 555 0100",
    )
    return OrderDraft(
        reference="MKT-2001",
        lines=[OrderLine(product_id="20PTSFULLER100", sku_id="20PTSFULLER100-1", quantity=2)],
        shipping_address=address,
        shipping_method_id="groundShippingMethod",
        payment=Payment(type="invoice", po_number="PO-77", amount=usd("54.55")),
        customer=Customer(id="se-570032", email="ada@example.com"),
        extra={"x_channel": "marketplace", "op": "ignored"},
    )


def test_a_draft_becomes_the_documented_create_order_body(fixture: Load) -> None:
    body = order_payload_from_draft(draft(), reference_property=REFERENCE)
    on_the_wire = json.loads(json.dumps(body), parse_float=Decimal)
    assert on_the_wire == fixture("create_order_request")


def test_the_customer_email_fills_a_shipping_address_without_one() -> None:
    base = draft()
    address = Address(name="Solo", line1="1 Main St", city="Springfield", country="US")
    body = order_payload_from_draft(
        OrderDraft(
            reference="MKT-2002",
            lines=base.lines,
            shipping_address=address,
            billing_address=address,
            shipping_method_id="groundShippingMethod",
            customer=Customer(email="solo@example.com"),
        ),
        reference_property="x_ref",
    )
    assert body["shippingAddress"] == {
        "firstName": "Solo",
        "lastName": "",
        "address1": "1 Main St",
        "city": "Springfield",
        "country": "US",
        "selectedCountry": "US",
        "email": "solo@example.com",
    }
    assert body["billingAddress"]["firstName"] == "Solo"
    assert body["x_ref"] == "MKT-2002"
    assert "profileId" not in body
    assert "payments" not in body


names = st.text(st.characters(categories=["L"]), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(first=names, last=st.lists(names, max_size=3).map(" ".join), city=names)
def test_addresses_survive_the_round_trip(first: str, last: str, city: str) -> None:
    name = f"{first} {last}".strip()
    address = Address(name=name, line1="1 Main St", city=city, country="US", postal_code="12345")
    assert address_from_occ(address_to_occ(address)) == address
