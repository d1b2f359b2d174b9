"""The core's fault injector for simulators: each fault, the counters, the seed, the overrides."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest
from attrs import evolve, frozen
from starlette.types import Receive, Scope, Send

from storelink.simulation import UNAVAILABLE, FaultInjector


@frozen(kw_only=True)
class Config:
    seed: int = 0
    latency: float = 0.0
    drop_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    fail_rate: float = 0.0
    truncate_rate: float = 0.0


class Backend:
    """A tiny app that answers a fixed JSON body and counts what it processed."""

    def __init__(self) -> None:
        self.processed: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.processed.append((scope["method"], scope["path"]))
        body = json.dumps({"ok": True, "padding": "x" * 200}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


def body(status: int, retry_after: str | None) -> bytes:
    return json.dumps({"status": status, "retry_after": retry_after}).encode()


class Harness:
    def __init__(self, config: Config, injector: type[FaultInjector[Config]] = FaultInjector) -> None:
        self.backend = Backend()
        self.counts: Counter[str] = Counter()
        self.slept: list[float] = []
        self.injector = injector(self.backend, config=config, count=self.count, sleep=self.sleep, error_body=body)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.injector), base_url="http://sim")

    def count(self, name: str) -> None:
        self.counts[name] += 1

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_no_rates_pass_every_request_through_and_count_it() -> None:
    h = Harness(Config())
    for _ in range(5):
        assert (await h.client.get("/a")).json()["ok"] is True
    assert h.counts == Counter(requests=5)
    assert len(h.backend.processed) == 5
    assert h.slept == []


async def test_5xx_answers_with_the_platform_body_and_never_reaches_the_app() -> None:
    h = Harness(Config(fail_rate=1.0))
    statuses = {(await h.client.get("/a")).status_code for _ in range(40)}
    assert statuses == set(UNAVAILABLE)  # every 5xx status is drawn
    response = await h.client.get("/a")
    assert response.json() == {"status": response.status_code, "retry_after": None}
    assert response.headers["content-type"] == "application/json"
    assert "retry-after" not in response.headers
    assert h.backend.processed == []
    assert h.counts["faults_5xx"] == 41


async def test_429_carries_retry_after_in_the_header_and_the_body() -> None:
    h = Harness(Config(rate_limit_rate=1.0, retry_after=2.5))
    response = await h.client.get("/a")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.5"
    assert response.json() == {"status": 429, "retry_after": "2.5"}
    assert h.counts["faults_rate_limited"] == 1


async def test_a_dropped_connection_processes_nothing() -> None:
    h = Harness(Config(drop_rate=1.0))
    with pytest.raises(httpx.TransportError):
        await h.client.get("/a")
    assert h.backend.processed == []
    assert h.counts["faults_dropped"] == 1


async def test_a_truncated_response_was_processed_and_breaks_the_connection() -> None:
    h = Harness(Config(truncate_rate=1.0))
    with pytest.raises(httpx.TransportError):
        await h.client.get("/a")
    assert h.backend.processed == [("GET", "/a")]
    assert h.counts["faults_truncated"] == 1


async def test_latency_is_slept_before_every_request() -> None:
    h = Harness(Config(latency=0.25))
    await h.client.get("/a")
    await h.client.get("/b")
    assert h.slept == [0.25, 0.25]


async def test_the_same_seed_gives_the_same_faults_and_another_seed_others() -> None:
    async def sequence(seed: int) -> list[int]:
        h = Harness(Config(seed=seed, fail_rate=0.3, rate_limit_rate=0.2))
        return [(await h.client.get("/a")).status_code for _ in range(60)]

    first = await sequence(7)
    assert first == await sequence(7)
    assert first != await sequence(8)
    assert {200, 429} <= set(first)
    assert any(s >= 500 for s in first)


async def test_the_config_can_be_replaced_while_serving() -> None:
    h = Harness(Config())
    assert (await h.client.get("/a")).status_code == 200
    h.injector.config = evolve(h.injector.config, fail_rate=1.0)
    assert (await h.client.get("/a")).status_code >= 500


class Scoped(FaultInjector[Config]):
    """Faults only under /faulty; POST /orders creates something."""

    def applies(self, scope: Scope) -> bool:
        return str(scope["path"]).startswith("/faulty")

    def commit_loss_rate(self, scope: Scope) -> float | None:
        return 1.0 if (scope["method"], scope["path"]) == ("POST", "/faulty/orders") else None


async def test_applies_limits_where_faults_happen_but_latency_is_everywhere() -> None:
    h = Harness(Config(fail_rate=1.0, latency=0.1), Scoped)
    assert (await h.client.get("/calm")).status_code == 200
    assert (await h.client.get("/faulty/x")).status_code >= 500
    assert h.slept == [0.1, 0.1]


async def test_a_lost_commit_is_processed_and_never_truncated() -> None:
    h = Harness(Config(truncate_rate=1.0), Scoped)
    with pytest.raises(httpx.TransportError, match="committed the order"):
        await h.client.post("/faulty/orders")
    assert h.backend.processed == [("POST", "/faulty/orders")]
    assert h.counts["faults_lost_orders"] == 1
    assert "faults_truncated" not in h.counts
    with pytest.raises(httpx.TransportError, match="truncated"):
        await h.client.get("/faulty/other")
    assert h.counts["faults_truncated"] == 1


async def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    counts: list[str] = []

    async def never(seconds: float) -> None:
        raise AssertionError("no latency for lifespan")

    config = Config(fail_rate=1.0, latency=1.0)
    injector = FaultInjector(app, config=config, count=counts.append, sleep=never, error_body=body)

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"}

    async def send(message: object) -> None:
        raise AssertionError("nothing is sent")

    await injector({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
    assert not counts
