"""Time, as the HTTP layer sees it: a monotonic clock and a sleep, both injectable.

Token lifetimes, refresh times, retry back-off and the overall deadline are measured
with :class:`Clock`. Production uses :class:`SystemClock`; tests pass a fake whose
``sleep`` records the delay and moves ``monotonic`` forward, so no test sleeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """A monotonic clock in seconds, and a way to wait on it."""

    def monotonic(self) -> float:
        """Return seconds since an arbitrary fixed point; never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds*."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* on the running event loop."""
        await asyncio.sleep(seconds)
