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
(``HttpConfig.deadline``), retries included. Plugins parse bodies with
:func:`parse_json`, whose nesting and number sizes are bounded: a body beyond them is
the store's fault (:class:`UnreadableBody`, a :class:`~storelink.PlatformError`), never
a plugin crash. Every HTTP exchange is logged at DEBUG on
``storelink.http`` (method, host, path without the query, status, duration); no
line carries a secret. The runtime leaves the process's logging alone: the host
installs :func:`storelink.redaction.install` as a second line if it wants one (the
CLI and ``storelink serve`` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json as jsonlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from storelink.context import PlatformContext, resolve_operation
from storelink.credentials import Credentials, Secret
from storelink.errors import EgressError, InputError, PlatformError, PluginError, RetryableError, StorelinkError
from storelink.http.auth import BearerAuth, TokenAuth
from storelink.http.clock import Clock, SystemClock
from storelink.http.config import HttpConfig
from storelink.http.egress import EgressPolicy
from storelink.http.faults import (
    Call,
    deadline_error,
    mark_not_sent,
    oversize_error,
    response_error,
    transport_error,
)
from storelink.http.pacing import OverBudget, Pacer, check_cost
from storelink.http.retry import Failure, RetryBudget, is_retryable, parse_retry_after, run_with_retries
from storelink.http.tokens import OnRevoked, OnToken, RuntimeStats, TokenManager, TokenShare, in_token_call
from storelink.http.transport import EgressTransport
from storelink.models import StoreURL
from storelink.plugins import Platform
from storelink.redaction import neutralize, scrub, scrubbed_logger

__all__ = ["MAX_JSON_DEPTH", "MAX_REQUEST_BYTES", "ConnectionRuntime", "UnreadableBody", "parse_json"]

log = logging.getLogger("storelink.http")

T = TypeVar("T")

# Headers that describe the encoded body; dropped once the body has been decoded.
_ENCODING_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _shown(url: httpx.URL) -> str:
    """Return the URL as logged: no userinfo, no query."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


#: Deepest nesting of arrays and objects :func:`parse_json` accepts (a page of OCC
#: products is 7 deep; a model's ``extra`` may add 16).
MAX_JSON_DEPTH = 64
#: Largest request body sent (far above any valid order draft); a larger one is refused unsent.
MAX_REQUEST_BYTES = 8 * 1024 * 1024

# Every byte but brackets and quotes; braces read as square brackets (both nest alike).
_NOT_BRACKET_OR_QUOTE = bytes(range(256)).translate(None, b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")
_STEP = [0] * 256
_STEP[ord("[")], _STEP[ord("]")] = 1, -1
#: Passes of the depth scan that fold sibling brackets before it counts (a page folds in ~7).
_FOLDS = 12


class UnreadableBody(ValueError):
    """The body is JSON storelink refuses to parse: nested too deep, or a number too long.

    The runtime raises it as a :class:`~storelink.PlatformError` (the store sent it;
    sending the request again would get the same), never retried, and for a write as
    :class:`~storelink.OrderOutcomeUnknown` (the store answered with success).
    """


def _too_deep(limit: int) -> str:
    return f"the body is nested more than {limit} levels deep"


def _depth(content: bytes) -> int:
    """Return how deep *content*'s arrays and objects nest, brackets inside strings aside.

    Exact for any JSON text (for other bytes, a bound that decides only which error
    the refused body raises); 0 for none. A few C-speed passes over the bytes, no
    Python-level loop over them: a page of products costs a small share of its decoding.
    """
    if b"\\" in content:  # escapes: drop escaped backslashes, then escaped quotes (left to right, as JSON reads them)
        content = content.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = content.translate(_SQUARE, _NOT_BRACKET_OR_QUOTE)
    # Two quotes side by side enclose nothing (or close one string and open the next):
    # dropping them leaves every other bracket as much inside or outside a string as before.
    marks = marks.replace(b'""', b"")
    if b'"' in marks:  # strings that hold brackets: every quote opens or closes one
        marks = b"".join(marks.split(b'"')[0::2])
    # "][" closes a bracket and opens its sibling at the same depth: dropping it keeps the
    # deepest point (the depth before the pair is still there), and a page's thousands
    # of siblings fold into a short string in a few passes.
    for _ in range(_FOLDS):
        folded = marks.replace(b"][", b"")
        if len(folded) == len(marks):
            break
        marks = folded
    return max(0, max(itertools.accumulate(map(_STEP.__getitem__, marks)), default=0))


def parse_json(
    content: bytes | str, *, parse_float: Callable[[str], Any] | None = None, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse a platform's JSON body with bounded nesting and number sizes.

    Use it instead of ``response.json()`` in a reader: a body nested 100,000 deep would
    make the decoder raise :class:`RecursionError` (a crash blamed on the plugin), and
    one nested a few hundred deep could still break the code that walks it.

    :param content: The body (``response.content``).
    :param parse_float: As :func:`json.loads` (``decimal.Decimal`` keeps amounts exact).
    :param max_depth: Deepest nesting of arrays and objects accepted.
    :return: The decoded value.
    :raises UnreadableBody: Nested deeper than *max_depth*, a number with more
        digits than Python converts (4,300), or bytes that are not UTF-8 before the
        end: the store's fault, reported as a :class:`~storelink.PlatformError` and
        never retried.
    :raises ValueError: Not JSON, or cut off (:class:`json.JSONDecodeError`, or a
        :class:`UnicodeDecodeError` in the last character): a read is sent again
        (see :meth:`storelink.PlatformHTTP.read`).
    """
    data = content.encode() if isinstance(content, str) else content
    if data.count(b"[") + data.count(b"{") > max_depth and _depth(data) > max_depth:
        raise UnreadableBody(_too_deep(max_depth))
    try:
        return jsonlib.loads(data, parse_float=parse_float)
    except jsonlib.JSONDecodeError:  # not JSON, or cut off: the caller decides
        raise
    except UnicodeDecodeError as exc:
        if exc.end >= len(data) - 3:  # a character cut in two at the end: the body was cut off
            raise
        raise UnreadableBody(f"the body is not UTF-8 text (byte {exc.start})") from None
    except RecursionError:  # brackets the depth scan could not see (not valid JSON anyway)
        raise UnreadableBody(_too_deep(max_depth)) from None
    except ValueError as exc:  # the int conversion limit: a number of thousands of digits
        raise UnreadableBody(f"the body holds a number too long to read ({exc.args[0][:60]}...)") from None


def _as_is(response: httpx.Response) -> httpx.Response:
    return response


def _read(reader: Callable[[httpx.Response], T], response: httpx.Response, call: Call) -> T:
    """Run the plugin's *reader* on a successful response, inside the attempt.

    A :class:`~storelink.RetryableError` it raises (a body cut off mid-way, an error
    envelope that says "try again") is retried like a 503 for a read; for a write it
    is raised as it is. A :class:`ValueError` (a JSON decoder's) means the body could
    not be read: retried for a read, a :class:`~storelink.PlatformError` otherwise. An
    :class:`UnreadableBody` (or the :class:`RecursionError` of a decoder given a body
    nested too deep) is the store's fault: a :class:`~storelink.PlatformError`, not
    retried.
    """
    try:
        return reader(response)
    except RetryableError as exc:
        raise Failure(exc, retryable=call.idempotent, retry_after=exc.retry_after) from exc
    except (UnreadableBody, RecursionError) as exc:
        if isinstance(exc, RecursionError) and _depth(response.content) <= MAX_JSON_DEPTH:
            raise  # the plugin's own recursion, not the body's
        why = str(exc) if isinstance(exc, UnreadableBody) else _too_deep(MAX_JSON_DEPTH)
        if not call.idempotent:
            raise Failure(call.unknown(f"the store's answer could not be read: {why}"), retryable=False) from None
        error = PlatformError(f"the store sent a malformed answer: {why}", **call.fields(response.status_code))
        raise Failure(error, retryable=False) from None
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
    :param share: Where the tokens are shared with other processes (``None``: kept in
        this runtime only).
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
        share: TokenShare | None = None,
    ) -> None:
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
        #: Holds requests with a cost until the store's reported budget pays for them.
        self.pacer = Pacer(self.clock)
        self._ctx = PlatformContext(
            connection_id=connection_id,
            platform=platform.slug,
            store_url=store_url,
            credentials=credentials,
            settings=dict(settings),
            http=self,
            log=logging.LoggerAdapter(
                scrubbed_logger(f"storelink.platform.{platform.slug}"), {"connection_id": connection_id}
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
            share=share,
        )
        self._placement = (platform.info.token_header, platform.info.token_prefix)
        self._token_auth = {
            audience: TokenAuth(self._tokens, audience, self._placement) for audience in platform.info.audiences
        }

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
        operation: str | None = None,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
        cost: float | None = None,
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
            cost=cost,
        )

    async def read(
        self,
        method: str,
        path: str,
        *,
        reader: Callable[[httpx.Response], T],
        operation: str | None = None,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
        cost: float | None = None,
    ) -> T:
        """Send a request and return what *reader* makes of the response; see :meth:`storelink.PlatformHTTP.read`.

        :raises ConnectionRevokedError: The connection is revoked; nothing was sent.
        :raises ValueError: The call itself is wrong.
        """
        operation = resolve_operation(operation)  # the core names a hook's requests
        if operation is None:
            raise ValueError("name the operation (operation='fetch_products') of a request made outside a hook")
        auth = self._auth(audience, bearer, headers)
        if not idempotent and reference is None:
            raise ValueError("a write (idempotent=False) needs its order reference")
        points = None if cost is None else check_cost(cost)
        if self._tokens.revoked and not in_token_call():
            if audience is None:
                raise self._tokens.revoked_error()
            self._tokens.refuse_if_revoked()
        url = self._url(path, base_url)
        call = Call(
            platform=self.platform, operation=operation, audience=audience, idempotent=idempotent, reference=reference
        )
        request = self._build(call, method, url, params=params, json=json, data=data, headers=headers)
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
            lambda: self._attempt(request, auth, call, deadline, reader, points),
            config=self.config.retry,
            clock=self.clock,
            deadline=deadline,
            budget=self._budget,
            on_retry=on_retry,
        )

    def report_budget(self, *, capacity: float, available: float, restore_rate: float) -> None:
        """Record the store's request budget, as the platform's latest answer reported it.

        See :meth:`storelink.PlatformHTTP.report_budget` and :mod:`storelink.http.pacing`.

        :raises PluginError: A value is not a finite number, or *capacity* or
            *restore_rate* is not above 0.
        """
        try:
            self.pacer.report(capacity=capacity, available=available, restore_rate=restore_rate)
        except ValueError as exc:  # not a ValueError: inside a reader that would mean "body cut off"
            raise PluginError(f"report_budget: {exc}", plugin=self.platform.slug) from None

    @contextlib.asynccontextmanager
    async def _paced(self, call: Call, cost: float | None, deadline: float) -> AsyncIterator[None]:
        """Hold the attempt until the budget pays *cost*; a wait past the deadline is refused unsent.

        A request without a cost, or made inside ``authenticate`` or ``refresh_token``,
        is never held: a login must not wait behind the request that waits for it.
        """
        if cost is None or in_token_call():
            yield
            return
        try:
            async with self.pacer.spend(cost, deadline=deadline):
                yield
        except OverBudget as exc:  # raised before the block: nothing was sent
            late = RetryableError(
                f"the store's request budget would not allow the request before the "
                f"{self.config.deadline:g} s deadline (it refills in {exc.seconds:.1f} s)",
                retry_after=exc.seconds,
                **call.fields(),
            )
            raise Failure(mark_not_sent(late), retryable=False) from None

    def _build(
        self,
        call: Call,
        method: str,
        url: httpx.URL,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Request:
        """Build the request, or raise an error marked as not sent (nothing left the process).

        :raises PluginError: The body or a header cannot be encoded.
        :raises InputError: The body is larger than :data:`MAX_REQUEST_BYTES`.
        """
        try:
            request = self._client.build_request(method, url, params=params, json=json, data=data, headers=headers)
        except (TypeError, ValueError) as exc:
            problem = neutralize(scrub(str(exc)))[:120]
            raise mark_not_sent(
                PluginError(
                    f"the {call.operation} request could not be built, so nothing was sent "
                    f"({type(exc).__name__}: {problem})",
                    plugin=self.platform.slug,
                )
            ) from exc
        size = len(request.content)
        if size > MAX_REQUEST_BYTES:
            raise mark_not_sent(
                InputError(
                    f"the {call.operation} request is {size:,} bytes, more than the {MAX_REQUEST_BYTES:,} "
                    "storelink sends; nothing was sent",
                    path="",
                )
            )
        return request

    def _auth(
        self, audience: str | None, bearer: Secret | None, headers: Mapping[str, str] | None
    ) -> httpx.Auth | None:
        refused = _AUTH_HEADERS | {self._placement[0].lower()}
        if headers and any(name.lower() in refused for name in headers):
            raise ValueError(f"pass the secret as bearer=, never as an {self._placement[0]} header")
        if audience is None:
            return BearerAuth(bearer, self._placement) if bearer is not None else None
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
            # A store installed under a path of its host (a self-hosted WordPress site at
            # example.com/shop) is asked under that path; another origin has none.
            prefix = self.store_url.path if base_url is None else ""
            url = self.egress.check_url(f"{base.scheme}://{base.netloc.decode('ascii')}{prefix}{path}")
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
        cost: float | None = None,
    ) -> T:
        timer = asyncio.timeout(deadline - self.clock.monotonic())
        sent = False
        try:
            async with (
                timer,
                self._paced(call, cost, deadline),
                self._token_slots if call.audience is not None else contextlib.nullcontext(),
            ):
                if call.audience is not None:
                    await self._login_first(call, call.audience)  # a deadline or failed login here: "not sent"
                sent = True
                try:
                    response = await self._client.send(request, auth=auth, stream=True)
                except EgressError as exc:  # refused before dialling
                    raise (mark_not_sent(exc) if call.write else exc) from None
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

    async def _login_first(self, call: Call, audience: str) -> None:
        """Get *audience*'s token; for a write, mark a failure as not sent (the write never left)."""
        try:
            await self._tokens.get(audience)
        except StorelinkError as exc:
            if call.write:
                mark_not_sent(exc)
            raise

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
