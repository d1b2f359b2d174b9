"""ConnectionRuntime: the client it builds, the limits it applies, and the calls it refuses."""

from __future__ import annotations

import asyncio
import gzip
import logging
from typing import Any

import attrs
import httpx
import pytest

from storelink import (
    AccessToken,
    ConnectionRuntime,
    EgressError,
    OrderOutcomeUnknown,
    PlatformContext,
    PlatformError,
    PlatformHTTP,
    PlatformInfo,
    Secret,
    StoreURL,
    __version__,
    hookimpl,
)
from storelink.http import HttpConfig


async def test_the_runtime_is_the_context_s_platform_http(make_runtime: Any, platform: Any) -> None:
    runtime = make_runtime(settings={"site": "s1"})
    ctx = runtime.ctx
    assert isinstance(ctx, PlatformContext)
    assert ctx.http is runtime
    http: PlatformHTTP = runtime  # mypy checks the runtime against the protocol (PlatformContext.http)
    assert http is ctx.http
    assert (ctx.connection_id, ctx.platform, ctx.store_url.origin, ctx.setting("site")) == (
        "c1",
        "fake",
        "https://store.example.com",
        "s1",
    )
    assert runtime.connection_id == "c1"
    assert ctx.log.logger.name == "storelink.platform.fake"  # type: ignore[union-attr]


async def test_hooks_run_through_the_runtime(make_runtime: Any, platform: Any, store: Any) -> None:
    runtime = make_runtime()
    page = await platform.fetch_products(runtime.ctx, None)
    assert page.items == ()
    assert [r.url.path for r in store.calls] == ["/login", "/items"]


async def test_requests_carry_the_storelink_user_agent_and_no_redirects_are_followed(
    make_runtime: Any, store: Any, get: Any
) -> None:
    runtime = make_runtime()
    store.script = [httpx.Response(301, headers={"Location": "https://store.example.com/elsewhere"})]
    with pytest.raises(PlatformError, match="redirect"):
        await get(runtime)
    assert {r.headers["user-agent"] for r in store.calls} == {f"storelink/{__version__}"}
    assert [r.url.path for r in store.calls] == ["/login", "/items"]


