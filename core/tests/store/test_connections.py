"""Connections, credentials and checkpoints behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from storelink.errors import ConfigurationError, ConnectionStateError
from storelink.models import Connection, ConnectionStatus, StoreURL
from storelink.store import MIGRATIONS, ConnectionStore, SQLiteStore, open_store
from storelink.store.postgres import PostgresStore
from storelink.vault import Vault

Factory = Callable[..., Connection]
Seal = Callable[[Connection, str, str], str]


async def test_migrate_creates_the_schema_once(store: ConnectionStore) -> None:
    assert await store.schema_version() == len(MIGRATIONS)
    assert await store.migrate() == len(MIGRATIONS)
    assert await store.schema_version() == len(MIGRATIONS)


async def test_a_connection_round_trips(store: ConnectionStore, new_connection: Factory, seal: Seal) -> None:
    conn = new_connection(
        7,
        label="Main store",
        last_error="timeout",
        credentials_expire_at=new_connection(7).created_at + timedelta(days=90),
        settings={"site": "siteUS", "language": "en"},
    )
    await store.insert_connection(conn, {"application_key": seal(conn, "application_key", "key")}, {"user": "u"})

    got = await store.get_connection(conn.id)

    assert got == conn
    assert got is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert await store.get_connection("nope") is None


async def test_inserting_an_existing_id_is_refused(store: ConnectionStore, new_connection: Factory) -> None:
    await store.insert_connection(new_connection(1), {}, {})
    with pytest.raises(ConnectionStateError, match="already exists"):
        await store.insert_connection(new_connection(1, platform="other"), {}, {})
    assert (await store.get_connection("conn-00001")) == new_connection(1)


async def test_list_filters_and_orders_oldest_first(store: ConnectionStore, new_connection: Factory) -> None:
    conns = [
        new_connection(3),
        new_connection(1, platform="shopx"),
        new_connection(2, status=ConnectionStatus.REVOKED),
    ]
    for conn in conns:
        await store.insert_connection(conn, {}, {})

    assert [c.id for c in await store.list_connections()] == ["conn-00001", "conn-00002", "conn-00003"]
    assert [c.id for c in await store.list_connections(platform="occ")] == ["conn-00002", "conn-00003"]
    assert [c.id for c in await store.list_connections(status=ConnectionStatus.REVOKED)] == ["conn-00002"]
    assert await store.list_connections(platform="shopx", status=ConnectionStatus.REVOKED) == []


async def test_update_stores_every_mutable_field(store: ConnectionStore, new_connection: Factory) -> None:
    conn = new_connection(1)
    await store.insert_connection(conn, {}, {})
    changed = attrs.evolve(
        conn,
        status=ConnectionStatus.NEEDS_ATTENTION,
        store_url=StoreURL(origin="https://moved.example.com"),
        settings={"site": "siteEU"},
        label="EU",
        credentials_expire_at=conn.created_at + timedelta(days=1),
        updated_at=conn.updated_at + timedelta(minutes=5),
    )

    stored = await store.update_connection(changed, last_error="orders: 403")

    assert stored == attrs.evolve(changed, last_error="orders: 403")
    assert await store.get_connection(conn.id) == stored
    cleared = await store.update_connection(attrs.evolve(stored, status=ConnectionStatus.ACTIVE), last_error=None)
    assert (await store.get_connection(conn.id)) == cleared
    assert cleared.last_error is None


async def test_update_of_a_missing_connection_is_refused(store: ConnectionStore, new_connection: Factory) -> None:
    with pytest.raises(ConnectionStateError):
        await store.update_connection(new_connection(1))


async def test_credentials_keep_sealed_and_clear_fields_apart(
    store: ConnectionStore, new_connection: Factory, seal: Seal, vault: Vault
) -> None:
    conn = new_connection(1)
    envelope = seal(conn, "application_key", "secret-key")
    await store.insert_connection(conn, {"application_key": envelope}, {"client_id": "c-1"})

    envelopes, plain = await store.get_credentials(conn.id)

    assert envelopes == {"application_key": envelope}
    assert plain == {"client_id": "c-1"}
    opened = vault.open(envelope, connection_id=conn.id, platform="occ", field="application_key")
    assert opened == b"secret-key"
    assert await store.get_credentials("nope") == ({}, {})


async def test_replace_credentials_swaps_every_field_at_once(
    store: ConnectionStore, new_connection: Factory, seal: Seal
) -> None:
    conn = new_connection(1)
    await store.insert_connection(conn, {"a": seal(conn, "a", "1"), "b": seal(conn, "b", "2")}, {"c": "3"})
    new_a = seal(conn, "a", "new")

    await store.replace_credentials(conn.id, {"a": new_a}, {"d": "4"})

    assert await store.get_credentials(conn.id) == ({"a": new_a}, {"d": "4"})
    await store.delete_credentials(conn.id)
    assert await store.get_credentials(conn.id) == ({}, {})
    with pytest.raises(ConnectionStateError):
        await store.replace_credentials("nope", {}, {"x": "y"})


async def test_malformed_credentials_are_refused_and_nothing_is_written(
    store: ConnectionStore, new_connection: Factory, seal: Seal
) -> None:
    conn = new_connection(1)
    with pytest.raises(ValueError, match="both sealed and in clear"):
        await store.insert_connection(conn, {"a": seal(conn, "a", "x")}, {"a": "x"})
    with pytest.raises(ValueError, match="not a storelink envelope"):
        await store.insert_connection(conn, {"a": "plain text, not an envelope"}, {})
    assert await store.get_connection(conn.id) is None


async def test_checkpoints_are_set_replaced_and_erased(store: ConnectionStore, new_connection: Factory) -> None:
    await store.insert_connection(new_connection(1), {}, {})
    assert await store.get_checkpoint("conn-00001", "products") is None

    await store.set_checkpoint("conn-00001", "products", "offset:250")
    await store.set_checkpoint("conn-00001", "products", "offset:500")
    await store.set_checkpoint("conn-00001", "orders", "2026-01-01T00:00:00Z")

    assert await store.get_checkpoint("conn-00001", "products") == "offset:500"
    assert await store.get_checkpoint("conn-00001", "orders") == "2026-01-01T00:00:00Z"
    await store.set_checkpoint("conn-00001", "products", None)
    assert await store.get_checkpoint("conn-00001", "products") is None
    with pytest.raises(ConnectionStateError):
        await store.set_checkpoint("nope", "products", "x")


async def test_envelopes_page_in_key_order_and_count_by_key(
    store: ConnectionStore, new_connection: Factory, seal: Seal
) -> None:
    conns = [new_connection(n) for n in range(1, 8)]
    for conn in conns:
        await store.insert_connection(conn, {"a": seal(conn, "a", "x"), "b": seal(conn, "b", "y")}, {"c": "z"})

    seen = []
    after = None
    while rows := await store.iter_envelopes(after, 3):
        seen += [row.position for row in rows]
        after = rows[-1].position

    assert seen == [(c.id, f) for c in conns for f in ("a", "b")]
    assert await store.count_by_key() == {"k1": 14}
    assert await store.iter_envelopes(exclude_key="k1") == []
    row = (await store.iter_envelopes(limit=1))[0]
    assert (row.platform, row.key_id) == ("occ", "k1")
    assert row.envelope not in repr(row)


async def test_swap_envelope_is_compare_and_swap(
    store: ConnectionStore, new_connection: Factory, seal: Seal, vault: Vault
) -> None:
    conn = new_connection(1)
    first = seal(conn, "a", "x")
    await store.insert_connection(conn, {"a": first}, {})
    other_ring = Vault(vault.keyring.with_new_key("k9", activate=True))
    second = other_ring.seal(b"x", connection_id=conn.id, platform="occ", field="a")

    assert await store.swap_envelope(conn.id, "a", first, second)
    assert not await store.swap_envelope(conn.id, "a", first, seal(conn, "a", "stale"))
    assert await store.get_credentials(conn.id) == ({"a": second}, {})
    assert await store.count_by_key() == {"k9": 1}
    assert not await store.swap_envelope(conn.id, "missing", first, second)


async def test_many_concurrent_callers_are_served(store: ConnectionStore, new_connection: Factory, seal: Seal) -> None:
    conns = [new_connection(n) for n in range(1, 41)]
    await asyncio.gather(*(store.insert_connection(c, {"a": seal(c, "a", c.id)}, {}) for c in conns))

    results = await asyncio.gather(
        *(store.get_credentials(c.id) for c in conns),
        *(store.set_checkpoint(c.id, "orders", c.id) for c in conns),
    )

    assert all(len(r[0]) == 1 for r in results[: len(conns)])
    assert len(await store.list_connections()) == 40


async def test_a_closed_store_refuses_calls(store_url: str) -> None:
    opened = open_store(store_url)
    await opened.migrate()
    await opened.close()
    await opened.close()
    with pytest.raises(RuntimeError, match="closed"):
        await opened.get_connection("x")


# ---------------------------------------------------------------------- open_store


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/db.sqlite", "relative/db.sqlite"),
        ("sqlite:////absolute/db.sqlite", "/absolute/db.sqlite"),
        ("plain/path.db", "plain/path.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        (":memory:", None),
    ],
)
def test_open_store_reads_sqlite_urls(url: str, path: str | None) -> None:
    opened = open_store(url)
    assert isinstance(opened, SQLiteStore)
    assert opened.path == (None if path is None else Path(path))


def test_open_store_takes_a_path_object(tmp_path: Path) -> None:
    opened = open_store(tmp_path / "x.db")
    assert isinstance(opened, SQLiteStore)
    assert opened.path == tmp_path / "x.db"


def test_open_store_refuses_unknown_schemes_without_echoing_the_url() -> None:
    with pytest.raises(ConfigurationError, match="unknown database URL scheme 'mysql'") as caught:
        open_store("mysql://admin:hunter2@db.example.com/shop")
    assert "hunter2" not in str(caught.value)


async def test_postgres_repr_and_errors_hide_the_password() -> None:
    url = "postgresql://admin:hunter2@127.0.0.1:9/shop"  # nothing listens on port 9
    assert isinstance(open_store(url), PostgresStore)
    unreachable = PostgresStore(url, connect_timeout=0.3)
    assert repr(unreachable) == "PostgresStore('127.0.0.1:9/shop')"

    with pytest.raises(ConfigurationError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:9/shop") as caught:
        await unreachable.migrate()

    assert "hunter2" not in str(caught.value)
    with pytest.raises(RuntimeError, match="closed"):
        await unreachable.migrate()


async def test_an_in_memory_store_works() -> None:
    async with open_store(":memory:") as opened:
        assert await opened.migrate() == len(MIGRATIONS)
        assert await opened.list_connections() == []


async def test_the_sqlite_file_is_private(tmp_path: Path, new_connection: Factory) -> None:
    path = tmp_path / "storelink.db"
    async with open_store(path) as opened:
        await opened.migrate()
        await opened.insert_connection(new_connection(1), {}, {})
        modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
    assert modes["storelink.db"] == 0o600
    assert all(mode == 0o600 for name, mode in modes.items() if name.startswith("storelink.db"))


# ---------------------------------------------------------------------- SQLite files that cannot be used


async def _refused(path: str | Path) -> str:
    opened = open_store(path)
    try:
        with pytest.raises(ConfigurationError) as caught:
            await opened.migrate()
    finally:
        await opened.close()
    return str(caught.value)


async def test_a_sqlite_path_in_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "dir"
    message = await _refused(f"sqlite:///{missing}/x.db")
    assert message == (
        f"the directory {missing} of the database file {missing}/x.db does not exist, and storelink does not "
        "create it; create it first, or choose a path in an existing directory"
    )
    assert not (tmp_path / "missing").exists()


async def test_a_sqlite_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "is not a directory; choose a path in an existing directory" in await _refused(tmp_path / "file" / "x.db")


async def test_a_sqlite_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    message = await _refused(tmp_path)
    assert message == f"the database path {tmp_path} is a directory; name a file, such as {tmp_path / 'storelink.db'}"


@pytest.mark.parametrize(
    "content",
    [b"not a database\n", bytes(range(256)) * 20, b"SQLite format 3\x00" + b"\x00" * 84],
    ids=["text", "binary", "bare header"],
)
async def test_a_file_that_is_not_a_sqlite_database_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.db"
    path.write_bytes(content)
    message = await _refused(path)
    assert message.startswith(f"the database file {path} is not a SQLite database, or it is damaged (SQLite says: ")
    assert message.endswith("use another database file (--db, STORELINK_DB), or restore this one from a backup")
    assert path.read_bytes() == content  # left as it was


async def test_a_truncated_sqlite_database_is_refused_as_damaged(tmp_path: Path, new_connection: Factory) -> None:
    path = tmp_path / "storelink.db"
    async with open_store(path) as opened:
        await opened.migrate()
        await opened.insert_connection(new_connection(1), {}, {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert not path.with_name("storelink.db-wal").exists()  # closed: every page is in the main file
    assert "is not a SQLite database, or it is damaged" in await _refused(path)


async def test_a_database_locked_past_the_busy_timeout_is_a_store_busy_error(
    tmp_path: Path, new_connection: Factory
) -> None:
    """Another process holding the write lock: a clear, retryable error, not "a bug"."""
    import sqlite3

    from storelink.cli.exits import ExitCode, exit_code_for
    from storelink.errors import StoreBusyError

    path = tmp_path / "storelink.db"
    async with SQLiteStore(path) as first:
        await first.migrate()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        async with SQLiteStore(path, busy_timeout=0.05) as second:
            with pytest.raises(StoreBusyError) as caught:
                await second.insert_connection(new_connection(1), {}, {})
        assert str(caught.value) == (
            f"the database file {path} stayed locked by another process for 0.05 s; nothing was written"
        )
        assert caught.value.action.startswith("retry later")
        assert exit_code_for(caught.value) == ExitCode.UNAVAILABLE
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    async with SQLiteStore(path) as third:  # nothing was written, and the file is fine
        assert await third.list_connections() == []


async def test_opening_a_new_file_waits_for_another_process_writing_it(tmp_path: Path) -> None:
    """A fresh file another process is writing: the switch to WAL waits, as a write would.

    SQLite refuses that switch at once, without its busy handler, while another
    connection holds the write lock of a file still in rollback-journal mode (several
    processes starting on one new file).
    """
    import sqlite3
    import threading

    path = tmp_path / "storelink.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other (x)")
    released = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        async with SQLiteStore(path, busy_timeout=30) as store:
            assert await store.migrate() == len(MIGRATIONS)
            assert await store.list_connections() == []
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        check.close()
    finally:
        released.join()
        holder.close()


async def test_a_new_file_locked_past_the_busy_timeout_is_a_store_busy_error(tmp_path: Path) -> None:
    import sqlite3

    from storelink.errors import StoreBusyError

    path = tmp_path / "storelink.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("CREATE TABLE other (x)")
        async with SQLiteStore(path, busy_timeout=0.05) as store:
            with pytest.raises(StoreBusyError, match=r"stayed locked by another process for 0\.05 s"):
                await store.migrate()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
