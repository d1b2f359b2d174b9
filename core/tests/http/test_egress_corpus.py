"""A corpus of bad URLs and addresses, and a connect spy proving none is ever dialled (T4.1-T4.4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storelink import EgressError, RejectedError, RetryableError
from storelink.http import EgressPolicy, EgressTransport, HttpConfig, RetryConfig

LOOPBACK = [
    "https://127.0.0.1",
    "https://127.0.0.1:443",
    "https://127.1",
    "https://127.0.1",
    "https://127.255.255.254",
    "https://127.0.0.53",
    "https://2130706433",
    "https://0x7f000001",
    "https://0x7f.0.0.1",
    "https://0x7f.0x0.0x0.0x1",
    "https://0177.0.0.1",
    "https://0177.0.0.01",
    "https://017700000001",
    "https://127.000.000.001",
    "https://0",
    "https://0.0.0.0",
    "https://0.0.0.0:443",
    "https://[::1]",
    "https://[::1]:443",
    "https://[0:0:0:0:0:0:0:1]",
    "https://[0::1]",
    "https://[::]",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://[0:0:0:0:0:ffff:7f00:1]",
    "https://[::127.0.0.1]",
    "https://[2002:7f00:1::1]",
    "https://[64:ff9b::7f00:1]",
    "https://[64:ff9b::127.0.0.1]",
    "https://localhost",
    "https://localhost.",
    "https://LOCALHOST",
    "https://LocalHost:443",
    "https://a.localhost",
    "https://foo.bar.localhost",
    "https://localhost.localdomain",
    "https://127。0。0。1",
    "https://１２７．０．０．１",  # noqa: RUF001  # full-width digits and dots, on purpose
    "https://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
    "https://1.0.0.127.in-addr.arpa",
]

PRIVATE = [
    "https://10.0.0.1",
    "https://10.255.255.255",
    "https://10.1",
    "https://172.16.0.1",
    "https://172.31.255.254",
    "https://192.168.0.1",
    "https://192.168.1.1",
    "https://100.64.0.1",
    "https://100.127.255.254",
    "https://169.254.0.1",
    "https://169.254.255.254",
    "https://[fc00::1]",
    "https://[fd00::1]",
    "https://[fd12:3456:789a::1]",
    "https://[fe80::1]",
    "https://[fe80::1%25eth0]",
    "https://[febf::1]",
    "https://[fec0::1]",
    "https://[::ffff:10.0.0.1]",
    "https://[::ffff:192.168.1.1]",
    "https://[::ffff:c0a8:101]",
    "https://[2002:c0a8:101::1]",
    "https://[2002:a00:1::]",
    "https://[64:ff9b::a00:1]",
    "https://[64:ff9b::192.168.1.1]",
    "https://[64:ff9b:1::a00:1]",
    "https://0xa000001",
    "https://167772161",
    "https://012.0.0.1",
    "https://192.168.1",
]

METADATA = [
    "https://169.254.169.254",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.170.2",
    "https://100.100.100.200",
    "https://168.63.129.16",
    "https://[fd00:ec2::254]",
    "https://[fd00:ec2::23]",
    "https://[::ffff:169.254.169.254]",
    "https://[::ffff:a9fe:a9fe]",
    "https://[64:ff9b::a9fe:a9fe]",
    "https://[2002:a9fe:a9fe::]",
    "https://0xa9fea9fe",
    "https://2852039166",
    "https://0251.0376.0251.0376",
    "https://169.254.43518",
    "https://metadata",
    "https://metadata.google.internal",
    "https://metadata.google.internal.",
    "https://METADATA.GOOGLE.INTERNAL",
    "https://instance-data",
    "https://instance-data.ec2.internal",
    "https://kubernetes.default.svc.cluster.local",
]

SPECIAL = [
    "https://224.0.0.1",
    "https://239.255.255.250",
    "https://240.0.0.1",
    "https://255.255.255.255",
    "https://192.0.2.1",
    "https://198.51.100.1",
    "https://203.0.113.1",
    "https://198.18.0.1",
    "https://198.19.255.255",
    "https://192.0.0.1",
    "https://192.0.0.8",
    "https://192.88.99.1",
    "https://[ff02::1]",
    "https://[ff05::1:3]",
    "https://[2001:db8::1]",
    "https://[3fff::1]",
    "https://[100::1]",
    "https://[2001::1]",
    "https://[2001:10::1]",
    "https://[5f00::1]",
    "https://[4000::1]",
]

NAMES = [
    "https://printer.local",
    "https://nas.lan",
    "https://db.internal",
    "https://router.home.arpa",
    "https://wiki.intranet",
    "https://intranet",
    "https://router",
    "https://kubernetes",
    "https://store",
    "https://store.example.123",
    "https://store.0x1f",
    "https://-store.example.com",
    "https://store-.example.com",
    "https://exa mple.com",
    "https://store.example.com%40127.0.0.1",
    "https://" + "a" * 64 + ".example.com",
    "https://" + ".".join(["abcdefghi"] * 26) + ".com",
]

PARSER_TRICKS = [
    "https://store.example.com@127.0.0.1",
    "https://user:pass@store.example.com",
    "https://user@store.example.com",
    "https://:@store.example.com",
    "https://store.example.com:443@10.0.0.1",
    "https://127.0.0.1#@store.example.com",
    "https://127.0.0.1?@store.example.com",
    "https://127.0.0.1/@store.example.com",
    "https://127.0.0.1\\@store.example.com",
    "https://10.0.0.1\\.store.example.com",
    "https:/\\127.0.0.1",
    "https:\\\\127.0.0.1",
    "https:/127.0.0.1",
    "https:127.0.0.1",
    "https://127.0.0.1%2F@store.example.com",
    "https://127.0.0.1\r\n.store.example.com",
    "https://store.example.com\r\nHost: 127.0.0.1",
    "https://store.example.com\x00.127.0.0.1",
    "https://store.example.com\t",
    "https://[::1",
    "https://::1",
    "https://[127.0.0.1]",
    "https://",
    "https:///etc/passwd",
    "",
    " ",
    "//store.example.com",
    "store.example.com",
    "https://[::ffff:127.0.0.1]:443@store.example.com",
]

SCHEMES = [
    "http://store.example.com",
    "HTTP://store.example.com",
    "http://93.184.216.34",
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "gopher://store.example.com:70/_",
    "ftp://store.example.com",
    "dict://store.example.com:11211/stat",
    "ldap://store.example.com",
    "ws://store.example.com",
    "wss://store.example.com",
    "data:text/plain,hello",
    "javascript:alert(1)",
    "jar:https://store.example.com!/",
    "netdoc:///etc/passwd",
    "httpss://store.example.com",
    "https+unix://%2Frun%2Fdocker.sock",
    "ssh://store.example.com",
]

PORTS = [
    "https://store.example.com:22",
    "https://store.example.com:25",
    "https://store.example.com:80",
    "https://store.example.com:3306",
    "https://store.example.com:5432",
    "https://store.example.com:6379",
    "https://store.example.com:8080",
    "https://store.example.com:8443",
    "https://store.example.com:9200",
    "https://store.example.com:11211",
    "https://store.example.com:2375",
    "https://store.example.com:0",
    "https://store.example.com:65535",
    "https://store.example.com:65536",
    "https://store.example.com:99999",
    "https://store.example.com:-1",
    "https://store.example.com:4 43",
    "https://93.184.216.34:8443",
]

CORPUS = LOOPBACK + PRIVATE + METADATA + SPECIAL + NAMES + PARSER_TRICKS + SCHEMES + PORTS


def test_the_corpus_holds_at_least_150_distinct_bad_urls() -> None:
    assert len(set(CORPUS)) == len(CORPUS) >= 150


@pytest.mark.parametrize("url", CORPUS)
def test_the_default_policy_refuses_every_url_of_the_corpus(url: str) -> None:
    with pytest.raises(EgressError):
        EgressPolicy.default().check_url(url)


async def test_the_runtime_refuses_the_whole_corpus_with_0_connections_and_0_lookups(
    make_runtime: Any, fakes: Any
) -> None:
    spy, resolver = fakes.SpyBackend(), fakes.SpyResolver()
    policy = EgressPolicy.default(resolver=resolver)
    runtime = make_runtime(egress=policy, transport=EgressTransport(policy, network_backend=spy))
    refused = 0
    for url in CORPUS:
        with pytest.raises(EgressError):
            await runtime.request("GET", "/items", operation="fetch_products", audience=None, base_url=url)
        refused += 1
    assert refused == len(CORPUS)
    assert spy.dialled == []
    assert resolver.lookups == []
    assert runtime.stats.requests == 0


async def test_the_transport_alone_refuses_the_corpus_with_0_connections(fakes: Any) -> None:
    """Without the runtime in front, the transport still refuses (or httpx cannot even parse)."""
    spy = fakes.SpyBackend()
    async with httpx.AsyncClient(transport=EgressTransport(EgressPolicy.default(), network_backend=spy)) as client:
        for url in CORPUS:
            with pytest.raises((EgressError, httpx.InvalidURL, httpx.UnsupportedProtocol)):
                await client.get(url)
    assert spy.dialled == []


# One address per special-purpose block, and their embedded IPv6 forms (T4.2).
BLOCKED_ADDRESSES = [
    "0.0.0.1",
    "10.20.30.40",
    "100.64.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "169.254.169.254",
    "169.254.10.10",
    "172.20.0.1",
    "192.0.0.170",
    "192.0.2.10",
    "192.88.99.2",
    "192.168.100.1",
    "198.18.5.5",
    "198.51.100.7",
    "203.0.113.9",
    "224.1.2.3",
    "240.1.2.3",
    "255.255.255.255",
    "168.63.129.16",
    "100.100.100.200",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b:1::1",
    "100::1",
    "2001::1",
    "2001:db8::1",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "3fff::1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fec0::1",
    "ff02::1",
]


async def test_names_resolving_to_each_blocked_block_are_never_dialled(fakes: Any) -> None:
    names = {f"shop{i}.example.com": [[a]] for i, a in enumerate(BLOCKED_ADDRESSES)}
    spy, resolver = fakes.SpyBackend(), fakes.SpyResolver(names)
    transport = EgressTransport(EgressPolicy.default(resolver=resolver), network_backend=spy)
    async with httpx.AsyncClient(transport=transport) as client:
        for name in names:
            with pytest.raises(EgressError):
                await client.get(f"https://{name}/")
    assert len(resolver.lookups) == len(BLOCKED_ADDRESSES) == 40
    assert spy.dialled == []


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.216.34", "10.0.0.1"],
        ["10.0.0.1", "93.184.216.34"],
        ["2606:4700::1111", "::1"],
        ["93.184.216.34", "169.254.169.254"],
    ],
)
async def test_mixed_answers_are_refused_whole_and_never_dialled(fakes: Any, answers: list[str]) -> None:
    spy = fakes.SpyBackend()
    resolver = fakes.SpyResolver({"mixed.example.com": [answers]})
    transport = EgressTransport(EgressPolicy.default(resolver=resolver), network_backend=spy)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(EgressError):
            await client.get("https://mixed.example.com/")
    assert spy.dialled == []


async def test_dns_rebinding_cannot_reach_loopback(make_runtime: Any, fakes: Any, store: Any) -> None:
    """The resolver answers public, then 127.0.0.1: the checked answer is the one dialled, by IP.

    A guard that validates the name and then lets the socket layer resolve it again
    would dial the name (and reach 127.0.0.1); the spy sees only the checked IP.
    """
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    spy = fakes.SpyBackend(answer=ok)
    resolver = fakes.SpyResolver({"store.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    policy = EgressPolicy.default(resolver=resolver)
    runtime = make_runtime(
        egress=policy,
        transport=EgressTransport(policy, network_backend=spy),
        config=HttpConfig(retry=RetryConfig(attempts=1)),
    )

    first = await runtime.request("GET", "/", operation="fetch_products", audience=None)
    assert first.text == "ok"
    with pytest.raises(EgressError, match=r"127\.0\.0\.1"):
        await runtime.request("GET", "/", operation="fetch_products", audience=None)

    assert resolver.lookups == ["store.example.com", "store.example.com"]  # once per connection
    assert spy.dialled == [("93.184.216.34", 443)]  # the checked address, never the name, never loopback


async def test_a_redirect_to_the_metadata_address_is_not_followed(make_runtime: Any, fakes: Any) -> None:
    leak = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n"
    spy = fakes.SpyBackend(answer=leak)
    resolver = fakes.SpyResolver({"store.example.com": [["93.184.216.34"]]})
    policy = EgressPolicy.default(resolver=resolver)
    runtime = make_runtime(egress=policy, transport=EgressTransport(policy, network_backend=spy))
    with pytest.raises(RejectedError, match=r"redirected to 169\.254\.169\.254") as caught:
        await runtime.request("GET", "/items", operation="fetch_products", audience=None)
    assert caught.value.status == 302
    assert spy.dialled == [("93.184.216.34", 443)]


async def test_a_public_address_that_refuses_connections_is_retried_then_retryable(
    make_runtime: Any, fakes: Any
) -> None:
    spy = fakes.SpyBackend()
    resolver = fakes.SpyResolver({"store.example.com": [["93.184.216.34", "2606:4700::1111"]]})
    policy = EgressPolicy.default(resolver=resolver)
    runtime = make_runtime(egress=policy, transport=EgressTransport(policy, network_backend=spy))
    with pytest.raises(RetryableError, match="ConnectError"):
        await runtime.request("GET", "/items", operation="fetch_products", audience=None)
    # 4 attempts, each trying both checked addresses in order.
    assert spy.dialled == [("93.184.216.34", 443), ("2606:4700::1111", 443)] * 4
