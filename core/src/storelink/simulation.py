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
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import httpx
import uvicorn

from storelink.errors import PluginError

__all__ = ["SIMULATOR_GROUP", "SimulatedDisconnect", "Simulator", "SimulatorFactory", "load", "serve_in_thread"]

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
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the ASGI *app* with uvicorn in a background thread; yield its base URL.

    :param app: The ASGI application (a simulator's ``.app``).
    :param host: The loopback address to bind.
    :param port: The port; ``0`` picks a free one.
    :return: A context manager yielding ``http://host:port``; the server stops on exit.
    :raises RuntimeError: The server did not start within :data:`STARTUP_TIMEOUT`.
    """
    logging.getLogger("uvicorn.error").addFilter(_FILTER)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it,
    # and without it every small response waits out a delayed ACK (about 40 ms).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # A simulator's app is ASGI 3 by the protocol; say so, since uvicorn guesses from the
    # callable's shape and takes a bound ``async def`` method for ASGI 2.
    config = uvicorn.Config(
        app, interface="asgi3", log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{bound_port}", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError(f"the simulator server on {host}:{bound_port} did not start")
        netloc = f"[{host}]" if ":" in host else host
        yield f"http://{netloc}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()
