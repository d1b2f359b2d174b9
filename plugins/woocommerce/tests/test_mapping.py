"""Payloads to models: prices in the store currency, variations, stock, orders, drafts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import Address, MappingError, Money, OrderDraft, OrderLine
from storelink_woocommerce import mapping
from storelink_woocommerce.simulator import WooSimulator

SIM = WooSimulator()


def test_a_simple_product_is_one_variant_with_the_product_s_id() -> None:
    product = mapping.product_from_woo(SIM.product(0), currency="EUR", path="p")
    assert [v.id for v in product.variants] == [product.id]
    assert product.price == Money(amount=SIM.product(0)["regular_price"], currency="EUR")
    assert product.images[0].url.startswith("https://")


def test_a_variable_product_s_variants_are_its_variations_with_options() -> None:
    variations = [SIM.variation(1, n) for n in range(3)]
    product = mapping.product_from_woo(SIM.product(1), currency="USD", variations=variations, path="p")
    assert [v.id for v in product.variants] == [str(v["id"]) for v in variations]
    assert product.variants[0].options == {"Size": "S"}
    assert product.variants[0].price == Money(amount="20.50", currency="USD")


def test_a_bad_price_names_its_path() -> None:
    payload = dict(SIM.product(0), regular_price="ten")
    with pytest.raises(MappingError) as caught:
        mapping.product_from_woo(payload, currency="USD", path="items[3]")
    assert caught.value.path == "items[3].regular_price"


@given(st.one_of(st.none(), st.integers(min_value=-50, max_value=10**6)), st.booleans())
def test_stock_is_never_negative_and_zero_when_not_counted(quantity: int | None, managed: bool) -> None:
    payload = {"id": 7, "manage_stock": managed, "stock_quantity": quantity, "stock_status": "instock"}
    if managed and quantity is None:
        with pytest.raises(MappingError):
            mapping.inventory_from_woo(payload, path="p")
        return
    level = mapping.inventory_from_woo(payload, path="p")
    assert level.available == (max(0, quantity) if managed and quantity is not None else 0)


def test_an_order_keeps_its_reference_lines_and_totals() -> None:
    order_payload = {
        "id": 5,
        "status": "processing",
        "currency": "GBP",
        "date_created_gmt": "2026-01-02T03:04:05",
        "date_modified_gmt": "2026-01-02T04:04:05",
        "total": "29.35",
        "shipping_total": "10.00",
        "total_tax": "1.35",
        "line_items": [{"product_id": 93, "variation_id": 0, "quantity": 2, "price": 3}],
        "shipping": {"first_name": "Ada", "last_name": "L", "address_1": "1 Row", "city": "London", "country": "GB"},
        "meta_data": [{"id": 1, "key": mapping.REFERENCE_KEY, "value": "ref-1"}],
    }
    order = mapping.order_from_woo(order_payload, path="o")
    assert (order.reference, order.state, order.lines[0].sku_id) == ("ref-1", "processing", "93")
    assert order.totals is not None
    assert order.totals.total == Money(amount="29.35", currency="GBP")
    assert order.created_at is not None
    assert order.created_at.tzinfo is not None
    assert order.shipping_address is not None
    assert order.shipping_address.name == "Ada L"


def test_a_draft_carries_its_reference_in_meta_data_and_variation_ids() -> None:
    draft = OrderDraft(
        reference="ref-9",
        lines=[
            OrderLine(product_id="101", sku_id="1001000", quantity=2, price=Money(amount="4.50", currency="USD")),
            OrderLine(product_id="100", sku_id="100", quantity=1),
        ],
        shipping_address=Address(name="Ada Lovelace", line1="1 Row", city="London", country="GB"),
        shipping_method_id="1:11",
    )
    payload = mapping.order_payload_from_draft(draft, method=SIM.methods(1)[0])
    assert payload["meta_data"] == [{"key": mapping.REFERENCE_KEY, "value": "ref-9"}]
    assert payload["line_items"][0] == {
        "product_id": 101,
        "variation_id": 1001000,
        "quantity": 2,
        "subtotal": "9.00",
        "total": "9.00",
    }
    assert "variation_id" not in payload["line_items"][1]
    assert payload["shipping_lines"][0]["method_id"] == "flat_rate"
    assert payload["set_paid"] is False
    assert Decimal(payload["shipping_lines"][0]["total"]) == Decimal("6.00")
