"""Values no real store holds (1E+400, negative prices or stock) are refused naming the record and field."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import MappingError, Money
from storelink.models import MAX_AMOUNT, MAX_STOCK
from storelink_occ.mapping import (
    RECORD_ACTION,
    inventory_from_occ,
    order_from_occ,
    product_from_occ,
    shipping_method_from_occ,
)

STOREFRONT = "https://shop.example.com"
LONG_NUMBER = re.compile(r"\d{21,}")

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
#: Plausible amounts: non-negative, below MAX_AMOUNT, at most 8 places (what Money accepts).
plausible = st.decimals(min_value=0, max_value=MAX_AMOUNT - 1, places=2, allow_nan=False, allow_infinity=False)
negative = st.decimals(max_value=Decimal("-0.01"), min_value=-MAX_AMOUNT + 1, places=2, allow_nan=False)
huge = st.one_of(
    st.integers(min_value=15, max_value=100_000).map(lambda e: Decimal(f"1E+{e}")),
    st.integers(min_value=10**15, max_value=10**400),
    st.integers(min_value=10**15, max_value=10**30).map(str),  # OCC sends numbers as strings too
)
#: How a price may be spelled in a payload: as a Decimal (JSON with parse_float), int, or string.
spelled = st.sampled_from([lambda d: d, str, lambda d: int(d) if d == d.to_integral_value() else d])


def refused(error: MappingError, *, path: str, record: str, value: Any = None) -> None:
    text = str(error)
    assert error.path == path
    assert record in text
    assert LONG_NUMBER.search(text) is None  # a number of more than 20 digits is never repeated
    if isinstance(value, Decimal) and value.adjusted() > 20:
        assert str(value) not in text  # nor 1E+400
    assert error.action == RECORD_ACTION


@given(product_id=ids, amount=plausible, spell=spelled)
def test_a_plausible_price_maps_exactly(product_id: str, amount: Decimal, spell: Any) -> None:
    product = product_from_occ(
        {"id": product_id, "listPrice": spell(amount)}, currency="USD", storefront=STOREFRONT, path="items[0]"
    )
    assert product.price == Money(amount=amount, currency="USD")


@given(product_id=ids, amount=st.one_of(negative, huge), key=st.sampled_from(["listPrice", "salePrice"]))
def test_an_implausible_product_price_names_the_product_and_field(product_id: str, amount: Any, key: str) -> None:
    with pytest.raises(MappingError) as caught:
        product_from_occ({"id": product_id, key: amount}, currency="USD", storefront=STOREFRONT, path="items[3]")
    refused(caught.value, path=f"items[3].{key}", record=f"product {product_id!r}", value=amount)


@given(sku_id=ids, amount=st.one_of(negative, huge))
def test_an_implausible_sku_price_names_the_product_and_the_sku(sku_id: str, amount: Any) -> None:
    payload = {"id": "p1", "childSKUs": [{"repositoryId": sku_id, "listPrice": amount}]}
    with pytest.raises(MappingError) as caught:
        product_from_occ(payload, currency="USD", storefront=STOREFRONT, path="items[0]")
    refused(caught.value, path="items[0].childSKUs[0].listPrice", record=f"product 'p1', SKU {sku_id!r}", value=amount)


@given(sku_id=ids, level=st.integers(min_value=0, max_value=MAX_STOCK))
def test_plausible_stock_maps_exactly(sku_id: str, level: int) -> None:
    (mapped,) = inventory_from_occ({"skuId": sku_id, "stockLevel": level}, path="items[0]")
    assert mapped.available == level


@given(
    sku_id=ids,
    level=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=MAX_STOCK + 1, max_value=10**400),
        st.integers(min_value=13, max_value=400).map(lambda e: Decimal(f"1E+{e}")),
    ),
    key=st.sampled_from(["stockLevel", "stockThreshold", "backorderLevel"]),
)
def test_implausible_stock_names_the_sku_and_field(sku_id: str, level: Any, key: str) -> None:
    if key != "stockLevel" and isinstance(level, int) and -MAX_STOCK <= level < 0:
        level = -MAX_STOCK - 1  # thresholds and backorder levels may be negative, within bounds
    with pytest.raises(MappingError) as caught:
        inventory_from_occ({"skuId": sku_id, key: level}, path="items[1]")
    refused(caught.value, path=f"items[1].{key}", record=f"SKU {sku_id!r}", value=level)


def test_stock_of_a_products_sku_names_both() -> None:
    payload = {"id": "p9", "childSKUs": [{"skuId": "s9", "stockLevel": -1}]}
    with pytest.raises(MappingError) as caught:
        inventory_from_occ(payload, path="items[0]")
    refused(caught.value, path="items[0].childSKUs[0].stockLevel", record="product 'p9', SKU 's9'")


@given(method_id=ids, amount=st.one_of(negative, huge), key=st.sampled_from(["amount", "low", "high"]))
def test_an_implausible_shipping_range_names_the_method_and_field(method_id: str, amount: Any, key: str) -> None:
    entry: dict[str, Any] = {"amount": 5, "low": 0, "high": None, key: amount}
    with pytest.raises(MappingError) as caught:
        shipping_method_from_occ({"repositoryId": method_id, "ranges": [entry]}, currency="USD", path="items[0]")
    refused(caught.value, path=f"items[0].ranges[0].{key}", record=f"shipping method {method_id!r}", value=amount)


@given(order_id=ids, amount=st.one_of(negative, huge))
def test_an_implausible_order_line_price_names_the_order(order_id: str, amount: Any) -> None:
    payload = {
        "id": order_id,
        "state": "SUBMITTED",
        "commerceItems": [{"productId": "p1", "catRefId": "s1", "quantity": 1, "priceInfo": {"listPrice": amount}}],
    }
    with pytest.raises(MappingError) as caught:
        order_from_occ(payload, reference_property="x_ref", currency="USD", path="items[0]")
    assert str(caught.value).startswith("items[0].commerceItems[0]")
    refused(caught.value, path=caught.value.path, record=f"order {order_id!r}", value=amount)


def test_a_record_without_an_id_still_says_where() -> None:
    with pytest.raises(MappingError) as caught:
        product_from_occ({"listPrice": -1, "displayName": "x"}, currency="USD", storefront=STOREFRONT, path="items[2]")
    assert caught.value.path == "items[2].id"
    assert caught.value.action == RECORD_ACTION
