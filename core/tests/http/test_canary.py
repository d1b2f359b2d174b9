"""The canary: a unique key and its tokens through a whole flow, then a scan of everything (T2.1, T2.2).

The flow logs in, refreshes, meets a 401, 5xx, timeouts, an order whose answer is lost,
a refused address, and a revoked key, partly over a real loopback server (so httpcore
and uvicorn log too), with every logger at DEBUG and each failure logged with its
traceback. The scan then searches log records (message, args, exc_text, stack), what
reached stdout and stderr, and the str, repr and traceback of every exception and its
cause chain, for the key and every token, raw, URL-encoded and base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import traceback
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import uvicorn

from storelink import (
    AuthorizationError,
    ConnectionRevokedError,
    CredentialsError,
    EgressError,
    OrderOutcomeUnknown,
    RetryableError,
    StoreURL,
)
from storelink.http import EgressPolicy


def forms(value: str) -> set[str]:
    raw = value.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {value, quote(value, safe=""), quote_plus(value)} | encoded | {e.rstrip("=") for e in encoded}


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def artifacts(
    records: Iterable[logging.LogRecord], streams: Iterable[str], errors: Iterable[BaseException]
) -> list[str]:
    found: list[str] = []
    for r in records:
        found += [r.getMessage(), str(r.msg), repr(r.args), r.exc_text or "", r.stack_info or ""]
    found += list(streams)
    for error in errors:
        found += ["".join(traceback.format_exception(error))]
        found += [text for e in chain(error) for text in (str(e), repr(e))]
    return found


def leaks(found: Iterable[str], secrets: Iterable[str]) -> list[str]:
    needles = sorted({f for s in secrets for f in forms(s)} | {"CANARY"}, key=len, reverse=True)
    return [needle for text in found for needle in needles if needle in text]


def asgi(store: Any) -> Any:
    """Serve the fake store as an ASGI app (for a real loopback server)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        url = f"http://127.0.0.1{scope['path']}?{scope['query_string'].decode()}"
        response = await store.handle(httpx.Request(scope["method"], url, headers=scope["headers"], content=body))
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.headers.raw})
        await send({"type": "http.response.body", "body": response.content})

    return app


@pytest.fixture
def key() -> str:
    """The canary application key (overrides conftest's)."""
    return f"CANARY-KEY-{uuid.uuid4().hex}"


@pytest.fixture
def store(clock: Any, key: str, fakes: Any) -> Any:
    """The fake store, issuing canary access tokens (overrides conftest's)."""
    return fakes.FakeStore(clock, key=key, prefix=f"CANARY-TOK-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def served(store: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(asgi(store), host="127.0.0.1", port=0, lifespan="off", log_level="debug"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def loud(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Every logger at its most verbose, and the root logger also printing to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(1)
    for name in ("httpx", "httpcore", "uvicorn", "storelink"):
        caplog.set_level(1, logger=name)
    yield
    root.removeHandler(handler)


async def flow(make_runtime: Any, store: Any, clock: Any, fakes: Any, origin: str) -> list[BaseException]:
    errors: list[BaseException] = []
    log = logging.getLogger("tests.canary")
    platform = fakes.make_platform(fakes.RefreshingFakePlatform())
    real = make_runtime(
        platform=platform, store_url=StoreURL(origin=origin), egress=EgressPolicy.for_tests(), transport=None
    )
    mock = make_runtime(platform=platform, connection_id="c2")

    async def expect(kind: type[BaseException], call: Any) -> None:
        try:
            await call
        except kind as exc:
            errors.append(exc)
            log.exception("the call failed as expected: %s", exc)
        else:
            raise AssertionError(f"expected {kind.__name__}")

    read = fakes.read
    await read(real)  # login over the network
    store.script = [503, 502]
    await read(real)  # 5xx, retried
    clock.now = 250.0
    await read(real)  # refresh
    store.invalidate_tokens()
    await read(real)  # 401 -> login again
    await read(mock)
    store.script = [httpx.ReadTimeout("timed out")] * 4
    await expect(RetryableError, read(mock))
    store.script = [httpx.ReadTimeout("lost")]
    order = mock.request(
        "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r1"
    )
    await expect(OrderOutcomeUnknown, order)
    store.reject_all = True
    await expect(AuthorizationError, read(mock))
    store.reject_all = False
    await expect(EgressError, mock.request("GET", "/x", operation="op", audience=None, base_url="https://10.0.0.1"))
    store.revoked = True
    clock.now = 1000.0
    await expect(CredentialsError, read(real))
    await expect(ConnectionRevokedError, read(real))
    for runtime in (real, mock):
        log.debug("runtime %r ctx %r stats %r", runtime, runtime.ctx, runtime.stats)
        log.debug("credentials %r %s", runtime.ctx.credentials, json.dumps(dict(runtime.ctx.credentials), default=str))
    return errors


async def test_a_canary_key_and_its_tokens_appear_nowhere(
    make_runtime: Any,
    fakes: Any,
    clock: Any,
    key: str,
    store: Any,
    served: str,
    loud: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    errors = await flow(make_runtime, store, clock, fakes, served)

    out, err = capfd.readouterr()
    found = artifacts(caplog.records, [out, err], errors)
    assert leaks(found, [key, *store.issued]) == [], f"leaks in {len(caplog.records)} log records"
    # The flow really happened, and the scan looked at real output.
    assert len(errors) == 6
    assert len(store.issued) >= 4
    assert store.refresh_times == [250.0]
    assert len(caplog.records) > 100
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name.startswith("uvicorn") for r in caplog.records)
    assert "storelink.http" in err
    # Positive control (T2.2): the key left the process in exactly the login requests' header.
    logins = store.to("/login")
    assert sum(r.headers.get("authorization") == f"Bearer {key}" for r in logins) == len(logins) >= 4


def test_a_planted_leak_is_caught(
    key: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """The scan has teeth: leaks planted where scrubbing cannot reach are all found."""
    caplog.set_level(logging.INFO)
    record = logging.makeLogRecord({"name": "tests.planted", "levelno": logging.INFO, "msg": f"planted {key}"})
    logging.getLogger("tests.planted").handle(record)  # bypasses the scrubbing record factory
    print(f"debug print {quote(key, safe='')}", file=sys.stderr)  # bypasses logging entirely
    planted = RuntimeError(base64.b64encode(key.encode()).decode())

    out, err = capfd.readouterr()
    found = leaks(artifacts(caplog.records, [out, err], [planted]), [key])
    assert key in found
    assert quote(key, safe="") in found
    assert base64.b64encode(key.encode()).decode() in found
