"""Turn what a merchant pastes into the canonical origin of a Template store.

Merchants paste the address bar: any case, surrounding blanks, ``http://``, an admin
path, a query. :func:`normalize` keeps the host (lower case, IDNA) and an explicit
port, upgrades ``http`` to ``https``, and drops the rest. It refuses user names and
passwords in the URL, IP literals and local names (allowed only under a development
egress policy, which then keeps ``http`` if given). It is pure and idempotent.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from storelink import StoreURL, StoreURLError

__all__ = ["normalize"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _ascii_host(host: str) -> str:
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise StoreURLError(f"{host!r} is not a valid host name") from None
    labels = encoded.split(".")
    if len(encoded) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise StoreURLError(f"{host!r} is not a valid host name")
    if len(labels) < 2 or labels[-1].isdigit():
        raise StoreURLError(f"{host!r} is not a public host name; use the address you open the store with")
    return encoded


def normalize(raw: str, *, allow_loopback: bool = False) -> StoreURL:
    """Return the store's origin for *raw*.

    :param raw: What the merchant entered.
    :param allow_loopback: Accept ``localhost``, ``127.0.0.1`` and ``[::1]`` (development only).
    :raises StoreURLError: The text is not a store address; the message says what to fix.
    """
    text = raw.strip()
    if not text:
        raise StoreURLError("enter the store's address, for example https://shop.example.com")
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise StoreURLError("the store address has an invalid port or host") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise StoreURLError(f"the store address must start with https://, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        raise StoreURLError("remove the user name and password from the store address")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise StoreURLError("the store address has no host name")
    if host in _LOOPBACK:
        if not allow_loopback:
            raise StoreURLError("a local address cannot be a store; use the store's public address")
        netloc = f"[{host}]" if ":" in host else host
        return StoreURL(origin=f"{scheme}://{netloc}" + (f":{port}" if port else ""))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise StoreURLError("use the store's host name, not an IP address")
    default_port = port in (None, 443)
    return StoreURL(origin=f"https://{_ascii_host(host)}" + ("" if default_port else f":{port}"))
