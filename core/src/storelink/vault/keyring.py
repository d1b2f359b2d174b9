"""The key ring: named 256-bit keys, the first one active, and the key file that holds them.

A ring is written ``kid:base64key`` entries, active first, separated by commas or
newlines. It comes from the ``STORELINK_KEYS`` environment variable
(:meth:`KeyRing.from_env`) or, for the embedded default, from a key file that storelink
generates with mode 0600 (:meth:`KeyRing.load_or_create`). A ring that cannot be right
(an empty one, a key that is not 32 bytes, two keys with the same id) is refused when
it is loaded, with a message that names the key id and never shows key material.

Key material never leaves a :class:`KeyRing`: the vault asks it for keys derived per
purpose with HKDF (:meth:`KeyRing.derive`), and only the key file writer sees the raw
keys. A ring's ``repr`` lists key ids only, and a ring cannot be pickled.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storelink.errors import ConfigurationError, UnknownKeyError

__all__ = ["ENV_VAR", "KEY_SIZE", "KeyRing", "keys_in_env", "update_key_file"]

#: The environment variable a ring is read from.
ENV_VAR = "STORELINK_KEYS"
#: Bytes in a key: AES-256.
KEY_SIZE = 32

_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NUMBERED_KID = re.compile(r"k([0-9]{1,9})")
_KEY_FILE_HEADER = """\
# storelink key ring. The first key encrypts; every key decrypts.
# Back this file up apart from the database: without it the stored credentials
# cannot be read. Keep it private (mode 0600). Change it with `storelink keys`.
"""


class KeyRing:
    """An ordered set of named 256-bit keys; the first one is active.

    :param keys: ``(key id, key)`` pairs, the active key first. Key ids are 1 to 64
        letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit.
    :param source: Where the keys came from, named in error messages (those of
        loading, and :class:`UnknownKeyError` for a key the ring lacks).
    :raises ConfigurationError: The ring is empty, a key id is malformed or repeated,
        or a key is not :data:`KEY_SIZE` bytes.
    """

    __slots__ = ("_keys", "_source")

    def __init__(self, keys: Iterable[tuple[str, bytes]], *, source: str = "the key ring") -> None:
        ring: dict[str, bytes] = {}
        for kid, key in keys:
            if not _KID.fullmatch(kid):
                raise ConfigurationError(
                    f"{source}: a key id must be 1-64 letters, digits, '.', '_' or '-' (got {len(kid)} characters)"
                )
            if kid in ring:
                raise ConfigurationError(f"{source}: key id {kid!r} appears more than once")
            if len(key) != KEY_SIZE:
                raise ConfigurationError(
                    f"{source}: key {kid!r} is {len(key)} bytes long; AES-256 needs exactly {KEY_SIZE}"
                )
            ring[kid] = bytes(key)
        if not ring:
            raise ConfigurationError(f"{source} holds no key")
        self._keys = ring
        self._source = source

    # ------------------------------------------------------------------ constructors

    @classmethod
    def parse(cls, text: str, *, source: str = ENV_VAR) -> KeyRing:
        """Read a ring written ``kid:base64key`` entries, active first.

        Entries are separated by commas or newlines; blank entries and lines starting
        with ``#`` are skipped. Keys are base64, standard or URL-safe, padded or not.

        :param text: The entries.
        :param source: Where *text* came from, named in error messages.
        :raises ConfigurationError: An entry is malformed or the ring is invalid. The
            message names the entry by position or key id, never by its content.
        """
        lines = (line.strip() for line in text.splitlines())
        entries = [e.strip() for line in lines if not line.startswith("#") for e in line.split(",")]
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate((e for e in entries if e), start=1):
            kid, colon, encoded = entry.partition(":")
            if not colon:
                raise ConfigurationError(f"{source}: entry {number} is not of the form 'kid:base64key'")
            keys.append((kid.strip(), _decode_key(encoded.strip(), f"{source}: entry {number}")))
        return cls(keys, source=source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        """Read the ring from ``STORELINK_KEYS``.

        :param environ: The environment to read; the process's by default.
        :raises ConfigurationError: The variable is unset or empty, or the ring is invalid.
        """
        env = os.environ if environ is None else environ
        return cls.parse(env.get(ENV_VAR, ""), source=ENV_VAR)

    @classmethod
    def from_env_or_file(cls, path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> KeyRing:
        """Read ``STORELINK_KEYS`` if it is set, else :meth:`load_or_create` *path*.

        :param path: The key file used when the variable is unset.
        :param environ: The environment to read; the process's by default.
        :raises ConfigurationError: The variable is set but empty (see :func:`keys_in_env`),
            or the ring is invalid.
        """
        env = os.environ if environ is None else environ
        if keys_in_env(path, env):
            return cls.from_env(env)
        return cls.load_or_create(path)

    @classmethod
    def generate(cls, kid: str = "k1") -> KeyRing:
        """Return a ring holding one fresh random key named *kid*."""
        return cls([(kid, secrets.token_bytes(KEY_SIZE))])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Read the key file at *path*.

        :raises ConfigurationError: The file is missing, not a regular file, readable or
            writable by other users than its owner, or holds an invalid ring.
        """
        file = Path(path)
        try:
            info = file.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ConfigurationError(f"key file {file} is not a regular file")
            if os.name == "posix" and info.st_mode & 0o077:
                raise ConfigurationError(
                    f"key file {file} is open to other users (mode {stat.S_IMODE(info.st_mode):04o}); "
                    f"run `chmod 600 {file}` if nobody else could have read it, otherwise rotate the keys"
                )
            data = file.read_bytes()
        except FileNotFoundError:
            raise ConfigurationError(f"key file {file} does not exist") from None
        except OSError as exc:
            raise ConfigurationError(f"cannot read key file {file}: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"key file {file} is not UTF-8 text") from None
        return cls.parse(text, source=f"key file {file}")

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Read the key file at *path*, creating it with one fresh key if it is missing.

        The file is created with mode 0600 (its directory with 0700 if that is missing
        too), atomically: two processes starting at once end up with the same key.

        :raises ConfigurationError: As :meth:`load`.
        """
        file = Path(path)
        if not file.exists():
            _write_private(file, cls.generate().render(), replace=False)
        return cls.load(file)

    # ------------------------------------------------------------------ queries

    @property
    def active_id(self) -> str:
        """The id of the key that encrypts."""
        return next(iter(self._keys))

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, the active one first."""
        return tuple(self._keys)

    @property
    def source(self) -> str:
        """Where the keys came from: ``STORELINK_KEYS``, ``key file /path``, or ``the key ring``."""
        return self._source

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def derive(self, kid: str, purpose: bytes) -> bytes:
        """Return a 32-byte key for *purpose* derived from key *kid* (HKDF-SHA256).

        Each use of the ring (field encryption, a MAC...) takes its own *purpose*
        label, so no two uses ever share a key.

        :raises UnknownKeyError: The ring has no key *kid*.
        """
        try:
            master = self._keys[kid]
        except KeyError:
            raise UnknownKeyError(kid, source=self._source) from None
        return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=purpose).derive(master)

    def next_id(self) -> str:
        """Return an unused key id of the form ``kN``, one above the highest such id."""
        numbers = [int(m.group(1)) for kid in self._keys if (m := _NUMBERED_KID.fullmatch(kid))]
        number = max(numbers, default=len(self._keys)) + 1
        while f"k{number}" in self._keys:
            number += 1
        return f"k{number}"

    # ------------------------------------------------------------------ changes

    def with_new_key(self, kid: str | None = None, *, activate: bool = False) -> KeyRing:
        """Return this ring plus a fresh random key, active or decrypt-only (last).

        :param kid: The new key's id; :meth:`next_id` by default.
        :param activate: Put the new key first, so it encrypts from now on.
        """
        new = (kid or self.next_id(), secrets.token_bytes(KEY_SIZE))
        items = list(self._keys.items())
        return KeyRing([new, *items] if activate else [*items, new], source=self._source)

    def activated(self, kid: str) -> KeyRing:
        """Return this ring with key *kid* moved to the front.

        :raises UnknownKeyError: The ring has no key *kid*.
        """
        if kid not in self._keys:
            raise UnknownKeyError(kid, source=self._source)
        others = ((k, v) for k, v in self._keys.items() if k != kid)
        return KeyRing([(kid, self._keys[kid]), *others], source=self._source)

    def without(self, kid: str) -> KeyRing:
        """Return this ring without key *kid*, which must not be the active one.

        :raises UnknownKeyError: The ring has no key *kid*.
        :raises ConfigurationError: *kid* is the active key.
        """
        if kid not in self._keys:
            raise UnknownKeyError(kid, source=self._source)
        if kid == self.active_id:
            raise ConfigurationError(f"key {kid!r} is the active key; activate another key before retiring it")
        return KeyRing([(k, v) for k, v in self._keys.items() if k != kid], source=self._source)

    def render(self) -> str:
        """Return the key file text of this ring. It holds the keys: write it nowhere but the key file."""
        lines = (f"{kid}:{base64.urlsafe_b64encode(key).decode('ascii')}" for kid, key in self._keys.items())
        return _KEY_FILE_HEADER + "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active_id!r}, ids={self.ids!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyRing cannot be pickled")


