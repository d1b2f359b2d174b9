"""The store URL normaliser: install paths kept, WordPress paths cut, hostile addresses refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import EgressError, StoreURL, StoreURLError
from storelink.http import EgressPolicy
from storelink_woocommerce.urls import normalize_store_url

CORPUS_FILE = Path(__file__).resolve().parents[3] / "core/tests/http/test_egress_corpus.py"


def _corpus() -> list[str]:
    spec = importlib.util.spec_from_file_location("egress_corpus", CORPUS_FILE)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CORPUS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com/shop", "https://example.com/shop"),
        ("https://example.com/shop/wp-admin/", "https://example.com/shop"),
        ("https://example.com/shop/wp-json/wc/v3/orders?per_page=1", "https://example.com/shop"),
        ("https://example.com/?rest_route=/wc/v3/products", "https://example.com"),
        ("https://example.com/My%20Shop/", "https://example.com/My%20Shop"),
        ("https://example.com/My Shop", "https://example.com/My%20Shop"),
        ("https://example.com/a/b/index.php/wp-json", "https://example.com/a/b"),
        ("https://EXAMPLE.com:8443/shop", "https://example.com:8443/shop"),
        ("https://example.com:443/shop", "https://example.com/shop"),
        ("https://bücher.example/laden", "https://xn--bcher-kva.example/laden"),
    ],
)
def test_keeps_the_install_path_and_cuts_wordpress_paths(raw: str, expected: str) -> None:
    assert str(normalize_store_url(raw)) == expected


def test_the_result_separates_origin_and_install_path() -> None:
    url = normalize_store_url("example.com/shop/wp-admin")
    assert (url.origin, url.path) == ("https://example.com", "/shop")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "empty"),
        ("https://u:p@example.com", "user name"),
        ("gopher://example.com", "https://"),
        ("https://93.184.216.34/shop", "IP address"),
        ("https://[2606:2800:220:1::]/shop", "IP address"),
        ("intranet/shop", "public domain"),
        ("shop.internal", "public site"),
        ("https://0x7f.0.0.1", "public site"),
        ("https://example.com/a/./b", "'.'"),
        ("https://example.com/" + "/".join("abcdefghij"), "path of 10 parts"),
        ("localhost/shop", "local address"),
    ],
)
def test_refuses_what_is_not_a_public_store_with_a_message(raw: str, words: str) -> None:
    with pytest.raises(StoreURLError, match=words):
        normalize_store_url(raw)


def test_loopback_only_with_allow_loopback_and_keeps_http() -> None:
    assert str(normalize_store_url("http://localhost:8000/shop/wp-admin", allow_loopback=True)) == (
        "http://localhost:8000/shop"
    )
    assert str(normalize_store_url("http://[::1]:9/x", allow_loopback=True)) == "http://[::1]:9/x"
    with pytest.raises(StoreURLError):
        normalize_store_url("http://127.0.0.1:8000/shop")


@pytest.mark.parametrize("url", _corpus())
def test_the_egress_corpus_is_refused_by_the_normaliser_or_the_guard(url: str) -> None:
    """Every hostile address of the core's corpus is refused, here or by the default egress policy.

    The corpus's merely malformed forms of the public test host (``http://``, no scheme,
    a trailing tab) are repaired instead: they become exactly ``https://store.example.com``.
    """
    try:
        store = normalize_store_url(url)
    except StoreURLError:
        return
    try:
        EgressPolicy.default().check_url(store.join("/wp-json/wc/v3/products"))
    except EgressError:
        return
    assert str(store) == "https://store.example.com", f"{url!r} became {store}, which the guard lets through"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.from_regex(r"\A\s*(https?://)?[a-zA-Z0-9.\-]{1,20}\.[a-z]{2,5}(/[A-Za-z0-9%._ ~-]{0,8}){0,4}/?\s*\Z"),
    )
)
def test_normalising_is_idempotent(raw: str) -> None:
    try:
        url = normalize_store_url(raw)
    except StoreURLError:
        return
    assert isinstance(url, StoreURL)
    assert normalize_store_url(str(url)) == url
