"""One open connection's HTTP machinery: :class:`ConnectionRuntime`.

A runtime owns, for one connection: a pooled :class:`httpx.AsyncClient` (explicit
timeouts, no redirects, ``User-Agent: storelink/<version>``, no proxies or ``.netrc``
from the environment), the egress guard, a per-store limit of requests in flight, the
:class:`~storelink.http.tokens.TokenManager`, the retry policy and budget, the size cap
on responses, and the mapping of failures to storelink errors. It is the
:class:`~storelink.PlatformHTTP` that platform hooks receive as ``ctx.http``::

    async with ConnectionRuntime(platform, "c1", store_url, credentials, {}, EgressPolicy.default(),
                                 HttpConfig()) as runtime:
        page = await platform.fetch_products(runtime.ctx, None)

Each call to :meth:`ConnectionRuntime.request` is one operation with its own deadline
(``HttpConfig.deadline``), retries included. Every HTTP exchange is logged at DEBUG on
``storelink.http`` (method, host, path without the query, status, duration), through
the scrubbing of :mod:`storelink.redaction`, which the runtime installs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from storelink import redaction
from storelink.context import PlatformContext
from storelink.credentials import Credentials, Secret
from storelink.errors import PluginError, RetryableError
from storelink.http.auth import BearerAuth, TokenAuth
from storelink.http.clock import Clock, SystemClock
from storelink.http.config import HttpConfig
from storelink.http.egress import EgressPolicy
from storelink.http.faults import Call, deadline_error, oversize_error, response_error, transport_error
from storelink.http.retry import Failure, RetryBudget, is_retryable, parse_retry_after, run_with_retries
from storelink.http.tokens import OnRevoked, OnToken, RuntimeStats, TokenManager, in_token_call
from storelink.http.transport import EgressTransport
from storelink.models import StoreURL
from storelink.plugins import Platform

__all__ = ["ConnectionRuntime"]

log = logging.getLogger("storelink.http")

T = TypeVar("T")

# Headers that describe the encoded body; dropped once the body has been decoded.
_ENCODING_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _shown(url: httpx.URL) -> str:
    """Return the URL as logged: no userinfo, no query."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _as_is(response: httpx.Response) -> httpx.Response:
    return response


def _read(reader: Callable[[httpx.Response], T], response: httpx.Response, call: Call) -> T:
    """Run the plugin's *reader* on a successful response, inside the attempt.

    A :class:`~storelink.RetryableError` it raises (a body cut off mid-way, an error
    envelope that says "try again") is retried like a 503 for a read; for a write it
    is raised as it is. A :class:`ValueError` (a JSON decoder's) means the body could
    not be read: retried for a read, a :class:`~storelink.PlatformError` otherwise.
    """
    try:
        return reader(response)
    except RetryableError as exc:
        raise Failure(exc, retryable=call.idempotent, retry_after=exc.retry_after) from exc
    except ValueError as exc:
        if not call.idempotent:
            raise Failure(call.unknown("the store's answer could not be decoded"), retryable=False) from exc
        error = RetryableError(
            "the store's answer was cut off or could not be decoded", **call.fields(response.status_code)
        )
        raise Failure(error, retryable=True) from exc


class ResponseTooLarge(Exception):
    """A response body went past ``HttpConfig.max_response_bytes`` on the wire.

    :param status: The response's status.
    """

    def __init__(self, status: int) -> None:
        super().__init__(f"response body too large (HTTP {status})")
        self.status = status


