"""What is on disk: no key and no secret credential in clear, and no altered row that still opens.

The tampered rows corpus (:data:`TAMPERINGS`, 21 cases) changes one credential row (or
its connection) the way someone with write access to the database could, on both
backends; every case must be refused, with no plaintext in the error.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from storelink.errors import VaultError
from storelink.models import Connection
from storelink.store import ConnectionStore, open_store
from storelink.vault import KeyRing, Vault, rewrap

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


# ---------------------------------------------------------------------- tampered rows


def tamper(store_url: str, statement: str, *params: object) -> None:
    """Run *statement* (``?`` placeholders) on the store's database directly, as an intruder with write access."""
    if store_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(store_url.removeprefix("sqlite:///"), timeout=10)) as lite, lite:
            lite.execute(statement, params)
    else:
        with psycopg.connect(store_url, autocommit=True) as pg:
            pg.execute(statement.replace("?", "%s"), params)


KEY2 = b"CANARY-second-ring-key-456789abc"
KEY3 = b"CANARY-third-ring-key-3456789abc"
TARGET, OTHER, EMPTY = "conn-00001", "conn-00002", "conn-00003"
FIELDS = ("application_key", "client_secret")
#: The ring the store is read with: k3 encrypts; k1 (which sealed every row) and k2 decrypt.
READER = KeyRing([("k3", KEY3), ("k1", KEY), ("k2", KEY2)])

Envelopes = dict[tuple[str, str], str]
Statements = list[tuple[str, tuple[object, ...]]]
SET_KEY_ID = "UPDATE credentials SET key_id = ? WHERE connection_id = ? AND field = ?"
SET_ENVELOPE = "UPDATE credentials SET envelope = ? WHERE connection_id = ? AND field = ?"
SET_BOTH = "UPDATE credentials SET envelope = ?, key_id = ? WHERE connection_id = ? AND field = ?"
MOVE_ROW = "UPDATE credentials SET connection_id = ? WHERE connection_id = ? AND field = ?"
RENAME_ROW = "UPDATE credentials SET field = ? WHERE connection_id = ? AND field = ?"


def _column(kid: str) -> Callable[[Envelopes], Statements]:
    return lambda _e: [(SET_KEY_ID, (kid, TARGET, FIELDS[0]))]


def _envelope(change: Callable[[str], str], kid: str | None = None) -> Callable[[Envelopes], Statements]:
    def statements(e: Envelopes) -> Statements:
        new = change(e[TARGET, FIELDS[0]])
        if kid is None:
            return [(SET_ENVELOPE, (new, TARGET, FIELDS[0]))]
        return [(SET_BOTH, (new, kid, TARGET, FIELDS[0]))]

    return statements


def _copied(e: Envelopes, source: tuple[str, str]) -> Statements:
    return [(SET_ENVELOPE, (e[source], TARGET, FIELDS[0]))]


def _renamed_key(envelope: str, kid: bytes) -> str:
    raw = bytearray(base64.urlsafe_b64decode(envelope + "=" * (-len(envelope) % 4)))
    raw[3:5] = kid
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def _flipped(envelope: str) -> str:
    at = len(envelope) - 10
    return envelope[:at] + ("A" if envelope[at] != "A" else "B") + envelope[at + 1 :]


def _foreign(_envelope: str) -> str:
    """A k2 envelope of another record (the intruder's own k2 copy, say), with the column to match."""
    return Vault(KeyRing([("k2", KEY2)])).seal(b"CANARY-intruder", connection_id=OTHER, platform="occ", field=FIELDS[0])


def _swapped(e: Envelopes) -> Statements:
    a, b = e[TARGET, FIELDS[0]], e[TARGET, FIELDS[1]]
    return [(SET_ENVELOPE, (b, TARGET, FIELDS[0])), (SET_ENVELOPE, (a, TARGET, FIELDS[1]))]


