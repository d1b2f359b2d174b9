"""The order-submission ledger: atomic claims and compare-and-swap updates, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from storelink.errors import ConnectionStateError
from storelink.models import Connection
from storelink.store import ConnectionStore, Submission, SubmissionState, open_store

Factory = Callable[..., Connection]
S = SubmissionState


@pytest.fixture
async def conn_id(store: ConnectionStore, new_connection: Factory) -> str:
    conn = new_connection(1)
    await store.insert_connection(conn, {}, {})
    return conn.id


async def test_a_claim_creates_a_pending_row_once(store: ConnectionStore, conn_id: str) -> None:
    first, created = await store.claim_submission(conn_id, "ch-1", "hash-a")
    again, created_again = await store.claim_submission(conn_id, "ch-1", "hash-b")

    assert created
    assert not created_again
    assert (first.state, first.attempts, first.payload_hash) == (S.PENDING, 0, "hash-a")
    assert again == first
    assert await store.get_submission(conn_id, "ch-1") == first
    assert await store.get_submission(conn_id, "ch-2") is None


async def test_references_are_unique_per_connection_only(
    store: ConnectionStore, conn_id: str, new_connection: Factory
) -> None:
    await store.insert_connection(new_connection(2), {}, {})
    _, created_one = await store.claim_submission(conn_id, "ch-1", "h")
    _, created_two = await store.claim_submission("conn-00002", "ch-1", "h")
    assert created_one
    assert created_two


async def test_a_claim_for_a_missing_connection_is_refused(store: ConnectionStore) -> None:
    with pytest.raises(ConnectionStateError):
        await store.claim_submission("nope", "ch-1", "h")


async def test_ten_concurrent_claims_make_one_row(store: ConnectionStore, conn_id: str) -> None:
    """Ten concurrent claims of each of 20 references: 1 row and exactly 1 ``created`` per reference."""
    refs = [f"ch-{i}" for i in range(20)]
    results = await asyncio.gather(
        *(store.claim_submission(conn_id, ref, f"hash-{k}") for k in range(10) for ref in refs)
    )

    for ref in refs:
        mine = [(row, created) for row, created in results if row.reference == ref]
        assert len(mine) == 10
        assert sum(created for _, created in mine) == 1
        assert len({row for row, _ in mine}) == 1
    assert len(await store.list_submissions()) == 20


async def test_ten_stores_claiming_at_once_make_one_row(store_url: str, store: ConnectionStore, conn_id: str) -> None:
    """Ten separate stores (connections, worker threads) on one database race for each reference."""
    others = [open_store(store_url) for _ in range(10)]
    try:
        for ref in ("race-1", "race-2", "race-3"):
            results = await asyncio.gather(*(s.claim_submission(conn_id, ref, "h") for s in others))
            assert sum(created for _, created in results) == 1
            assert len({row for row, _ in results}) == 1
    finally:
        await asyncio.gather(*(s.close() for s in others))
    assert [r.reference for r in await store.list_submissions()] == ["race-1", "race-2", "race-3"]


async def test_update_is_compare_and_swap_on_state(store: ConnectionStore, conn_id: str) -> None:
    await store.claim_submission(conn_id, "ch-1", "h")

    assert not await store.update_submission(conn_id, "ch-1", state=S.CREATED, expect_state=S.SENDING)
    assert await store.update_submission(conn_id, "ch-1", state=S.SENDING, expect_state=S.PENDING)
    assert not await store.update_submission(conn_id, "ch-1", state=S.SENDING, expect_state=S.PENDING)
    assert await store.update_submission(
        conn_id, "ch-1", state=S.UNKNOWN, last_error="timeout", expect_state=[S.SENDING, S.PENDING]
    )
    row = await store.get_submission(conn_id, "ch-1")
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == (S.UNKNOWN, 1, "timeout")
    assert not await store.update_submission(conn_id, "missing", state=S.SENDING)


async def test_update_keeps_the_order_and_clears_the_error(store: ConnectionStore, conn_id: str) -> None:
    first, _ = await store.claim_submission(conn_id, "ch-1", "h")
    await store.update_submission(conn_id, "ch-1", state=S.SENDING)
    await store.update_submission(
        conn_id, "ch-1", state=S.CREATED, platform_order_id="o123", order_json='{"id":"o123"}', last_error="late"
    )
    await store.update_submission(conn_id, "ch-1", state=S.CREATED)
    await store.update_submission(conn_id, "ch-1", state=S.SENDING)

    row = await store.get_submission(conn_id, "ch-1")
    assert row is not None
    assert (row.platform_order_id, row.order_json, row.last_error) == ("o123", '{"id":"o123"}', None)
    assert row.attempts == 2
    assert row.created_at == first.created_at
    assert row.updated_at >= first.updated_at


async def test_concurrent_moves_from_pending_have_one_winner(store: ConnectionStore, conn_id: str) -> None:
    await store.claim_submission(conn_id, "ch-1", "h")
    wins = await asyncio.gather(
        *(store.update_submission(conn_id, "ch-1", state=S.SENDING, expect_state=S.PENDING) for _ in range(10))
    )
    assert sum(wins) == 1


async def test_list_filters_by_state_and_connection(
    store: ConnectionStore, conn_id: str, new_connection: Factory
) -> None:
    await store.insert_connection(new_connection(2), {}, {})
    for ref in ("a", "b", "c"):
        await store.claim_submission(conn_id, ref, "h")
    await store.claim_submission("conn-00002", "d", "h")
    await store.update_submission(conn_id, "b", state=S.SENDING)
    await store.update_submission(conn_id, "c", state=S.FAILED, last_error="400")

    def refs(rows: list[Submission]) -> list[str]:
        return [r.reference for r in rows]

    assert refs(await store.list_submissions()) == ["a", "b", "c", "d"]
    assert refs(await store.list_submissions(state=S.PENDING)) == ["a", "d"]
    assert refs(await store.list_submissions(state=[S.PENDING, S.SENDING], connection_id=conn_id)) == ["a", "b"]
    assert refs(await store.list_submissions(connection_id="conn-00002")) == ["d"]
    assert await store.list_submissions(state=[]) == []
