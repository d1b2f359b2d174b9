"""Turn what a merchant pastes into the canonical origin of an OCC store.

Merchants copy the address from wherever they found it: the admin console
(``https://host/occs-admin/#/dashboard``), an API call (``/ccadmin/v1/products``), a
bare host name, with stray whitespace or in capitals. :func:`normalize_store_url`
keeps only the origin, ``https://host[:port]``: the host lower case, IDNA-encoded,
without a trailing dot, and the default port dropped. ``http://`` is upgraded to
https, since OCC serves its APIs over https only.

It refuses, with a message the merchant can act on: other schemes, user names or
passwords in the address, IP literals and local names (``localhost``, single-label
names, ``.local``...), empty or malformed hosts, and query strings or fragments that
carry what looks like a credential. The message never repeats the rejected address,
which may hold a secret.

The function is pure: no DNS, no network. The egress guard of the core decides later
whether the host's addresses may be called.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

import idna

from storelink import StoreURL, StoreURLError

__all__ = ["normalize_store_url"]

#: The longest input considered; anything longer is not an address someone pasted.
MAX_LENGTH = 2048

#: Host names accepted with ``allow_loopback`` (a development egress policy).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})

#: Suffixes of names that only resolve inside a local network (RFC 6761, 6762, 8375
#: and common private conventions).
LOCAL_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "home",
    "home.arpa",
    "corp",
    "private",
    "test",
    "invalid",
    "arpa",
)

_EXAMPLE = "https://your-store.oraclecloud.com"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
#: Query or fragment parameter names that carry secrets (``key``, ``apiKey``,
#: ``access_token``, ``password``...), but not ``keyword`` or ``author``.
_CREDENTIAL_NAME = re.compile(
    r"(?:^|[^a-z])(?:api)?key$|token|secret|passw|^pwd$|^auth(?:orization)?$|credential|signature|^sig$"
    r"|session|bearer|jwt|^code$",
    re.IGNORECASE,
)
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_\-+/=]{8,}")


def normalize_store_url(raw: str, *, allow_loopback: bool = False) -> StoreURL:
    """Return the canonical origin of the OCC store at *raw*.

    :param raw: The address as the merchant entered it.
    :param allow_loopback: Accept ``localhost``, ``127.0.0.1`` and ``[::1]`` (and keep
        ``http`` for them); only a development egress policy sets it.
    :return: ``https://host[:port]``.
    :raises StoreURLError: The address is not acceptable; the message says why and
        how to fix it, without repeating the address.
    """
    text = raw.strip()
    if not text:
        raise StoreURLError(f"Enter your store's address, for example {_EXAMPLE}.")
    if len(text) > MAX_LENGTH:
        raise StoreURLError("That is too long to be a store address; copy only the address bar's text.")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise StoreURLError("The store address must not contain spaces or line breaks.")

    text = _with_scheme(text)
    try:
        parts = urlsplit(text)
    except ValueError:  # unbalanced brackets
        raise StoreURLError(f"The store address is not well formed; it should look like {_EXAMPLE}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise StoreURLError(f"The store address must start with https:// (for example {_EXAMPLE}).")
    _refuse_credentials_in(parts.query, "query string (after '?')")
    _refuse_credentials_in(parts.fragment, "fragment (after '#')")
    if "@" in parts.netloc:
        raise StoreURLError(
            "The store address must not contain a user name or password (the part before '@'). "
            "Remove it; the Application Key goes in its own field."
        )
    host, port = _split_host_port(parts.netloc)
    host = _canonical_host(host, allow_loopback=allow_loopback)

    default_port = 443 if scheme == "https" else 80
    if scheme == "http" and not (allow_loopback and host in LOOPBACK_HOSTS):
        scheme = "https"  # OCC serves its APIs over https only
    if port in (default_port, 443 if scheme == "https" else 80):
        port = None
    return StoreURL(origin=f"{scheme}://{host}" + (f":{port}" if port is not None else ""))


def _with_scheme(text: str) -> str:
    """Return *text* with an explicit scheme, telling ``host:8443`` from ``ftp:x``."""
    if text.startswith("//"):
        return "https:" + text
    match = _SCHEME.match(text)
    if match is None:
        return "https://" + text
    rest = text[match.end() :]
    if rest.startswith("//"):
        return text
    if re.match(r"\d+(?:[/?#]|$)", rest):  # "host.com:8443/path": a port, not a scheme
        return "https://" + text
    if match.group(1).lower() in ("http", "https"):
        raise StoreURLError(f"The store address is not well formed; it should look like {_EXAMPLE}.")
    raise StoreURLError(f"The store address must start with https:// (for example {_EXAMPLE}).")


def _refuse_credentials_in(component: str, where: str) -> None:
    """Refuse a query string or fragment that seems to carry a secret."""
    if not component:
        return
    pairs = parse_qsl(component, keep_blank_values=True)
    if _JWT_LIKE.search(component) or any(_CREDENTIAL_NAME.search(name) for name, _ in pairs):
        raise StoreURLError(
            f"The store address has what looks like a key or password in its {where}. "
            "Remove everything from that character on; the Application Key goes in its own field."
        )


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 literals in brackets) without trusting urlsplit's checks."""
    malformed = StoreURLError(f"The store address is not well formed; it should look like {_EXAMPLE}.")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise malformed
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise malformed
        port_text = rest[1:]
    else:
        host, _, port_text = netloc.partition(":")
    if not port_text:
        return host, None  # no port, or "host:" which means the default one
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StoreURLError("The port in the store address must be a number between 1 and 65535.")
    return host, int(port_text)


def _canonical_host(host: str, *, allow_loopback: bool) -> str:
    """Return *host* lower case and IDNA-encoded, refusing IPs, local and malformed names."""
    if not host:
        raise StoreURLError(f"The store address has no host name; it should look like {_EXAMPLE}.")
    if host.startswith("["):
        if allow_loopback and host.lower() == "[::1]":
            return "[::1]"
        raise StoreURLError("Use the store's host name, not an IP address.")
    ascii_host = _to_ascii(host)
    if ascii_host.endswith("."):
        ascii_host = ascii_host[:-1]  # the DNS root: "example.com." is "example.com"
    if allow_loopback and ascii_host in LOOPBACK_HOSTS:
        return ascii_host
    labels = ascii_host.split(".")
    if _is_ip_literal(ascii_host, labels):
        raise StoreURLError("Use the store's host name, not an IP address.")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise StoreURLError(f"The store address has no valid host name; it should look like {_EXAMPLE}.")
    if len(labels) < 2 or any(ascii_host == s or ascii_host.endswith("." + s) for s in LOCAL_SUFFIXES):
        raise StoreURLError(
            "That is a local network name; use the store's public host name, "
            "as shown in the address bar of the OCC admin console."
        )
    return ascii_host


def _to_ascii(host: str) -> str:
    """Lower-case *host*, IDNA-encoding non-ASCII names and checking ``xn--`` labels."""
    try:
        if host.isascii():
            lowered = host.lower()
            for label in lowered.split("."):
                if label.startswith("xn--"):
                    idna.decode(label)
            return lowered
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise StoreURLError(f"The store address has no valid host name; it should look like {_EXAMPLE}.") from None


def _is_ip_literal(host: str, labels: list[str]) -> bool:
    """Whether *host* is an IP address in any spelling resolvers accept (``127.1``, ``0x7f.1``)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    last = labels[-1]
    return last.isdigit() or bool(re.fullmatch(r"0x[0-9a-f]+", last))
