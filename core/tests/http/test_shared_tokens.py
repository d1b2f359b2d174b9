"""Tokens shared through the connection store: many runtimes, one login per token window.

Each runtime stands for a process: its own store instance on one SQLite file, its own
:class:`~storelink.http.tokenstore.StoreTokens`, one fake platform and one fake clock
for all (the shared tokens' wall clock moves with it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storelink import ConnectionRevokedError, CredentialsError
from storelink.errors import ConfigurationError
from storelink.http import ConnectionRuntime
from storelink.http.tokenstore import SHARE_ENV_VAR, ProbeTokens, StoreTokens, share_from_env, wall_clock
from storelink.hub import Hub
from storelink.models import Connection, ConnectionStatus, StoreURL
from storelink.store import ConnectionStore, SQLiteStore, TokenKind
from storelink.store.sql import Query
from storelink.vault import KeyRing, Vault

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CONN = "c1"


def bearer(request: Any) -> str | None:
    value = request.headers.get("authorization")
    return value.removeprefix("Bearer ") if value else None


class Fleet:
    """Store instances on one database file, and the shares and runtimes built on them."""

    def __init__(self, path: Path, clock: Any, make_runtime: Callable[..., ConnectionRuntime]) -> None:
        self.path = path
        self.clock = clock
        self.vault = Vault(KeyRing.generate("k1"))
        self.make_runtime = make_runtime
        self.stores: list[SQLiteStore] = []

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.clock.now)

    def share(self, *, lease: float | None = None, store: ConnectionStore | None = None) -> StoreTokens:
        if store is None:
            store = SQLiteStore(self.path)
            self.stores.append(store)
        return StoreTokens(store, self.vault, connection_id=CONN, platform="fake", lease=lease, now=self.now)

    def runtime(self, **options: Any) -> ConnectionRuntime:
        """A runtime of its own "process": a new store instance and share."""
        share = options.pop("share", None) or self.share()
        return self.make_runtime(share=share, **options)

    async def raw(self, sql: str) -> list[dict[str, Any]]:
        store = SQLiteStore(self.path)
        try:
            async with store._driver.session() as session:
                return await session.all(Query(sql))
        finally:
            await store.close()

    async def close(self) -> None:
        for store in self.stores:
            await store.close()


@pytest.fixture
async def fleet(tmp_path: Path, clock: Any, make_runtime: Any) -> AsyncIterator[Fleet]:
    path = tmp_path / "shared.db"
    async with SQLiteStore(path) as store:
        await store.migrate()
        conn = Connection(
            id=CONN,
            platform="fake",
            store_url=StoreURL(origin="https://store.example.com"),
            status=ConnectionStatus.ACTIVE,
            created_at=T0,
            updated_at=T0,
        )
        await store.insert_connection(conn, {}, {"user": "u"})
    made = Fleet(path, clock, make_runtime)
    yield made
    await made.close()


async def test_a_runtime_uses_the_token_another_one_stored(fleet: Fleet, store: Any, get: Any) -> None:
    first, second = fleet.runtime(), fleet.runtime()
    await get(first)
    await get(second)
    assert len(store.to("/login")) == 1
    assert [bearer(r) for r in store.to("/items")] == [store.issued[0]] * 2
    assert (first.stats.logins, second.stats.logins) == (1, 0)


async def test_four_runtimes_reading_every_second_for_600_s_log_in_at_0_240_480(
    fleet: Fleet, store: Any, clock: Any, get: Any
) -> None:
    # The runtimes waiting for the lease sleep on the fake clock while the holder's store
    # work runs on a real thread, so a wait can move the clock seconds past its second on a
    # loaded machine: the lease outlasts any such wait, and the clock only moves forward.
    runtimes = [fleet.runtime(share=fleet.share(lease=120.0)) for _ in range(4)]
    for second in range(600):
        clock.now = max(clock.now, float(second))
        await asyncio.gather(*(get(r) for r in runtimes))
    assert store.login_times == [0.0, 240.0, 480.0]
    assert len(store.to("/items")) == 2400


async def test_without_a_share_each_runtime_logs_in_for_itself(make_runtime: Any, store: Any, get: Any) -> None:
    """The baseline the share improves on: one login per process."""
    runtimes = [make_runtime() for _ in range(4)]
    await asyncio.gather(*(get(r) for r in runtimes))
    assert len(store.to("/login")) == 4


async def test_one_runtime_makes_one_store_round_trip_per_renewal(
    fleet: Fleet, store: Any, clock: Any, get: Any
) -> None:
    calls: list[str] = []
    share = fleet.share()
    claim = share.claim

    async def counted(audience: str) -> Any:
        calls.append(audience)
        return await claim(audience)

    share.claim = counted  # type: ignore[method-assign]
    runtime = fleet.runtime(share=share)
    await asyncio.gather(*(get(runtime) for _ in range(50)))
    clock.now = 250.0
    await asyncio.gather(*(get(runtime) for _ in range(50)))
    assert calls == ["default", "default"]
    assert store.login_times == [0.0, 250.0]


async def test_the_stored_row_and_the_logs_hold_no_clear_token(
    fleet: Fleet, store: Any, get: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    share = fleet.share()
    await get(fleet.runtime(share=share))
    await get(fleet.runtime())
    [row] = await fleet.raw("SELECT * FROM tokens")
    value = store.issued[0]
    assert value not in repr(row)
    assert row["kind"] == "access"
    assert row["key_id"] == "k1"
    assert value not in caplog.text
    assert value not in repr(share)
    stored = await fleet.stores[0].get_tokens(CONN, "default")
    assert value not in repr(stored)


async def test_a_holder_that_died_delays_the_next_renewal_only_until_its_lease_ends(
    fleet: Fleet, store: Any, clock: Any, get: Any
) -> None:
    dead = fleet.share(lease=10.0)
    assert (await dead.claim("default")).granted  # it takes the lease, then dies: no save, no release
    runtime = fleet.runtime(share=fleet.share(lease=10.0))
    await get(runtime)
    [login] = store.login_times
    assert 10.0 <= login < 10.1  # it waited for the lease to end, polling, then renewed
    assert max(clock.sleeps) <= 0.05
    assert [bearer(r) for r in store.to("/items")] == [store.issued[0]]


async def test_a_401_erases_the_stored_token_and_the_fleet_logs_in_once(fleet: Fleet, store: Any, get: Any) -> None:
    first, second = fleet.runtime(), fleet.runtime()
    await get(first)
    await get(second)
    store.invalidate_tokens()  # the platform forgets every token
    await get(second)  # 401, erases the stored token, logs in, stores the new one
    await get(first)  # 401 to the old token: picks up the new one from the store
    assert len(store.to("/login")) == 2
    assert bearer(store.to("/items")[-1]) == store.issued[1]
    assert (first.stats.logins, second.stats.logins) == (1, 1)


async def test_rejected_credentials_erase_every_stored_token(fleet: Fleet, store: Any, get: Any) -> None:
    first = fleet.runtime()
    await get(first)
    await first.request("GET", "/items", operation="fetch_products", audience="agent")
    assert len(await fleet.raw("SELECT * FROM tokens")) == 2
    store.invalidate_tokens()
    store.revoked = True
    with pytest.raises(CredentialsError):
        await get(first)
    assert await fleet.raw("SELECT * FROM tokens") == []
    with pytest.raises(ConnectionRevokedError):
        await get(first)


async def test_a_refreshing_platform_refreshes_the_token_another_runtime_stored(
    fleet: Fleet, store: Any, clock: Any, get: Any, fakes: Any
) -> None:
    platform = fakes.make_platform(fakes.RefreshingFakePlatform())
    await get(fleet.runtime(platform=platform))
    clock.now = 250.0
    late = fleet.runtime(platform=platform)
    await get(late)
    assert store.login_times == [0.0]
    assert store.refresh_times == [250.0]
    assert bearer(store.to("/refresh")[0]) == store.issued[0]
    assert (late.stats.logins, late.stats.refreshes) == (0, 1)


async def test_a_stored_token_whose_expiry_was_moved_is_renewed_not_used(
    fleet: Fleet, store: Any, clock: Any, get: Any
) -> None:
    await get(fleet.runtime())
    async with SQLiteStore(fleet.path) as raw, raw._driver.session() as session, session.transaction():
        later = (T0 + timedelta(hours=9)).isoformat(timespec="microseconds")
        await session.execute(Query("UPDATE tokens SET refresh_at = ?, expires_at = ?", (later, later)))
    other = fleet.runtime()
    await get(other)
    assert len(store.to("/login")) == 2
    assert bearer(store.to("/items")[-1]) == store.issued[1]


async def test_a_failing_store_is_bypassed_and_the_runtime_logs_in_itself(
    fleet: Fleet, store: Any, get: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = SQLiteStore(fleet.path)
    await broken.close()  # every operation now raises
    runtime = fleet.runtime(share=fleet.share(store=broken))
    await get(runtime)
    assert runtime.stats.logins == 1
    assert "the shared token store failed (RuntimeError during claim)" in caplog.text


async def test_a_probes_tokens_are_kept_for_the_connection_while_fresh(
    fleet: Fleet, store: Any, clock: Any, get: Any
) -> None:
    probe = ProbeTokens(clock)
    await get(fleet.make_runtime(connection_id="probe", on_token=probe))
    clock.now = 100.0
    assert await probe.keep(fleet.share()) == 1
    runtime = fleet.runtime()
    await get(runtime)
    assert runtime.stats.logins == 0
    clock.now = 241.0
    assert await probe.keep(fleet.share()) == 0  # due by now: not worth sharing
    assert "default" in repr(probe)
    assert store.issued[0] not in repr(probe)


def test_the_wall_clock_of_an_injected_clock_moves_with_it(clock: Any) -> None:
    now = wall_clock(clock)
    before = now()
    clock.now = 90.0
    assert now() - before == timedelta(seconds=90)


async def test_stored_tokens_open_only_for_their_audience_and_kind(fleet: Fleet, get: Any) -> None:
    await get(fleet.runtime())
    share = fleet.share()
    stored = (await fleet.stores[-1].get_tokens(CONN, "default"))[TokenKind.ACCESS]
    async with SQLiteStore(fleet.path) as raw, raw._driver.session() as session, session.transaction():
        await session.execute(Query("UPDATE tokens SET audience = 'agent'"))
    claim = await share.claim("agent")
    assert claim.token is None
    assert stored.envelope not in repr(stored)


@pytest.mark.parametrize(("value", "shared"), [("", True), ("1", True), ("On", True), ("0", False), ("no", False)])
def test_the_environment_turns_sharing_off_or_on(value: str, shared: bool) -> None:
    assert share_from_env({SHARE_ENV_VAR: value}) is shared


def test_a_bad_sharing_setting_says_what_to_write() -> None:
    with pytest.raises(ConfigurationError, match="STORELINK_SHARE_TOKENS must be 1 or 0"):
        share_from_env({SHARE_ENV_VAR: "maybe"})


async def test_a_hub_follows_the_environment_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SHARE_ENV_VAR, "0")
    async with await Hub.open(database=tmp_path / "a.db", keys=KeyRing.generate()) as hub:
        assert hub.share_tokens is False
    async with await Hub.open(database=tmp_path / "b.db", keys=KeyRing.generate(), share_tokens=True) as hub:
        assert hub.share_tokens is True


async def test_a_probe_token_the_store_cannot_keep_is_skipped(
    fleet: Fleet, clock: Any, get: Any, caplog: pytest.LogCaptureFixture
) -> None:
    probe = ProbeTokens(clock)
    await get(fleet.make_runtime(connection_id="probe", on_token=probe))
    broken = SQLiteStore(fleet.path)
    await broken.close()
    assert await probe.keep(fleet.share(store=broken)) == 0
    assert "keeping the validation's default token failed (RuntimeError)" in caplog.text


async def test_while_another_holds_the_lease_a_due_token_is_not_handed_out(fleet: Fleet, clock: Any, get: Any) -> None:
    await get(fleet.runtime())
    clock.now = 250.0  # due (240 s), still valid (300 s)
    assert (await fleet.share().claim("default")).granted
    waiting = await fleet.share().claim("default")
    assert (waiting.token, waiting.granted) == (None, False)
    assert waiting.wait == pytest.approx(10.0)
