"""The core's real HTTP runtime for a plugin's unit tests, over any transport.

A plugin's hook tests need a :class:`~storelink.PlatformContext` whose ``ctx.http``
behaves as it will in production: tokens attached per audience (with the 401 flow),
error statuses mapped to storelink errors, redirects refused, bodies capped. A
hand-written stand-in drifts from the core; :func:`runtime_for` gives the real
:class:`~storelink.ConnectionRuntime` instead, on a :class:`~storelink.testing.FakeClock`
(back-off costs no time) and a loopback-friendly egress policy, with one attempt per
call by default so a test sees a failure as it was answered::

    runtime = runtime_for(platform, httpx.ASGITransport(sim.app), credentials=sim.issue_credentials())
    async with runtime:
        page = await platform.fetch_products(runtime.ctx, None)

:class:`RecordingTransport` keeps every request that reached the transport, for
assertions on paths, headers and bodies.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from storelink.credentials import Credentials, Secret
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig, RetryConfig
from storelink.models import StoreURL
from storelink.plugins import Platform
from storelink.testing.fakes import FakeClock

__all__ = ["RecordingTransport", "runtime_for"]

#: Where :func:`runtime_for` says the store is, unless told otherwise.
DEFAULT_STORE = StoreURL(origin="https://store.example.com")


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forward each request to *inner* and keep it, in order, in :attr:`requests`.

    It does not own *inner*: closing it leaves *inner* open.

    :param inner: The platform's transport (a simulator's ASGI transport, a mock).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        #: Every request sent, logins included.
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Keep *request*, then let *inner* answer it."""
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def runtime_for(
    platform: Platform,
    transport: httpx.AsyncBaseTransport,
    *,
    credentials: Credentials | Mapping[str, str | Secret | None],
    store_url: StoreURL = DEFAULT_STORE,
    settings: Mapping[str, str] | None = None,
    clock: FakeClock | None = None,
    attempts: int = 1,
    connection_id: str = "test",
) -> ConnectionRuntime:
    """Return the core's runtime for *platform* over *transport*; close it with ``async with``.

    :param platform: The plugin, as registered (``Registry(autoload=False).register_platform(...)``).
    :param transport: Where requests go: ``httpx.ASGITransport(sim.app)``, an
        ``httpx.MockTransport``, a :class:`RecordingTransport`...
    :param credentials: Parsed credentials, or raw values the platform's credential
        schema parses (use synthetic keys).
    :param store_url: The store's canonical origin.
    :param settings: The connection's settings.
    :param clock: The core's clock; a new :class:`FakeClock` by default.
    :param attempts: Attempts per call (1: a failure is raised as answered, unretried).
    :param connection_id: What ``ctx.connection_id`` says.
    """
    parsed = credentials if isinstance(credentials, Credentials) else platform.info.credential_schema.parse(credentials)
    return ConnectionRuntime(
        platform,
        connection_id,
        store_url,
        parsed,
        dict(settings or {}),
        EgressPolicy.for_tests(),
        HttpConfig(retry=RetryConfig(attempts=attempts)),
        clock=clock or FakeClock(),
        transport=transport,
    )
