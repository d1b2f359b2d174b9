"""Key rotation: add a key, make it active, rewrap every row, retire the old key.

:func:`rewrap` re-seals every credential that is not under the active key, in batches,
with a compare-and-swap per row (:meth:`~storelink.store.ConnectionStore.swap_envelope`):
a credential written meanwhile (a reconnect) is never overwritten, and a crashed run
is resumed by running it again. :func:`retire_key` refuses to drop a key while any row
still uses it. :func:`rotate_keys` is ``storelink keys rotate``: new active key in the
key file, then a full rewrap.

Rows are counted and chosen by the key id inside each envelope (the authenticated
one), never by the store's ``key_id`` column alone: every row read is checked against
its column (:func:`~storelink.vault.envelope.stored_key_id`), and a row whose column
was altered stops the operation with a :class:`~storelink.errors.VaultError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import aclosing
from types import MappingProxyType
from typing import TYPE_CHECKING

from attrs import field, frozen

from storelink.errors import ConfigurationError
from storelink.vault.envelope import Vault, stored_key_id
from storelink.vault.keyring import KeyRing, update_key_file

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from storelink.store.base import ConnectionStore, EnvelopeRow

__all__ = [
    "KeyUsage",
    "RotationReport",
    "activate_key",
    "add_key",
    "count_envelopes",
    "list_keys",
    "retire_key",
    "rewrap",
    "rotate_keys",
]


def _frozen_counts(counts: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(counts))


@frozen(kw_only=True)
class KeyUsage:
    """One key id and how many stored credentials it sealed.

    :param in_ring: ``False`` for a key id found only in the database: those rows
        cannot be opened until the key is added back.
    :param rows: How many stored envelopes were sealed with it (by the key id inside
        each envelope).
    """

    key_id: str
    active: bool
    in_ring: bool
    rows: int


@frozen(kw_only=True)
class RotationReport:
    """What :func:`rotate_keys` did.

    :param remaining: Rows per key id after the rewrap (the new key should hold all).
    """

    new_key_id: str
    previous_key_id: str
    rewrapped: int
    remaining: Mapping[str, int] = field(converter=_frozen_counts)


async def _envelopes(store: ConnectionStore, batch: int) -> AsyncGenerator[tuple[EnvelopeRow, str]]:
    """Yield every sealed row with the key id inside its envelope, checked against its column."""
    after: tuple[str, str] | None = None
    while rows := await store.iter_envelopes(after, batch):
        for row in rows:
            where = f"credential {row.field!r} of connection {row.connection_id!r}"
            yield row, stored_key_id(row.envelope, row.key_id, where=where)
        after = rows[-1].position


async def count_envelopes(store: ConnectionStore, *, batch: int = 500) -> dict[str, int]:
    """Return how many stored envelopes each key id sealed, by the key id inside each one.

    Unlike :meth:`~storelink.store.ConnectionStore.count_by_key`, which trusts the
    store's ``key_id`` column, this reads every envelope.

    :param batch: Rows read per query.
    :raises VaultError: A row's ``key_id`` column disagrees with its envelope, or the
        envelope is malformed: the row was altered (the message names it).
    """
    counts: dict[str, int] = {}
    async with aclosing(_envelopes(store, batch)) as rows:
        async for _row, kid in rows:
            counts[kid] = counts.get(kid, 0) + 1
    return dict(sorted(counts.items()))


async def rewrap(store: ConnectionStore, vault: Vault, *, batch: int = 500) -> int:
    """Re-seal every credential that is not under the vault's active key.

    Resumable: rows already under the active key are skipped, so after a crash, run it
    again. Each row is swapped only if it still holds the envelope that was read, so a
    concurrent credential write is never clobbered (and needs no rewrap: writes use
    the active key). Every row is read, so each is checked against its ``key_id``
    column, whichever key that names.

    :param store: The store.
    :param vault: A vault whose ring holds the active key and every key in use.
    :param batch: Rows read per query.
    :return: How many rows were rewrapped.
    :raises UnknownKeyError: A row is sealed with a key the ring does not hold.
    :raises VaultError: A row fails to open, or its ``key_id`` column disagrees with its
        envelope (tampered); nothing after it is rewrapped.
    """
    active = vault.keyring.active_id
    done = 0
    async with aclosing(_envelopes(store, batch)) as rows:
        async for row, kid in rows:
            if kid == active:
                continue
            record = {"connection_id": row.connection_id, "platform": row.platform, "field": row.field}
            sealed = vault.seal(vault.open(row.envelope, **record), **record)
            if await store.swap_envelope(row.connection_id, row.field, row.envelope, sealed):
                done += 1
    return done


async def list_keys(store: ConnectionStore, keyring: KeyRing) -> list[KeyUsage]:
    """Return every key of the ring, then every other key id the database uses, with row counts.

    Rows are counted by the key id inside each envelope (see :func:`count_envelopes`).

    :raises VaultError: A row was altered (its ``key_id`` column disagrees with its envelope).
    """
    counts = await count_envelopes(store)
    usage = [
        KeyUsage(key_id=k, active=k == keyring.active_id, in_ring=True, rows=counts.get(k, 0)) for k in keyring.ids
    ]
    usage += [
        KeyUsage(key_id=k, active=False, in_ring=False, rows=n) for k, n in sorted(counts.items()) if k not in keyring
    ]
    return usage


def add_key(key_file: str | os.PathLike[str], *, activate: bool = False) -> str:
    """Add a fresh key to the key file and return its id.

    Without *activate* the key only decrypts: add it everywhere first, restart every
    process, then :func:`activate_key` (the zero-downtime order for several hosts).
    """
    ring = update_key_file(key_file, lambda r: r.with_new_key(activate=activate))
    return ring.active_id if activate else ring.ids[-1]


def activate_key(key_file: str | os.PathLike[str], kid: str) -> KeyRing:
    """Make key *kid* of the key file the one that encrypts; return the new ring.

    :raises UnknownKeyError: The file has no key *kid*.
    """
    return update_key_file(key_file, lambda r: r.activated(kid))


async def retire_key(store: ConnectionStore, key_file: str | os.PathLike[str], kid: str) -> KeyRing:
    """Remove key *kid* from the key file, if no stored envelope was sealed with it.

    Every envelope is read and counted by the key id inside it (:func:`count_envelopes`),
    whatever the store's ``key_id`` column says.

    :return: The new ring.
    :raises ConfigurationError: Rows are still sealed with *kid* (run :func:`rewrap`),
        or *kid* is the active key.
    :raises UnknownKeyError: The file has no key *kid*.
    :raises VaultError: A row was altered (its ``key_id`` column disagrees with its
        envelope); nothing is retired.
    """
    in_use = (await count_envelopes(store)).get(kid, 0)
    if in_use:
        raise ConfigurationError(
            f"key {kid!r} still seals {in_use} stored credential(s); rewrap them to the active key before retiring it"
        )
    return update_key_file(key_file, lambda r: r.without(kid))


async def rotate_keys(store: ConnectionStore, key_file: str | os.PathLike[str], *, batch: int = 500) -> RotationReport:
    """Add a new active key to the key file and rewrap every row to it.

    The previous key stays in the file (it still decrypts); retire it with
    :func:`retire_key` once :func:`list_keys` shows it holds no rows. If this stops
    part-way, run :func:`rewrap` with the new ring (or rotate again) to finish.
    """
    ring = update_key_file(key_file, lambda r: r.with_new_key(activate=True))
    done = await rewrap(store, Vault(ring), batch=batch)
    return RotationReport(
        new_key_id=ring.active_id,
        previous_key_id=ring.ids[1],
        rewrapped=done,
        remaining=await count_envelopes(store, batch=batch),
    )
