"""What is on disk: no key and no secret credential in clear, in the SQLite file or PostgreSQL rows."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from storelink.models import Connection
from storelink.store import ConnectionStore, open_store
from storelink.vault import KeyRing, Vault

Factory = Callable[..., Connection]
KEY = b"CANARY-vault-key-0123456789abcde"  # 32 bytes, easy to spot in a dump
SECRET = "eyJhbGciOiJSUzI1NiJ9.CANARY-secret-application-key-5d1e.c2lnbmF0dXJl"
CLEAR = "CANARY-clear-client-id-9b2f"  # a non-secret field: it must be found, or the scan is blind


def needles() -> dict[str, bytes]:
    """Every form a leaked key or secret could take in a dump."""
    ring = KeyRing([("k1", KEY)])
    forms = {
        "key": KEY,
        "key base64": base64.b64encode(KEY),
        "key base64url": base64.urlsafe_b64encode(KEY).rstrip(b"="),
        "key hex": KEY.hex().encode(),
        "derived AES key": ring.derive("k1", b"storelink/vault/aes-256-gcm/v1"),
        "secret": SECRET.encode(),
        "secret utf-16": SECRET.encode("utf-16-le"),
        "secret base64": base64.b64encode(SECRET.encode()),
    }
    forms["derived AES key hex"] = forms["derived AES key"].hex().encode()
    return forms


async def fill(store: ConnectionStore, new_connection: Factory) -> str:
    """Store credentials, replace some, erase the last; return the envelope that was erased."""
    vault = Vault(KeyRing([("k1", KEY)]))
    sealed = ""
    for n in range(1, 21):
        conn = new_connection(n)
        sealed = vault.seal(SECRET.encode(), connection_id=conn.id, platform="occ", field="application_key")
        await store.insert_connection(conn, {"application_key": sealed}, {"client_id": CLEAR})
        if n % 5 == 0:
            sealed = vault.seal(SECRET.encode(), connection_id=conn.id, platform="occ", field="application_key")
            await store.replace_credentials(conn.id, {"application_key": sealed}, {"client_id": CLEAR})
    await store.delete_credentials(conn.id)
    return sealed


def read_all(directory: Path) -> bytes:
    """Return the bytes of every file in *directory* (the database, its -wal and -shm)."""
    return b"".join(p.read_bytes() for p in directory.iterdir())


def found_in(data: bytes) -> list[str]:
    return [name for name, needle in needles().items() if needle in data]


async def test_the_sqlite_file_holds_no_key_and_no_secret(tmp_path: Path, new_connection: Factory) -> None:
    path = tmp_path / "storelink.db"
    async with open_store(path) as store:
        await store.migrate()
        erased = await fill(store, new_connection)
        live = read_all(tmp_path)
        assert CLEAR.encode() in live
        assert found_in(live) == []
    on_disk = read_all(tmp_path)

    assert CLEAR.encode() in on_disk
    assert found_in(on_disk) == []
    # secure_delete: the erased connection's envelope is overwritten, not left in a free page.
    assert erased.encode() not in on_disk


@pytest.mark.postgres
async def test_postgres_rows_hold_no_key_and_no_secret(pg_schema: tuple[str, str], new_connection: Factory) -> None:
    url, schema = pg_schema
    async with open_store(url) as store:
        await store.migrate()
        await fill(store, new_connection)

    dump = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        tables = await (
            await conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        ).fetchall()
        assert {t for (t,) in tables} >= {"connections", "credentials", "order_submissions", "sync_checkpoints"}
        for (table,) in tables:
            query = sql.SQL("SELECT row_to_json(t)::text FROM {} t").format(sql.Identifier(table))
            rows = await (await conn.execute(query)).fetchall()
            dump += [row for (row,) in rows]
    data = "\n".join(dump).encode()

    assert CLEAR.encode() in data
    assert found_in(data) == []
