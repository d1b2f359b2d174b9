"""Cost-based pacing: a request waits for the store's budget instead of being throttled.

Some platforms meter an app's requests to a store in the points of a leaky bucket:
each request costs points, the bucket holds *capacity* points and refills at
*restore_rate* points a second, and a request the bucket cannot pay for is refused
("throttled") and has to be sent again. Reacting to refusals costs a wasted request
each, and pages fetched side by side collide again on their retries. A plugin that
can read the bucket from the platform's answers reports it, and tells the cost of each
request; the connection's :class:`Pacer` then holds each request with a cost until the
bucket can pay for it::

    data = await ctx.http.read("POST", "/graphql", reader=read, cost=752, ...)
    # in read(response):
    ctx.http.report_budget(capacity=1000, available=248, restore_rate=50)

The rules, per connection runtime (so across the concurrent pages of a sync):

- the bucket's level is estimated from the latest report, refilled at its restore rate
  since, minus the cost of the requests still in flight (reserved when they leave,
  released when they end, whatever their outcome); a request leaves when the level
  pays for it. The estimate errs low: the report already holds the charges of the
  requests the platform had received, and they are reserved too until they end;
- until the first report, requests with a cost go one at a time (the first answer
  tells the bucket);
- requests wait in arrival order, so a large one is not starved by small ones;
- a request that costs more than the bucket holds is sent at once: waiting cannot
  make it fit, and the platform's refusal says why;
- a wait that would end past the operation's deadline is not waited:
  :class:`OverBudget` says how long it would take.

Requests without a cost are never held.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from attrs import frozen

from storelink.http.clock import Clock

__all__ = ["Budget", "OverBudget", "Pacer", "check_cost"]

#: Points a level may fall short of a cost and still pay it (float rounding of the refill).
TOLERANCE = 1e-6
#: The shortest wait (seconds): a shorter one may not move a clock that reads large numbers.
MIN_NAP = 0.001


@frozen(kw_only=True)
class Budget:
    """A store's request budget as last reported.

    :param capacity: The most points the bucket holds.
    :param available: The points it held when reported.
    :param restore_rate: Points it regains per second.
    :param at: When it was reported, on the runtime's clock.
    """

    capacity: float
    available: float
    restore_rate: float
    at: float

    def level(self, now: float) -> float:
        """Return the points the bucket holds at *now*, refilled since the report."""
        return min(self.capacity, self.available + max(now - self.at, 0.0) * self.restore_rate)


class OverBudget(Exception):
    """The budget cannot pay for a request before its deadline; nothing was sent.

    :param seconds: How long the request would have had to wait.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the store's request budget allows this request in {seconds:.1f} s")
        self.seconds = seconds


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_cost(cost: object) -> float:
    """Return *cost* as a float, or raise :class:`ValueError` saying what is wrong with it."""
    points = _number("cost", cost)
    if points <= 0:
        raise ValueError(f"cost must be above 0 (the points the request uses), got {cost!r}")
    return points


class Pacer:
    """Holds one connection's requests that have a cost until its budget can pay for them.

    :param clock: The runtime's clock: it measures the refill and sleeps the waits.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._budget: Budget | None = None
        self._in_flight = 0.0
        self._probing = False
        self._turn = asyncio.Lock()
        self._changed = asyncio.Event()
        #: Requests that waited for the budget, and the seconds they waited in all.
        self.waits = 0
        self.waited = 0.0

    @property
    def budget(self) -> Budget | None:
        """The latest report, or ``None`` before the first."""
        return self._budget

    @property
    def in_flight(self) -> float:
        """The points reserved by requests that have not ended."""
        return self._in_flight

    def level(self) -> float | None:
        """Return the estimated points a new request may use now, or ``None`` before the first report."""
        if self._budget is None:
            return None
        return self._budget.level(self._clock.monotonic()) - self._in_flight

    def report(self, *, capacity: float, available: float, restore_rate: float) -> None:
        """Record the budget a platform answered with (the latest report replaces the one before).

        *available* is kept between 0 and *capacity* (platforms round).

        :raises ValueError: A value is not a finite number, or *capacity* or
            *restore_rate* is not above 0.
        """
        size, level, rate = (
            _number("capacity", capacity),
            _number("available", available),
            _number("restore_rate", restore_rate),
        )
        if size <= 0 or rate <= 0:
            raise ValueError(f"capacity and restore_rate must be above 0, got {capacity!r} and {restore_rate!r}")
        self._budget = Budget(
            capacity=size, available=min(max(level, 0.0), size), restore_rate=rate, at=self._clock.monotonic()
        )
        self._changed.set()

    @contextlib.asynccontextmanager
    async def spend(self, cost: float, *, deadline: float) -> AsyncIterator[None]:
        """Wait until the budget can pay *cost*, and hold it while the block runs (one attempt).

        :param cost: The request's points (see :func:`check_cost`).
        :param deadline: The operation's deadline, on the clock.
        :raises OverBudget: The wait would end past *deadline*.
        """
        held, probe = await self._acquire(cost, deadline)
        try:
            yield
        finally:
            self._in_flight = max(self._in_flight - held, 0.0)
            if probe:
                self._probing = False
            self._changed.set()

    async def _acquire(self, cost: float, deadline: float) -> tuple[float, bool]:
        """Return the points reserved and whether this request is the first one, sent to learn the budget."""
        started = self._clock.monotonic()
        async with self._turn:  # the head of the queue waits; the others wait behind it
            try:
                while True:
                    self._changed.clear()
                    budget = self._budget
                    if budget is None:
                        if not self._probing:
                            self._probing = True
                            self._in_flight += cost
                            return cost, True
                        await self._changed.wait()  # the first request's answer, or its end
                        continue
                    if cost > budget.capacity:
                        return 0.0, False
                    now = self._clock.monotonic()
                    refilled = budget.level(now)
                    if refilled - self._in_flight + TOLERANCE >= cost:
                        self._in_flight += cost
                        return cost, False
                    # The least it can take: the requests in flight may all end at no charge.
                    least = max(cost - refilled, 0.0) / budget.restore_rate
                    if now + least > deadline:
                        raise OverBudget(least)
                    # Refilling helps up to a full bucket; past that, only requests ending do.
                    target = min(cost + self._in_flight, budget.capacity)
                    refill = (target - refilled) / budget.restore_rate
                    if refill > TOLERANCE:
                        await self._nap(max(refill, MIN_NAP))
                    else:
                        await self._changed.wait()
            finally:
                waited = self._clock.monotonic() - started
                if waited > 0:
                    self.waits += 1
                    self.waited += waited

    async def _nap(self, seconds: float) -> None:
        """Sleep *seconds* on the clock, or less if a report or a finished request changes the level."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        woken = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait((sleeper, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()
