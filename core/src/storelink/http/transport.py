"""The guarded transport: connect only to addresses the egress policy checked.

:class:`EgressTransport` is an :class:`httpx.AsyncBaseTransport` over an
:class:`httpcore.AsyncConnectionPool` whose network backend is
:class:`GuardedBackend`. When the pool needs a new connection to ``store.example.com``,
the backend resolves the name once through the policy, which checks every answer,
and dials the checked IP itself. The pool keeps the host *name* as the connection's
origin, so TLS still sends SNI and verifies the certificate against the name, never
against the IP. A name that answered a public address first and ``127.0.0.1`` next
(DNS rebinding) gets its second answer checked before any connection is made to it.

Every request's URL is also checked (:meth:`EgressPolicy.check_url`), and redirects
are never followed here (the runtime turns a 3xx into an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import httpcore
import httpx

from storelink.http.egress import EgressPolicy

__all__ = ["EgressTransport", "GuardedBackend"]

# httpcore's exceptions and the httpx ones they become, most specific first.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as httpx's, as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that dials only addresses *policy* checked.

    :param policy: Resolves and checks the host.
    :param inner: The backend that opens sockets (httpcore's anyio backend by
        default; tests pass a spy).
    """

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve *host* once, check every answer, then connect to a checked address.

        :raises EgressError: An answer is refused (nothing is dialled).
        :raises httpcore.ConnectError: The name does not resolve, or no address answered.
        :raises httpcore.ConnectTimeout: Resolving took longer than *timeout*.
        """
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc.strerror or exc}") from exc
        failure: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Return the process's shared default TLS context (system trust store, verification on).

    Building one loads the CA bundle (tens of milliseconds of CPU); every connection's
    transport shares this one instead of building its own on the event loop.
    """
    return httpx.create_ssl_context()


class EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport that refuses what *policy* refuses, down to the dialled address.

    :param policy: The egress policy.
    :param ssl_context: Trust store (system defaults when ``None``); certificates are
        always verified against the URL's host name.
    :param limits: Connection-pool limits.
    :param network_backend: What :class:`GuardedBackend` dials with (tests pass a spy).
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or default_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, network_backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check *request*'s URL, then send it through the guarded pool.

        :raises EgressError: The URL or the host's address is refused.
        """
        self._policy.check_url(request.url)
        if not isinstance(request.stream, AsyncIterable):
            raise TypeError("EgressTransport needs an async request body")
        # A caller-chosen SNI name would let TLS verify against another host.
        extensions = {k: v for k, v in request.extensions.items() if k != "sni_hostname"}
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("httpcore returned a sync stream to an async pool")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
