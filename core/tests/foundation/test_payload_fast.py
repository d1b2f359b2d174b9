"""storelink.payload's fast paths: cached money and well-typed ids, refusing exactly what the full reading refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import MappingError, Money
from storelink import payload as p
from storelink.decode import decode_json


def refused(call: Any, *args: Any, **kwargs: Any) -> MappingError:
    with pytest.raises(MappingError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("payload", "keys"),
    [
        ({"id": ""}, ("id",)),
        ({"repositoryId": "", "id": ""}, ("repositoryId", "id")),
        ({"repositoryId": None, "id": ""}, ("repositoryId", "id")),
        ({"skuId": "", "repositoryId": "", "id": ""}, ("skuId", "repositoryId", "id")),
    ],
)
def test_empty_text_is_no_id(payload: dict[str, Any], keys: tuple[str, ...]) -> None:
    """An id is non-empty text: ``""`` is refused as absent, on the fast path too."""
    error = refused(p.record_id, payload, "items[1]", keys)
    assert error.path == f"items[1].{keys[-1]}"
    assert str(error) == f"items[1].{keys[-1]}: is required"


def test_a_decoded_pages_repeated_prices_are_one_money_each() -> None:
    """decode_json gives one Decimal per number text; money reads each once per currency."""
    items = decode_json(b'[{"a": 19.90, "b": 19.90}, {"a": 19.90}, {"a": 19.9}]')
    first, second = p.money(items[0], "a", "USD", "x"), p.money(items[1], "a", "USD", "x")
    assert first is second is p.money(items[0], "b", "USD", "x")
    assert first == Money(amount=Decimal("19.90"), currency="USD")
    assert str(first.amount) == "19.90"
    assert str(p.money(items[2], "a", "USD", "x").amount) == "19.9"  # equal, but spelled otherwise: its own Money


def test_one_amount_object_in_two_currencies_is_two_moneys() -> None:
    amount = Decimal("7.25")
    for _ in range(2):
        assert p.money({"a": amount}, "a", "USD", "x") == Money(amount=amount, currency="USD")
        assert p.money({"a": amount}, "a", "EUR", "x") == Money(amount=amount, currency="EUR")
        assert p.money({"a": amount}, "a", "USD", "x", dialect=p.INPUT) == Money(amount=amount, currency="USD")


def test_amount_text_is_cached_by_its_spelling() -> None:
    first = p.money({"a": "12.50"}, "a", "BRL", "x")
    assert first is p.money({"a": "".join(["12", ".50"])}, "a", "BRL", "x")  # another str object, the same text
    assert first == Money(amount=Decimal("12.50"), currency="BRL")
    assert p.money({"a": "12.5"}, "a", "BRL", "x") is not first
    assert p.money({"a": ""}, "a", "BRL", "x") is None
    long = "0" * 60 + "1.5"  # too long to remember, read all the same
    assert p.money({"a": long}, "a", "BRL", "x") == Money(amount=Decimal("1.5"), currency="BRL")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("NaN"), "x.a: expected a finite decimal amount"),
        ("NaN", "x.a: expected a finite decimal amount"),
        ("1E+400", "x.a: amount 1E+400 is out of range: amounts must be below 1,000,000,000,000,000"),
        (Decimal("1E+400"), "x.a: amount 1E+400 is out of range: amounts must be below 1,000,000,000,000,000"),
        (True, "x.a: expected an amount, got a boolean"),
        ([1], "x.a: expected an amount, got an array"),
    ],
)
def test_a_malformed_amount_is_refused_every_time(value: Any, message: str) -> None:
    """Only money that built is remembered: a refused amount is refused again, with the same words."""
    for _ in range(3):
        assert str(refused(p.money, {"a": value}, "a", "USD", "x")) == message


def test_a_refused_float_stays_refused_when_an_equal_decimal_is_cached() -> None:
    assert p.money({"a": Decimal("2.5")}, "a", "USD", "x") is not None
    assert refused(p.money, {"a": 2.5}, "a", "USD", "x", floats=False).path == "x.a"


def read(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Return what *call* returns, or the words of its refusal."""
    try:
        return call(*args, **kwargs)
    except MappingError as exc:
        return f"refused: {exc}"


@given(
    amount=st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
        st.decimals(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(),
        st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**6).map(str),
        st.text(max_size=8),
    ),
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_cached_money_is_the_money_the_full_reading_builds(amount: Any, currency: str) -> None:
    """Read twice (the second time from the cache), an amount is what amount() and Money() make of it."""
    number = read(p.amount, {"a": amount}, "a", "x")
    expected = (
        number if not isinstance(number, Decimal) else read(p.build, "x.a", Money, amount=number, currency=currency)
    )
    for _ in range(2):
        found = read(p.money, {"a": amount}, "a", currency, "x")
        assert found == expected
        if isinstance(found, Money):
            assert str(found.amount) == str(expected.amount)
