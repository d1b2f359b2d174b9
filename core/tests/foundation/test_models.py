"""Models: validators guard invariants, converters normalise (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import (
    Address,
    InventoryLevel,
    Money,
    OffsetCursor,
    OrderDraft,
    OrderLine,
    Page,
    Payment,
    Product,
    ShippingRate,
    StoreURL,
    TokenCursor,
    Variant,
)
from storelink.models import MAX_AMOUNT, MAX_AMOUNT_PLACES, MAX_QUANTITY, MAX_STOCK, to_decimal

currencies = st.from_regex(r"[A-Z]{3}", fullmatch=True)


IN_RANGE = st.decimals(min_value=-MAX_AMOUNT + 1, max_value=MAX_AMOUNT - 1, places=MAX_AMOUNT_PLACES)


@given(IN_RANGE, currencies)
def test_money_keeps_decimal_amounts_exactly(amount: Decimal, currency: str) -> None:
    assert Money(amount=amount, currency=currency).amount == amount


@given(st.decimals(allow_nan=False, allow_infinity=False), currencies)
def test_money_outside_its_range_is_refused_naming_the_field(amount: Decimal, currency: str) -> None:
    places = -int(amount.normalize().as_tuple().exponent)
    if abs(amount) < MAX_AMOUNT and places <= MAX_AMOUNT_PLACES:
        assert Money(amount=amount, currency=currency).amount == amount
    else:
        with pytest.raises(ValueError, match=r"^amount .*(out of range|decimal places)"):
            Money(amount=amount, currency=currency)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_amounts_go_through_their_shortest_repr(value: float) -> None:
    assert to_decimal(value) == Decimal(repr(value))


def test_json_float_becomes_the_decimal_written() -> None:
    assert Money(amount=4.75, currency="USD").amount == Decimal("4.75")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "NaN", "abc", True])
def test_money_refuses_non_finite_or_non_numbers(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        Money(amount=bad, currency="USD")  # type: ignore[arg-type]


@given(st.text().filter(lambda s: not (len(s) == 3 and s.isascii() and s.isalpha() and s.isupper())))
def test_money_refuses_anything_but_iso_currency_codes(code: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        Money(amount=1, currency=code)


def test_models_are_frozen_and_keyword_only() -> None:
    product = Product(id="p1", title="Shirt")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        product.title = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Product("p1", "Shirt")  # type: ignore[misc]


def test_collections_become_tuples_and_extra_is_read_only() -> None:
    product = Product(id="p1", title="Shirt", variants=[Variant(id="v1")], extra={"x_a": 1})
    assert isinstance(product.variants, tuple)
    with pytest.raises(TypeError):
        product.extra["x_a"] = 2  # type: ignore[index]


def test_collection_items_are_type_checked() -> None:
    with pytest.raises(TypeError, match=r"variants\[0\]"):
        Product(id="p1", title="Shirt", variants=["v1"])  # type: ignore[list-item]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Product(id="p1", title="x", created_at=datetime(2026, 1, 1))
    Product(id="p1", title="x", created_at=datetime(2026, 1, 1, tzinfo=UTC))


@given(st.integers(max_value=0))
def test_order_lines_need_a_positive_quantity(quantity: int) -> None:
    with pytest.raises(ValueError, match="quantity"):
        OrderLine(product_id="p", sku_id="s", quantity=quantity)


ADDRESS = Address(name="Ada Lovelace", line1="1 Main St", city="Syracuse", country="US")


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}", fullmatch=True))
def test_order_references_of_the_documented_shape_are_accepted(reference: str) -> None:
    line = OrderLine(product_id="p", sku_id="s", quantity=1)
    draft = OrderDraft(reference=reference, lines=[line], shipping_address=ADDRESS, shipping_method_id="ground")
    assert draft.reference == reference


@pytest.mark.parametrize("reference", ["", " chan-1", "chan 1", "a" * 129, "-leading", "é"])
def test_bad_order_references_are_refused(reference: str) -> None:
    line = OrderLine(product_id="p", sku_id="s", quantity=1)
    with pytest.raises(ValueError, match="reference"):
        OrderDraft(reference=reference, lines=[line], shipping_address=ADDRESS, shipping_method_id="ground")


def test_a_draft_needs_at_least_one_line() -> None:
    with pytest.raises(ValueError, match="lines"):
        OrderDraft(reference="r1", lines=[], shipping_address=ADDRESS, shipping_method_id="ground")


@given(st.decimals(min_value=0, max_value=10**6, places=2), st.decimals(min_value=0, max_value=10**6, places=2))
def test_shipping_rate_ranges_are_ordered(a: Decimal, b: Decimal) -> None:
    lo, hi = min(a, b), max(a, b)
    ShippingRate(amount=Money(amount=1, currency="USD"), min_subtotal=lo, max_subtotal=hi)
    if lo != hi:
        with pytest.raises(ValueError, match="inverted"):
            ShippingRate(amount=Money(amount=1, currency="USD"), min_subtotal=hi, max_subtotal=lo)


@pytest.mark.parametrize(
    "origin", ["https://store.example.com", "https://store.example.com:8443", "http://127.0.0.1:8080"]
)
def test_store_url_accepts_canonical_origins(origin: str) -> None:
    assert str(StoreURL(origin=origin)) == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://Store.example.com",
        "https://store.example.com/",
        "https://store.example.com/path",
        "https://u:p@store.example.com",
        "https://store.example.com?q=1",
        "http://store.example.com",
        "ftp://store.example.com",
        "store.example.com",
    ],
)
def test_store_url_refuses_anything_but_an_origin(origin: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        StoreURL(origin=origin)


def test_store_url_parts_and_join() -> None:
    url = StoreURL(origin="https://store.example.com")
    assert (url.host, url.port, url.scheme) == ("store.example.com", 443, "https")
    assert url.join("/ccadmin/v1/products") == "https://store.example.com/ccadmin/v1/products"
    with pytest.raises(ValueError, match="start with"):
        url.join("ccadmin")


def test_store_url_keeps_an_install_path_apart_from_its_origin() -> None:
    url = StoreURL(origin="https://example.com", path="/shop/en")
    assert (url.origin, url.path, url.url, str(url)) == (
        "https://example.com",
        "/shop/en",
        "https://example.com/shop/en",
        "https://example.com/shop/en",
    )
    assert url.join("/wp-json/wc/v3/products") == "https://example.com/shop/en/wp-json/wc/v3/products"
    assert url != StoreURL(origin="https://example.com")


@pytest.mark.parametrize(
    "url", ["https://example.com", "https://example.com/shop", "http://127.0.0.1:8080/a/B%20c", "https://x.example/~me"]
)
def test_store_url_parse_inverts_str(url: str) -> None:
    assert str(StoreURL.parse(url)) == url


@pytest.mark.parametrize("path", ["/", "shop", "/shop/", "/a//b", "/a/../b", "/./a", "/a?b", "/a#b", "/a b", "/%zz"])
def test_store_url_refuses_a_path_that_is_not_canonical(path: str) -> None:
    with pytest.raises(ValueError, match="store URL path"):
        StoreURL(origin="https://example.com", path=path)


@given(st.integers(min_value=0), st.integers(min_value=1))
def test_offset_cursors_hold_any_valid_window(offset: int, limit: int) -> None:
    assert OffsetCursor(offset=offset, limit=limit).offset == offset


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, -5)])
def test_offset_cursors_refuse_bad_windows(offset: int, limit: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        OffsetCursor(offset=offset, limit=limit)


def test_pages_take_either_cursor_kind_and_refuse_others() -> None:
    assert Page(items=[1, 2], next=TokenCursor(token="abc")).items == (1, 2)
    with pytest.raises(TypeError):
        Page(items=[], next="abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total"):
        Page(items=[], total=-1)


@given(st.integers())
def test_stock_is_a_plausible_count(available: int) -> None:
    if 0 <= available <= MAX_STOCK:
        assert InventoryLevel(sku_id="s", available=available).available == available
    else:
        with pytest.raises(ValueError, match="'available' must be"):
            InventoryLevel(sku_id="s", available=available)


@given(st.integers())
def test_a_line_quantity_is_a_plausible_count(quantity: int) -> None:
    if 0 < quantity <= MAX_QUANTITY:
        assert OrderLine(product_id="p", sku_id="s", quantity=quantity).quantity == quantity
    else:
        with pytest.raises(ValueError, match="'quantity' must be"):
            OrderLine(product_id="p", sku_id="s", quantity=quantity)


@given(IN_RANGE)
def test_prices_and_rates_are_never_negative(amount: Decimal) -> None:
    money = Money(amount=amount, currency="USD")
    builds = [
        lambda: Product(id="p", title="t", price=money),
        lambda: Product(id="p", title="t", sale_price=money),
        lambda: Variant(id="v", sku="s", price=money),
        lambda: OrderLine(product_id="p", sku_id="s", quantity=1, price=money),
        lambda: ShippingRate(amount=money),
        lambda: Payment(type="card", amount=money),
    ]
    for build in builds:
        if amount >= 0:
            build()
        else:
            with pytest.raises(ValueError, match="must not be negative"):
                build()


@given(st.text(max_size=30))
def test_draft_text_refuses_control_characters(text: str) -> None:
    fields = {"name": "Ann", "line1": "1 Main St", "city": "Springfield", "country": "US"}
    if text and not any(ord(c) < 32 or ord(c) == 127 for c in text):
        assert Address(**{**fields, "name": text}).name == text
    else:
        with pytest.raises(ValueError, match="name"):
            Address(**{**fields, "name": text})


def test_payment_types_are_identifiers() -> None:
    assert Payment(type="purchase_order").type == "purchase_order"
    for bad in ("", "card; DROP TABLE", "x" * 65, "9lives"):
        with pytest.raises(ValueError, match="'type' must match"):
            Payment(type=bad)
