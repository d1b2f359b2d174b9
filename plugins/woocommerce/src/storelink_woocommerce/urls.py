"""Turn what a merchant pastes into the address of a WooCommerce store.

WooCommerce runs inside a WordPress site on the merchant's own server, at any host and
often under a path (``example.com/shop``): the REST API then lives at
``https://example.com/shop/wp-json/wc/v3``. So, unlike a hosted platform, the install
path is part of the store's address and is kept (:attr:`storelink.StoreURL.path`).

Merchants paste the site's address, a page of its admin (``…/shop/wp-admin/edit.php``)
or an API URL (``…/shop/wp-json/wc/v3/products``): the path is cut at the first
WordPress segment (:data:`WORDPRESS_SEGMENTS`), and query, fragment and trailing
slashes are dropped. ``http://`` becomes ``https://`` (the key and secret are sent
with HTTP Basic, which WooCommerce accepts over HTTPS only).

Self-hosted addresses are exactly where server-side request forgery is tried, so the
normaliser refuses clearly what cannot be a public store before the core's egress guard
(which resolves the name and refuses non-public addresses) ever sees it: IP literals,
names without a dot or with a numeric or local top-level label (``127.1``,
``0x7f.0.0.1``, ``nas.local``, ``1.0.0.127.in-addr.arpa``), user info. Host names are
mapped with IDNA (UTS 46), so full-width or circled look-alikes of ``localhost`` or
``127.0.0.1`` are recognised for what they are. Loopback addresses (``localhost``,
``127.0.0.1``, ``[::1]``) are accepted only with *allow_loopback*, for the simulator,
and keep their scheme and port. The function is pure and idempotent.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, unquote, urlsplit

import idna

from storelink import StoreURL, StoreURLError

__all__ = ["LOCAL_SUFFIXES", "MAX_PATH_SEGMENTS", "WORDPRESS_SEGMENTS", "normalize_store_url"]

#: Path segments where WordPress's own paths begin: the install path ends before them.
WORDPRESS_SEGMENTS = frozenset(
    {
        "wp-admin",
        "wp-json",
        "wp-login.php",
        "wp-content",
        "wp-includes",
        "wp-cron.php",
        "xmlrpc.php",
        "index.php",
        "wc-auth",
        "wc-api",
    }
)

#: Top-level labels of names that never belong to a public store.
LOCAL_SUFFIXES = frozenset(
    {"localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp", "arpa", "onion", "invalid"}
)

#: Segments an install path may have (WordPress sites are rarely more than two deep).
MAX_PATH_SEGMENTS = 8

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_TOP_LABEL = re.compile(r"(?:[a-z][a-z0-9-]*|xn--[a-z0-9-]+)")
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_WHERE = "enter the address of your WordPress site, as in its Settings > General > Site Address (URL)"


def _host(raw_host: str) -> str:
    try:
        return idna.encode(raw_host, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise StoreURLError(f"the store address has an invalid host name; {_WHERE}") from None


def _install_path(raw_path: str) -> str:
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if not segment:
            continue
        if segment.lower() in WORDPRESS_SEGMENTS:
            break
        if unquote(segment) in (".", ".."):
            raise StoreURLError("the store address must not contain '.' or '..' in its path")
        segments.append(quote(unquote(segment), safe=_SEGMENT_SAFE))
    if len(segments) > MAX_PATH_SEGMENTS:
        raise StoreURLError(
            f"the store address has a path of {len(segments)} parts; enter the site's address only "
            "(for example https://example.com/shop)"
        )
    path = "".join(f"/{s}" for s in segments)
    if len(path) > 200:
        raise StoreURLError("the path of the store address is too long; enter the site's address only")
    return path


def normalize_store_url(raw: str, *, allow_loopback: bool = False) -> StoreURL:
    """Return the canonical address (origin and install path) of the store the merchant entered.

    :param raw: The text as entered.
    :param allow_loopback: Accept loopback addresses (the simulator; development only).
    :raises StoreURLError: The text cannot be the address of a public WooCommerce
        store; the message says what to enter instead.
    """
    text = raw.strip()
    if not text:
        raise StoreURLError(f"the store address is empty; {_WHERE}")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        # urlsplit drops tabs and line breaks silently; an address holding one is a trick.
        raise StoreURLError("the store address contains a line break, tab or other control character")
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
        raw_host = parts.hostname or ""
    except ValueError:
        raise StoreURLError(f"the store address has an invalid host or port; {_WHERE}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise StoreURLError(f"the store address must start with https://, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        raise StoreURLError("remove the user name and password from the store address")
    if not raw_host:
        raise StoreURLError(f"the store address has no host name; {_WHERE}")
    path = _install_path(parts.path)
    if ":" in raw_host:  # an IPv6 literal: only loopback, and only in development
        try:
            literal = ipaddress.IPv6Address(raw_host.split("%")[0])
        except ValueError:
            raise StoreURLError(f"the store address has an invalid host name; {_WHERE}") from None
        host = "::1" if literal.is_loopback else str(literal)
    else:
        host = _host(raw_host.rstrip("."))
    if host in _LOOPBACK:
        if not allow_loopback:
            raise StoreURLError(f"a local address cannot be a store; {_WHERE}")
        netloc = f"[{host}]" if ":" in host else host
        return StoreURL(origin=f"{scheme}://{netloc}" + (f":{port}" if port else ""), path=path)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise StoreURLError(f"use the site's domain name, not an IP address; {_WHERE}")
    labels = host.split(".")
    if len(labels) < 2 or not all(labels):
        raise StoreURLError(f"{host[:80]!r} is not a public domain name; {_WHERE}")
    if not _TOP_LABEL.fullmatch(labels[-1]) or labels[-1] in LOCAL_SUFFIXES:
        raise StoreURLError(f"{host[:80]!r} is not the address of a public site; {_WHERE}")
    origin = f"https://{host}" + (f":{port}" if port not in (None, 443) else "")
    return StoreURL(origin=origin, path=path)
