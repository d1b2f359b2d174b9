"""The shop-address normaliser: what merchants paste, what it becomes, what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import StoreURLError
from storelink_shopify.urls import normalize_store_url

SHOP = "https://mystore.myshopify.com"


@pytest.mark.parametrize(
    "raw",
    [
        "mystore",
        " MyStore ",
        "mystore.myshopify.com",
        "MYSTORE.MYSHOPIFY.COM.",
        "https://MyStore.myshopify.com/admin/",
        "https://mystore.myshopify.com/admin/products/123?tab=variants",
        "http://mystore.myshopify.com",
        "mystore.myshopify.com:443",
        "admin.shopify.com/store/mystore",
        "https://admin.shopify.com/store/MyStore/products?selectedView=all",
        "https://admin.shopify.com//store//mystore//",
    ],
)
def test_what_merchants_paste_becomes_the_permanent_shop_origin(raw: str) -> None:
    assert normalize_store_url(raw).origin == SHOP


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "empty"),
        ("https://shop.example.com", "custom domain"),
        ("https://mystore.myshopify.com.evil.example", "not a myshopify.com address"),
        ("https://admin.shopify.com/", "does not name a shop"),
        ("https://admin.shopify.com/settings", "does not name a shop"),
        ("https://user:pw@mystore.myshopify.com", "user name and password"),
        ("ftp://mystore.myshopify.com", "https://"),
        ("https://23.227.38.65", "IP address"),
        ("https://mystore.myshopify.com:8443", "standard port"),
        ("localhost", "local address"),
        ("http://127.0.0.1:8080", "local address"),
        ("https://-bad-.myshopify.com", "not a shop name"),
        ("https://a.b.myshopify.com", "not a shop name"),
    ],
)
def test_anything_but_a_shop_is_refused_saying_what_to_enter(raw: str, hint: str) -> None:
    with pytest.raises(StoreURLError, match=hint):
        normalize_store_url(raw)


def test_a_refusal_never_repeats_a_password_from_the_address() -> None:
    with pytest.raises(StoreURLError) as refused:
        normalize_store_url("https://merchant:hunter2-secret@mystore.myshopify.com")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("http://127.0.0.1:51234/admin/api", "http://127.0.0.1:51234"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_loopback_is_accepted_with_its_scheme_and_port_only_when_allowed(raw: str, origin: str) -> None:
    assert normalize_store_url(raw, allow_loopback=True).origin == origin
    with pytest.raises(StoreURLError):
        normalize_store_url(raw)


_NAMES = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda n: n != "localhost")
_SHAPES = st.sampled_from(
    ["{n}", "{n}.myshopify.com", "https://{N}.MyShopify.com/admin/", "admin.shopify.com/store/{n}/orders"]
)


@given(name=_NAMES, shape=_SHAPES)
def test_every_shape_of_a_shop_name_gives_one_idempotent_origin(name: str, shape: str) -> None:
    origin = normalize_store_url(shape.format(n=name, N=name.upper()))
    assert origin.origin == f"https://{name}.myshopify.com"
    assert normalize_store_url(origin.origin) == origin
