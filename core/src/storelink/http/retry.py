"""When a failed request is sent again: the classification, the budget and the loop.

The classification is ours and is table-tested; tenacity runs the loop (full-jitter
exponential back-off, sleeping through the injected clock):

- ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``: the request never left, so
  it is resent, reads and writes alike;
- other timeouts, network and protocol errors (a connection reset or dropped in the
  middle of the body), and 429, 500, 502, 503, 504: reads are resent; for a write the
  outcome is unknown (the runtime raises :class:`~storelink.OrderOutcomeUnknown`);
- a body the plugin's reader finds cut off or unreadable, or an error envelope inside
  a successful status that it maps to :class:`~storelink.RetryableError`: reads are
  resent (see :meth:`~storelink.PlatformHTTP.read`);
- every other status (501, 505 and up, 4xx): not resent.

A ``Retry-After`` header (delay-seconds or an HTTP-date) replaces the back-off and is
honoured exactly; when it asks for longer than the operation's remaining deadline, the
loop stops at once and the :class:`~storelink.RetryableError` carries ``retry_after``
so a scheduler can come back later. A :class:`RetryBudget` per store stops retry storms.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from storelink.errors import StorelinkError
from storelink.http.clock import Clock
from storelink.http.config import RetryConfig

__all__ = ["Failure", "RetryBudget", "is_retryable", "never_left", "parse_retry_after", "run_with_retries"]

T = TypeVar("T")

#: Statuses a read is retried on.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Transport errors raised before the request was written: safe to resend anything.
NEVER_LEFT: tuple[type[httpx.TransportError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Transport errors a read is retried on.
TRANSIENT: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def never_left(exc: httpx.RequestError) -> bool:
    """Whether *exc* proves the request was never sent (so even a write may be resent)."""
    return isinstance(exc, NEVER_LEFT)


def is_retryable(*, status: int | None = None, exc: httpx.RequestError | None = None, idempotent: bool) -> bool:
    """Return whether one failed attempt should be sent again.

    :param status: The response status, if one arrived.
    :param exc: The transport error, if the attempt raised one.
    :param idempotent: ``False`` for writes that must not happen twice.
    """
    if exc is not None:
        return never_left(exc) or (idempotent and isinstance(exc, TRANSIENT))
    return idempotent and status in RETRY_STATUSES


def parse_retry_after(value: str | None, *, date: str | None = None, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, or ``None`` if absent or unreadable.

    :param value: The header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    :param date: The response's ``Date`` header; an HTTP-date is measured from it, so
        the store's clock is compared with itself.
    :param now: The current time when there is no ``Date`` (defaults to now, UTC).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    when = _http_date(text)
    if when is None:
        return None
    base = (_http_date(date) if date else None) or now or datetime.now(UTC)
    return max(0.0, (when - base).total_seconds())


def _http_date(text: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class RetryBudget:
    """A token bucket of retries for one store.

    It starts full with *floor* retries; every request adds *ratio* of a retry, up to
    *floor*; every retry spends one. Over any stretch of time a store therefore gets
    at most ``floor + ratio * requests`` retries, however many requests fail.

    :param ratio: Retries earned per request.
    :param floor: The bucket's size (and its starting fill).
    """

    def __init__(self, *, ratio: float, floor: int) -> None:
        self._ratio = ratio
        self._size = float(floor)
        self._tokens = float(floor)

    @property
    def available(self) -> float:
        """Retries that may be spent now."""
        return self._tokens

    def deposit(self) -> None:
        """Count one new request."""
        # Rounded, so that five deposits of 0.2 make exactly one retry.
        self._tokens = min(self._size, round(self._tokens + self._ratio, 9))

    def withdraw(self) -> bool:
        """Spend one retry if the bucket holds one; return whether it did."""
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class Failure(Exception):
    """One attempt's failure, already mapped to the error the caller would get.

    :param error: The storelink error to raise if the attempt is not retried.
    :param retryable: What :func:`is_retryable` said.
    :param retry_after: Seconds the store asked to wait (``Retry-After``).
    """

    def __init__(self, error: StorelinkError, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


def _failure(state: RetryCallState) -> Failure:
    exc = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(exc, Failure):
        raise TypeError("the retry loop only retries Failure")
    return exc


async def run_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    config: RetryConfig,
    clock: Clock,
    deadline: float,
    budget: RetryBudget,
    on_retry: Callable[[Failure, float, int], None],
) -> T:
    """Run *attempt* until it succeeds or the retry policy stops.

    An exception other than a retryable :class:`Failure` propagates at once; when the
    policy stops, the last failure's error is raised. It stops after
    ``config.attempts`` attempts, when the next sleep would end past *deadline* (on
    *clock*), or when *budget* has no retry left.

    :param attempt: Sends the request once; raises :class:`Failure` on failure.
    :param deadline: The operation's deadline, on *clock*.
    :param on_retry: Told ``(failure, sleep, next attempt number)`` before each sleep.
    """
    backoff = wait_random_exponential(multiplier=config.backoff_base, max=config.backoff_cap)

    def wait(state: RetryCallState) -> float:
        failure = _failure(state)
        return failure.retry_after if failure.retry_after is not None else float(backoff(state))

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= config.attempts:
            return True
        if clock.monotonic() + state.upcoming_sleep >= deadline:
            return True
        return not budget.withdraw()

    def before_sleep(state: RetryCallState) -> None:
        on_retry(_failure(state), state.upcoming_sleep, state.attempt_number + 1)

    retrying = AsyncRetrying(
        sleep=clock.sleep,
        stop=stop,
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, Failure) and exc.retryable),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def once() -> T:  # tenacity awaits only what is declared ``async def``
        return await attempt()

    try:
        return await retrying(once)
    except Failure as failure:
        raise failure.error from failure.__cause__
