"""Schema migrations upgrade an existing database, atomically, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from storelink.errors import ConfigurationError
from storelink.models import Connection
from storelink.store import MIGRATIONS as SHIPPED
from storelink.store import ConnectionStore, Migration, SQLiteStore
from storelink.store.migrations import pending
from storelink.store.postgres import PostgresStore
from storelink.store.sql import Query
from storelink.store.sqlstore import SQLStore

Factory = Callable[..., Connection]

# The first shipped migration: the made-up ones below follow it as version 2.
MIGRATIONS = SHIPPED[:1]

# A made-up second migration: a new column with a backfill, and a new table.
V2 = Migration(
    version=2,
    name="connection notes",
    statements={
        dialect: (
            "ALTER TABLE connections ADD COLUMN note TEXT NOT NULL DEFAULT ''",
            "UPDATE connections SET note = 'from v1: ' || id",
            "CREATE TABLE webhooks (connection_id TEXT NOT NULL REFERENCES connections (id), url TEXT NOT NULL)",
        )
        for dialect in ("sqlite", "postgresql")
    },
)
BROKEN_V2 = Migration(
    version=2,
    name="fails half-way",
    statements={d: ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL") for d in ("sqlite", "postgresql")},
)


def store_with(backend: str, url: str, migrations: tuple[Migration, ...]) -> ConnectionStore:
    if backend == "sqlite":
        return SQLiteStore(url.removeprefix("sqlite:///"), migrations=migrations)
    return PostgresStore(url, migrations=migrations)


async def fetch(store: ConnectionStore, query: str) -> list[tuple[object, ...]]:
    """Run a raw query on either backend (tests only)."""
    assert isinstance(store, SQLStore)
    async with store._driver.session() as session:
        return [tuple(r.values()) for r in await session.all(Query(query))]


async def test_an_existing_database_is_upgraded(backend: str, store_url: str, new_connection: Factory) -> None:
    async with store_with(backend, store_url, MIGRATIONS) as v1:
        assert await v1.migrate() == 1
        await v1.insert_connection(new_connection(1), {}, {"user": "u"})

    async with store_with(backend, store_url, (*MIGRATIONS, V2)) as v2:
        assert await v2.schema_version() == 1
        assert await v2.migrate() == 2
        assert await v2.get_connection("conn-00001") == new_connection(1)
        assert await v2.get_credentials("conn-00001") == ({}, {"user": "u"})
        assert await fetch(v2, "SELECT note FROM connections") == [("from v1: conn-00001",)]
        assert await fetch(v2, "SELECT version, name FROM schema_version ORDER BY version") == [
            (1, MIGRATIONS[0].name),
            (2, "connection notes"),
        ]
        assert await v2.migrate() == 2


async def test_a_failing_migration_leaves_the_previous_version(backend: str, store_url: str) -> None:
    async with store_with(backend, store_url, MIGRATIONS) as v1:
        await v1.migrate()

    async with store_with(backend, store_url, (*MIGRATIONS, BROKEN_V2)) as broken:
        with pytest.raises(Exception, match=r"(?i)syntax"):
            await broken.migrate()
        assert await broken.schema_version() == 1
        exists = (
            "SELECT name FROM sqlite_master WHERE name = 'half_done'"
            if backend == "sqlite"
            else "SELECT to_regclass('half_done')::text WHERE to_regclass('half_done') IS NOT NULL"
        )
        assert await fetch(broken, exists) == []


async def test_a_newer_database_is_refused(backend: str, store_url: str) -> None:
    async with store_with(backend, store_url, (*MIGRATIONS, V2)) as v2:
        await v2.migrate()
    async with store_with(backend, store_url, MIGRATIONS) as v1:
        with pytest.raises(ConfigurationError, match="schema version 2, newer than this storelink knows"):
            await v1.migrate()


async def test_concurrent_migrations_apply_each_step_once(backend: str, store_url: str) -> None:
    stores = [store_with(backend, store_url, (*MIGRATIONS, V2)) for _ in range(6)]
    try:
        assert await asyncio.gather(*(s.migrate() for s in stores)) == [2] * 6
        assert await fetch(stores[0], "SELECT COUNT(*) FROM schema_version") == [(2,)]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_a_new_database_has_version_zero(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "db") as fresh:
        assert await fresh.schema_version() == 0


def test_migrations_must_be_numbered_without_gaps() -> None:
    assert pending(0, MIGRATIONS) == list(MIGRATIONS)
    assert pending(1, (*MIGRATIONS, V2)) == [V2]
    with pytest.raises(ValueError, match="without gaps"):
        pending(0, (V2,))


def test_a_migration_needs_every_dialect() -> None:
    with pytest.raises(ValueError, match="no statements for postgresql"):
        Migration(version=1, name="x", statements={"sqlite": ("SELECT 1",)})
