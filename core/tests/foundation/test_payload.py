"""storelink.payload: typed reads of JSON, the exact path of what does not fit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from storelink import InputError, MappingError, Money, Product
from storelink import payload as p


def refused(call: Any, *args: Any, **kwargs: Any) -> MappingError:
    with pytest.raises(MappingError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_at_formats_keys_indexes_and_the_root() -> None:
    assert p.at("items", 3) == "items[3]"
    assert p.at("items[3]", "listPrice") == "items[3].listPrice"
    assert p.at("", "reference") == "reference"
    assert p.at("items") == "items"


def test_objects_and_lists() -> None:
    assert p.expect_object({"a": 1}, "x") == {"a": 1}
    assert refused(p.expect_object, [1], "items", 3).path == "items[3]"
    assert str(refused(p.expect_object, None, "x")) == "x: expected an object, got null"
    assert p.items({}, "childSKUs", "p") == []
    assert p.items({"childSKUs": [1]}, "childSKUs", "p") == [1]
    assert refused(p.items, {"childSKUs": {}}, "childSKUs", "p").path == "p.childSKUs"
    assert refused(p.items, {}, "nodes", "c", required=True).path == "c.nodes"


@pytest.mark.parametrize("value", [1.5, True, [], {}])
def test_text_refuses_what_is_not_text(value: Any) -> None:
    error = refused(p.text, {"k": value}, "k", "items[0]", numbers=False)
    assert error.path == "items[0].k"
    assert "expected text" in str(error)


def test_text_options() -> None:
    assert p.text({"k": "a"}, "k", "x") == "a"
    assert p.text({}, "k", "x") is None
    assert p.text({"k": 12}, "k", "x") == "12"
    assert p.text({"k": Decimal("1.5")}, "k", "x") == "1.5"
    assert refused(p.text, {"k": True}, "k", "x").path == "x.k"  # a boolean is no number
    assert refused(p.text, {"k": 12}, "k", "x", numbers=False).path == "x.k"
    assert p.text({"k": "  a "}, "k", "x", strip=True) == "a"
    assert p.text({"k": "  "}, "k", "x", strip=True) is None
    assert p.text({"k": ""}, "k", "x") == ""
    assert "must not be empty" in str(refused(p.text, {"k": ""}, "k", "x", empty=False))
    assert p.required_text({"k": "a"}, "k", "x") == "a"
    assert str(refused(p.required_text, {}, "k", "x")) == "x.k: is required"
    assert p.loose_text({"k": False}, "k") is None
    assert p.loose_text({"k": " a "}, "k") == "a"


def test_record_ids() -> None:
    assert p.record_id({"repositoryId": "r", "id": "i"}, "p", ("repositoryId", "id")) == "r"
    assert p.record_id({"repositoryId": "", "id": 7}, "p", ("repositoryId", "id")) == "7"
    assert refused(p.record_id, {}, "items[2]", ("repositoryId", "id")).path == "items[2].id"
    assert refused(p.record_id, {"id": True}, "p").path == "p.id"
    assert p.record_id({"id": 0}, "p", integer=True) == "0"
    assert refused(p.record_id, {"id": "7"}, "p", integer=True).path == "p.id"
    assert refused(p.record_id, {"id": -1}, "p", integer=True).path == "p.id"
    assert refused(p.record_id, {}, "inv", ("skuId", "id"), name="skuId").path == "inv.skuId"


def test_flags() -> None:
    assert p.flag({}, "active", "x") is True
    assert p.flag({"active": None}, "active", "x", False) is False
    assert p.flag({"active": False}, "active", "x") is False
    assert p.flag({"active": "TRUE"}, "active", "x", strings=True) is True
    assert refused(p.flag, {"active": "true"}, "active", "x").path == "x.active"
    assert refused(p.flag, {"active": 1}, "active", "x", strings=True).path == "x.active"


def test_integers_never_take_a_boolean() -> None:
    assert p.integer({"n": 3}, "n", "x") == 3
    assert p.integer({}, "n", "x") is None
    assert "got a boolean" in str(refused(p.integer, {"n": True}, "n", "x"))
    assert "got a boolean" in str(refused(p.integer, {"n": True}, "n", "x", loose=True))
    assert refused(p.integer, {"n": "3"}, "n", "x").path == "x.n"
    assert p.integer({"n": "3"}, "n", "x", loose=True) == 3
    assert p.integer({"n": Decimal("3.0")}, "n", "x", loose=True) == 3
    assert "whole number" in str(refused(p.integer, {"n": "2.5"}, "n", "inventory", loose=True))
    assert p.required_integer({"n": 0}, "n", "x") == 0
    assert refused(p.required_integer, {}, "n", "lines[0]").path == "lines[0].n"


def test_amounts_and_money() -> None:
    assert p.amount({"a": "1.50"}, "a", "x") == Decimal("1.50")
    assert p.amount({"a": 4.75}, "a", "x") == Decimal("4.75")
    assert p.amount({"a": ""}, "a", "x") is None
    assert refused(p.amount, {"a": True}, "a", "x").path == "x.a"
    assert refused(p.amount, {"a": "ten"}, "a", "x").path == "x.a"
    assert refused(p.amount, {"a": Decimal("NaN")}, "a", "x").path == "x.a"
    assert refused(p.amount, {"a": 1.5}, "a", "x", floats=False).path == "x.a"
    price = p.money({"listPrice": Decimal("1.0")}, "listPrice", "USD", "items[3].childSKUs[0]")
    assert price == Money(amount=Decimal("1.0"), currency="USD")
    assert str(p.money({"a": Decimal("1.00")}, "a", "USD", "x").amount) == "1.00"  # the cache keeps the spelling
    error = refused(p.money, {"listPrice": []}, "listPrice", "USD", "items[3].childSKUs[0]")
    assert error.path == "items[3].childSKUs[0].listPrice"
    assert refused(p.money, {"a": "1E+400"}, "a", "USD", "x").path == "x.a"


def test_timestamps() -> None:
    utc = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert p.timestamp({"t": "2024-05-01T10:00:00.000Z"}, "t", "x") == utc
    assert p.timestamp({"t": "2024-05-01T10:00:00"}, "t", "x") == utc
    assert p.timestamp({"t": "2024-05-01T10:00:00"}, "t", "x", naive="keep").tzinfo is None
    assert refused(p.timestamp, {"t": "2024-05-01T10:00:00"}, "t", "x", naive="refuse").path == "x.t"
    assert refused(p.timestamp, {"t": "yesterday"}, "t", "x").path == "x.t"
    assert refused(p.timestamp, {"t": 1714557600}, "t", "x").path == "x.t"
    assert p.timestamp({"t": ""}, "t", "x") is None


def test_leftovers_and_unknown_keys() -> None:
    assert p.leftovers({"a": 1, "b": 2, "c": 3}, "b") == {"a": 1, "c": 3}
    p.refuse_unknown({"a": 1}, "x", "a", "b")
    assert refused(p.refuse_unknown, {"a": 1, "z": 2, "y": 3}, "x", "a").path == "x.y"


def test_build_names_the_path_or_the_field() -> None:
    error = refused(p.build, "items[0]", Money, amount=Decimal(1), currency="usd")
    assert error.path == "items[0]"
    with pytest.raises(InputError) as caught:
        p.build("payment.amount", Money, p.INPUT, amount=Decimal(1), currency="usd")
    assert caught.value.path == "payment.amount.currency"
    assert str(caught.value).startswith("payment.amount.currency: is not valid")


def test_the_input_dialect_words_and_roots_its_refusals() -> None:
    draft = p.INPUT.rooted("draft")
    with pytest.raises(InputError, match=r"^draft: must be an object, got an array$"):
        p.expect_object([], "", dialect=draft)
    with pytest.raises(InputError, match=r"^lines\[0\]\.sku_id: must be a string, got a number$"):
        p.text({"sku_id": 7}, "sku_id", "lines[0]", numbers=False, dialect=draft)


def test_object_reads_strictly() -> None:
    obj = p.Object({"id": "a", "n": 2, "items": [{"x": "1"}], "price": {"amount": "2.50", "currency": "EUR"}}, "doc")
    assert obj.text("id") == "a"
    assert obj.integer("n") == 2
    assert obj.objects("items")[0].path == "doc.items[0]"
    assert obj.money("price") == Money(amount="2.50", currency="EUR")
    assert refused(obj.text, "n").path == "doc.n"
    assert refused(obj.integer, "missing").path == "doc.missing"
    assert refused(p.Object, "nope", "doc").path == "doc"


def test_a_malformed_field_of_an_occ_product_names_the_product_and_the_field() -> None:
    from storelink_occ.mapping import product_from_occ

    product = {
        "repositoryId": "p1",
        "displayName": "Mug",
        "listPrice": 5,
        "childSKUs": [{"repositoryId": "s1", "listPrice": {"amount": 5}}],
    }
    with pytest.raises(MappingError) as caught:
        product_from_occ(product, currency="USD", storefront="https://store.example.com", path="items[3]")
    assert caught.value.path == "items[3].childSKUs[0].listPrice"
    assert "product 'p1'" in str(caught.value)
    assert "expected an amount, got an object" in str(caught.value)
    product["childSKUs"] = [{"repositoryId": "s1", "active": "maybe"}]
    with pytest.raises(MappingError) as caught:
        product_from_occ(product, currency="USD", storefront="https://store.example.com", path="items[3]")
    assert caught.value.path == "items[3].childSKUs[0].active"
    product["childSKUs"] = []
    assert isinstance(product_from_occ(product, currency="USD", storefront="https://store.example.com"), Product)
