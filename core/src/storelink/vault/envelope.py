"""AES-256-GCM envelopes bound to the record they belong to.

An envelope is URL-safe base64 text (no padding) of::

    b"e1" | len(kid) (1 byte) | kid (ASCII) | nonce (12 bytes) | ciphertext || tag (16 bytes)

``e1`` is the format version. The key id says which key of the ring sealed it, so no
trial decryption is needed and rows can be counted per key. The nonce is a fresh
``os.urandom(12)`` for every seal. The associated data binds the ciphertext to its
header and its record::

    u32be(len(label)) | label | u32be(len(header)) | header
    | u32be(len(connection_id)) | connection_id | u32be(len(platform)) | platform
    | u32be(len(field)) | field

where ``label`` is ``storelink/vault/v1`` and strings are UTF-8. Length prefixes keep
the encoding unambiguous (``("ab", "c")`` and ``("a", "bc")`` differ), so a ciphertext
copied to another connection, platform or field fails to open, as does any change to
any byte of the envelope.

The key id is authenticated (it is in the header), but a store also keeps it in a
column of its own, to count rows per key. :func:`stored_key_id` checks that the two
agree, and a store calls it on every sealed row it reads: a row whose column names
another key than its envelope was altered, and is refused.

The AES key of each ring key is derived from it with HKDF (purpose
``storelink/vault/aes-256-gcm/v1``), so the ring can serve other purposes without
key reuse.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storelink.errors import UnknownKeyError, VaultError
from storelink.vault.keyring import KeyRing

__all__ = ["NONCE_SIZE", "TAG_SIZE", "VERSION", "Vault", "key_id", "stored_key_id"]

#: The envelope format version, its first two bytes.
VERSION = b"e1"
#: Bytes of nonce in an envelope.
NONCE_SIZE = 12
#: Bytes of GCM tag at the end of an envelope.
TAG_SIZE = 16

_AAD_LABEL = b"storelink/vault/v1"
_PURPOSE = b"storelink/vault/aes-256-gcm/v1"


class _Parts:
    """An envelope split into its fields (nothing is checked cryptographically yet)."""

    __slots__ = ("body", "header", "kid", "nonce")

    def __init__(self, envelope: str) -> None:
        raw = _decode(envelope)
        if len(raw) < 3 or raw[:2] != VERSION:
            raise VaultError("not a storelink envelope (unknown format version)")
        if raw[2] == 0:
            raise VaultError("not a storelink envelope (malformed key id)")
        end = 3 + raw[2]
        if len(raw) < end + NONCE_SIZE + TAG_SIZE:
            raise VaultError("not a storelink envelope (truncated)")
        try:
            self.kid = raw[3:end].decode("ascii")
        except UnicodeDecodeError:
            raise VaultError("not a storelink envelope (malformed key id)") from None
        self.header = raw[:end]
        self.nonce = raw[end : end + NONCE_SIZE]
        self.body = raw[end + NONCE_SIZE :]


def key_id(envelope: str) -> str:
    """Return the id of the key that sealed *envelope* (no key is needed).

    :raises VaultError: *envelope* is not a well-formed envelope.
    """
    return _Parts(envelope).kid


def stored_key_id(envelope: str, recorded: object, *, where: str) -> str:
    """Return the key id inside *envelope*, once it is checked to be *recorded*.

    *recorded* is the key id a store keeps beside the envelope (its ``key_id``
    column). The envelope's own id is the one that counts (it is authenticated); a
    column that disagrees means the row was altered, so nothing from it is trusted.

    :param envelope: The stored envelope.
    :param recorded: The key id stored with it.
    :param where: The row, for the error: ``credential 'application_key' of
        connection 'c-42'``.
    :raises VaultError: *envelope* is malformed, or names another key than *recorded*.
    """
    try:
        kid = _Parts(envelope).kid
    except VaultError as exc:
        raise VaultError(f"{where}: {exc.message}") from None
    if recorded != kid:
        raise VaultError(
            f"{where} was altered: its row names {_shown(recorded)} but its envelope was sealed with key {kid!r}"
        )
    return kid


def _shown(recorded: object) -> str:
    """Name a stored key id in a message, without echoing whatever an altered row holds."""
    if recorded is None:
        return "no key"
    if isinstance(recorded, str) and len(recorded) <= 64 and recorded.isascii() and recorded.isprintable():
        return f"key {recorded!r}"
    return "a malformed key id"


class Vault:
    """Seals and opens credential values with a :class:`KeyRing`.

    ``seal`` always uses the ring's active key; ``open`` uses the key the envelope
    names. Both take the record the value belongs to, which is authenticated with the
    ciphertext.

    :param keyring: The keys.
    """

    __slots__ = ("_ciphers", "_keyring")

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._ciphers = {kid: AESGCM(keyring.derive(kid, _PURPOSE)) for kid in keyring.ids}

    @property
    def keyring(self) -> KeyRing:
        """The vault's key ring."""
        return self._keyring

    def seal(self, plaintext: bytes, *, connection_id: str, platform: str, field: str) -> str:
        """Encrypt *plaintext* for one record with the active key and return the envelope.

        :param plaintext: The value; any length, empty included.
        :param connection_id: The connection the value belongs to.
        :param platform: That connection's platform slug.
        :param field: The credential field name.
        """
        kid = self._keyring.active_id
        encoded_kid = kid.encode("ascii")
        header = VERSION + bytes([len(encoded_kid)]) + encoded_kid
        nonce = os.urandom(NONCE_SIZE)
        aad = _associated_data(header, connection_id, platform, field)
        body = self._ciphers[kid].encrypt(nonce, plaintext, aad)
        return base64.urlsafe_b64encode(header + nonce + body).rstrip(b"=").decode("ascii")

    def open(self, envelope: str, *, connection_id: str, platform: str, field: str) -> bytes:
        """Decrypt *envelope*, which must have been sealed for this very record.

        :raises UnknownKeyError: The envelope names a key the ring does not hold.
        :raises VaultError: The envelope is malformed, was altered, or was sealed for
            another record. Do not retry: restore the row or re-onboard the connection.
        """
        where = f"credential {field!r} of connection {connection_id!r}"
        try:
            parts = _Parts(envelope)
        except VaultError as exc:
            raise VaultError(f"{where}: {exc.message}") from None
        cipher = self._ciphers.get(parts.kid)
        if cipher is None:
            raise UnknownKeyError(parts.kid, source=self._keyring.source)
        aad = _associated_data(parts.header, connection_id, platform, field)
        try:
            return cipher.decrypt(parts.nonce, parts.body, aad)
        except InvalidTag:
            raise VaultError(
                f"{where} could not be decrypted: it was altered, or it belongs to another record"
            ) from None

    def key_id(self, envelope: str) -> str:
        """Return the id of the key that sealed *envelope* (see :func:`key_id`)."""
        return key_id(envelope)

    def __repr__(self) -> str:
        return f"Vault(active={self._keyring.active_id!r}, ids={self._keyring.ids!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Vault cannot be pickled")


def _associated_data(header: bytes, connection_id: str, platform: str, field: str) -> bytes:
    parts = (_AAD_LABEL, header, connection_id.encode(), platform.encode(), field.encode())
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def _decode(envelope: str) -> bytes:
    """Decode strict, canonical unpadded URL-safe base64 (one text per byte string)."""
    try:
        text = envelope.encode("ascii")
        raw = base64.b64decode(text + b"=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise VaultError("not a storelink envelope (not URL-safe base64)") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != text:
        raise VaultError("not a storelink envelope (not canonical base64)")
    return raw
