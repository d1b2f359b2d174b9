"""Platform simulators: what the demo, the tests and the benchmarks run against.

A platform plugin may ship a simulator of the endpoints it uses, as an ASGI app,
registered in the entry-point group ``storelink.simulators`` under the platform's slug.
The entry point names a factory::

    create(*, products=1000, seed=0, token_ttl=300.0, fail_rate=0.0, latency=0.0, **options) -> Simulator

Run a simulator in-process with ``httpx.ASGITransport(sim.app)``, or on loopback::

    sim = storelink.simulation.load("occ")(products=10_000)
    with serve_in_thread(sim.app) as base_url:
        ...  # base_url is "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

import httpx
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.errors import PluginError

__all__ = [
    "SIMULATOR_GROUP",
    "UNAVAILABLE",
    "FaultConfig",
    "FaultInjector",
    "SimulatedDisconnect",
    "Simulator",
    "SimulatorFactory",
    "load",
    "serve_in_thread",
]

SIMULATOR_GROUP = "storelink.simulators"

#: How long :func:`serve_in_thread` waits for the server to start or stop (seconds).
STARTUP_TIMEOUT = 10.0


class Simulator(Protocol):
    """A simulated platform: an ASGI app plus the controls tests need."""

    @property
    def app(self) -> Any:
        """The ASGI application."""
        ...

    def issue_credentials(self) -> dict[str, str]:
        """Issue new credentials the simulator accepts: credential field name to value."""
        ...

    def revoke_credentials(self, credentials: Mapping[str, str]) -> None:
        """Revoke *credentials*: logins and every token issued for them are refused from now on."""
        ...

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters of what the simulator saw (``logins``, ``refreshes``, ``requests``, ``orders``...)."""
        ...


SimulatorFactory = Callable[..., Simulator]


class SimulatedDisconnect(httpx.RemoteProtocolError):
    """Raised by a simulator app to drop the connection it is answering.

    Under uvicorn (:func:`serve_in_thread`) the client sees the connection close before
    the response is complete. Through ``httpx.ASGITransport`` the exception reaches the
    client as it is: an ``httpx.TransportError``, as a real dropped connection would be.
    """

    def __init__(self, message: str = "the simulator dropped the connection") -> None:
        super().__init__(message)


#: The 5xx statuses a :class:`FaultInjector` answers with, and their reason phrases.
UNAVAILABLE: Mapping[int, str] = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultConfig(Protocol):
    """The settings a :class:`FaultInjector` reads (a simulator's config has them all).

    Rates are shares of requests, from 0 to 1; ``latency`` and ``retry_after`` are seconds.
    """

    @property
    def seed(self) -> int:
        """Decides the fault sequence (with the request sequence)."""
        ...

    @property
    def latency(self) -> float:
        """Seconds added to every request."""
        ...

    @property
    def drop_rate(self) -> float:
        """Share of requests whose connection drops before they are processed."""
        ...

    @property
    def rate_limit_rate(self) -> float:
        """Share of requests answered 429 with ``Retry-After``."""
        ...

    @property
    def retry_after(self) -> float:
        """The ``Retry-After`` seconds of a 429."""
        ...

    @property
    def fail_rate(self) -> float:
        """Share of requests answered 500, 502, 503 or 504."""
        ...

    @property
    def truncate_rate(self) -> float:
        """Share of responses cut in half (requests that create something are never cut)."""
        ...


ConfigT = TypeVar("ConfigT", bound=FaultConfig)


class FaultInjector(Generic[ConfigT]):
    """Wrap a simulator's ASGI *app*, injecting the faults *config* asks for.

    Before a request reaches the app it may be delayed (``latency``), dropped (the
    connection closes after the status line, nothing is processed), answered 429 with
    ``Retry-After``, or answered 500/502/503/504, each with the body *error_body* gives.
    After the app processed it, the response may be truncated (half the body, then the
    connection closes) or, for a request that creates something (see
    :meth:`commit_loss_rate`), lost entirely: the app committed and the client never
    learns it. Faults come from a random stream seeded by ``config.seed``: the same seed
    and the same request sequence give the same faults. :attr:`config` may be replaced
    while serving (``injector.config = attrs.evolve(injector.config, fail_rate=1.0)``).

    :param app: The simulator's ASGI app.
    :param config: The rates and latency (:class:`FaultConfig`).
    :param count: Called with a counter name for every request (``requests``) and every
        fault (``faults_dropped``, ``faults_rate_limited``, ``faults_5xx``,
        ``faults_truncated``, ``faults_lost_orders``).
    :param sleep: Awaited for latency (injectable so tests need not wait).
    :param error_body: The platform's error body for a status, given the ``Retry-After``
        text for a 429 and ``None`` otherwise (served as ``application/json``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: ConfigT,
        count: Callable[[str], None],
        sleep: Callable[[float], Awaitable[None]],
        error_body: Callable[[int, str | None], bytes],
    ) -> None:
        self.app = app
        self.config = config
        self._count = count
        self._sleep = sleep
        self._error_body = error_body
        self._rng = random.Random(f"{config.seed}:faults")  # noqa: S311  # seeded test faults, not security
        self._lock = threading.Lock()

    def applies(self, scope: Scope) -> bool:
        """Whether the request in *scope* may get faults (after latency); all do unless overridden."""
        return True

    def commit_loss_rate(self, scope: Scope) -> float | None:
        """For a request that creates something, the share whose response is lost after the commit.

        ``None`` (the default) means the request creates nothing, so its response may be
        truncated instead. Override to name the platform's creating requests.
        """
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._count("requests")
        config = self.config
        if config.latency > 0:
            await self._sleep(config.latency)
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        with self._lock:
            drop, limited, failed, after, pick = (self._rng.random() for _ in range(5))
        if drop < config.drop_rate:
            self._count("faults_dropped")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
            raise SimulatedDisconnect()
        if limited < config.rate_limit_rate:
            self._count("faults_rate_limited")
            await self._error(send, 429, f"{config.retry_after:g}")
            return
        if failed < config.fail_rate:
            self._count("faults_5xx")
            statuses = sorted(UNAVAILABLE)
            await self._error(send, statuses[int(pick * len(statuses))], None)
            return
        loss_rate = self.commit_loss_rate(scope)
        if loss_rate is not None:
            if after < loss_rate:
                self._count("faults_lost_orders")
                await self.app(scope, receive, _swallow)
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
                raise SimulatedDisconnect("the simulator committed the order and dropped the response")
        elif after < config.truncate_rate:
            self._count("faults_truncated")
            await self.app(scope, receive, _Truncating(send))
            return
        await self.app(scope, receive, send)

    async def _error(self, send: Send, status: int, retry_after: str | None) -> None:
        body = self._error_body(status, retry_after)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _swallow(message: Message) -> None:
    """Discard a response: the client will never see it."""


class _Truncating:
    """Send the status line and half of the body, then drop the connection."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._send(message)
            return
        body = message.get("body", b"")
        await self._send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        raise SimulatedDisconnect("the simulator truncated the response body")


