"""Both drivers keep the contract :class:`SQLStore` relies on, and the store behaves alike on both.

These pin the places where the two backends used to differ: how a missing connection
is detected, how constraint errors surface, and what a rolled-back transaction leaves.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from storelink.errors import ConnectionStateError
from storelink.models import Connection
from storelink.store import ConnectionStore
from storelink.store.sql import Query
from storelink.store.sqlstore import DuplicateRowError, MissingParentError, SQLStore

Factory = Callable[..., Connection]


def sql_store(store: ConnectionStore) -> SQLStore:
    assert isinstance(store, SQLStore)
    return store


async def test_setting_a_checkpoint_of_an_unknown_connection_is_refused_and_writes_nothing(
    store: ConnectionStore,
) -> None:
    with pytest.raises(ConnectionStateError, match="no connection 'nope'"):
        await store.set_checkpoint("nope", "products", "offset:1")
    assert await store.get_checkpoint("nope", "products") is None


async def test_erasing_a_checkpoint_of_an_unknown_connection_does_nothing(store: ConnectionStore) -> None:
    await store.set_checkpoint("nope", "products", None)
    assert await store.get_checkpoint("nope", "products") is None


async def test_claims_and_credentials_of_an_unknown_connection_are_refused(store: ConnectionStore) -> None:
    with pytest.raises(ConnectionStateError, match="no connection 'nope'"):
        await store.claim_submission("nope", "ref-1", "hash")
    with pytest.raises(ConnectionStateError, match="no connection 'nope'"):
        await store.replace_credentials("nope", {}, {"user": "u"})
    assert await store.list_submissions() == []
    assert await store.get_credentials("nope") == ({}, {})


async def test_a_foreign_key_failure_is_a_missing_parent(store: ConnectionStore) -> None:
    """What a connection deleted by another process between check and write raises."""
    orphan = Query(
        "INSERT INTO sync_checkpoints (connection_id, kind, value, updated_at) VALUES (?, ?, ?, ?)",
        ("nope", "products", "x", "2026-01-01T00:00:00+00:00"),
    )
    async with sql_store(store)._driver.session() as session:
        with pytest.raises(MissingParentError):
            await session.execute(orphan)


async def test_a_unique_failure_is_a_duplicate_row(store: ConnectionStore, new_connection: Factory) -> None:
    """What a connection inserted by another process between check and insert raises."""
    conn = new_connection(1)
    await store.insert_connection(conn, {}, {})
    again = Query("INSERT INTO credentials (connection_id, field, value) VALUES (?, ?, ?)", (conn.id, "user", "u"))
    async with sql_store(store)._driver.session() as session:
        await session.execute(again)
        with pytest.raises(DuplicateRowError):
            await session.execute(again)


async def test_a_failed_transaction_writes_nothing_and_the_session_goes_on(
    store: ConnectionStore, new_connection: Factory
) -> None:
    conn = new_connection(1)
    await store.insert_connection(conn, {}, {})
    insert = Query("INSERT INTO credentials (connection_id, field, value) VALUES (?, ?, ?)", (conn.id, "a", "1"))
    async with sql_store(store)._driver.session() as session:

        async def abandoned() -> None:
            async with session.transaction():
                assert await session.execute(insert) == 1
                raise RuntimeError("abandon")

        with pytest.raises(RuntimeError, match="abandon"):
            await abandoned()
        assert await session.all(Query("SELECT field FROM credentials")) == []
        async with session.transaction():
            await session.execute(insert)
    assert await store.get_credentials(conn.id) == ({}, {"a": "1"})


async def test_a_check_constraint_failure_is_not_translated(store: ConnectionStore, new_connection: Factory) -> None:
    conn = new_connection(1)
    await store.insert_connection(conn, {}, {})
    neither = Query("INSERT INTO credentials (connection_id, field) VALUES (?, ?)", (conn.id, "empty"))
    async with sql_store(store)._driver.session() as session:
        with pytest.raises(Exception, match=r"(?i)check") as caught:
            await session.execute(neither)
    assert not isinstance(caught.value, DuplicateRowError | MissingParentError)
