"""The retry policy: a classification table, Retry-After, the deadline, back-off and the budget."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tenacity import RetryCallState, wait_random_exponential

from storelink import (
    AuthorizationError,
    ConflictError,
    NotFoundError,
    OrderOutcomeUnknown,
    RejectedError,
    RetryableError,
)
from storelink.http import HttpConfig, RetryBudget, RetryConfig, is_retryable, parse_retry_after

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def dated(status: int, retry_after: timedelta) -> httpx.Response:
    """A response whose Retry-After is an HTTP-date *retry_after* after its Date header."""
    return httpx.Response(
        status,
        headers={
            "Date": format_datetime(NOW, usegmt=True),
            "Retry-After": format_datetime(NOW + retry_after, usegmt=True),
        },
    )


def after(status: int, value: str) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": value})


def exc(kind: type[httpx.RequestError]) -> httpx.RequestError:
    return kind("simulated")


READ = ("GET", True)
WRITE = ("POST", False)
LOGINLIKE = ("POST", True)  # a POST the plugin declared idempotent

# (id, (method, idempotent), script, calls, error, sleeps). sleeps: a list of exact
# values, or an int: that many back-off sleeps, each within its full-jitter bound.
TABLE: list[tuple[str, tuple[str, bool], list[Any], int, type[Exception] | None, list[float] | int]] = [
    ("200", READ, [], 1, None, []),
    ("503-200", READ, [503], 2, None, 1),
    ("503-503-200", READ, [503, 503], 3, None, 2),
    ("502-504-429-200", READ, [502, 504, 429], 4, None, 3),
    ("503x4-gives-up", READ, [503] * 4, 4, RetryableError, 3),
    ("500-200", READ, [500], 2, None, 1),
    ("500x4-gives-up", READ, [500] * 4, 4, RetryableError, 3),
    ("501-not-retried", READ, [501], 1, RetryableError, []),
    ("400", READ, [400], 1, RejectedError, []),
    ("404", READ, [404], 1, NotFoundError, []),
    ("409", READ, [409], 1, ConflictError, []),
    ("412", READ, [412], 1, ConflictError, []),
    ("422", READ, [422], 1, RejectedError, []),
    ("403", READ, [403], 1, AuthorizationError, []),
    (
        "302-not-followed",
        READ,
        [httpx.Response(302, headers={"Location": "http://169.254.169.254/"})],
        1,
        RejectedError,
        [],
    ),
    ("connect-error", READ, [exc(httpx.ConnectError)], 2, None, 1),
    ("connect-timeout", READ, [exc(httpx.ConnectTimeout)], 2, None, 1),
    ("pool-timeout", READ, [exc(httpx.PoolTimeout)], 2, None, 1),
    ("read-timeout", READ, [exc(httpx.ReadTimeout)], 2, None, 1),
    ("remote-protocol-error", READ, [exc(httpx.RemoteProtocolError)], 2, None, 1),
    ("read-error", READ, [exc(httpx.ReadError)], 2, None, 1),
    ("read-timeout-x4", READ, [exc(httpx.ReadTimeout)] * 4, 4, RetryableError, 3),
    ("429-retry-after-7", READ, [after(429, "7")], 2, None, [7.0]),
    ("503-retry-after-0", READ, [after(503, "0")], 2, None, [0.0]),
    ("429-retry-after-http-date", READ, [dated(429, timedelta(seconds=12))], 2, None, [12.0]),
    ("503-retry-after-garbage", READ, [after(503, "soon")], 2, None, 1),
    ("503-retry-after-3600-beyond-deadline", READ, [after(503, "3600")], 1, RetryableError, []),
    ("429-http-date-beyond-deadline", READ, [dated(429, timedelta(minutes=5))], 1, RetryableError, []),
    (
        "retry-afters-add-up-past-deadline",
        READ,
        [after(503, "30"), after(503, "29"), after(503, "2")],
        3,
        RetryableError,
        [30.0, 29.0],
    ),
    ("post-idempotent-503-200", LOGINLIKE, [503], 2, None, 1),
    ("write-connect-error", WRITE, [exc(httpx.ConnectError)], 2, None, 1),
    ("write-connect-timeout", WRITE, [exc(httpx.ConnectTimeout)], 2, None, 1),
    ("write-pool-timeout", WRITE, [exc(httpx.PoolTimeout)], 2, None, 1),
    ("write-read-timeout", WRITE, [exc(httpx.ReadTimeout)], 1, OrderOutcomeUnknown, []),
    ("write-write-timeout", WRITE, [exc(httpx.WriteTimeout)], 1, OrderOutcomeUnknown, []),
    ("write-remote-protocol-error", WRITE, [exc(httpx.RemoteProtocolError)], 1, OrderOutcomeUnknown, []),
    ("write-read-error", WRITE, [exc(httpx.ReadError)], 1, OrderOutcomeUnknown, []),
    ("write-503", WRITE, [503], 1, OrderOutcomeUnknown, []),
    ("write-500", WRITE, [500], 1, OrderOutcomeUnknown, []),
    ("write-429", WRITE, [after(429, "1")], 1, OrderOutcomeUnknown, []),
    ("write-303", WRITE, [httpx.Response(303, headers={"Location": "/orders/1"})], 1, OrderOutcomeUnknown, []),
    ("write-400", WRITE, [400], 1, RejectedError, []),
    ("write-409", WRITE, [409], 1, ConflictError, []),
    ("write-201", WRITE, [httpx.Response(201, json={"id": "o1"})], 1, None, []),
]


@pytest.mark.parametrize(
    ("method", "script", "calls", "error", "sleeps"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
async def test_retry_table(
    make_runtime: Any,
    store: Any,
    clock: Any,
    method: tuple[str, bool],
    script: list[Any],
    calls: int,
    error: type[Exception] | None,
    sleeps: list[float] | int,
) -> None:
    verb, idempotent = method
    runtime = make_runtime()
    await runtime.request("GET", "/warm", operation="fetch_products", audience="default")  # log in first
    before, clock.sleeps[:] = len(store.calls), []
    store.script = list(script)

    async def send() -> httpx.Response:
        return await runtime.request(
            verb,
            "/orders" if verb == "POST" else "/items",
            operation="create_order" if not idempotent else "fetch_products",
            audience="agent" if not idempotent else "default",
            json={"reference": "ref-1"} if verb == "POST" else None,
            idempotent=idempotent,
            reference="ref-1" if not idempotent else None,
        )

    if error is None:
        assert (await send()).status_code < 300
    else:
        with pytest.raises(error):
            await send()

    made = [r for r in store.calls[before:] if r.url.path != "/login"]
    assert len(made) == calls
    if isinstance(sleeps, list):
        assert clock.sleeps == sleeps
    else:
        assert len(clock.sleeps) == sleeps
        for n, slept in enumerate(clock.sleeps):
            assert 0.0 <= slept <= min(20.0, 0.5 * 2**n)


async def test_retry_after_beyond_the_deadline_raises_at_once_with_retry_after(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    runtime = make_runtime()
    store.script = [after(503, "3600")]
    with pytest.raises(RetryableError) as caught:
        await get(runtime)
    assert caught.value.retry_after == 3600.0
    assert caught.value.status == 503
    assert clock.sleeps == []


async def test_the_http_date_retry_after_is_measured_from_the_date_header(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    runtime = make_runtime()
    store.script = [dated(503, timedelta(seconds=90))]
    with pytest.raises(RetryableError) as caught:
        await get(runtime)
    assert caught.value.retry_after == 90.0


async def test_write_outcome_unknown_names_the_reference_and_keeps_the_cause(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    store.script = [httpx.ReadTimeout("lost")]
    with pytest.raises(OrderOutcomeUnknown) as caught:
        await runtime.request(
            "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="ch-42"
        )
    assert caught.value.reference == "ch-42"
    assert "ch-42" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_a_write_after_401_is_resent_once_with_a_new_token(make_runtime: Any, store: Any) -> None:
    """A 401 means the store did not act, so the single resend of the 401 flow is safe for writes."""
    runtime = make_runtime()
    await runtime.request(
        "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r"
    )
    store.invalidate_tokens()
    response = await runtime.request(
        "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r"
    )
    assert response.status_code == 200
    assert len(store.to("/orders")) == 3


async def test_1000_requests_to_an_always_503_store_make_at_most_1210_attempts(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    """The budget (20 % of requests + a floor of 10) keeps 4 attempts each from becoming 4,000."""
    runtime = make_runtime()
    await get(runtime)
    before = len(store.to("/items"))
    store.script = [503] * 10_000
    for _ in range(1000):
        with pytest.raises(RetryableError):
            await get(runtime)
    attempts = len(store.to("/items")) - before
    assert 1000 + 200 <= attempts <= 1000 + 200 + 10
    assert runtime.stats.retries == attempts - 1000


def test_the_budget_allows_floor_plus_ratio_times_requests() -> None:
    budget = RetryBudget(ratio=0.2, floor=10)
    spent = 0
    for _ in range(100):
        budget.deposit()
        while budget.withdraw():
            spent += 1
    # At most floor + 20 % of 100; the first deposit is lost because the bucket starts full.
    assert spent == 10 + 20 - 1


def test_the_budget_refills_only_up_to_its_floor() -> None:
    budget = RetryBudget(ratio=0.5, floor=3)
    for _ in range(100):
        budget.deposit()
    assert budget.available == 3.0


def test_backoff_is_full_jitter_within_its_bound_and_averages_half_of_it() -> None:
    """10,000 seeded draws per retry number: within [0, min(cap, base * 2**n)], mean within 5 % of bound/2."""
    random.seed(1234)
    wait = wait_random_exponential(multiplier=0.5, max=20.0)
    for n in range(1, 8):
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = n
        bound = min(20.0, 0.5 * 2 ** (n - 1))
        draws = [wait(state) for _ in range(10_000)]
        assert all(0.0 <= d <= bound for d in draws)
        assert abs(sum(draws) / len(draws) - bound / 2) <= 0.05 * bound / 2


@pytest.mark.parametrize(
    ("status", "exc", "idempotent", "expected"),
    [
        (429, None, True, True),
        (502, None, True, True),
        (503, None, True, True),
        (504, None, True, True),
        (500, None, True, True),
        (500, None, False, False),
        (501, None, True, False),
        (408, None, True, False),
        (503, None, False, False),
        (None, httpx.ConnectError("x"), False, True),
        (None, httpx.ConnectTimeout("x"), False, True),
        (None, httpx.PoolTimeout("x"), False, True),
        (None, httpx.ReadTimeout("x"), False, False),
        (None, httpx.ReadTimeout("x"), True, True),
        (None, httpx.WriteError("x"), True, True),
        (None, httpx.LocalProtocolError("x"), True, False),
        (None, httpx.DecodingError("x"), True, False),
    ],
)
def test_is_retryable(status: int | None, exc: httpx.RequestError | None, idempotent: bool, expected: bool) -> None:
    assert is_retryable(status=status, exc=exc, idempotent=idempotent) is expected


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("7", None, 7.0),
        (" 120 ", None, 120.0),
        ("1.5", None, 1.5),
        ("0", None, 0.0),
        ("-3", None, None),
        ("", None, None),
        (None, None, None),
        ("soon", None, None),
        ("Sun, 01 Nov 2026 12:00:30 GMT", "Sun, 01 Nov 2026 12:00:00 GMT", 30.0),
        ("Sun, 01 Nov 2026 11:59:00 GMT", "Sun, 01 Nov 2026 12:00:00 GMT", 0.0),
        ("Sunday, 01-Nov-26 12:01:00 GMT", "Sun, 01 Nov 2026 12:00:00 GMT", 60.0),
        ("Sun Nov  1 12:00:10 2026", "Sun, 01 Nov 2026 12:00:00 GMT", 10.0),
        ("Sun, 01 Nov 2026 12:00:45 GMT", None, 45.0),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, date=date, now=NOW) == expected


async def test_the_overall_deadline_cuts_off_a_store_that_never_answers(
    make_runtime: Any, store: Any, get: Any
) -> None:
    import asyncio

    # A real (50 ms) deadline, on purpose: the handler hangs for ever, and what cuts it
    # off is the runtime's ``asyncio.timeout``, which runs on the event loop's clock;
    # the injected fake clock only moves when something sleeps on it, so it cannot.
    runtime = make_runtime(config=HttpConfig(deadline=0.05, retry=RetryConfig(attempts=4)))
    await get(runtime)  # logged in

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    store.script = [hang]
    with pytest.raises(RetryableError, match="deadline"):
        await get(runtime)
    assert len(store.to("/items")) == 2


async def test_a_write_cut_off_by_the_deadline_has_an_unknown_outcome(make_runtime: Any, store: Any) -> None:
    import asyncio

    # A real deadline, as above: only the event loop's clock can end a hang.
    runtime = make_runtime(config=HttpConfig(deadline=0.05))

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    await runtime.request("GET", "/items", operation="fetch_products", audience="agent")
    store.script = [hang]
    with pytest.raises(OrderOutcomeUnknown, match="deadline"):
        await runtime.request(
            "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r9"
        )


def _json_reader(response: httpx.Response) -> Any:
    body = json.loads(response.content)
    if isinstance(body, dict) and body.get("status") == "503":  # an error envelope inside HTTP 200
        raise RetryableError("busy", retry_after=2.0)
    return body


@pytest.mark.parametrize(
    ("script", "calls", "sleeps"),
    [
        ([httpx.Response(200, content=b'{"items": [1, 2')], 2, 1),  # cut off mid-body
        ([httpx.Response(200, content=b"")], 2, 1),  # empty where JSON was due
        ([httpx.Response(200, json={"status": "503", "message": "busy"})], 2, [2.0]),  # envelope, Retry-After
        ([httpx.Response(200, content=b"{"), 500, httpx.Response(200, json={"status": "503"})], 4, 3),
    ],
    ids=["truncated-json", "empty-body", "envelope-in-200", "mixed"],
)
async def test_a_read_whose_body_cannot_be_read_is_sent_again(
    make_runtime: Any, store: Any, clock: Any, script: list[Any], calls: int, sleeps: list[float] | int
) -> None:
    runtime = make_runtime()
    await runtime.request("GET", "/warm", operation="fetch_products", audience="default")
    before, clock.sleeps[:] = len(store.calls), []
    store.script = list(script)
    body = await runtime.read("GET", "/items", reader=_json_reader, operation="fetch_products", audience="default")
    assert body is not None
    assert len([r for r in store.calls[before:] if r.url.path != "/login"]) == calls
    if isinstance(sleeps, list):
        assert clock.sleeps == sleeps
    else:
        assert len(clock.sleeps) == sleeps
    assert runtime.stats.retries == calls - 1


async def test_an_unreadable_body_that_never_heals_is_a_retryable_error(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    store.script = [httpx.Response(200, content=b'{"cut')] * 4
    with pytest.raises(RetryableError, match="cut off or could not be decoded"):
        await runtime.read("GET", "/items", reader=_json_reader, operation="fetch_products", audience="default")


@pytest.mark.parametrize(
    "answer", [httpx.Response(201, content=b'{"id": "o'), httpx.Response(200, json={"status": "503"})]
)
async def test_a_write_whose_answer_cannot_be_read_is_never_sent_again(
    make_runtime: Any, store: Any, answer: httpx.Response
) -> None:
    runtime = make_runtime()
    await runtime.request("GET", "/warm", operation="fetch_products", audience="default")
    before = len(store.calls)
    store.script = [answer]
    with pytest.raises((OrderOutcomeUnknown, RetryableError)):
        await runtime.read(
            "POST",
            "/orders",
            reader=_json_reader,
            operation="create_order",
            audience="agent",
            json={"reference": "ref-1"},
            idempotent=False,
            reference="ref-1",
        )
    assert len([r for r in store.calls[before:] if r.url.path != "/login"]) == 1


def test_the_retry_table_in_the_docs_matches_the_code() -> None:
    """docs/http.md's retry table is the classification: each status row says what is_retryable says."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "http.md").read_text()
    section = doc[doc.index("## Retries, deadline and budget") :].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("| "))
    end = next(i for i in range(start, len(section)) if not section[i].startswith("| "))
    table = "\n".join(section[start:end])
    rows = [line for line in section[start:end] if "---" not in line][1:]
    documented: dict[int, tuple[str, str]] = {}
    for row in rows:
        failure, read, write = (cell.strip() for cell in row.strip("|").split("|"))
        for status in re.findall(r"\b([1-5]\d\d)\b", failure):
            documented[int(status)] = (read, write)
    assert documented, "no status rows found in docs/http.md's retry table"
    for status in (*range(429, 430), *range(500, 512)):
        assert status in documented or (status > 504 and "other 5xx" in table), f"HTTP {status} missing from docs"
    for status, (read, write) in documented.items():
        assert (read == "retried") is is_retryable(status=status, idempotent=True), f"HTTP {status} (read)"
        assert not is_retryable(status=status, idempotent=False), f"HTTP {status} (write)"
        assert write != "retried", f"HTTP {status} (write)"
    from storelink.http.retry import RETRY_STATUSES

    assert {s for s, (read, _) in documented.items() if read == "retried"} == set(RETRY_STATUSES)
