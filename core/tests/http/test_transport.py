"""The guarded transport over real loopback sockets: reachability by policy, TLS against the name (T4.7)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trustme

from storelink import EgressError, StoreURL
from storelink.http import EgressPolicy, EgressTransport, HttpConfig, StaticResolver


class LoopbackServer:
    """A one-response HTTP/1.1 server on 127.0.0.1 that counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    running = LoopbackServer()
    await running.start()
    yield running
    await running.stop()


async def test_a_loopback_server_is_reachable_under_for_tests(make_runtime: Any, server: LoopbackServer) -> None:
    runtime = make_runtime(
        store_url=StoreURL(origin=f"http://127.0.0.1:{server.port}"), egress=EgressPolicy.for_tests(), transport=None
    )
    response = await runtime.request("GET", "/ping", operation="check_access", audience=None)
    assert response.text == "ok"
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /ping HTTP/1.1\r\n")
    assert b"User-Agent: storelink/" in server.requests[0]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_the_same_loopback_server_is_refused_under_the_default_policy(
    make_runtime: Any, server: LoopbackServer, scheme: str
) -> None:
    runtime = make_runtime(
        store_url=StoreURL(origin=f"{scheme}://127.0.0.1:{server.port}"), egress=EgressPolicy.default(), transport=None
    )
    with pytest.raises(EgressError):
        await runtime.request("GET", "/ping", operation="check_access", audience=None)
    assert server.connections == 0


async def test_a_name_resolving_to_loopback_is_refused_under_the_default_policy(server: LoopbackServer) -> None:
    policy = EgressPolicy.default(ports=[server.port], resolver=StaticResolver({"shop.example.com": ["127.0.0.1"]}))
    async with httpx.AsyncClient(transport=EgressTransport(policy)) as client:
        with pytest.raises(EgressError, match=r"shop\.example\.com resolves to 127\.0\.0\.1, a loopback address"):
            await client.get(f"https://shop.example.com:{server.port}/")
    assert server.connections == 0


@pytest.fixture
async def tls_server() -> AsyncIterator[tuple[LoopbackServer, trustme.CA, list[str]]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("store.example.test").configure_cert(context)
    names: list[str] = []

    def sni(_sock: Any, name: str | None, _ctx: Any) -> None:
        names.append(name or "")

    context.sni_callback = sni
    running = LoopbackServer()
    await running.start(context)
    yield running, ca, names
    await running.stop()


async def test_tls_is_verified_against_the_host_name_while_the_checked_ip_is_dialled(
    make_runtime: Any, tls_server: tuple[LoopbackServer, trustme.CA, list[str]]
) -> None:
    server, ca, names = tls_server
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    resolver = StaticResolver({"store.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    runtime = make_runtime(
        store_url=StoreURL(origin=f"https://store.example.test:{server.port}"),
        egress=EgressPolicy.for_tests(allow_http=False, resolver=resolver),
        config=HttpConfig(ssl_context=trust),
        transport=None,
    )

    response = await runtime.request("GET", "/", operation="check_access", audience=None)
    assert response.text == "ok"
    assert names == ["store.example.test"]  # SNI carries the name, not the IP
    assert b"Host: store.example.test:" in server.requests[0]

    with pytest.raises(EgressError, match=r"TLS certificate of other\.example\.test was refused"):
        await runtime.request(
            "GET", "/", operation="check_access", audience=None, base_url=f"https://other.example.test:{server.port}"
        )
    assert names == ["store.example.test", "other.example.test"]
    assert len(server.requests) == 1  # the mismatched certificate never got a request


async def test_the_system_trust_store_refuses_a_private_ca(
    make_runtime: Any, tls_server: tuple[LoopbackServer, trustme.CA, list[str]]
) -> None:
    server, _ca, _names = tls_server
    runtime = make_runtime(
        store_url=StoreURL(origin=f"https://store.example.test:{server.port}"),
        egress=EgressPolicy.for_tests(allow_http=False, resolver=StaticResolver({"store.example.test": ["127.0.0.1"]})),
        transport=None,
    )
    with pytest.raises(EgressError, match="certificate"):
        await runtime.request("GET", "/", operation="check_access", audience=None)
    assert server.requests == []
