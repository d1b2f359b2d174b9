"""The store-URL normaliser: a golden table of what merchants paste, and its properties."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from storelink import StoreURLError
from storelink_occ.urls import LOCAL_SUFFIXES, normalize_store_url

OCI = "p7483342c1prd-admin.occa.ocs.oraclecloud.com"
CLASSIC = "ccadmin-z4ma.oracleoutsourcing.com"

ACCEPTED = [
    # bare hosts, any case, surrounding whitespace
    (OCI, f"https://{OCI}"),
    (OCI.upper(), f"https://{OCI}"),
    (f"  {CLASSIC}\n", f"https://{CLASSIC}"),
    (f"\t{CLASSIC} ", f"https://{CLASSIC}"),
    ("Store.Example.COM", "https://store.example.com"),
    # schemes, trailing slashes, paths the merchant copied
    (f"https://{OCI}", f"https://{OCI}"),
    (f"https://{OCI}/", f"https://{OCI}"),
    (f"https://{OCI}///", f"https://{OCI}"),
    (f"HTTPS://{OCI}/", f"https://{OCI}"),
    (f"https://{OCI}/occs-admin", f"https://{OCI}"),
    (f"https://{OCI}/occs-admin/", f"https://{OCI}"),
    (f"https://{OCI}/occs-admin/#/dashboard", f"https://{OCI}"),
    (f"https://{CLASSIC}/ccadmin/v1/products", f"https://{CLASSIC}"),
    (f"https://{CLASSIC}/ccadmin/v1/orders?queryFormat=SCIM&q=state%20eq%20%22SUBMITTED%22", f"https://{CLASSIC}"),
    (f"{CLASSIC}/ccadmin/v1/login", f"https://{CLASSIC}"),
    (f"//{CLASSIC}/ccstore/v1/products", f"https://{CLASSIC}"),
    ("https://store.example.com/?keyword=shirt", "https://store.example.com"),
    # http is upgraded; default ports are dropped, others kept
    (f"http://{OCI}", f"https://{OCI}"),
    (f"http://{OCI}:80/occs-admin", f"https://{OCI}"),
    (f"http://{OCI}:443", f"https://{OCI}"),
    (f"https://{OCI}:443", f"https://{OCI}"),
    (f"https://{OCI}:443/", f"https://{OCI}"),
    (f"https://{OCI}:8443", f"https://{OCI}:8443"),
    (f"{OCI}:8443/ccadmin", f"https://{OCI}:8443"),
    (f"https://{OCI}:", f"https://{OCI}"),
    # the DNS root dot, IDNA
    (f"{OCI}.", f"https://{OCI}"),
    (f"https://{CLASSIC}.:443/", f"https://{CLASSIC}"),
    ("https://bücher.example/", "https://xn--bcher-kva.example"),
    ("BÜCHER.de", "https://xn--bcher-kva.de"),
    ("https://xn--bcher-kva.de", "https://xn--bcher-kva.de"),
    ("https://münchen.DE.:443/occs-admin", "https://xn--mnchen-3ya.de"),
    ("https://store\u3002example\u3002com", "https://store.example.com"),
]

REFUSED = [
    ("", "Enter your store's address"),
    ("   \n", "Enter your store's address"),
    ("ftp://store.example.com", "must start with https://"),
    ("javascript:alert(1)", "must start with https://"),
    ("mailto:ops@example.com", "must start with https://"),
    ("file:///etc/passwd", "must start with https://"),
    ("https:store.example.com", "not well formed"),
    ("https://admin:hunter2@store.example.com", "user name or password"),
    ("https://ops@store.example.com/occs-admin", "user name or password"),
    ("https://store.example.com/ccadmin/v1/login?access_token=abc", "key or password"),
    ("https://store.example.com/?apiKey=abc", "key or password"),
    ("https://store.example.com/?x=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "key or password"),
    ("https://store.example.com/#token=abc", "key or password"),
    ("https://store.example.com/?password=", "key or password"),
    ("https://10.0.0.8", "not an IP address"),
    ("https://127.0.0.1:8080", "not an IP address"),
    ("https://[::1]", "not an IP address"),
    ("https://[2001:db8::1]:443", "not an IP address"),
    ("https://2130706433", "not an IP address"),
    ("https://127.1", "not an IP address"),
    ("https://0x7f.0.0.1", "not an IP address"),
    ("localhost", "local network name"),
    ("https://localhost:8443", "local network name"),
    ("https://occ-staging", "local network name"),
    ("https://printer.local", "local network name"),
    ("https://shop.internal", "local network name"),
    ("https://router.home.arpa", "local network name"),
    ("https://", "no host name"),
    ("https:///ccadmin/v1", "no host name"),
    ("https://store..example.com", "no valid host name"),
    ("https://-store.example.com", "no valid host name"),
    ("https://store_1.example.com", "no valid host name"),
    ("https://xn--zz.example.com", "no valid host name"),
    ("https://☃.example", "no valid host name"),
    ("https://store example.com", "spaces or line breaks"),
    ("https://store.example.com:99999", "between 1 and 65535"),
    ("https://store.example.com:0", "between 1 and 65535"),
    ("https://store.example.com:https", "between 1 and 65535"),
    ("https://[::1", "not well formed"),
    ("https://" + "a" * 2100 + ".com", "too long"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_addresses_become_the_canonical_origin(raw: str, expected: str) -> None:
    assert normalize_store_url(raw).origin == expected


@pytest.mark.parametrize(("raw", "message"), REFUSED)
def test_refused_addresses_say_why(raw: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=re.escape(message)):
        normalize_store_url(raw)


def test_the_golden_table_has_at_least_forty_inputs() -> None:
    assert len(ACCEPTED) + len(REFUSED) >= 40


@pytest.mark.parametrize(
    "raw",
    [
        "https://admin:s3cr3t-CANARY@store.example.com",
        "https://store.example.com/?access_token=CANARY-token",
        "https://store.example.com/#key=CANARY",
    ],
)
def test_refusals_never_repeat_the_address(raw: str) -> None:
    with pytest.raises(StoreURLError) as caught:
        normalize_store_url(raw)
    assert "CANARY" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("localhost", "https://localhost"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://127.0.0.1:51234/ccadmin", "http://127.0.0.1:51234"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("http://localhost:80", "http://localhost"),
        ("http://store.example.com", "https://store.example.com"),
    ],
)
def test_loopback_is_accepted_only_when_allowed(raw: str, expected: str) -> None:
    assert normalize_store_url(raw, allow_loopback=True).origin == expected


def test_private_addresses_stay_refused_with_loopback_allowed() -> None:
    with pytest.raises(StoreURLError, match="not an IP address"):
        normalize_store_url("http://192.168.1.10", allow_loopback=True)


# --------------------------------------------------------------------------- properties

decorations = st.tuples(
    st.sampled_from(["", "https://", "http://", "HTTPS://", "//"]),
    st.sampled_from(["", ":443", ":8443", ":1"]),
    st.sampled_from(["", "/", "/occs-admin", "/ccadmin/v1/products?limit=1", "/#/dashboard", "//x/"]),
    st.sampled_from(["", " ", "\n", "\t "]),
    st.booleans(),
)


def _check_canonical(out: str) -> None:
    url = httpx.URL(out)
    assert url.scheme == "https"
    assert url.raw_path in (b"", b"/")
    assert not url.userinfo
    assert not url.query
    assert not url.fragment
    assert out == out.strip().lower()


def _public(host: str) -> bool:
    labels = host.lower().split(".")
    return labels[-1] not in LOCAL_SUFFIXES and not any(label.startswith("xn--") for label in labels)


@settings(max_examples=100, deadline=None)
@given(host=domains(max_length=200).filter(_public), decoration=decorations)
def test_decorated_hosts_normalise_to_their_canonical_origin(
    host: str, decoration: tuple[str, str, str, str, bool]
) -> None:
    scheme, port, path, space, upper = decoration
    raw = f"{space}{scheme}{host.upper() if upper else host}{port}{path}{space}"
    result = normalize_store_url(raw)
    _check_canonical(result.origin)
    assert result.host == host.lower()
    assert normalize_store_url(result.origin) == result
    assert httpx.URL(result.origin).host == result.host


@settings(max_examples=100, deadline=None)
@given(label=st.text(st.characters(categories=["Ll", "Lu", "Lo"]), min_size=1, max_size=20))
def test_international_hosts_parse_to_the_same_host_under_httpx(label: str) -> None:
    try:
        result = normalize_store_url(f"https://{label}.example.com/")
    except StoreURLError:
        return  # not every letter is valid in IDNA 2008
    _check_canonical(result.origin)
    assert normalize_store_url(result.origin) == result
    # httpx shows IDNA hosts decoded in .host; the host on the wire is .raw_host
    assert httpx.URL(result.origin).raw_host.decode("ascii") == result.host


@settings(max_examples=500, deadline=None)
@given(raw=st.text(max_size=80))
def test_any_text_is_either_refused_or_canonical(raw: str) -> None:
    try:
        result = normalize_store_url(raw)
    except StoreURLError:
        return
    _check_canonical(result.origin)
    assert normalize_store_url(result.origin) == result
    assert httpx.URL(result.origin).raw_host.decode("ascii") == result.host
