"""Key rings from STORELINK_KEYS and from the key file: validation, permissions, updates."""

from __future__ import annotations

import base64
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from storelink.errors import ConfigurationError, UnknownKeyError
from storelink.vault import KeyRing, Vault, activate_key, add_key
from storelink.vault.keyring import keys_in_env, update_key_file

RECORD = {"connection_id": "c", "platform": "occ", "field": "application_key"}


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_first_entry_is_active() -> None:
    ring = KeyRing.parse(f"k2:{b64(b'2' * 32)}, k1:{b64(b'1' * 32)}")
    assert ring.active_id == "k2"
    assert ring.ids == ("k2", "k1")
    assert "k1" in ring
    assert len(ring) == 2


def test_entries_may_be_on_lines_with_comments_in_any_base64() -> None:
    key = bytes(range(200, 232))  # has '+' and '/' in standard base64
    urlsafe = base64.urlsafe_b64encode(key).decode().rstrip("=")
    text = f"# comment, with a comma\nk3:{b64(key)}\n\nk2:{urlsafe}\n"
    ring = KeyRing.parse(text)
    sealed = Vault(KeyRing.parse(f"k3:{urlsafe}")).seal(b"x", **RECORD)
    assert ring.ids == ("k3", "k2")
    assert Vault(ring).open(sealed, **RECORD) == b"x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"k1:{b64(b'A' * 31)}", "key 'k1' is 31 bytes long; AES-256 needs exactly 32"),
        (f"k1:{b64(b'A' * 33)}", "key 'k1' is 33 bytes long; AES-256 needs exactly 32"),
        (f"k1:{b64(b'A' * 32)},k1:{b64(b'B' * 32)}", "key id 'k1' appears more than once"),
        ("", "holds no key"),
        (" , \n ", "holds no key"),
        (b64(b"C" * 32), "entry 1 is not of the form 'kid:base64key'"),
        ("k1:not*base64", "entry 1: the key is not valid base64"),
        (f"bad id:{b64(b'D' * 32)}", "a key id must be"),
    ],
)
def test_a_bad_ring_fails_at_startup_without_showing_keys(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        KeyRing.from_env({"STORELINK_KEYS": spec})
    shown = str(caught.value)
    assert shown.startswith("STORELINK_KEYS")
    for entry in spec.split(","):
        _, _, key = entry.partition(":")
        assert not key.strip() or key.strip() not in shown
    assert "QUFB" not in shown
    assert "Q0ND" not in shown


def test_an_unset_variable_is_an_empty_ring() -> None:
    with pytest.raises(ConfigurationError, match="STORELINK_KEYS holds no key"):
        KeyRing.from_env({})


def test_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    from_env = KeyRing.from_env_or_file(file, {"STORELINK_KEYS": f"env:{b64(b'E' * 32)}"})
    from_file = KeyRing.from_env_or_file(file, {})
    assert from_env.ids == ("env",)
    assert from_file.ids == ("k1",)
    assert not (tmp_path / "keys").read_text().count("env:")


@pytest.mark.parametrize("value", ["", "   ", "\n", " \t\n "])
def test_a_set_but_empty_variable_is_refused_rather_than_the_key_file_used(tmp_path: Path, value: str) -> None:
    """An emptied STORELINK_KEYS (a deploy that lost its keys) must not quietly switch to a fresh key file."""
    file = tmp_path / "keys"
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.from_env_or_file(file, {"STORELINK_KEYS": value})
    message = str(caught.value)
    assert message.startswith("STORELINK_KEYS is set but empty")
    assert "unset it to use the key file" in message
    assert str(file) in message
    assert not file.exists()
    with pytest.raises(ConfigurationError, match="set but empty"):
        keys_in_env(file, {"STORELINK_KEYS": value})


def test_keys_in_env_tells_the_variable_from_the_key_file(tmp_path: Path) -> None:
    assert keys_in_env(tmp_path / "keys", {"STORELINK_KEYS": f"k1:{b64(b'1' * 32)}"}) is True
    assert keys_in_env(tmp_path / "keys", {}) is False
    assert KeyRing.from_env_or_file(tmp_path / "keys", {}).source == f"key file {tmp_path / 'keys'}"


def test_a_missing_key_names_where_the_ring_came_from(tmp_path: Path) -> None:
    """The message and the action of UnknownKeyError name STORELINK_KEYS or the key file, as the ring came."""
    sealed = Vault(KeyRing.generate("k0")).seal(b"x", **RECORD)
    file = tmp_path / "keys"
    rings = {
        "STORELINK_KEYS": KeyRing.from_env({"STORELINK_KEYS": f"k1:{b64(b'1' * 32)}"}),
        f"key file {file}": KeyRing.from_env_or_file(file, {}),
        "the key ring": KeyRing.generate("k1"),
    }
    for source, ring in rings.items():
        with pytest.raises(UnknownKeyError) as caught:
            Vault(ring).open(sealed, **RECORD)
        assert str(caught.value) == f"no key with id 'k0' in {source}"
        assert caught.value.action == f"add the missing key to {source}"
        assert caught.value.source == source
        for changed in (ring.with_new_key(), ring.with_new_key(activate=True).without(ring.active_id)):
            assert changed.source == source
            with pytest.raises(UnknownKeyError, match=f"in {re.escape(source)}$"):
                changed.activated("k0")
    with pytest.raises(UnknownKeyError, match=f"no key with id 'k9' in key file {re.escape(str(file))}$"):
        activate_key(file, "k9")


def test_load_or_create_makes_a_private_file_once(tmp_path: Path) -> None:
    file = tmp_path / "state" / "keys"
    first = KeyRing.load_or_create(file)
    second = KeyRing.load_or_create(file)

    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert first.ids == second.ids == ("k1",)
    assert Vault(second).open(Vault(first).seal(b"x", **RECORD), **RECORD) == b"x"
    assert sorted(p.name for p in file.parent.iterdir()) == ["keys"]


def test_processes_starting_at_once_share_one_generated_key(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    rings: list[KeyRing] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        rings.append(KeyRing.load_or_create(file))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    sealed = Vault(rings[0]).seal(b"x", **RECORD)
    assert all(Vault(r).open(sealed, **RECORD) == b"x" for r in rings)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660, 0o644])
