"""Shared tokens in the store: claims, leases, atomic saves and erasure, on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from storelink.errors import ConnectionStateError
from storelink.models import Connection
from storelink.store import MIGRATIONS, ConnectionStore, StoredToken, TokenKind, open_store
from storelink.store.sql import Query
from storelink.store.sqlstore import SQLStore

from .conftest import T0, ConnectionFactory, Sealer

LEASE = 10.0


def token(
    conn: Connection,
    seal: Sealer,
    *,
    kind: TokenKind = TokenKind.ACCESS,
    audience: str = "admin",
    refresh_in: float = 240.0,
    expires_in: float = 300.0,
    text: str = "tok",
) -> StoredToken:
    envelope = seal(conn, f"token/{kind.value}/{audience}", text)
    return StoredToken(
        connection_id=conn.id,
        audience=audience,
        kind=kind,
        envelope=envelope,
        key_id="k1",
        refresh_at=T0 + timedelta(seconds=refresh_in),
        expires_at=T0 + timedelta(seconds=expires_in),
    )


async def rows(store: ConnectionStore, table: str) -> list[dict[str, object]]:
    assert isinstance(store, SQLStore)
    async with store._driver.session() as session:
        return await session.all(Query(f"SELECT * FROM {table}"))  # noqa: S608  # a test's constant table name


@pytest.fixture
async def conn(store: ConnectionStore, new_connection: ConnectionFactory) -> Connection:
    made = new_connection(1)
    await store.insert_connection(made, {}, {"user": "u"})
    return made


async def test_the_migration_adds_the_token_tables(store: ConnectionStore) -> None:
    assert await store.schema_version() == len(MIGRATIONS) >= 2
    assert await rows(store, "tokens") == []
    assert await rows(store, "token_leases") == []


async def test_the_first_claim_gets_the_lease_and_a_second_owner_is_told_when_it_ends(
    store: ConnectionStore, conn: Connection
) -> None:
    first = await store.claim_token(conn.id, "admin", owner="a", now=T0, lease=LEASE)
    second = await store.claim_token(conn.id, "admin", owner="b", now=T0 + timedelta(seconds=1), lease=LEASE)
    assert (first.granted, first.tokens, first.busy_until) == (True, {}, None)
    assert (second.granted, second.busy_until) == (False, T0 + timedelta(seconds=LEASE))


async def test_a_lease_that_ended_goes_to_the_next_claimer(store: ConnectionStore, conn: Connection) -> None:
    await store.claim_token(conn.id, "admin", owner="dead", now=T0, lease=LEASE)
    later = await store.claim_token(conn.id, "admin", owner="b", now=T0 + timedelta(seconds=LEASE), lease=LEASE)
    assert later.granted
    third = await store.claim_token(conn.id, "admin", owner="c", now=T0 + timedelta(seconds=LEASE + 1), lease=LEASE)
    assert third.busy_until == T0 + timedelta(seconds=2 * LEASE)


async def test_a_saved_token_ends_the_lease_and_is_handed_out_while_fresh(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    await store.claim_token(conn.id, "admin", owner="a", now=T0, lease=LEASE)
    saved = token(conn, seal)
    await store.save_tokens([saved], owner="a")
    assert await rows(store, "token_leases") == []

    fresh = await store.claim_token(conn.id, "admin", owner="b", now=T0 + timedelta(seconds=239), lease=LEASE)
    assert (fresh.granted, fresh.tokens) == (False, {TokenKind.ACCESS: saved})
    assert await rows(store, "token_leases") == []  # a fresh token takes no lease

    due = await store.claim_token(conn.id, "admin", owner="b", now=T0 + timedelta(seconds=240), lease=LEASE)
    assert (due.granted, due.tokens) == (True, {TokenKind.ACCESS: saved})  # the due token comes along, for a refresh


async def test_audiences_are_claimed_apart(store: ConnectionStore, conn: Connection) -> None:
    assert (await store.claim_token(conn.id, "admin", owner="a", now=T0, lease=LEASE)).granted
    assert (await store.claim_token(conn.id, "agent", owner="b", now=T0, lease=LEASE)).granted


async def test_an_access_and_a_refresh_token_are_saved_together(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    access, refresh = token(conn, seal), token(conn, seal, kind=TokenKind.REFRESH, refresh_in=3000, expires_in=3600)
    await store.save_tokens([access, refresh], owner="a")
    assert await store.get_tokens(conn.id, "admin") == {TokenKind.ACCESS: access, TokenKind.REFRESH: refresh}

    rotated = token(conn, seal, kind=TokenKind.REFRESH, refresh_in=3300, expires_in=3900, text="rotated")
    with pytest.raises(ValueError, match="access token of audience 'admin'"):
        await store.save_tokens([rotated, StoredToken(**{**_fields(access), "envelope": "not-an-envelope"})], owner="a")
    assert (await store.get_tokens(conn.id, "admin"))[TokenKind.REFRESH] == refresh  # neither was stored


def _fields(stored: StoredToken) -> dict[str, object]:
    return {
        "connection_id": stored.connection_id,
        "audience": stored.audience,
        "kind": stored.kind,
        "envelope": stored.envelope,
        "key_id": stored.key_id,
        "refresh_at": stored.refresh_at,
        "expires_at": stored.expires_at,
    }


async def test_tokens_of_several_audiences_in_one_save_are_refused(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    with pytest.raises(ValueError, match="exactly one audience"):
        await store.save_tokens([token(conn, seal), token(conn, seal, audience="agent")], owner="a")


async def test_an_unknown_connection_can_neither_claim_nor_save(
    store: ConnectionStore, conn: Connection, seal: Sealer, new_connection: ConnectionFactory
) -> None:
    ghost = new_connection(9)
    with pytest.raises(ConnectionStateError, match="no connection 'conn-00009'"):
        await store.claim_token(ghost.id, "admin", owner="a", now=T0, lease=LEASE)
    with pytest.raises(ConnectionStateError, match="no connection 'conn-00009'"):
        await store.save_tokens([token(ghost, seal)], owner="a")
    with pytest.raises(ValueError, match="lease must be positive"):
        await store.claim_token(conn.id, "admin", owner="a", now=T0, lease=0)


async def test_a_token_is_erased_by_envelope_only_while_it_is_the_stored_one(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    old, new = token(conn, seal, text="old"), token(conn, seal, text="new")
    await store.save_tokens([old], owner="a")
    await store.save_tokens([new], owner="b")
    assert await store.delete_tokens(conn.id, "admin", envelope=old.envelope) == 0
    assert await store.delete_tokens(conn.id, "admin", envelope=new.envelope) == 1
    assert await store.get_tokens(conn.id, "admin") == {}
    with pytest.raises(ValueError, match="needs its audience"):
        await store.delete_tokens(conn.id, envelope=new.envelope)


async def test_only_its_owner_releases_a_lease(store: ConnectionStore, conn: Connection) -> None:
    await store.claim_token(conn.id, "admin", owner="a", now=T0, lease=LEASE)
    await store.release_token_lease(conn.id, "admin", owner="b")
    assert len(await rows(store, "token_leases")) == 1
    await store.release_token_lease(conn.id, "admin", owner="a")
    assert await rows(store, "token_leases") == []


async def test_replacing_or_erasing_credentials_erases_the_tokens_and_leases(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    await store.save_tokens([token(conn, seal)], owner="a")
    await store.claim_token(conn.id, "agent", owner="a", now=T0, lease=LEASE)
    await store.replace_credentials(conn.id, {}, {"user": "v"})
    assert (await rows(store, "tokens"), await rows(store, "token_leases")) == ([], [])

    await store.save_tokens([token(conn, seal)], owner="a")
    await store.delete_credentials(conn.id)
    assert await rows(store, "tokens") == []


async def test_deleting_the_connection_row_deletes_its_tokens(
    store: ConnectionStore, conn: Connection, seal: Sealer
) -> None:
    await store.save_tokens([token(conn, seal)], owner="a")
    await store.claim_token(conn.id, "agent", owner="a", now=T0, lease=LEASE)
    assert isinstance(store, SQLStore)
    async with store._driver.session() as session, session.transaction():
        await session.execute(Query("DELETE FROM connections WHERE id = ?", (conn.id,)))
    assert (await rows(store, "tokens"), await rows(store, "token_leases")) == ([], [])


async def test_of_many_stores_claiming_at_once_exactly_one_gets_the_lease(
    store_url: str, store: ConnectionStore, conn: Connection
) -> None:
    others = [open_store(store_url) for _ in range(6)]
    try:
        claims = await asyncio.gather(
            *(s.claim_token(conn.id, "admin", owner=f"o{i}", now=T0, lease=LEASE) for i, s in enumerate(others))
        )
    finally:
        for other in others:
            await other.close()
    assert sum(c.granted for c in claims) == 1
    assert {c.busy_until for c in claims if not c.granted} == {T0 + timedelta(seconds=LEASE)}


async def test_a_claim_waits_for_a_holder_of_the_claim_lock_and_goes_on_when_it_dies(
    backend: str, store_url: str, store: ConnectionStore, conn: Connection, tmp_path: Path
) -> None:
    """The claim's lock (SQLite's write lock, PostgreSQL's advisory lock) ends with its holder's connection."""
    key = f"storelink.token.{conn.id}.admin"
    if backend == "sqlite":
        raw = sqlite3.connect(str(tmp_path / "storelink.db"), isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        close = raw.close
    else:
        pg = await psycopg.AsyncConnection.connect(store_url, autocommit=True)
        await pg.execute("BEGIN")
        await pg.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(current_schema(), '') || '.' || %s, 0))", (key,)
        )
    claim = asyncio.ensure_future(store.claim_token(conn.id, "admin", owner="b", now=T0, lease=LEASE))
    await asyncio.sleep(0.3)
    assert not claim.done()
    if backend == "sqlite":
        close()  # a process that dies closes its file: SQLite drops its lock
    else:
        await pg.close()  # the server ends the transaction, and its advisory lock, with the connection
    assert (await asyncio.wait_for(claim, 10)).granted
