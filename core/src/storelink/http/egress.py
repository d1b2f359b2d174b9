"""Which URLs and addresses storelink may call: the egress guard for merchant URLs.

A store URL is typed by a stranger, and storelink's server calls it. Without a guard
that is server-side request forgery: ``https://169.254.169.254`` reads the cloud's
instance credentials, ``https://localhost:6379`` talks to the host's Redis. The
:class:`EgressPolicy` refuses, in this order:

1. URLs that are not ``https`` (``http`` only to allowed loopback literals), carry
   userinfo, or use a port outside the policy's ports;
2. host names that can only be local (``localhost``, ``*.internal``, ``*.local``,
   single labels, cloud metadata names) or that are IPv4 numbers in disguise
   (``2130706433``, ``0x7f000001``, ``127.1``);
3. addresses that are not globally reachable: loopback, private, link-local,
   carrier-grade NAT, multicast, reserved, unspecified, documentation, cloud metadata,
   and the IPv4-mapped, 6to4 and NAT64 forms of any of them.

The host is resolved once per connection, every answer is checked (one refused answer
refuses the whole set, so a name cannot mix a public and a private address), and the
connection is made to an address that was checked (see :mod:`storelink.http.transport`),
so DNS rebinding cannot slip a second, different answer in between.

:meth:`EgressPolicy.default` never reaches loopback. Tests, the simulator and local
development use :meth:`EgressPolicy.for_tests` or ``STORELINK_ALLOW_LOOPBACK=1``
(:meth:`EgressPolicy.from_env`), which allow loopback literals over ``http``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import httpx
from attrs import field, frozen

from storelink.errors import EgressError

__all__ = ["EgressPolicy", "IPAddress", "Resolver", "StaticResolver", "SystemResolver"]

log = logging.getLogger("storelink.http.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: refused even when a policy allows the network around them.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "168.63.129.16",  # Azure WireServer (a public address)
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
    )
)

METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})

# Suffixes that only ever name something on the local network.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".lan", ".intranet", ".arpa")

# IANA special-purpose blocks, checked explicitly rather than trusting the running
# Python's ``is_global`` (CVE-2024-4032 shows it has been wrong before).
_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/8", "a reserved address"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/23", "an IETF protocol address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment-routing address"),
    ("fc00::/7", "a unique-local (private) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)
BLOCKED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple((ipaddress.ip_network(n), why) for n, why in _BLOCKED)

_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMBER = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_ENV_ON = frozenset({"1", "true", "yes"})


# --------------------------------------------------------------------------- resolvers


class Resolver(Protocol):
    """Turns a host name into the addresses to connect to."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Return every address of *host* (no IP literals are passed here).

        :raises OSError: The name does not resolve.
        """
        ...


class SystemResolver:
    """Resolve with the operating system (``getaddrinfo`` on the event loop's executor)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Return the TCP addresses of *host*, in the order the system gave them."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found: dict[IPAddress, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            found[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
        return list(found)


class StaticResolver:
    """Resolve from a fixed table, like a hosts file: for tests and in-process demos.

    :param table: Host name → addresses (text or :mod:`ipaddress` objects).
    """

    def __init__(self, table: Mapping[str, Iterable[str | IPAddress]]) -> None:
        self._table = {
            name.lower().rstrip("."): tuple(ipaddress.ip_address(a) for a in addrs) for name, addrs in table.items()
        }

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Return the table's addresses for *host*.

        :raises socket.gaierror: *host* is not in the table.
        """
        try:
            return self._table[host.lower().rstrip(".")]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the resolver's table") from None


# --------------------------------------------------------------------------- the policy


def _networks(values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v) for v in values)


def _ports(values: Iterable[int] | None) -> frozenset[int] | None:
    return None if values is None else frozenset(values)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """Return the IPv4 address that an IPv4-mapped, 6to4 or NAT64 address reaches."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF), "6to4"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    return None


def _blocked_reason(ip: IPAddress) -> str | None:
    for network, why in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return why
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "not a globally reachable address"
    return None


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise EgressError(f"not a valid URL ({exc})") from None


@frozen(kw_only=True)
class EgressPolicy:
    """Where storelink may connect.

    Build one with :meth:`default`, :meth:`for_tests` or :meth:`from_env`.

    :param allow_networks: Networks allowed although the default refuses them
        (``127.0.0.0/8`` in tests). Cloud metadata addresses stay refused.
    :param allow_http: Allow ``http`` to hosts that are IP literals in
        *allow_networks* (or ``localhost`` when loopback is allowed).
    :param ports: The ports allowed, or ``None`` for any.
    :param resolver: Resolves host names; :class:`SystemResolver` by default.
    """

    allow_networks: tuple[IPNetwork, ...] = field(default=(), converter=_networks)
    allow_http: bool = False
    ports: frozenset[int] | None = field(default=frozenset({443}), converter=_ports)
    resolver: Resolver = field(factory=SystemResolver, eq=False, repr=False)

    @classmethod
    def default(cls, *, ports: Iterable[int] = (443,), resolver: Resolver | None = None) -> EgressPolicy:
        """Return the production policy: public https hosts only; never loopback.

        :param ports: The ports stores may use.
        :param resolver: Resolves host names (the system's by default).
        """
        return cls(ports=frozenset(ports), resolver=resolver or SystemResolver())

    @classmethod
    def for_tests(
        cls,
        allow_networks: Iterable[str | IPNetwork] = _LOOPBACK_NETWORKS,
        allow_http: bool = True,
        *,
        ports: Iterable[int] | None = None,
        resolver: Resolver | None = None,
    ) -> EgressPolicy:
        """Return a policy for tests and the simulator: *allow_networks* reachable, any port.

        :param allow_networks: Networks to allow (loopback by default).
        :param allow_http: Allow ``http`` to those networks' literals.
        :param ports: Ports to allow, ``None`` for any.
        :param resolver: A fake resolver (:class:`StaticResolver`), or the system's.
        """
        return cls(
            allow_networks=_networks(allow_networks),
            allow_http=allow_http,
            ports=_ports(ports),
            resolver=resolver or SystemResolver(),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """Return :meth:`default`, or a loopback-allowing policy if ``STORELINK_ALLOW_LOOPBACK=1``.

        The loopback policy allows ``127.0.0.0/8`` and ``::1`` over ``http`` on any
        port, for local development against a simulator; everything else stays refused.
        """
        env = os.environ if environ is None else environ
        if env.get("STORELINK_ALLOW_LOOPBACK", "").strip().lower() not in _ENV_ON:
            return cls.default()
        log.warning("STORELINK_ALLOW_LOOPBACK is set: loopback stores are reachable (development only)")
        return cls.for_tests()

    @property
    def allow_loopback(self) -> bool:
        """Whether loopback (``127.0.0.1`` or ``::1``) is reachable under this policy."""
        loopbacks = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
        return any(ip.version == net.version and ip in net for ip in loopbacks for net in self.allow_networks)

    # ------------------------------------------------------------------ addresses

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow_networks)

    def refusal(self, ip: IPAddress) -> str | None:
        """Return why *ip* is refused (``"a loopback address"``...), or ``None`` if allowed."""
        embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if ip in METADATA_ADDRESSES or (embedded is not None and embedded[0] in METADATA_ADDRESSES):
            return "a cloud metadata address"
        if embedded is not None:
            # The packet ends up at the IPv4 address, so that address decides.
            inner, form = embedded
            if form == "IPv4-mapped" and self._allowed(inner):
                return None
            why = _blocked_reason(inner)
            return None if why is None else f"{why} ({form} form)"
        if self._allowed(ip):
            return None
        return _blocked_reason(ip)

    def check_address(self, ip: IPAddress, host: str | None = None) -> None:
        """Refuse *ip* unless the policy allows it.

        :param host: The name that resolved to *ip*, for the message.
        :raises EgressError: *ip* is refused; the message says why.
        """
        why = self.refusal(ip)
        if why is not None:
            named = f"{host} resolves to {ip}" if host and host != str(ip) else f"{ip}"
            raise EgressError(f"{named}, {why}; storelink does not connect there")

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve *host* once and check every answer; return the addresses to dial.

        IP literals are not looked up. One refused answer refuses them all.

        :raises EgressError: An answer is refused.
        :raises OSError: The name does not resolve.
        """
        literal = _ip_literal(host)
        if literal is not None:
            self.check_address(literal, host)
            return [literal]
        answers = list(await self.resolver.resolve(host, port))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        for ip in answers:
            self.check_address(ip, host)
        return answers

    # ------------------------------------------------------------------ URLs

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """Check *url*'s scheme, userinfo, port and host name (no DNS); return it parsed.

        :raises EgressError: The URL is refused; the message says why (and never
            repeats its path or query).
        """
        parsed = _parse(url)
        scheme = parsed.scheme
        host = parsed.raw_host.decode("ascii", "replace").lower()
        literal = _ip_literal(host)
        if scheme not in ("https", "http"):
            raise EgressError(f"only https URLs are allowed, not {scheme or 'no scheme'!r}")
        if not host:
            raise EgressError("the URL has no host")
        if parsed.userinfo:
            raise EgressError(f"URLs with a user name or password are refused ({host})")
        if scheme == "http" and not self._http_allowed(host, literal):
            raise EgressError(f"only https is allowed for {host}")
        port = parsed.port if parsed.port is not None else (443 if scheme == "https" else 80)
        if not 0 < port < 65536 or (self.ports is not None and port not in self.ports):
            raise EgressError(f"port {port} is not allowed for {host}")
        if literal is not None:
            self.check_address(literal)
        else:
            self._check_name(host)
        return parsed

    def _http_allowed(self, host: str, literal: IPAddress | None) -> bool:
        if not self.allow_http:
            return False
        if literal is not None:
            return self._allowed(literal)
        return host.rstrip(".") == "localhost" and self.allow_loopback

    def _check_name(self, host: str) -> None:
        name = host[:-1] if host.endswith(".") else host
        labels = name.split(".")
        if name == "localhost" and self.allow_loopback:
            return
        if name == "localhost" or name.endswith(LOCAL_SUFFIXES):
            raise EgressError(f"{host} names a local host; use the store's public address")
        if name in METADATA_NAMES:
            raise EgressError(f"{host} is a cloud metadata name; storelink does not connect there")
        if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise EgressError(f"{host} is not a valid host name")
        if len(labels) < 2:
            raise EgressError(f"{host} is a single-label name; use the store's full host name")
        if _NUMBER.fullmatch(labels[-1]):
            raise EgressError(f"{host} is a numeric address in a non-standard form")


def _ip_literal(host: str) -> IPAddress | None:
    """Return *host* as an address if it is a canonical IP literal (IPv6 unbracketed)."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
