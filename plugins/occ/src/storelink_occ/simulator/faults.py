"""Fault injection for the simulator, as an ASGI wrapper driven by a seeded random stream.

Before a request reaches the app it may be delayed (``latency``), dropped (the
connection closes after the status line, nothing is processed), answered 429 with
``Retry-After``, or answered 500/502/503/504, each with OCC's error envelope. After the app
processed it, the response may be truncated (half the body, then the connection
closes) or, for order creation, lost entirely: the order is committed and the client
never learns it ("commit then lose the response"). The same seed and the same request
sequence give the same faults.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.simulation import SimulatedDisconnect
from storelink_occ.simulator.config import SimulatorConfig

__all__ = ["FaultInjector"]

ORDER_CREATION = ("POST", "/ccappagent/v1/orders")
_UNAVAILABLE = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultInjector:
    """Wrap *app*, injecting the faults *config* asks for.

    :param app: The simulator's ASGI app.
    :param config: Rates and latency (``fault_paths`` limits which paths get faults).
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
        if self.config.latency > 0:
            await self._sleep(self.config.latency)
        config = self.config
        if config.fault_paths and not scope["path"].startswith(config.fault_paths):
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
            retry_after = f"{config.retry_after:g}"
            await _envelope(send, 429, f"Too many requests; retry after {retry_after} seconds", retry_after)
            return
        if failed < config.fail_rate:
            self._count("faults_5xx")
            status = sorted(_UNAVAILABLE)[int(pick * len(_UNAVAILABLE))]
            await _envelope(send, status, _UNAVAILABLE[status])
            return
        if (scope["method"], scope["path"].rstrip("/")) == ORDER_CREATION:
            if after < config.lose_order_rate:
                self._count("faults_lost_orders")
                await self.app(scope, receive, _swallow)
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
                raise SimulatedDisconnect("the simulator committed the order and dropped the response")
        elif after < config.truncate_rate:
            self._count("faults_truncated")
            await self.app(scope, receive, _Truncating(send))
            return
        await self.app(scope, receive, send)


async def _envelope(send: Send, status: int, message: str, retry_after: str | None = None) -> None:
    body = json.dumps({"status": str(status), "message": message, "errorCode": f"SIM{status}"}).encode()
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
