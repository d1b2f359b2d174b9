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
from storelink.decode import decode, decode_json
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
