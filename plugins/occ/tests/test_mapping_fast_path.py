"""The mapping's fast path: well-typed fields taken as they are, everything else refused as the readers refuse it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import MappingError, Money
from storelink import payload as readers
from storelink_occ import mapping
from storelink_occ.mapping import product_from_occ, variant_from_occ

STOREFRONT = "https://store.example.com"
IMAGE = "/ccstore/v1/images/?source=/file/v1/products/p1.jpg"


def refusal(payload: Any, *, storefront: str = STOREFRONT) -> MappingError:
    with pytest.raises(MappingError) as caught:
        product_from_occ(payload, currency="USD", storefront=storefront, path="items[0]")
    return caught.value


def reader_refusal(call: Any, *args: Any) -> str:
    """Return what a payload reader says of a value (its message without the path)."""
    with pytest.raises(MappingError) as caught:
        call(*args)
    return caught.value.message.removeprefix(f"{caught.value.path}: ")


@pytest.mark.parametrize(
    ("key", "value", "reader"),
    [
        ("displayName", [], lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("route", {}, lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("description", 1.5, lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("brand", True, lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("active", "maybe", lambda v: reader_refusal(readers.flag, {"k": v}, "k", "", True, True)),
        ("active", 1, lambda v: reader_refusal(readers.flag, {"k": v}, "k", "", True, True)),
        ("childSKUs", {}, lambda v: reader_refusal(readers.items, {"k": v}, "k", "")),
        ("childSKUs", "", lambda v: reader_refusal(readers.items, {"k": v}, "k", "")),
        ("listPrice", [], lambda v: reader_refusal(readers.money, {"k": v}, "k", "USD", "")),
        ("salePrice", "twelve", lambda v: reader_refusal(readers.money, {"k": v}, "k", "USD", "")),
        ("creationDate", "yesterday", lambda v: reader_refusal(readers.timestamp, {"k": v}, "k", "")),
    ],
)
def test_a_malformed_product_field_is_the_readers_refusal_at_its_path(key: str, value: Any, reader: Any) -> None:
    error = refusal({"id": "p1", "displayName": "Tea", key: value})
    assert error.path == f"items[0].{key}"
    assert str(error) == f"items[0].{key}: product 'p1': {reader(value)}"


@pytest.mark.parametrize(
    ("key", "value", "reader"),
    [
        ("displayName", {}, lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("barcode", [], lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
        ("active", "yes", lambda v: reader_refusal(readers.flag, {"k": v}, "k", "", True, True)),
        ("listPrice", True, lambda v: reader_refusal(readers.money, {"k": v}, "k", "USD", "")),
        ("color", [], lambda v: reader_refusal(readers.text, {"k": v}, "k", "")),
    ],
)
def test_a_malformed_sku_field_names_the_sku_its_index_and_the_product(key: str, value: Any, reader: Any) -> None:
    """The SKU's path is made only when it is refused: the refusal is the same as the reader's, at the right index."""
    payload = {
        "id": "p1",
        "productVariantOptions": [{"optionId": "color", "optionName": "Color"}],
        "childSKUs": [{"repositoryId": "s0", "color": "Red"}, {"repositoryId": "s1", "color": "Blue", key: value}],
    }
    error = refusal(payload)
    assert error.path == f"items[0].childSKUs[1].{key}"
    assert str(error) == f"items[0].childSKUs[1].{key}: product 'p1', SKU 's1': {reader(value)}"


def test_a_sku_that_is_not_an_object_is_refused_at_its_index() -> None:
    error = refusal({"id": "p1", "childSKUs": [{"id": "s0"}, [1]]})
    assert error.path == "items[0].childSKUs[1]"
    assert "product 'p1'" in str(error)
    assert "expected an object, got an array" in str(error)


@pytest.mark.parametrize(
    "payload",
    [{"id": ""}, {"repositoryId": "", "id": ""}, {"repositoryId": None, "id": ""}],
)
def test_an_empty_product_id_is_refused(payload: dict[str, Any]) -> None:
    """A product built trusted must not get the id its validator refuses."""
    assert refusal(payload).path == "items[0].id"


def test_an_empty_sku_id_is_refused() -> None:
    error = refusal({"id": "p1", "childSKUs": [{"repositoryId": "", "id": ""}]})
    assert error.path == "items[0].childSKUs[0].id"
    with pytest.raises(MappingError):
        variant_from_occ({"id": ""}, currency="USD", storefront=STOREFRONT)


def test_loose_but_valid_spellings_still_map_as_the_readers_read_them() -> None:
    payload = {
        "id": 42,
        "displayName": 7,
        "active": "FALSE",
        "brand": None,
        "listPrice": "12.50",
        "childSKUs": [{"id": 9, "displayName": 10, "barcode": 123, "active": "true", "salePrice": 3}],
    }
    product = product_from_occ(payload, currency="USD", storefront=STOREFRONT)
    assert (product.id, product.title, product.active, product.brand) == ("42", "7", False, None)
    assert product.price == Money(amount=Decimal("12.50"), currency="USD")
    (variant,) = product.variants
    assert (variant.id, variant.title, variant.barcode, variant.active) == ("9", "10", "123", True)
    assert variant.sale_price == Money(amount=Decimal("3"), currency="USD")


def test_a_storefront_that_is_not_http_never_makes_a_trusted_image_url() -> None:
    """The plain-path shortcut applies on an http(s) storefront only; elsewhere every image URL is checked."""
    error = refusal({"id": "p1", "primaryFullImageURL": IMAGE}, storefront="ftp://files.example.com")
    assert error.path == "items[0].primaryFullImageURL"
    assert "expected an http(s) image URL" in str(error)
    assert refusal({"id": "p1", "fullImageURLs": [IMAGE]}, storefront="").path == "items[0].fullImageURLs"


def test_plain_relative_image_paths_are_joined_on_the_storefront() -> None:
    payload = {
        "id": "p1",
        "primaryFullImageURL": IMAGE,
        "fullImageURLs": [IMAGE, "//cdn.example.com/a.jpg", "https://img.example.com/b c.jpg", "/d e.jpg"],
    }
    product = product_from_occ(payload, currency="USD", storefront=STOREFRONT)
    assert [i.url for i in product.images] == [
        STOREFRONT + IMAGE,
        "https://cdn.example.com/a.jpg",
        "https://img.example.com/b%20c.jpg",
        STOREFRONT + "/d%20e.jpg",
    ]
    assert [i.role for i in product.images] == ["primary", None, None, None]


def reference_absolute(url: str, storefront: str) -> str:
    """What the mapping has always made of an OCC URL: urllib's quoting, then the join."""
    if not re.fullmatch(r"[A-Za-z0-9:/?#\[\]@!$&'()*+,;=%~\-._]*", url):
        url = url.strip()
        url = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
    if url.startswith("//"):
        return "https:" + url
    if url.startswith("/"):
        return storefront + url
    return url if re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", url) else urljoin(storefront + "/", url)


