"""storelink.decode: platform bodies decoded by msgspec, as bounded as parse_json."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import MappingError
from storelink.decode import decode, decode_json, decode_listing
from storelink.http.runtime import UnreadableBody, parse_json

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(_json)
def test_decode_json_gives_what_parse_json_with_decimals_gives(value: Any) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    decoded, expected = decode_json(body), parse_json(body, parse_float=Decimal)
    assert decoded == expected
    assert json.dumps(decoded, default=repr) == json.dumps(expected, default=repr)  # same types, same order


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 65 + b"]" * 65, "nested more than 64 levels deep"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels deep"),
        (b'{"n": ' + b"9" * 5_000 + b"}", "number too long"),
        (b'{"items": ["\xff"], "totalResults": 1}', "not UTF-8 text"),
    ],
)
def test_decode_json_refuses_what_parse_json_refuses(body: bytes, why: str) -> None:
    with pytest.raises(UnreadableBody, match=why):
        decode_json(body)
    with pytest.raises(UnreadableBody):
        parse_json(body)


@pytest.mark.parametrize("body", [b'{"items": [{"id": "p1"', b'{"a": "\xe2\x82', b"<html></html>", b"{} x"])
def test_a_body_cut_off_or_not_json_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"truncated|malformed|cut off") as caught:
        decode_json(body)
    assert not isinstance(caught.value, UnreadableBody)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = json.dumps({"text": "[" * 500}).encode()
    assert decode_json(body) == {"text": "[" * 500}


class Sku(msgspec.Struct):
    repositoryId: str
    listPrice: Decimal | None = None
    active: bool = True


class Product(msgspec.Struct):
    id: str
    childSKUs: list[Sku] = []
    extra: Any = None


class Page(msgspec.Struct):
    items: list[Product]
    totalResults: int | None = None


def test_decode_fills_a_typed_struct_leniently() -> None:
    body = b'{"items": [{"id": "p1", "childSKUs": [{"repositoryId": "s1", "listPrice": "4.75", "active": "true"}],'
    body += b' "extra": {"w": 0.5}}], "totalResults": "1"}'
    page = decode(body, Page)
    assert page.totalResults == 1
    assert page.items[0].childSKUs[0] == Sku(repositoryId="s1", listPrice=Decimal("4.75"), active=True)
    assert page.items[0].extra == {"w": Decimal("0.5")}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"items": [{"id": "p1", "childSKUs": [{"repositoryId": "s1", "listPrice": [10]}]}]}',
         "items[0].childSKUs[0].listPrice", "expected decimal | null, got array"),
        (b'{"items": [{"childSKUs": []}]}', "items[0]", "object missing required field id"),
        (b'{"items": "none"}', "items", "expected array, got str"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_a_mapping_error_naming_its_path(body: bytes, path: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        decode(body, Page)
    assert caught.value.path == path
    assert message in caught.value.message


def test_decode_keeps_the_bounds() -> None:
    with pytest.raises(UnreadableBody, match="nested more than 64"):
        decode(b'{"items": [], "totalResults": 1, "x": ' + b"[" * 70 + b"]" * 70 + b"}", Page)


@pytest.mark.parametrize("text", ["183.0", "-0.0", "1e5", "1.50E-3", "0.1000000000000000055511151231257827"])
def test_a_number_read_twice_is_the_same_exact_decimal(text: str) -> None:
    body = f"[{text}, {text}]".encode()
    first, second = decode_json(body)
    assert str(first) == str(second) == str(Decimal(text))  # the text's digits and exponent, kept
    assert decode_json(body) == parse_json(body, parse_float=Decimal)


def test_remembered_numbers_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from storelink import decode as module

    monkeypatch.setattr(module, "_DECIMALS_MAX", 8)
    module._DECIMALS.clear()
    numbers = [f"{i}.5" for i in range(40)] + ["0." + "1" * 60]
    assert decode_json(f"[{', '.join(numbers)}]".encode()) == [Decimal(n) for n in numbers]
    assert 0 < len(module._DECIMALS) <= 8
    assert all(len(text) <= module._DECIMAL_TEXT_MAX for text in module._DECIMALS)
    module._DECIMALS.clear()


# --------------------------------------------------------------------------- decode_listing


@given(st.dictionaries(st.text(max_size=6), _json, max_size=4), st.lists(_json, max_size=5))
def test_a_listing_holds_what_decode_json_gives_an_item_at_a_time(members: dict[str, Any], items: list[Any]) -> None:
    body = json.dumps({**members, "items": items}, ensure_ascii=False).encode()
    whole = decode_json(body)
    listing = decode_listing(body)
    assert listing.has_items
    assert len(listing) == len(items)
    assert listing.fields == {k: v for k, v in whole.items() if k != "items"}
    assert list(listing) == whole["items"]
    assert json.dumps(list(listing), default=repr) == json.dumps(whole["items"], default=repr)  # Decimals too
    assert listing.map(lambda item, path: (path, item)) == [(f"items[{i}]", v) for i, v in enumerate(whole["items"])]


def test_a_listing_decodes_each_item_only_when_it_is_reached() -> None:
    listing = decode_listing(b'{"items": [{"id": "p1"}, {"id": "\xff"}], "total": 2}')
    reached = iter(listing)
    assert next(reached) == {"id": "p1"}  # the first item reads; the second's bad bytes wait
    with pytest.raises(UnreadableBody, match="not UTF-8"):
        next(reached)


def test_a_member_named_key_that_is_not_a_list_stays_with_the_fields() -> None:
    listing = decode_listing(b'{"items": "none", "error": "busy"}')
    assert not listing.has_items
    assert len(listing) == 0
    assert list(listing) == []
    assert listing.fields == {"items": "none", "error": "busy"}
    assert not decode_listing(b'{"results": []}').has_items
    assert decode_listing(b'{"results": [1]}', "results").map(lambda item, path: item) == [1]


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"[" * 65 + b"]" * 65, UnreadableBody, "nested more than 64 levels deep"),
        (b'{"items": [' + b"[" * 64 + b"]" * 64 + b"]}", UnreadableBody, "nested more than 64 levels deep"),
        (b'{"items": [], "total": 1' + b"0" * 5000 + b"}", UnreadableBody, "number too long"),
        (b'{"items": [1' + b"0" * 5000 + b"]}", UnreadableBody, "number too long"),
        (
            b'{"items": ["\xff"]}',
            UnreadableBody,
            r"not UTF-8 text \(byte 1 of an item\)",
        ),  # not "cut off": the item is whole
        (b'{"\xff": []}', UnreadableBody, "not UTF-8"),
        (b'{"items": [{"id": "p1"', ValueError, "truncated"),
        (b"<html></html>", ValueError, "malformed"),
        (b"[]", MappingError, "expected an object holding a list at 'items', got array"),
        (b"null", MappingError, "got null"),
    ],
)
def test_a_listing_refuses_what_decode_json_refuses(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as raised:
        list(decode_listing(body))
    if error is ValueError:
        assert not isinstance(raised.value, UnreadableBody | MappingError)


def test_a_mapper_s_value_error_is_a_mapping_error_at_the_item() -> None:
    """Inside a reader a ValueError means "cut off, read again": a model's refusal must not read as one."""

    def mapper(item: Any, path: str) -> int:
        if item < 0:
            raise ValueError("must not be negative")
        return int(item)

    listing = decode_listing(b'{"items": [3, -1]}')
    with pytest.raises(MappingError, match=r"must not be negative") as raised:
        listing.map(mapper)
    assert raised.value.path == "items[1]"

    def decoding_mapper(item: Any, path: str) -> Any:
        return decode_json(b"[1" + b"0" * 5000 + b"]")

    with pytest.raises(UnreadableBody):  # the store's bytes, refused as such
        decode_listing(b'{"items": [1]}').map(decoding_mapper)


def test_a_listing_says_what_it_holds_without_its_values() -> None:
    listing = decode_listing(b'{"items": [{"secret": "s3cr3t"}], "totalResults": 1}')
    assert repr(listing) == "<Listing 1 items and ['totalResults']>"