def test_a_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    file = tmp_path / "keys"
    KeyRing.load_or_create(file)
    os.chmod(file, mode)
    with pytest.raises(ConfigurationError, match=f"open to other users \\(mode 0{mode:o}\\); run `chmod 600"):
        KeyRing.load_or_create(file)


def test_a_broken_key_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_bytes(b"k1:" + b"\xff" * 10)
    file.chmod(0o600)
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        KeyRing.load(file)
    file.write_text(f"k1:{b64(b'x' * 31)}\n")
    with pytest.raises(ConfigurationError, match=f"key file {file}: key 'k1' is 31 bytes"):
        KeyRing.load(file)
    with pytest.raises(ConfigurationError, match="does not exist"):
        KeyRing.load(tmp_path / "missing")
    with pytest.raises(ConfigurationError, match="not a regular file"):
        KeyRing.load(tmp_path)


def test_keys_are_added_decrypt_only_then_activated(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    KeyRing.load_or_create(file)

    assert add_key(file) == "k2"
    assert KeyRing.load(file).ids == ("k1", "k2")
    assert activate_key(file, "k2").ids == ("k2", "k1")
    assert add_key(file, activate=True) == "k3"
    assert KeyRing.load(file).ids == ("k3", "k2", "k1")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    with pytest.raises(UnknownKeyError):
        activate_key(file, "k9")


def test_concurrent_key_file_updates_lose_no_key(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    KeyRing.load_or_create(file)
    threads = [threading.Thread(target=add_key, args=(file,)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(KeyRing.load(file)) == 11


def test_the_active_key_cannot_be_dropped() -> None:
    ring = KeyRing.generate("k1").with_new_key()
    with pytest.raises(ConfigurationError, match="is the active key"):
        ring.without("k1")
    with pytest.raises(UnknownKeyError):
        ring.without("k7")
    assert ring.without("k2").ids == ("k1",)


def test_update_key_file_writes_nothing_when_the_change_fails(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    before = KeyRing.load_or_create(file)
    text = file.read_text()
    with pytest.raises(ConfigurationError):
        update_key_file(file, lambda r: r.without(before.active_id))
    assert file.read_text() == text


def test_next_ids_and_derived_keys() -> None:
    ring = KeyRing([("prod", b"p" * 32), ("k7", b"s" * 32)])
    assert ring.next_id() == "k8"
    assert KeyRing([("prod", b"p" * 32)]).next_id() == "k2"
    assert ring.derive("prod", b"a") != ring.derive("prod", b"b")
    assert ring.derive("prod", b"a") == ring.derive("prod", b"a")
    assert ring.derive("prod", b"a") != b"p" * 32
    with pytest.raises(UnknownKeyError):
        ring.derive("nope", b"a")


def test_repr_shows_ids_only() -> None:
    ring = KeyRing([("k1", b"S" * 32)])
    assert repr(ring) == "KeyRing(active='k1', ids=('k1',))"
    assert repr(Vault(ring)) == "Vault(active='k1', ids=('k1',))"