def load(slug: str) -> SimulatorFactory:
    """Return the simulator factory of platform *slug* (entry-point group ``storelink.simulators``).

    :raises PluginError: No installed plugin ships a simulator for *slug*, or it failed to load.
    """
    for entry_point in importlib.metadata.entry_points(group=SIMULATOR_GROUP, name=slug):
        try:
            factory = entry_point.load()
        except Exception as exc:
            raise PluginError(f"failed to load simulator {entry_point.value!r}: {exc}", plugin=slug) from exc
        if not callable(factory):
            raise PluginError(f"simulator entry point {entry_point.value!r} is not callable", plugin=slug)
        return factory  # type: ignore[no-any-return]  # an entry point's object is untyped
    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=SIMULATOR_GROUP)) or ["none"]
    raise PluginError(f"no simulator is installed for it (installed: {', '.join(installed)})", plugin=slug)


class _DisconnectFilter(logging.Filter):
    """Keep uvicorn from logging a simulated disconnect as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedDisconnect))


_FILTER = _DisconnectFilter()


class _Server(uvicorn.Server):
    """A uvicorn server that reports when it is ready to accept connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    lifespan: bool = False,
    access_log: bool = False,
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Serve the ASGI *app* with uvicorn in a background thread; yield its base URL.

    :param app: The ASGI application (a simulator's ``.app``).
    :param host: The loopback address to bind.
    :param port: The port; ``0`` picks a free one.
    :param lifespan: Run the app's lifespan (start-up before the URL is yielded,
        shut-down on exit), as ``storelink serve`` does; a failed start-up raises.
    :param access_log: Log each request on ``uvicorn.access`` at INFO. That logger does
        not propagate, and uvicorn resets its handlers whenever a server is configured:
        add a handler to it once the server has started to see the lines.
    :param sock: A socket already bound, to serve on instead of binding *host* and
        *port* (bind one first when the app must know its port); closed on exit.
    :return: A context manager yielding ``http://host:port``; the server stops on exit.
    :raises RuntimeError: The server did not start within :data:`STARTUP_TIMEOUT`, or
        its lifespan start-up failed.
    """
    logging.getLogger("uvicorn.error").addFilter(_FILTER)
    if sock is None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it,
        # and without it every small response waits out a delayed ACK (about 40 ms).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    host, bound_port = sock.getsockname()[:2]
    # A simulator's app is ASGI 3 by the protocol; say so, since uvicorn guesses from the
    # callable's shape and takes a bound ``async def`` method for ASGI 2.
    config = uvicorn.Config(
        app,
        interface="asgi3",
        log_level="warning",
        lifespan="on" if lifespan else "off",
        access_log=access_log,
        timeout_graceful_shutdown=1,
    )
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)  # log_level="warning" set it higher
    server = _Server(config)
    sockets = [sock]
    exits: list[str | int | None] = []

    def run() -> None:
        try:
            server.run(sockets=sockets)
        except SystemExit as exc:  # how uvicorn stops when the lifespan start-up fails
            exits.append(exc.code)

    thread = threading.Thread(target=run, name=f"uvicorn:{bound_port}", daemon=True)
    thread.start()
    try:
        # A failed lifespan start-up ends the thread: stop waiting then.
        for _ in range(int(STARTUP_TIMEOUT / 0.05)):
            if server.ready.wait(0.05) or not thread.is_alive():
                break
        if not server.ready.is_set():
            if exits:
                reason = "its lifespan start-up failed (see uvicorn's log)"
            else:
                reason = (
                    "it stopped (see uvicorn's log)" if not thread.is_alive() else f"not within {STARTUP_TIMEOUT} s"
                )
            raise RuntimeError(f"the server on {host}:{bound_port} did not start: {reason}")
        netloc = f"[{host}]" if ":" in host else host
        yield f"http://{netloc}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()
