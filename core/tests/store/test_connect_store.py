"""Connect sessions and OAuth states in the store (migration 3), on both backends.

Two store instances on one database stand for two processes: a ticket, an attempt
lease and a state are each won by exactly one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storelink.errors import ConnectionStateError
from storelink.store import (
    MIGRATIONS,
    ConnectionStore,
    StoredAuthorization,
    StoredConnectSession,
    open_store,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


def _session(sid: str, *, channel: str = "acme", at: datetime = T0, ticket: str | None = None) -> StoredConnectSession:
    return StoredConnectSession(
        id=sid,
        channel_id=channel,
        redirect_uri="https://chan.example.com/cb",
        state="chan-state",
        platforms=("shop", "mall"),
        ticket_hash=ticket or f"ticket-hash-{sid}",
        created_at=at,
        expires_at=at + TTL,
    )


def _authorization(key: str, *, owner: str | None = "s1", at: datetime = T0) -> StoredAuthorization:
    return StoredAuthorization(
        state_hash=key,
        platform="oauthy",
        store_url="https://acme.example.com",
        redirect_uri="https://connect.example.net/oauth/callback",
        authorization_origin="https://acme.example.com",
        code_verifier=None,
        owner=owner,
        browser_hash="browser-hash",
        expires_at=at + TTL,
    )


@pytest.fixture
async def other(store: ConnectionStore, store_url: str) -> AsyncIterator[ConnectionStore]:
    """A second store instance on the same database: another process."""
    async with open_store(store_url) as second:
        yield second


async def test_the_migration_adds_the_connect_tables(store: ConnectionStore) -> None:
    assert await store.schema_version() == len(MIGRATIONS) == 4
    assert await store.get_connect_session("none") is None
    assert await store.get_authorization("none") is None


async def test_a_session_round_trips_and_its_id_is_unique(store: ConnectionStore) -> None:
    assert await store.create_connect_session(_session("s1"), limit=10, now=T0)
    found = await store.get_connect_session("s1")
    assert found == _session("s1")
    with pytest.raises(ConnectionStateError, match="already exists"):
        await store.create_connect_session(_session("s1"), limit=10, now=T0)


async def test_the_limit_counts_live_sessions_of_the_channel_only(store: ConnectionStore) -> None:
    for i in range(3):
        assert await store.create_connect_session(_session(f"a{i}"), limit=3, now=T0)
    assert not await store.create_connect_session(_session("a3"), limit=3, now=T0)
    assert await store.create_connect_session(_session("b0", channel="other"), limit=3, now=T0)
    later = T0 + TTL
    assert await store.create_connect_session(_session("a4", at=later), limit=3, now=later)


async def test_creating_a_session_erases_the_expired_ones(store: ConnectionStore) -> None:
    await store.create_connect_session(_session("old"), limit=10, now=T0)
    await store.begin_authorization(_authorization("old-state"), limit=10, now=T0)
    later = T0 + TTL
    await store.create_connect_session(_session("new", at=later), limit=10, now=later)
    assert await store.get_connect_session("old") is None
    assert await store.get_authorization("old-state") is None
    assert await store.get_connect_session("new") is not None


async def test_the_sweep_erases_expired_sessions_and_states(store: ConnectionStore) -> None:
    await store.create_connect_session(_session("s1"), limit=10, now=T0)
    await store.begin_authorization(_authorization("st"), limit=10, now=T0)
    assert await store.purge_connect(T0 + TTL - timedelta(seconds=1)) == 0
    assert await store.purge_connect(T0 + TTL) == 2


async def test_concurrent_creations_in_two_processes_keep_the_channel_limit(
    store: ConnectionStore, other: ConnectionStore
) -> None:
    made = await asyncio.gather(
        *((store if i % 2 else other).create_connect_session(_session(f"c{i}"), limit=5, now=T0) for i in range(16))
    )
    assert made.count(True) == 5


async def test_a_ticket_opens_its_session_in_exactly_one_process(
    store: ConnectionStore, other: ConnectionStore
) -> None:
    await store.create_connect_session(_session("s1", ticket="t-hash"), limit=10, now=T0)
    opened = await asyncio.gather(
        *(
            (store if i % 2 else other).open_connect_session(
                "s1", ticket_hash="t-hash", browser_hash=f"browser-{i}", now=T0
            )
            for i in range(12)
        )
    )
    assert opened.count(True) == 1
    row = await other.get_connect_session("s1")
    assert row is not None
    assert row.ticket_hash is None
    assert row.opened_at == T0
    assert row.browser_hash == f"browser-{opened.index(True)}"


async def test_a_ticket_does_not_open_an_expired_or_spent_session(store: ConnectionStore) -> None:
    await store.create_connect_session(_session("s1", ticket="t1"), limit=10, now=T0)
    assert not await store.open_connect_session("s1", ticket_hash="t1", browser_hash="b", now=T0 + TTL)
    await store.create_connect_session(_session("s2", ticket="t2"), limit=10, now=T0)
    assert await store.complete_connect_session("s2", connection_id="conn_1", now=T0)
    assert not await store.open_connect_session("s2", ticket_hash="t2", browser_hash="b", now=T0)
    assert not await store.open_connect_session("s1", ticket_hash="wrong", browser_hash="b", now=T0)


async def test_progress_is_recorded_only_for_the_bound_browser(store: ConnectionStore, other: ConnectionStore) -> None:
    await store.create_connect_session(_session("s1", ticket="t1"), limit=10, now=T0)
    await store.open_connect_session("s1", ticket_hash="t1", browser_hash="b1", now=T0)
    assert not await other.update_connect_session(
        "s1", platform="shop", store_url="https://x.example.com", browser_hash="b2", now=T0
    )
    assert await other.update_connect_session(
        "s1", platform="shop", store_url="https://x.example.com", browser_hash="b1", now=T0
    )
    row = await store.get_connect_session("s1")
    assert row is not None
    assert (row.platform, row.store_url) == ("shop", "https://x.example.com")


async def test_the_attempt_lease_goes_to_one_process_until_it_ends(
    store: ConnectionStore, other: ConnectionStore
) -> None:
    await store.create_connect_session(_session("s1"), limit=10, now=T0)
    claims = await asyncio.gather(
        store.claim_connect_attempt("s1", owner="a", now=T0, lease=30),
        other.claim_connect_attempt("s1", owner="b", now=T0, lease=30),
    )
    owners = {claim.attempt_owner for claim in claims if claim is not None}
    assert len(owners) == 1
    (holder,) = owners
    loser = "b" if holder == "a" else "a"
    during = await store.claim_connect_attempt("s1", owner=loser, now=T0 + timedelta(seconds=29), lease=30)
    assert during is not None
    assert during.attempt_owner == holder
    after = await store.claim_connect_attempt("s1", owner=loser, now=T0 + timedelta(seconds=30), lease=30)
    assert after is not None
    assert after.attempt_owner == loser


async def test_a_released_lease_is_free_and_a_completed_session_is_spent_once(store: ConnectionStore) -> None:
    await store.create_connect_session(_session("s1"), limit=10, now=T0)
    await store.claim_connect_attempt("s1", owner="a", now=T0, lease=30)
    await store.release_connect_attempt("s1", owner="b")  # not b's lease: it stays
    row = await store.claim_connect_attempt("s1", owner="b", now=T0, lease=30)
    assert row is not None
    assert row.attempt_owner == "a"
    await store.release_connect_attempt("s1", owner="a")
    row = await store.claim_connect_attempt("s1", owner="b", now=T0, lease=30)
    assert row is not None
    assert row.attempt_owner == "b"
    assert await store.complete_connect_session("s1", connection_id="conn_1", now=T0)
    assert not await store.complete_connect_session("s1", connection_id="conn_2", now=T0)
    row = await store.get_connect_session("s1")
    assert row is not None
    assert (row.connection_id, row.attempt_owner, row.completed_at) == ("conn_1", None, T0)
    assert await store.claim_connect_attempt("gone", owner="a", now=T0, lease=30) is None


async def test_a_state_is_claimed_in_exactly_one_process(store: ConnectionStore, other: ConnectionStore) -> None:
    assert await store.begin_authorization(_authorization("h1"), limit=10, now=T0)
    assert await other.get_authorization("h1") == _authorization("h1")
    claimed = await asyncio.gather(*((store if i % 2 else other).claim_authorization("h1", now=T0) for i in range(10)))
    assert claimed.count(True) == 1
    row = await store.get_authorization("h1")
    assert row is not None
    assert row.used_at == T0


async def test_an_expired_state_cannot_be_claimed(store: ConnectionStore) -> None:
    await store.begin_authorization(_authorization("h1"), limit=10, now=T0)
    assert not await store.claim_authorization("h1", now=T0 + TTL)
    assert not await store.claim_authorization("unknown", now=T0)


async def test_a_new_authorization_replaces_its_owners_and_the_limit_holds(store: ConnectionStore) -> None:
    assert await store.begin_authorization(_authorization("h1", owner="s1"), limit=2, now=T0)
    assert await store.begin_authorization(_authorization("h2", owner="s1"), limit=2, now=T0)
    assert await store.get_authorization("h1") is None
    assert await store.begin_authorization(_authorization("h3", owner="s2"), limit=2, now=T0)
    assert not await store.begin_authorization(_authorization("h4", owner=None), limit=2, now=T0)
    later = T0 + TTL
    assert await store.begin_authorization(_authorization("h5", owner=None, at=later), limit=2, now=later)
