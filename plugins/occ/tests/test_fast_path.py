"""The catalog's hot path: msgspec decoding, trusted models, encode_line, same output as before."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import pytest

from storelink import Image, MappingError, Product, Variant
from storelink.codec import encode_line, to_jsonable
from storelink.decode import decode_json, decode_listing
from storelink.http.runtime import parse_json
from storelink_occ.mapping import product_from_occ
from storelink_occ.simulator.catalog import Catalog

STOREFRONT = "https://store.example.com"
PAGE = 250


def validated(product: Product) -> Product:
    """Rebuild *product* through the public constructors, every validator and converter run."""

    def images(owner: Product | Variant) -> list[Image]:
        return [Image(**attrs.asdict(i, recurse=False)) for i in owner.images]

    variants = [
        Variant(**{**attrs.asdict(v, recurse=False), "images": images(v), "options": dict(v.options)})
        for v in product.variants
    ]
    fields = attrs.asdict(product, recurse=False)
    return Product(**{**fields, "variants": variants, "images": images(product), "extra": dict(product.extra)})


def old_line(model: object) -> bytes:
    return json.dumps(to_jsonable(model), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def pages(size: int) -> list[bytes]:
    catalog = Catalog(seed=0, size=size, currency="USD", locations=())
    bodies = []
    for start in range(0, size, PAGE):
        items = list(catalog.iter_products(start, min(start + PAGE, size)))
        envelope = {"items": items, "totalResults": size, "offset": start, "limit": PAGE}
        bodies.append(json.dumps(envelope, default=float).encode())
    return bodies


def test_the_json_lines_of_20000_products_are_byte_identical_to_the_old_path() -> None:
    """Decoded an item at a time by msgspec, built trusted, encoded by msgspec: the bytes of the old path.

    The old path is json + validators + json.dumps; the new one is the plugin's: ``decode_listing(body).map(...)``,
    as ``fetch_products`` reads a page.
    """
    count = 0
    for body in pages(20_000):
        fast = decode_listing(body).map(
            lambda item, path: product_from_occ(item, currency="USD", storefront=STOREFRONT, path=path)
        )
        slow = parse_json(body, parse_float=Decimal)["items"]
        assert [product_from_occ(p, currency="USD", storefront=STOREFRONT) for p in decode_json(body)["items"]] == fast
        for i, (product, old) in enumerate(zip(fast, slow, strict=True)):
            before = validated(product_from_occ(old, currency="USD", storefront=STOREFRONT, path=f"items[{i}]"))
            assert product == before
            assert encode_line(product) == old_line(before)
            count += 1
    assert count == 20_000


def test_trusted_products_pass_every_validator() -> None:
    for body in pages(500):
        for i, item in enumerate(decode_json(body)["items"]):
            product = product_from_occ(item, currency="USD", storefront=STOREFRONT, path=f"items[{i}]")
            assert validated(product) == product
            assert type(product.variants) is tuple
            assert type(product.images) is tuple
            assert all(type(v.images) is tuple for v in product.variants)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"id": "p1", "primaryFullImageURL": "ftp://files.example.com/a.jpg"}, "items[0].primaryFullImageURL"),
        ({"id": "p1", "largeImageURLs": ["/ok.jpg", "mailto:x@example.com"]}, "items[0].largeImageURLs"),
        (
            {"id": "p1", "childSKUs": [{"id": "s1", "thumbImageURLs": ["ftp://x.example/a"]}]},
            "items[0].childSKUs[0].thumbImageURLs",
        ),
    ],
)
def test_an_image_url_that_is_not_http_is_a_mapping_error_naming_the_field(payload: dict[str, Any], path: str) -> None:
    """Built without Image's validator, an image is checked by the mapping: a clear error, not a crash."""
    with pytest.raises(MappingError) as caught:
        product_from_occ(payload, currency="USD", storefront=STOREFRONT, path="items[0]")
    assert caught.value.path == path
    assert "product 'p1'" in str(caught.value)
    assert "expected an http(s) image URL" in str(caught.value)