class _MeteredStream(httpx.AsyncByteStream):
    """Counts the body's bytes against the cap; frees the store's slot once, on close."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None], *, limit: int, status: int) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release
        self._limit = limit
        self._status = status

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._stream:
            size += len(chunk)
            if size > self._limit:
                raise ResponseTooLarge(self._status)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class _StoreTransport(httpx.AsyncBaseTransport):
    """Limits the exchanges in flight to one store, caps their bodies, counts and logs them.

    A slot is held from sending until the response is closed, like a pooled
    connection, so the limit also applies to in-process transports.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, limit: int, max_bytes: int, stats: RuntimeStats) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(limit)
        self._max_bytes = max_bytes
        self._stats = stats

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        self._stats.requests += 1
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            self._slots.release()
            ms = (time.perf_counter() - started) * 1000
            log.debug("%s %s failed after %.1f ms: %s", request.method, _shown(request.url), ms, type(exc).__name__)
            raise
        ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %d in %.1f ms", request.method, _shown(request.url), response.status_code, ms)
        if not isinstance(response.stream, httpx.AsyncByteStream):
            self._slots.release()
            raise TypeError("the transport returned a response without an async stream")
        stream = _MeteredStream(
            response.stream, self._slots.release, limit=self._max_bytes, status=response.status_code
        )
        return httpx.Response(
            status_code=response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class ConnectionRuntime:
    """The HTTP client, tokens, retries and egress guard of one open connection.

    :param platform: The connection's platform.
    :param connection_id: The connection's id (``"probe"`` while onboarding validates).
    :param store_url: The store's canonical origin.
    :param credentials: The parsed credentials.
    :param settings: Non-secret per-connection settings.
    :param egress: Where requests may go.
    :param config: Timeouts, deadline, limits and retry policy.
    :param clock: Measures token age, back-off and deadlines (:class:`SystemClock`).
    :param transport: Send through this transport instead of the network (an
        :class:`httpx.ASGITransport` for an in-process simulator, a
        :class:`httpx.MockTransport` in tests). URLs are still checked against *egress*.
    :param on_revoked: Called once with the reason when the platform rejects the
        credentials at login.
    :param on_token: Called after every new token with ``(audience, token, renewed)``.
    """

    def __init__(
        self,
        platform: Platform,
        connection_id: str,
        store_url: StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str],
        egress: EgressPolicy,
        config: HttpConfig,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_revoked: OnRevoked | None = None,
        on_token: OnToken | None = None,
    ) -> None:
        redaction.install()
        self.platform = platform
        self.store_url = store_url
        self.egress = egress
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.stats = RuntimeStats()
        self._budget = RetryBudget(ratio=config.retry.budget_ratio, floor=config.retry.budget_floor)
        if transport is None:
            limits = httpx.Limits(
                max_connections=config.max_connections_per_store,
                max_keepalive_connections=config.max_connections_per_store,
            )
            transport = EgressTransport(egress, ssl_context=config.ssl_context, limits=limits)
        self._client = httpx.AsyncClient(
            transport=_StoreTransport(
                transport,
                limit=config.max_connections_per_store,
                max_bytes=config.max_response_bytes,
                stats=self.stats,
            ),
            timeout=config.timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": config.user_agent},
        )
        # Requests that carry a token queue here *before* the token is attached, so a
        # request that waited for a free slot longer than a token lives still leaves
        # with a fresh one. Token-less calls (login, refresh) skip this queue: a login
        # must not wait behind the requests that wait for it.
        self._token_slots = asyncio.Semaphore(config.max_connections_per_store)
        self._ctx = PlatformContext(
            connection_id=connection_id,
            platform=platform.slug,
            store_url=store_url,
            credentials=credentials,
            settings=dict(settings),
            http=self,
            log=logging.LoggerAdapter(
                logging.getLogger(f"storelink.platform.{platform.slug}"), {"connection_id": connection_id}
            ),
        )
        self._tokens = TokenManager(
            platform=platform,
            ctx=self._ctx,
            clock=self.clock,
            stats=self.stats,
            on_token=on_token,
            on_revoked=on_revoked,
            probe_after=config.revoked_probe_after,
        )
        self._token_auth = {audience: TokenAuth(self._tokens, audience) for audience in platform.info.audiences}

    @property
    def ctx(self) -> PlatformContext:
        """The context to pass to the platform's hooks; its ``http`` is this runtime."""
        return self._ctx

    @property
    def connection_id(self) -> str:
        """The connection's id."""
        return self._ctx.connection_id

    @property
    def revoked(self) -> bool:
        """Whether the platform rejected the credentials; calls then fail without network."""
        return self._tokens.revoked

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ PlatformHTTP

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
    ) -> httpx.Response:
        """Send a request to the store; see :meth:`storelink.PlatformHTTP.request`.

        :raises ConnectionRevokedError: The connection is revoked; nothing was sent.
        :raises ValueError: The call itself is wrong (an unknown audience, an
            ``Authorization`` header, a write without *reference*...).
        """
        return await self.read(
            method,
            path,
            reader=_as_is,
            operation=operation,
            audience=audience,
            params=params,
            json=json,
            data=data,
            headers=headers,
            bearer=bearer,
            idempotent=idempotent,
            base_url=base_url,
            reference=reference,
        )

    async def read(
        self,
        method: str,
        path: str,
        *,
        reader: Callable[[httpx.Response], T],
        operation: str,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
    ) -> T:
        """Send a request and return what *reader* makes of the response; see :meth:`storelink.PlatformHTTP.read`.

        :raises ConnectionRevokedError: The connection is revoked; nothing was sent.
        :raises ValueError: The call itself is wrong.
        """
        auth = self._auth(audience, bearer, headers)
        if not idempotent and reference is None:
            raise ValueError("a write (idempotent=False) needs its order reference")
        if self._tokens.revoked and not in_token_call():
            if audience is None:
                raise self._tokens.revoked_error()
            self._tokens.refuse_if_revoked()
        url = self._url(path, base_url)
        call = Call(
            platform=self.platform, operation=operation, audience=audience, idempotent=idempotent, reference=reference
        )
        request = self._client.build_request(method, url, params=params, json=json, data=data, headers=headers)
        deadline = self.clock.monotonic() + self.config.deadline
        self._budget.deposit()

        def on_retry(failure: Failure, sleep: float, attempt: int) -> None:
            self.stats.retries += 1
            status = getattr(failure.error, "status", None)
            why = f"HTTP {status}" if status is not None else type(failure.error).__name__
            log.info(
                "retrying %s (%s %s) after %s: %s; attempt %d in %.2f s",
                operation,
                request.method,
                _shown(request.url),
                why,
                failure.error,
                attempt,
                sleep,
            )

        return await run_with_retries(
            lambda: self._attempt(request, auth, call, deadline, reader),
            config=self.config.retry,
            clock=self.clock,
            deadline=deadline,
            budget=self._budget,
            on_retry=on_retry,
        )

    def _auth(
        self, audience: str | None, bearer: Secret | None, headers: Mapping[str, str] | None
    ) -> httpx.Auth | None:
        if headers and any(name.lower() in _AUTH_HEADERS for name in headers):
            raise ValueError("pass the secret as bearer=, never as an Authorization header")
        if audience is None:
            return BearerAuth(bearer) if bearer is not None else None
        if bearer is not None:
            raise ValueError("bearer= is for calls with audience=None (login and refresh)")
        if in_token_call():
            raise PluginError(
                "authenticate and refresh_token must call ctx.http.request with audience=None",
                plugin=self.platform.slug,
            )
        try:
            return self._token_auth[audience]
        except KeyError:
            known = ", ".join(self.platform.info.audiences)
            raise ValueError(f"unknown audience {audience!r}; the platform declares: {known}") from None

    def _url(self, path: str, base_url: str | None) -> httpx.URL:
        base = self.egress.check_url(self.store_url.origin if base_url is None else base_url)
        if base.raw_path not in (b"", b"/") or base.query or base.fragment:
            raise ValueError("base_url must be an origin (scheme, host and port only)")
        if path.startswith(("https://", "http://")):
            url = self.egress.check_url(path)
        elif path.startswith("/"):
            url = self.egress.check_url(f"{base.scheme}://{base.netloc.decode('ascii')}{path}")
        else:
            raise ValueError(f"path must start with '/' or be an absolute URL, got {path[:60]!r}")
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise ValueError(f"{url.host} is not the origin of this call ({base.host})")
        return url

    async def _attempt(
        self,
        request: httpx.Request,
        auth: httpx.Auth | None,
        call: Call,
        deadline: float,
        reader: Callable[[httpx.Response], T],
    ) -> T:
        timer = asyncio.timeout(deadline - self.clock.monotonic())
        sent = False
        try:
            async with timer, self._token_slots if call.audience is not None else contextlib.nullcontext():
                if call.audience is not None:
                    await self._tokens.get(call.audience)  # log in now, so a deadline hit here is "not sent"
                sent = True
                response = await self._client.send(request, auth=auth, stream=True)
                try:
                    loaded = await self._load(request, response, call)
                finally:
                    await response.aclose()
                return _read(reader, loaded, call)
        except TimeoutError as exc:
            if not timer.expired():
                raise
            raise Failure(deadline_error(call, self.config.deadline, sent=sent), retryable=False) from exc
        except httpx.RequestError as exc:
            error = transport_error(call, exc)  # a refused certificate is a ConnectError, and final
            retryable = isinstance(error, RetryableError) and is_retryable(exc=exc, idempotent=call.idempotent)
            raise Failure(error, retryable=retryable) from exc
        except ResponseTooLarge as exc:
            raise Failure(oversize_error(call, exc.status, self.config.max_response_bytes), retryable=False) from exc

    async def _load(self, request: httpx.Request, response: httpx.Response, call: Call) -> httpx.Response:
        """Read the body under the size cap; return the loaded response, or raise its :class:`Failure`."""
        limit = self.config.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Failure(oversize_error(call, response.status_code, limit), retryable=False)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise Failure(oversize_error(call, response.status_code, limit), retryable=False)
            chunks.append(chunk)
        loaded = httpx.Response(
            status_code=response.status_code,
            headers=[(k, v) for k, v in response.headers.raw if k.lower() not in _ENCODING_HEADERS],
            content=b"".join(chunks),
            request=request,
            extensions=response.extensions,
        )
        if loaded.status_code < 300:
            return loaded
        retry_after = parse_retry_after(loaded.headers.get("retry-after"), date=loaded.headers.get("date"))
        retryable = is_retryable(status=loaded.status_code, idempotent=call.idempotent)
        error = response_error(call, loaded, retry_after=retry_after)
        raise Failure(error, retryable=retryable, retry_after=retry_after)