async def test_params_json_data_and_headers_reach_the_store(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    await runtime.request(
        "POST",
        "/items",
        operation="fetch_products",
        audience="default",
        params={"limit": 250, "offset": 0},
        json={"a": 1},
        headers={"X-Site": "s1"},
    )
    sent = store.calls[-1]
    assert (sent.url.params["limit"], sent.url.params["offset"]) == ("250", "0")
    assert sent.content == b'{"a":1}'
    assert sent.headers["x-site"] == "s1"


async def test_at_most_max_connections_per_store_requests_are_in_flight(
    make_runtime: Any, store: Any, get: Any
) -> None:
    runtime = make_runtime(config=HttpConfig(max_connections_per_store=3))
    await get(runtime)
    in_flight = peak = 0
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return httpx.Response(200)

    store.script = [slow] * 20
    tasks = [asyncio.create_task(get(runtime)) for _ in range(20)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert peak == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert len(store.to("/items")) == 21


async def test_a_declared_oversized_body_is_refused(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime(config=HttpConfig(max_response_bytes=1000))
    store.script = [httpx.Response(200, content=b"x" * 1001)]
    with pytest.raises(PlatformError, match="larger than 1000 bytes"):
        await get(runtime)


async def test_a_streamed_oversized_body_is_cut_off(make_runtime: Any, store: Any, get: Any) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"y" * 100

    runtime = make_runtime(config=HttpConfig(max_response_bytes=1000))
    store.script = [httpx.Response(200, content=chunks())]
    with pytest.raises(PlatformError, match="larger than 1000 bytes"):
        await get(runtime)


async def test_a_compressed_body_is_capped_after_decoding(make_runtime: Any, store: Any, get: Any) -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    runtime = make_runtime(config=HttpConfig(max_response_bytes=10_000))
    store.script = [httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})]
    assert len(bomb) < 10_000
    with pytest.raises(PlatformError, match="larger than 10000 bytes"):
        await get(runtime)


async def test_a_compressed_body_under_the_cap_is_returned_decoded(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime()
    store.script = [httpx.Response(200, content=gzip.compress(b'{"ok": true}'), headers={"Content-Encoding": "gzip"})]
    response = await get(runtime)
    assert response.json() == {"ok": True}
    assert "content-encoding" not in response.headers


async def test_an_oversized_answer_to_an_order_leaves_its_outcome_unknown(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime(config=HttpConfig(max_response_bytes=100))
    store.script = [httpx.Response(201, content=b"z" * 500)]
    with pytest.raises(OrderOutcomeUnknown):
        await runtime.request(
            "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r"
        )


async def test_absolute_urls_must_stay_on_the_origin(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    ok = await runtime.request(
        "GET", "https://store.example.com/items?offset=250", operation="fetch_products", audience="default"
    )
    assert ok.status_code == 200
    with pytest.raises(ValueError, match="not the origin"):
        await runtime.request("GET", "https://evil.example.net/items", operation="fetch_products", audience="default")
    with pytest.raises(ValueError, match="must start with"):
        await runtime.request("GET", "items", operation="fetch_products", audience="default")


async def test_base_url_reaches_another_origin_of_the_store(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    await runtime.request(
        "GET", "/ccstore/v1/x", operation="fetch_products", audience="default", base_url="https://shop.example.com"
    )
    assert str(store.calls[-1].url) == "https://shop.example.com/ccstore/v1/x"
    with pytest.raises(ValueError, match="origin"):
        await runtime.request("GET", "/x", operation="op", audience=None, base_url="https://shop.example.com/base")
    with pytest.raises(EgressError):
        await runtime.request("GET", "/x", operation="op", audience=None, base_url="https://10.0.0.1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audience": "default", "headers": {"Authorization": "Bearer x"}}, "never as an Authorization header"),
        ({"audience": None, "headers": {"proxy-authorization": "x"}}, "never as an Authorization header"),
        ({"audience": "nope"}, "unknown audience 'nope'"),
        ({"audience": "default", "bearer": "set below"}, "bearer= is for calls with audience=None"),
        ({"audience": "agent", "idempotent": False}, "needs its order reference"),
    ],
)
async def test_wrong_calls_are_refused_before_anything_is_sent(
    make_runtime: Any, store: Any, kwargs: dict[str, Any], message: str
) -> None:
    runtime = make_runtime()
    if kwargs.get("bearer") == "set below":
        kwargs["bearer"] = runtime.ctx.credentials.secret("api_key")
    with pytest.raises(ValueError, match=message):
        await runtime.request("GET", "/items", operation="fetch_products", **kwargs)
    assert store.calls == []


async def test_stats_count_logins_requests_and_retries(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime()
    store.script = [503, 200]
    await get(runtime)
    assert (runtime.stats.logins, runtime.stats.refreshes, runtime.stats.requests, runtime.stats.retries) == (
        1,
        0,
        3,
        1,
    )


async def test_every_exchange_is_logged_at_debug_without_its_query(
    make_runtime: Any, get: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="storelink.http")
    runtime = make_runtime()
    await runtime.request("GET", "/items", operation="fetch_products", audience="default", params={"q": "token=abc"})
    lines = [r.getMessage() for r in caplog.records if r.name == "storelink.http"]
    assert any(line.startswith("POST https://store.example.com/login -> 200 in ") for line in lines)
    assert any(line.startswith("GET https://store.example.com/items -> 200 in ") for line in lines)
    assert not any("abc" in line for line in lines)


async def test_the_runtime_is_an_async_context_manager(fakes: Any, platform: Any, store: Any, key: str) -> None:
    from storelink.http import EgressPolicy

    credentials = platform.info.credential_schema.parse({"api_key": key})
    async with ConnectionRuntime(
        platform, "c9", fakes.STORE, credentials, {}, EgressPolicy.default(), HttpConfig(), transport=store.transport
    ) as runtime:
        assert (await fakes.read(runtime)).status_code == 200
    assert runtime._client.is_closed


async def test_a_401_body_is_discarded_without_decoding_it(make_runtime: Any, store: Any, get: Any) -> None:
    """The 401 flow reads the rejected answer raw: a body that would not even decode costs nothing."""

    async def garbage() -> Any:
        yield b"not gzip at all"

    async def handle(request: httpx.Request) -> httpx.Response:
        if store.issued and request.url.path == "/items" and request.headers["authorization"].endswith(store.issued[0]):
            return httpx.Response(401, content=garbage(), headers={"Content-Encoding": "gzip"})
        return await store.handle(request)

    runtime = make_runtime(transport=httpx.MockTransport(handle))
    response = await get(runtime)
    assert response.status_code == 200
    assert len(store.to("/login")) == 2


class _HeaderTokenPlatform:
    """The fake platform, but its API reads the bare token from ``X-Store-Token``."""

    def __init__(self, base: Any) -> None:
        self._base = base

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return attrs.evolve(self._base.platform_info(), token_header="X-Store-Token", token_prefix="")

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        return self._base.normalize_store_url(raw, allow_loopback)

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        await ctx.http.request(
            "POST", "/login", operation="login", audience=None, bearer=ctx.credentials.secret("api_key")
        )
        return AccessToken(value=Secret(f"token-for-{audience}"), expires_in=300, audience=audience)


async def test_a_platform_s_token_header_carries_the_token_and_the_login_secret(
    fakes: Any, make_runtime: Any, key: str
) -> None:
    """With ``token_header``/``token_prefix`` declared, no ``Authorization`` header is sent at all."""
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={})

    platform = fakes.make_platform(_HeaderTokenPlatform(fakes.FakePlatform()))
    runtime = make_runtime(platform=platform, transport=httpx.MockTransport(answer))
    await runtime.request("GET", "/items", operation="fetch_products", audience="default")
    assert [h.get("x-store-token") for h in seen] == [key, "token-for-default"]
    assert all("authorization" not in h for h in seen)
    with pytest.raises(ValueError, match="never as an X-Store-Token header"):
        await runtime.request(
            "GET", "/items", operation="fetch_products", audience=None, headers={"x-store-token": "x"}
        )