def keys_in_env(key_file: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> bool:
    """Return whether the ring comes from ``STORELINK_KEYS`` (set) or from *key_file* (unset).

    A variable that is set but empty (or blank) is refused rather than read as unset:
    an empty ``STORELINK_KEYS`` is a deploy that lost its keys, and falling back to a key
    file would seal new credentials with a key the other hosts do not hold.

    :param key_file: The key file used when the variable is unset, named in the error.
    :param environ: The environment to read; the process's by default.
    :raises ConfigurationError: The variable is set but empty.
    """
    env = os.environ if environ is None else environ
    if ENV_VAR not in env:
        return False
    if not env[ENV_VAR].strip():
        raise ConfigurationError(
            f"{ENV_VAR} is set but empty: give the keys in it ('kid:base64key' entries, the active key first), "
            f"or unset it to use the key file {Path(key_file)}"
        )
    return True


def update_key_file(path: str | os.PathLike[str], change: Callable[[KeyRing], KeyRing]) -> KeyRing:
    """Apply *change* to the ring in the key file at *path* and write the result back.

    The file is locked for the whole read-change-write, so two updates never lose each
    other's keys, and replaced atomically, so a crash leaves the old or the new ring.

    :param path: The key file; it must exist.
    :param change: Takes the current ring and returns the new one.
    :return: The new ring.
    :raises ConfigurationError: The file is missing or invalid (see :meth:`KeyRing.load`).
    """
    file = Path(path)
    with _locked(file):
        ring = change(KeyRing.load(file))
        _write_private(file, ring.render(), replace=True)
    return ring


def _decode_key(encoded: str, where: str) -> bytes:
    standard = encoded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where}: the key is not valid base64") from None


def _write_private(file: Path, text: str, *, replace: bool) -> None:
    """Write *text* to *file* with mode 0600 through a temporary file in the same directory.

    With *replace* the file is swapped in with :func:`os.replace`; without it the file
    is linked into place only if nothing is there yet (the first writer wins).
    """
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, file)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_directory(file.parent)


if sys.platform == "win32":

    @contextlib.contextmanager
    def _locked(file: Path) -> Iterator[None]:
        # Windows has no advisory locks on the standard library's POSIX surface; key
        # commands must not run concurrently there (docs/vault.md says so).
        yield

    def _fsync_directory(directory: Path) -> None:
        pass  # NTFS makes renames durable without a directory fsync.

else:
    import fcntl

    @contextlib.contextmanager
    def _locked(file: Path) -> Iterator[None]:
        fd = os.open(file.with_name(file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _fsync_directory(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
