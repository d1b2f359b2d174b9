"""Shopify's cost-based throttle: a leaky bucket of query-cost points per app and shop.

A query is charged its *requested* cost up front; when the bucket holds less, the
query is not run and the answer is ``THROTTLED``. After it runs, the difference
between the requested and the *actual* cost is refunded. The bucket refills at
``restoreRate`` points per second up to ``maximumAvailable``. A query whose requested
cost exceeds the bucket's size can never run (``MAX_COST_EXCEEDED``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CostBucket"]


class CostBucket:
    """A leaky bucket of query-cost points.

    :param size: ``maximumAvailable``.
    :param restore_rate: Points regained per second.
    :param clock: Monotonic seconds (inject a fake to skip time).
    """

    def __init__(self, *, size: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.size = size
        self.restore_rate = restore_rate
        self._clock = clock
        self._available = size
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.size, self._available + max(now - self._at, 0.0) * self.restore_rate)
        self._at = now

    @property
    def available(self) -> float:
        """Points available now (``currentlyAvailable``)."""
        with self._lock:
            self._refill()
            return self._available

    def charge(self, requested: float) -> bool:
        """Take *requested* points if the bucket holds them; ``False`` (throttled) if not."""
        with self._lock:
            self._refill()
            if requested > self._available:
                return False
            self._available -= requested
            return True

    def refund(self, points: float) -> None:
        """Give back *points* (requested minus actual cost)."""
        with self._lock:
            self._refill()
            self._available = min(self.size, self._available + max(points, 0.0))

    def drain(self, points: float | None = None) -> None:
        """Empty the bucket (or take *points*), as other clients of the same app would."""
        with self._lock:
            self._refill()
            self._available = 0.0 if points is None else max(self._available - points, 0.0)
