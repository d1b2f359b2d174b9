"""Token lifecycle: proactive renewal, single flight, the 401 flow, revocation (docs/http.md, "Tokens")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storelink import AccessToken, AuthorizationError, ConnectionRevokedError, CredentialsError, HttpConfig
from storelink.http import HttpConfig as HttpConfigFromHttp


def bearer(request: Any) -> str | None:
    value = request.headers.get("authorization")
    return value.removeprefix("Bearer ") if value else None


async def test_the_first_call_logs_in_once_and_sends_the_token(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime()
    await get(runtime)
    await get(runtime)
    assert len(store.to("/login")) == 1
    assert [bearer(r) for r in store.to("/items")] == [store.issued[0]] * 2
    assert runtime.stats.logins == 1


async def test_100_concurrent_calls_at_expiry_cause_exactly_1_login_and_all_carry_the_new_token(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    runtime = make_runtime()
    await get(runtime)
    clock.now = 300.0
    store.login_delay = 0.05
    before = len(store.calls)

    await asyncio.gather(*(get(runtime) for _ in range(100)))

    after = store.calls[before:]
    logins = [r for r in after if r.url.path == "/login"]
    items = [r for r in after if r.url.path == "/items"]
    assert len(logins) == 1
    assert len(items) == 100
    assert sum(bearer(r) == store.issued[1] for r in items) == 100
    assert sum(bearer(r) is None for r in items) == 0


async def test_one_call_per_second_for_600_s_with_lifetime_300_logs_in_at_0_240_480(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    runtime = make_runtime()
    for second in range(600):
        clock.now = float(second)
        await get(runtime)
    assert store.login_times == [0.0, 240.0, 480.0]
    assert len(store.to("/items")) == 600


async def test_a_platform_with_refresh_refreshes_at_240_and_480_after_one_login(
    make_runtime: Any, store: Any, clock: Any, get: Any, fakes: Any
) -> None:
    runtime = make_runtime(platform=fakes.make_platform(fakes.RefreshingFakePlatform()))
    for second in range(600):
        clock.now = float(second)
        await get(runtime)
    assert store.login_times == [0.0]
    assert store.refresh_times == [240.0, 480.0]
    assert (runtime.stats.logins, runtime.stats.refreshes) == (1, 2)


async def test_a_refused_refresh_falls_back_to_login(
    make_runtime: Any, store: Any, clock: Any, get: Any, fakes: Any
) -> None:
    runtime = make_runtime(platform=fakes.make_platform(fakes.RefreshingFakePlatform()))
    await get(runtime)
    store.invalidate_tokens()  # the refresh call now answers 401
    clock.now = 250.0
    await get(runtime)
    assert store.refresh_times == [250.0]
    assert store.login_times == [0.0, 250.0]
    assert not runtime.revoked


async def test_an_expired_token_is_not_refreshed_but_replaced_by_a_login(
    make_runtime: Any, store: Any, clock: Any, get: Any, fakes: Any
) -> None:
    runtime = make_runtime(platform=fakes.make_platform(fakes.RefreshingFakePlatform()))
    await get(runtime)
    clock.now = 301.0
    await get(runtime)
    assert store.refresh_times == []
    assert store.login_times == [0.0, 301.0]


async def test_audiences_have_separate_tokens(make_runtime: Any, store: Any) -> None:
    runtime = make_runtime()
    await runtime.request("GET", "/items", operation="fetch_products", audience="default")
    await runtime.request(
        "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r1"
    )
    await runtime.request("GET", "/items", operation="fetch_products", audience="default")
    assert [r.content.decode() for r in store.to("/login")] == [
        "grant_type=client_credentials&audience=default",
        "grant_type=client_credentials&audience=agent",
    ]
    assert [bearer(r) for r in store.to("/items")] == [store.issued[0], store.issued[0]]
    assert [bearer(r) for r in store.to("/orders")] == [store.issued[1]]


async def test_401_once_causes_1_relogin_and_succeeds(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime()
    await get(runtime)
    store.invalidate_tokens()
    response = await get(runtime)
    assert response.status_code == 200
    assert len(store.to("/login")) == 2
    assert [bearer(r) for r in store.to("/items")] == [store.issued[0], store.issued[0], store.issued[1]]


async def test_401_always_causes_exactly_1_relogin_and_2_calls_then_authorization_error(
    make_runtime: Any, store: Any, get: Any
) -> None:
    runtime = make_runtime()
    store.reject_all = True
    with pytest.raises(AuthorizationError) as caught:
        await get(runtime)
    assert len(store.to("/login")) == 2  # the first login, then exactly 1 re-login
    assert len(store.to("/items")) == 2
    assert caught.value.capability == "products"
    assert "HTTP 401" in str(caught.value)


async def test_50_concurrent_401s_on_one_stale_token_cause_1_relogin(make_runtime: Any, store: Any, get: Any) -> None:
    runtime = make_runtime(config=HttpConfig(max_connections_per_store=64))
    await get(runtime)
    store.invalidate_tokens()
    arrived = 0
    all_in = asyncio.Event()

    async def gather_50(request: Any) -> None:
        nonlocal arrived
        if bearer(request) == store.issued[0]:
            arrived += 1
            if arrived == 50:
                all_in.set()
            await all_in.wait()

    store.before_resource = gather_50
    results = await asyncio.gather(*(get(runtime) for _ in range(50)))

    assert {r.status_code for r in results} == {200}
    assert arrived == 50
    assert len(store.to("/login")) == 2  # the first login + 1 re-login
    retried = [r for r in store.to("/items")[1:] if bearer(r) == store.issued[1]]
    assert len(retried) == 50


async def test_a_401_to_a_stale_token_resends_with_the_current_one_and_logs_in_0_extra_times(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    runtime = make_runtime()
    store.one_token_at_a_time = True  # issuing a token invalidates the previous one
    await get(runtime)
    first = store.issued[0]
    entered, go = asyncio.Event(), asyncio.Event()

    async def hold_the_old_token(request: Any) -> None:
        if bearer(request) == first and not go.is_set():
            entered.set()
            await go.wait()

    store.before_resource = hold_the_old_token
    slow = asyncio.create_task(get(runtime))  # sent with the first token, answered late
    await entered.wait()
    clock.now = 245.0  # past renewal: the next call logs in, which invalidates the first token
    await get(runtime)
    go.set()
    response = await slow

    assert response.status_code == 200
    assert store.login_times == [0.0, 245.0]  # 0 extra logins because of the 401
    assert [bearer(r) for r in store.to("/items")][-1] == store.issued[1]


async def test_a_rejected_key_revokes_once_and_1000_further_calls_make_0_network_calls(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    reasons: list[str] = []

    async def on_revoked(reason: str) -> None:
        reasons.append(reason)

    runtime = make_runtime(on_revoked=on_revoked)
    await get(runtime)
    store.revoked = True
    clock.now = 300.0
    with pytest.raises(CredentialsError) as first:
        await get(runtime)
    assert not isinstance(first.value, ConnectionRevokedError)
    assert runtime.revoked
    calls = len(store.calls)

    sleeps = len(clock.sleeps)
    for _ in range(1000):
        with pytest.raises(ConnectionRevokedError) as later:
            await get(runtime)

    assert len(store.calls) == calls  # 0 network calls
    assert len(clock.sleeps) == sleeps  # and no waiting: each refusal is immediate
    assert later.value.connection_id == "c1"
    assert len(reasons) == 1
    assert "HTTP 401" in reasons[0]
    assert runtime.stats.logins == 2


async def test_login_calls_of_a_revoked_connection_are_refused_too(make_runtime: Any, store: Any, key: Any) -> None:
    runtime = make_runtime()
    store.revoked = True
    with pytest.raises(CredentialsError):
        await runtime.request("GET", "/items", operation="fetch_products", audience="default")
    calls = len(store.calls)
    secret = runtime.ctx.credentials.secret("api_key")
    with pytest.raises(ConnectionRevokedError):
        await runtime.request("POST", "/login", operation="login", audience=None, bearer=secret)
    assert len(store.calls) == calls


async def test_a_revoked_connection_probes_once_per_15_minutes_and_recovers(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    reasons: list[str] = []
    tokens: list[tuple[str, bool]] = []

    async def on_revoked(reason: str) -> None:
        reasons.append(reason)

    def on_token(audience: str, token: AccessToken, renewed: bool) -> None:
        tokens.append((audience, renewed))

    runtime = make_runtime(on_revoked=on_revoked, on_token=on_token)
    store.revoked = True
    with pytest.raises(CredentialsError):
        await get(runtime)

    clock.now = 899.0
    with pytest.raises(ConnectionRevokedError):
        await get(runtime)
    assert len(store.to("/login")) == 1

    clock.now = 900.0  # the probe: one login, still rejected
    with pytest.raises(ConnectionRevokedError):
        await get(runtime)
    for _ in range(10):
        with pytest.raises(ConnectionRevokedError):
            await get(runtime)
    assert len(store.to("/login")) == 2

    store.revoked = False
    clock.now = 1800.0  # the next probe succeeds
    response = await get(runtime)
    assert response.status_code == 200
    assert not runtime.revoked
    assert len(store.to("/login")) == 3
    assert len(reasons) == 1
    assert tokens == [("default", False)]


async def test_no_probe_when_disabled(make_runtime: Any, store: Any, clock: Any, get: Any) -> None:
    runtime = make_runtime(config=HttpConfigFromHttp(revoked_probe_after=None))
    store.revoked = True
    with pytest.raises(CredentialsError):
        await get(runtime)
    clock.now = 10 * 86400.0
    with pytest.raises(ConnectionRevokedError):
        await get(runtime)
    assert len(store.to("/login")) == 1


async def test_transient_login_failures_503_503_200_succeed_and_never_revoke(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    reasons: list[str] = []

    async def on_revoked(reason: str) -> None:
        reasons.append(reason)

    runtime = make_runtime(on_revoked=on_revoked)
    store.login_script = [503, 503]
    response = await get(runtime)
    assert response.status_code == 200
    assert len(store.to("/login")) == 3
    assert len(clock.sleeps) == 2
    assert runtime.stats.logins == 1
    assert not runtime.revoked
    assert reasons == []


async def test_login_503_until_the_retries_give_up_raises_retryable_and_does_not_revoke(
    make_runtime: Any, store: Any, get: Any
) -> None:
    from storelink import RetryableError

    runtime = make_runtime()
    store.login_script = [503] * 4
    with pytest.raises(RetryableError):
        await get(runtime)
    assert not runtime.revoked
    assert (await get(runtime)).status_code == 200


async def test_on_token_fires_after_every_new_token_with_renewed_flag(
    make_runtime: Any, clock: Any, get: Any, fakes: Any
) -> None:
    seen: list[tuple[str, str, bool]] = []

    async def on_token(audience: str, token: AccessToken, renewed: bool) -> None:
        seen.append((audience, token.value.fingerprint, renewed))

    runtime = make_runtime(platform=fakes.make_platform(fakes.RefreshingFakePlatform()), on_token=on_token)
    await get(runtime)
    clock.now = 250.0
    await get(runtime)
    assert [(a, r) for a, _, r in seen] == [("default", False), ("default", True)]
    assert seen[0][1] != seen[1][1]


async def test_a_failing_on_token_callback_does_not_break_the_request(
    make_runtime: Any, get: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def on_token(audience: str, token: AccessToken, renewed: bool) -> None:
        raise RuntimeError("callback bug")

    runtime = make_runtime(on_token=on_token)
    assert (await get(runtime)).status_code == 200
    assert any("on_token callback" in r.getMessage() for r in caplog.records)


async def test_a_token_call_asking_for_a_token_is_a_plugin_error(make_runtime: Any, fakes: Any) -> None:
    from storelink import PluginError, hookimpl

    class LoopingPlatform(fakes.FakePlatform):  # type: ignore[misc]
        @hookimpl
        async def authenticate(self, ctx: Any, audience: str) -> AccessToken:
            await ctx.http.request("GET", "/whoami", operation="login", audience="default")
            raise AssertionError("unreachable")

    runtime = make_runtime(platform=fakes.make_platform(LoopingPlatform()))
    with pytest.raises(PluginError, match="audience=None"):
        await runtime.request("GET", "/items", operation="fetch_products", audience="default")


async def test_requests_queued_behind_the_store_limit_get_their_token_when_they_go_out(
    make_runtime: Any, store: Any, clock: Any, get: Any
) -> None:
    """40 reads through 2 slots, each taking 1 s, with 10 s tokens: 0 failures and 0 refused tokens.

    A token attached when a request *enters* the queue would be 20 s old when it leaves.
    """
    store.lifetime = 10.0

    async def slow_and_expiring(request: Any) -> None:
        token = bearer(request)
        issued_at = store.login_times[store.issued.index(token)] if token in store.issued else 0.0
        if clock.now - issued_at >= store.lifetime:
            store.valid.discard(token)
        await asyncio.sleep(0)
        clock.now += 1.0

    store.before_resource = slow_and_expiring
    runtime = make_runtime(config=HttpConfig(max_connections_per_store=2))
    results = await asyncio.gather(*(get(runtime) for _ in range(40)), return_exceptions=True)

    assert [r for r in results if isinstance(r, BaseException)] == []
    refused = [r for r in store.calls if r.url.path == "/items" and bearer(r) not in store.issued]
    assert refused == []
    assert len(store.to("/items")) == 40  # no request was refused and resent
