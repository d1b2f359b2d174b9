"""Key rotation over a real store: rewrap under load, crash and resume, retire, never clobber."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from storelink.errors import ConfigurationError, UnknownKeyError, VaultError
from storelink.models import Connection
from storelink.store import ConnectionStore, EnvelopeRow
from storelink.vault import KeyRing, KeyUsage, Vault, add_key, list_keys, retire_key, rewrap, rotate_keys

from .test_at_rest import tamper

Factory = Callable[..., Connection]
FIELD = "application_key"


class InjectedCrashError(Exception):
    """Stands for the process dying in the middle of a rewrap."""


class Wrapped:
    """A store whose ``swap_envelope`` runs *before* first (to inject faults), then delegates."""

    def __init__(self, inner: ConnectionStore, before: Callable[[str], Any]) -> None:
        self.inner = inner
        self.before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def swap_envelope(self, connection_id: str, field: str, old: str, new: str) -> bool:
        await self.before(connection_id)
        return await self.inner.swap_envelope(connection_id, field, old, new)


async def fill(store: ConnectionStore, vault: Vault, conns: list[Connection]) -> dict[str, bytes]:
    """Insert *conns*, each with one sealed field; return the plaintext of each."""
    plain = {c.id: f"eyJ0eXAiOiJKV1QifQ.CANARY-{c.id}.sig".encode() for c in conns}
    for start in range(0, len(conns), 50):
        await asyncio.gather(
            *(
                store.insert_connection(
                    c, {FIELD: vault.seal(plain[c.id], connection_id=c.id, platform=c.platform, field=FIELD)}, {}
                )
                for c in conns[start : start + 50]
            )
        )
    return plain


def opener(vault: Vault, conn: Connection) -> Callable[[str], bytes]:
    return lambda envelope: vault.open(envelope, connection_id=conn.id, platform=conn.platform, field=FIELD)


async def test_rotation_of_1000_rows_survives_a_crash_with_a_reader_running(
    store: ConnectionStore, new_connection: Factory, tmp_path: Path
) -> None:
    """T1.5: crash at 37 %, resume; ≥ 10,000 reads while rewrapping, 0 failures; retire refused, then allowed.

    Sixteen reader tasks open random rows for as long as the rewrap runs (both runs).
    """
    key_file = tmp_path / "keys"
    conns = [new_connection(n) for n in range(1000)]
    plain = await fill(store, Vault(KeyRing.load_or_create(key_file)), conns)
    assert add_key(key_file, activate=True) == "k2"
    vault = Vault(KeyRing.load(key_file))

    phase = ""
    reads: dict[str, int] = {"crashing": 0, "resuming": 0, "after": 0}
    failures = 0
    done = asyncio.Event()

    async def reader(seed: int) -> None:
        nonlocal failures
        rng = random.Random(seed)
        while not done.is_set() or sum(reads.values()) < 10_000:
            conn = conns[rng.randrange(len(conns))]
            envelopes, _ = await store.get_credentials(conn.id)
            try:
                failures += opener(vault, conn)(envelopes[FIELD]) != plain[conn.id]
            except (KeyError, VaultError):
                failures += 1
            reads[phase] += 1

    swaps = 0

    async def crash_at_370(_connection_id: str) -> None:
        nonlocal swaps
        if swaps == 370:
            raise InjectedCrashError
        swaps += 1

    phase = "crashing"
    readers = [asyncio.create_task(reader(seed)) for seed in range(16)]
    with pytest.raises(InjectedCrashError):
        await rewrap(Wrapped(store, crash_at_370), vault)
    assert await store.count_by_key() == {"k1": 630, "k2": 370}
    with pytest.raises(ConfigurationError, match="key 'k1' still seals 630 stored credential"):
        await retire_key(store, key_file, "k1")

    phase = "resuming"
    assert await rewrap(store, vault) == 630
    phase = "after"
    done.set()
    await asyncio.gather(*readers)

    assert await store.count_by_key() == {"k2": 1000}
    assert failures == 0
    assert reads["crashing"] + reads["resuming"] >= 10_000
    assert min(reads["crashing"], reads["resuming"]) > 1_000
    assert (await retire_key(store, key_file, "k1")).ids == ("k2",)
    final = Vault(KeyRing.load(key_file))
    for conn in conns[::50]:
        envelopes, _ = await store.get_credentials(conn.id)
        assert opener(final, conn)(envelopes[FIELD]) == plain[conn.id]


async def test_rewrap_never_clobbers_a_concurrent_credential_write(
    store: ConnectionStore, new_connection: Factory
) -> None:
    old = Vault(KeyRing.generate("k1"))
    vault = Vault(old.keyring.with_new_key(activate=True))
    conns = [new_connection(n) for n in range(1, 21)]
    await fill(store, old, conns)
    target = conns[7]
    written = False

    async def reconnect_meanwhile(connection_id: str) -> None:
        # A process that still has k1 active re-onboards the connection right now.
        nonlocal written
        if connection_id == target.id and not written:
            written = True
            sealed = old.seal(b"NEW-KEY", connection_id=target.id, platform="occ", field=FIELD)
            await store.replace_credentials(target.id, {FIELD: sealed}, {})

    assert await rewrap(Wrapped(store, reconnect_meanwhile), vault) == 19
    envelopes, _ = await store.get_credentials(target.id)
    assert opener(vault, target)(envelopes[FIELD]) == b"NEW-KEY"
    assert await store.count_by_key() == {"k1": 1, "k2": 19}

    assert await rewrap(store, vault) == 1
    envelopes, _ = await store.get_credentials(target.id)
    assert opener(vault, target)(envelopes[FIELD]) == b"NEW-KEY"
    assert await rewrap(store, vault) == 0


async def test_rotate_keys_adds_a_key_and_rewraps_everything(
    store: ConnectionStore, new_connection: Factory, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys"
    conns = [new_connection(n) for n in range(1, 31)]
    plain = await fill(store, Vault(KeyRing.load_or_create(key_file)), conns)

    report = await rotate_keys(store, key_file, batch=7)

    assert (report.new_key_id, report.previous_key_id, report.rewrapped) == ("k2", "k1", 30)
    assert dict(report.remaining) == {"k2": 30}
    ring = KeyRing.load(key_file)
    assert await list_keys(store, ring) == [
        KeyUsage(key_id="k2", active=True, in_ring=True, rows=30),
        KeyUsage(key_id="k1", active=False, in_ring=True, rows=0),
    ]
    envelopes, _ = await store.get_credentials(conns[3].id)
    assert opener(Vault(ring), conns[3])(envelopes[FIELD]) == plain[conns[3].id]
    assert (await retire_key(store, key_file, "k1")).ids == ("k2",)
    with pytest.raises(ConfigurationError):
        await retire_key(store, key_file, "k2")


async def test_rows_under_a_key_missing_from_the_ring_are_reported_and_stop_rewrap(
    store: ConnectionStore, new_connection: Factory
) -> None:
    ring = KeyRing.generate("k1")
    await fill(store, Vault(ring), [new_connection(1)])
    await fill(store, Vault(KeyRing.generate("lost")), [new_connection(2)])

    assert await list_keys(store, ring) == [
        KeyUsage(key_id="k1", active=True, in_ring=True, rows=1),
        KeyUsage(key_id="lost", active=False, in_ring=False, rows=1),
    ]
    with pytest.raises(UnknownKeyError, match="'lost'"):
        await rewrap(store, Vault(ring))


def set_key_id_column(store_url: str, connection_id: str, kid: str) -> None:
    """Change the ``key_id`` column of one credential row behind the store's back."""
    tamper(
        store_url, "UPDATE credentials SET key_id = ? WHERE connection_id = ? AND field = ?", kid, connection_id, FIELD
    )