#: Each tampering: its name, the statements it runs, and the connection then read.
TAMPERINGS: list[tuple[str, Callable[[Envelopes], Statements], str]] = [
    ("key id column names an unknown key", _column("k9"), TARGET),
    ("key id column names another key of the ring", _column("k2"), TARGET),
    ("key id column names the active key", _column("k3"), TARGET),
    ("key id column emptied", _column(""), TARGET),
    ("key id column in upper case", _column("K1"), TARGET),
    ("key id column padded", _column("k1 "), TARGET),
    ("key id column oversized", _column("k" * 300), TARGET),
    ("envelope of another connection", lambda e: _copied(e, (OTHER, FIELDS[0])), TARGET),
    ("envelope of another field", lambda e: _copied(e, (TARGET, FIELDS[1])), TARGET),
    ("envelopes of two fields swapped", _swapped, TARGET),
    ("one character of the ciphertext changed", _envelope(_flipped), TARGET),
    ("envelope truncated", _envelope(lambda v: v[:-4]), TARGET),
    ("envelope extended", _envelope(lambda v: v + "AAAA"), TARGET),
    ("envelope not base64", _envelope(lambda v: "!!!!" + v[4:]), TARGET),
    ("envelope emptied", _envelope(lambda _v: ""), TARGET),
    ("header renamed to another ring key, column to match", _envelope(lambda v: _renamed_key(v, b"k2"), "k2"), TARGET),
    ("header renamed to an unknown key, column to match", _envelope(lambda v: _renamed_key(v, b"k9"), "k9"), TARGET),
    ("another record's envelope under another key, column to match", _envelope(_foreign, "k2"), TARGET),
    (
        "row moved to another connection",
        lambda _e: [(MOVE_ROW, (EMPTY, TARGET, FIELDS[0]))],
        EMPTY,
    ),
    (
        "row renamed to another field",
        lambda _e: [(RENAME_ROW, ("private_key", TARGET, FIELDS[0]))],
        TARGET,
    ),
    (
        "connection moved to another platform",
        lambda _e: [("UPDATE connections SET platform = ? WHERE id = ?", ("shopify", TARGET))],
        TARGET,
    ),
]


def test_the_tampered_rows_corpus_holds_21_cases() -> None:
    assert len(TAMPERINGS) == 21
    assert len({name for name, _, _ in TAMPERINGS}) == 21


async def read_back(store: ConnectionStore, vault: Vault, connection_id: str) -> dict[str, bytes]:
    """Open every sealed field of a connection, as the hub does before calling its store."""
    conn = await store.get_connection(connection_id)
    assert conn is not None
    envelopes, _ = await store.get_credentials(connection_id)
    assert envelopes, "the tampering left nothing to read: the case tests nothing"
    return {f: vault.open(e, connection_id=conn.id, platform=conn.platform, field=f) for f, e in envelopes.items()}


@pytest.mark.parametrize(("case", "change", "read"), TAMPERINGS, ids=[name for name, _, _ in TAMPERINGS])
async def test_a_tampered_row_is_refused(
    store: ConnectionStore,
    store_url: str,
    new_connection: Factory,
    case: str,
    change: Callable[[Envelopes], Statements],
    read: str,
) -> None:
    """Reading the row fails with a VaultError and no plaintext, and so does a rewrap; other rows still open."""
    writer = Vault(KeyRing([("k1", KEY), ("k2", KEY2)]))
    envelopes: Envelopes = {}
    for n in (1, 2, 3):
        conn = new_connection(n)
        sealed = {
            f: writer.seal(f"{SECRET}-{n}-{f}".encode(), connection_id=conn.id, platform="occ", field=f)
            for f in (FIELDS if n < 3 else ())
        }
        envelopes.update({(conn.id, f): v for f, v in sealed.items()})
        await store.insert_connection(conn, sealed, {"client_id": CLEAR})
    vault = Vault(READER)
    assert (await read_back(store, vault, TARGET))[FIELDS[0]] == f"{SECRET}-1-{FIELDS[0]}".encode()

    for statement, params in change(envelopes):
        tamper(store_url, statement, *params)

    with pytest.raises(VaultError) as caught:
        await read_back(store, vault, read)
    with pytest.raises(VaultError) as rewrapping:
        await rewrap(store, vault)
    for shown in (str(caught.value), repr(caught.value), str(rewrapping.value)):
        assert SECRET not in shown, case
        assert "CANARY" not in shown, case
    assert (await read_back(store, vault, OTHER))[FIELDS[0]] == f"{SECRET}-2-{FIELDS[0]}".encode()
