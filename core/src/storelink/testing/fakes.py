"""Test doubles for the core's collaborators: a clock, and faults on a transport.

:class:`FakeClock` satisfies the core's ``Clock`` protocol (``monotonic()`` and
``async sleep(seconds)``): sleeping advances it at once, so token lifetimes and
retry back-offs run in no time. :class:`FaultTransport` wraps a transport and answers
chosen requests itself, to show how a plugin behaves when its platform misbehaves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

__all__ = ["FakeClock", "Fault", "FaultTransport", "bearer_of", "json_response"]


class FakeClock:
    """A clock that moves only when told to, or when something sleeps on it.

    It is a monotonic clock (:meth:`monotonic`, :meth:`sleep`) for runtimes, hubs and
    token managers, and it is callable, so it also serves where a function returning
    the time is expected (the connect service's session clock). A test moves it with
    :meth:`advance` or by setting :attr:`now`; it never goes back.

    :param start: The initial reading, in seconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        #: Every duration passed to :meth:`sleep`, in order.
        self.sleeps: list[float] = []

    @property
    def now(self) -> float:
        """The current reading; setting it moves the clock there (forward only)."""
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        self.advance(value - self._now)

    @property
    def slept(self) -> float:
        """The total of every duration slept, in seconds."""
        return sum(max(s, 0.0) for s in self.sleeps)

    def monotonic(self) -> float:
        """Return the current reading."""
        return self._now

    def __call__(self) -> float:
        """Return the current reading (the clock as a time function)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by *seconds*."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance by *seconds* and yield to the event loop once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)


#: Decides whether the fault answers *request*: returns the response to send, or ``None``.
Fault = Callable[[httpx.Request], httpx.Response | None]


class FaultTransport(httpx.AsyncBaseTransport):
    """Forward requests to *inner*, except those a fault answers first.

    It does not own *inner*: closing it leaves *inner* open, so several runtimes in
    one test can share the platform behind it.

    :param inner: The platform's transport (a simulator's ASGI transport, a replay).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Consult *fault* for every later request (after the faults added before it)."""
        self.faults.append(fault)

    def clear(self) -> None:
        """Remove every fault: requests reach the platform again."""
        self.faults.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* with the first fault that wants it, else pass it on."""
        for fault in self.faults:
            response = fault(request)
            if response is not None:
                return response
        return await self.inner.handle_async_request(request)


def bearer_of(request: httpx.Request, *, header: str = "Authorization", prefix: str = "Bearer ") -> str | None:
    """Return the token or key in *request*'s ``Authorization: Bearer`` header, if any.

    :param header: The header the platform's tokens travel in (``PlatformInfo.token_header``).
    :param prefix: What precedes the token there (``PlatformInfo.token_prefix``; ``""``: none).
    """
    value = request.headers.get(header, "")
    if prefix:
        if value[: len(prefix)].lower() != prefix.lower():
            return None
        value = value[len(prefix) :]
    return value or None


def json_response(status: int, body: object, request: httpx.Request) -> httpx.Response:
    """Build a response with a JSON *body*, as a fault answers."""
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}, request=request
    )