@pytest.mark.parametrize("column", ["k9", "k2"])
async def test_retire_counts_by_the_key_id_inside_each_envelope_not_the_column(
    store: ConnectionStore, store_url: str, new_connection: Factory, tmp_path: Path, column: str
) -> None:
    """A row under k1 whose column was changed (to an unknown key, or to k2) keeps k1 from being retired."""
    key_file = tmp_path / "keys"
    conn = new_connection(1)
    plain = await fill(store, Vault(KeyRing.load_or_create(key_file)), [conn])
    add_key(key_file, activate=True)
    ring = KeyRing.load(key_file)
    set_key_id_column(store_url, conn.id, column)

    with pytest.raises(VaultError, match=f"credential '{FIELD}' of connection '{conn.id}' was altered") as caught:
        await retire_key(store, key_file, "k1")
    assert f"its row names key {column!r} but its envelope was sealed with key 'k1'" in str(caught.value)
    assert KeyRing.load(key_file).ids == ("k2", "k1")
    with pytest.raises(VaultError, match="was altered"):
        await list_keys(store, ring)
    with pytest.raises(VaultError, match="was altered"):
        await rewrap(store, Vault(ring))

    set_key_id_column(store_url, conn.id, "k1")  # restoring the column restores the row
    assert await list_keys(store, ring) == [
        KeyUsage(key_id="k2", active=True, in_ring=True, rows=0),
        KeyUsage(key_id="k1", active=False, in_ring=True, rows=1),
    ]
    assert await rewrap(store, Vault(ring)) == 1
    envelopes, _ = await store.get_credentials(conn.id)
    assert opener(Vault(ring), conn)(envelopes[FIELD]) == plain[conn.id]


