"""Turn what a merchant pastes into the shop's Admin API origin, ``https://<name>.myshopify.com``.

Shopify serves the Admin API only on the shop's permanent ``myshopify.com`` host, never
on a custom domain. Merchants paste one of:

- the shop name alone: ``mystore``;
- the permanent host, with or without scheme and path: ``MyStore.myshopify.com/admin/``;
- the address of the new admin: ``admin.shopify.com/store/mystore/products``.

Each becomes ``https://mystore.myshopify.com``. Everything else is refused with a
:class:`~storelink.StoreURLError` that says where to find the right address: custom
domains, other hosts, IP literals, user names and passwords in the URL. Loopback
addresses (``localhost``, ``127.0.0.1``, ``[::1]``) are accepted only with
*allow_loopback*, for the simulator, and keep their scheme and port. The function is
pure and idempotent.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from storelink import StoreURL, StoreURLError

__all__ = ["ADMIN_HOST", "SHOP_DOMAIN", "normalize_store_url", "shop_origin"]

#: The permanent domain every shop has a sub-domain of.
SHOP_DOMAIN = "myshopify.com"

#: The host of Shopify's unified admin, whose paths name the shop (``/store/<name>``).
ADMIN_HOST = "admin.shopify.com"

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# A shop's name is one DNS label: letters, digits and inner hyphens.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_WHERE = (
    "enter the shop's myshopify.com address (for example mystore.myshopify.com); "
    "it is shown in the Shopify admin under Settings > Domains"
)


def shop_origin(name: str) -> StoreURL:
    """Return the origin of the shop called *name*.

    :raises StoreURLError: *name* is not a shop name.
    """
    lowered = name.strip().lower()
    if not _NAME.fullmatch(lowered):
        raise StoreURLError(f"{name[:80]!r} is not a shop name; {_WHERE}")
    return StoreURL(origin=f"https://{lowered}.{SHOP_DOMAIN}")


def normalize_store_url(raw: str, *, allow_loopback: bool = False) -> StoreURL:
    """Return the Admin API origin for what the merchant entered.

    :param raw: The text as entered.
    :param allow_loopback: Accept loopback addresses (the simulator; development only).
    :raises StoreURLError: The text is not the address of a Shopify shop; the message
        says what to enter instead.
    """
    text = raw.strip()
    if not text:
        raise StoreURLError(f"the shop address is empty; {_WHERE}")
    if _NAME.fullmatch(text.lower()) and text.lower() not in _LOOPBACK:
        return shop_origin(text)
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        raise StoreURLError(f"the shop address has an invalid host or port; {_WHERE}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise StoreURLError(f"the shop address must start with https://, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        raise StoreURLError("remove the user name and password from the shop address")
    if not host:
        raise StoreURLError(f"the shop address has no host name; {_WHERE}")
    if host in _LOOPBACK:
        if not allow_loopback:
            raise StoreURLError(f"a local address cannot be a shop; {_WHERE}")
        netloc = f"[{host}]" if ":" in host else host
        return StoreURL(origin=f"{scheme}://{netloc}" + (f":{port}" if port else ""))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise StoreURLError(f"use the shop's address, not an IP address; {_WHERE}")
    if port not in (None, 443):
        raise StoreURLError(f"Shopify serves shops on the standard port only; remove ':{port}' from the address")
    if host == ADMIN_HOST:
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "store":
            return shop_origin(segments[1])
        raise StoreURLError(
            "this admin address does not name a shop; copy the address of a page of your shop's admin "
            "(it looks like admin.shopify.com/store/mystore)"
        )
    suffix = f".{SHOP_DOMAIN}"
    if host.endswith(suffix):
        return shop_origin(host[: -len(suffix)])
    raise StoreURLError(f"{host[:80]!r} is not a myshopify.com address (a custom domain cannot be used); {_WHERE}")
