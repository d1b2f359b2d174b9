"""Fault injection for the simulator, as an ASGI wrapper driven by a seeded random stream.

Before a request reaches the app it may be delayed (``latency``), dropped (the
connection closes after the status line, nothing is processed), answered HTTP 429
with ``Retry-After`` or answered 500/502/503/504, each with Shopify's ``{"errors": ...}``
body. After the app processed it, the response may be truncated (half the body, then
the connection closes). Cost-based throttling is not a fault: the app's
:class:`~storelink_shopify.simulator.throttle.CostBucket` does it. The same seed and
the same request sequence give the same faults.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.simulation import SimulatedDisconnect
from storelink_shopify.simulator.config import SimulatorConfig

__all__ = ["FaultInjector"]

_UNAVAILABLE = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class FaultInjector:
    """Wrap *app*, injecting the faults *config* asks for.

    :param app: The simulator's ASGI app.
    :param config: Rates and latency.
    :param count: Called with a counter name for every request and every fault.
    :param sleep: Awaited for latency (injectable so tests need not wait).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: SimulatorConfig,
        count: Callable[[str], None],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.app = app
        self.config = config
        self._count = count
        self._sleep = sleep
        self._rng = random.Random(f"{config.seed}:faults")
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._count("requests")
        config = self.config
        if config.latency > 0:
            await self._sleep(config.latency)
        with self._lock:
            drop, limited, failed, truncated, pick = (self._rng.random() for _ in range(5))
        if drop < config.drop_rate:
            self._count("faults_dropped")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
            raise SimulatedDisconnect()
        if limited < config.rate_limit_rate:
            self._count("faults_rate_limited")
            await _errors(send, 429, "Exceeded the rate limit; retry later", f"{config.retry_after:g}")
            return
        if failed < config.fail_rate:
            self._count("faults_5xx")
            status = sorted(_UNAVAILABLE)[int(pick * len(_UNAVAILABLE))]
            await _errors(send, status, _UNAVAILABLE[status])
            return
        if truncated < config.truncate_rate:
            self._count("faults_truncated")
            await self.app(scope, receive, _Truncating(send))
            return
        await self.app(scope, receive, send)


async def _errors(send: Send, status: int, message: str, retry_after: str | None = None) -> None:
    body = json.dumps({"errors": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