class LyingStore(Wrapped):
    """A store (a third-party backend, say) whose key id column and counts lie, and that checks nothing."""

    def __init__(self, inner: ConnectionStore) -> None:
        super().__init__(inner, lambda _connection_id: asyncio.sleep(0))

    async def count_by_key(self) -> dict[str, int]:
        return {}

    async def iter_envelopes(
        self, after: tuple[str, str] | None = None, limit: int = 500, *, exclude_key: str | None = None
    ) -> list[EnvelopeRow]:
        rows = await self.inner.iter_envelopes(after, limit)
        return [attrs.evolve(row, key_id=exclude_key or "k9") for row in rows]


async def test_rotation_checks_each_row_itself_whatever_the_store_reports(
    store: ConnectionStore, new_connection: Factory, tmp_path: Path
) -> None:
    """Retire, list and rewrap read the key id inside each envelope, and refuse a row whose column disagrees."""
    key_file = tmp_path / "keys"
    await fill(store, Vault(KeyRing.load_or_create(key_file)), [new_connection(1)])
    add_key(key_file, activate=True)
    ring = KeyRing.load(key_file)
    lying = LyingStore(store)

    for attempt in (
        lambda: retire_key(lying, key_file, "k1"),
        lambda: list_keys(lying, ring),
        lambda: rewrap(lying, Vault(ring)),
    ):
        with pytest.raises(VaultError, match=r"was altered: its row names key '(k9|k2)'"):
            await attempt()
    assert KeyRing.load(key_file).ids == ("k2", "k1")
    assert await rewrap(store, Vault(ring)) == 1


async def test_rewrap_does_not_skip_a_row_whose_column_falsely_names_the_active_key(
    store: ConnectionStore, store_url: str, new_connection: Factory
) -> None:
    """Before, such a row was skipped (chosen by its column), so the rewrap reported success and left it under k1."""
    old = Vault(KeyRing.generate("k1"))
    vault = Vault(old.keyring.with_new_key(activate=True))
    conn = new_connection(1)
    await fill(store, old, [conn])
    set_key_id_column(store_url, conn.id, "k2")
    with pytest.raises(VaultError, match="its row names key 'k2' but its envelope was sealed with key 'k1'"):
        await rewrap(store, vault)
