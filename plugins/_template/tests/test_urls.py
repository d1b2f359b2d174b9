"""The store-address normaliser, case by case (the contract suite adds generated cases)."""

from __future__ import annotations

import pytest
from storelink import StoreURLError

from storelink_template.urls import normalize


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("Demo-Store.Example.COM", "https://demo-store.example.com"),
        ("https://shop.example.com./", "https://shop.example.com"),
        ("https://shop.example.com:443/admin", "https://shop.example.com"),
    ],
)
def test_accepts_what_merchants_paste(raw: str, origin: str) -> None:
    assert normalize(raw).origin == origin


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("https://user@shop.example.com", "user name"),
        ("https://192.0.2.1/", "not an IP address"),
        ("https://shop.example.com:99999", "invalid port"),
        ("ftp://shop.example.com", "must start with https://"),
        ("https://-shop.example.com", "not a valid host name"),
    ],
)
def test_refusals_say_what_to_fix(raw: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=message):
        normalize(raw)


def test_loopback_keeps_http_only_when_allowed() -> None:
    assert normalize("http://localhost:8080/", allow_loopback=True).origin == "http://localhost:8080"
    assert normalize("[::1]:9000", allow_loopback=True).origin == "https://[::1]:9000"
    with pytest.raises(StoreURLError, match="local address"):
        normalize("http://localhost:8080/")
