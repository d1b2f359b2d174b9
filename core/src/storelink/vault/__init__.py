"""The vault: credentials encrypted at rest with AES-256-GCM, bound to their record.

- :class:`KeyRing`: named keys, the first active, from ``STORELINK_KEYS`` or a key
  file with mode 0600 (:mod:`storelink.vault.keyring`).
- :class:`Vault`: ``seal``/``open`` of one credential field, in a self-describing
  envelope that names its key (:mod:`storelink.vault.envelope`).
- A connection's secrets: :func:`seal_secret`, :func:`seal_credentials`,
  :func:`open_secret`, :func:`open_credentials`, each bound to the connection, its
  platform and the field (:mod:`storelink.vault.sealing`).
- Rotation: :func:`rotate_keys`, :func:`rewrap`, :func:`add_key`,
  :func:`activate_key`, :func:`retire_key`, :func:`list_keys`, :func:`count_envelopes`
  (:mod:`storelink.vault.rotation`).

See ``docs/vault.md`` for the key ring format, the rotation runbook and backups.
"""

from __future__ import annotations

from storelink.vault.envelope import Vault, key_id
from storelink.vault.keyring import ENV_VAR, KEY_SIZE, KeyRing
from storelink.vault.rotation import (
    KeyUsage,
    RotationReport,
    activate_key,
    add_key,
    count_envelopes,
    list_keys,
    retire_key,
    rewrap,
    rotate_keys,
)
from storelink.vault.sealing import open_credentials, open_secret, seal_credentials, seal_secret

__all__ = [
    "ENV_VAR",
    "KEY_SIZE",
    "KeyRing",
    "KeyUsage",
    "RotationReport",
    "Vault",
    "activate_key",
    "add_key",
    "count_envelopes",
    "key_id",
    "list_keys",
    "open_credentials",
    "open_secret",
    "retire_key",
    "rewrap",
    "rotate_keys",
    "seal_credentials",
    "seal_secret",
]