_url_text = st.text(
    st.sampled_from([*"/abc019:?#[]@!$&'()*+,;=%~-._ \"<>\\^`{|}\t", "é", "☃", "\x00", "\x7f"]), max_size=24
)


@given(tail=_url_text, lead=st.sampled_from(["/", "//", "", " /", "https://x.example/", "a/"]))
def test_urls_are_encoded_and_joined_as_urllib_does(lead: str, tail: str) -> None:
    url = lead + tail
    assert mapping._absolute(url, STOREFRONT) == reference_absolute(url, STOREFRONT)


@given(tail=_url_text)
def test_an_image_url_is_the_same_by_the_shortcut_or_the_full_check(tail: str) -> None:
    """Whether or not a path takes the plain-path shortcut, its image is what resolving and checking it gives."""
    url = "/" + tail
    payload = {"id": "p1", "primaryFullImageURL": url}
    expected = reference_absolute(url, STOREFRONT)
    if re.fullmatch(r"https?://\S+", expected) is None:
        with pytest.raises(MappingError):
            product_from_occ(payload, currency="USD", storefront=STOREFRONT)
        return
    product = product_from_occ(payload, currency="USD", storefront=STOREFRONT)
    assert [i.url for i in product.images] == [expected]


def test_the_plain_bytes_are_the_plain_pattern() -> None:
    """The byte test of a plain path agrees with the pattern on every ASCII character."""
    for code in range(128):
        char = chr(code)
        assert (not char.encode().translate(None, mapping._PLAIN_BYTES)) == bool(mapping._PLAIN.fullmatch(char))
