"""``storelink keys list | rotate | retire``, with the embedded key file and with STORELINK_KEYS."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from storelink.vault import KeyRing, add_key

from .conftest import Cli, Sim, one_line_error


@pytest.fixture
def key_file_mode(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the embedded default: the key file in the user data directory."""
    monkeypatch.delenv("STORELINK_KEYS")


def _key_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "storelink" / "keys"


def _keys(run_cli: Cli) -> dict[str, tuple[bool, int]]:
    return {k["key_id"]: (k["active"], k["rows"]) for k in run_cli.json_lines("keys", "list")}


@pytest.mark.usefixtures("key_file_mode")
def test_rotate_with_the_key_file_rewraps_everything_then_the_old_key_retires(run_cli: Cli, occ: Sim) -> None:
    connection_id = run_cli.connect(occ)
    ((old, (active, rows)),) = _keys(run_cli).items()
    assert active
    assert rows == 1

    result = run_cli("keys", "rotate")
    assert result.exit_code == 0, result.stderr
    assert "1 credential(s) now sealed with" in result.stderr
    assert f"storelink keys retire {old}" in result.stderr
    keys = _keys(run_cli)
    (new,) = (k for k, (is_active, _) in keys.items() if is_active)
    assert keys == {new: (True, 1), old: (False, 0)}

    assert run_cli("keys", "retire", old).exit_code == 0
    assert _keys(run_cli) == {new: (True, 1)}
    assert run_cli("products", connection_id, "--limit", "1").exit_code == 0


@pytest.mark.usefixtures("key_file_mode")
def test_retiring_a_key_in_use_or_unknown_is_refused(run_cli: Cli, occ: Sim) -> None:
    run_cli.connect(occ)
    (active,) = _keys(run_cli)
    assert "active key" in one_line_error(run_cli("keys", "retire", active), 2)
    one_line_error(run_cli("keys", "retire", "k99"), 2)


def test_rotate_with_storelink_keys_rewraps_to_the_first_key(
    run_cli: Cli, occ: Sim, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection_id = run_cli.connect(occ)
    nothing = run_cli("keys", "rotate")
    assert nothing.exit_code == 0
    assert "already sealed with test1" in nothing.stderr

    new = KeyRing.generate("test2").render().splitlines()[-1]
    monkeypatch.setenv("STORELINK_KEYS", f"{new},{env['STORELINK_KEYS']}")
    rotated = run_cli.json_lines("keys", "rotate")
    assert rotated == [{"active_key_id": "test2", "rewrapped": 1, "remaining": {"test2": 1}}]
    assert _keys(run_cli) == {"test2": (True, 1), "test1": (False, 0)}
    assert "remove 'test1' from the variable" in one_line_error(run_cli("keys", "retire", "test1"), 2)

    monkeypatch.setenv("STORELINK_KEYS", new)
    assert run_cli("products", connection_id, "--limit", "1").exit_code == 0


def test_a_malformed_key_ring_is_bad_input(run_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_KEYS", "not-a-ring")
    assert "STORELINK_KEYS" in one_line_error(run_cli("keys", "list"), 2)
    assert run_cli("keys", "rotate", "--batch", "0").exit_code == 2


def test_credentials_sealed_with_a_missing_key_name_it(run_cli: Cli, occ: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    connection_id = run_cli.connect(occ)
    monkeypatch.setenv("STORELINK_KEYS", KeyRing.generate("other").render().splitlines()[-1])
    assert {k["key_id"]: k["in_ring"] for k in run_cli.json_lines("keys", "list")} == {"other": True, "test1": False}
    line = one_line_error(run_cli("products", connection_id), 1)
    assert "'test1'" in line
    assert "STORELINK_KEYS" in line


@pytest.mark.parametrize("value", ["", "  "])
def test_a_set_but_empty_storelink_keys_is_refused(
    run_cli: Cli, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Before, an empty variable silently switched to (and created) the key file: a new key for new credentials."""
    monkeypatch.setenv("STORELINK_KEYS", value)
    key_file = _key_file(env)
    for args in (("keys", "list"), ("keys", "rotate"), ("keys", "retire", "k1"), ("connections", "list")):
        line = one_line_error(run_cli(*args), 2)
        assert "STORELINK_KEYS is set but empty" in line, args
        assert f"unset it to use the key file {key_file}" in line, args
    assert not key_file.exists()


@pytest.mark.usefixtures("key_file_mode")
def test_a_missing_key_names_the_key_file(run_cli: Cli, occ: Sim, env: dict[str, str]) -> None:
    """Before, the message told the user to add the key to STORELINK_KEYS, which was not in use."""
    connection_id = run_cli.connect(occ)
    key_file = _key_file(env)
    key_file.write_text(KeyRing.generate("other").render())
    line = one_line_error(run_cli("products", connection_id), 1)
    assert f"no key with id 'k1' in key file {key_file}; add the missing key to key file {key_file}" in line
    assert "STORELINK_KEYS" not in line


@pytest.mark.usefixtures("key_file_mode")
def test_a_tampered_key_id_column_is_refused_and_the_key_it_hides_is_kept(
    run_cli: Cli, occ: Sim, env: dict[str, str]
) -> None:
    """The issue's case: the column says k2, the envelope needs k1; `keys retire k1` would strand the credential."""
    connection_id = run_cli.connect(occ)
    key_file = _key_file(env)
    assert add_key(key_file, activate=True) == "k2"
    with contextlib.closing(sqlite3.connect(env["STORELINK_DB"])) as db, db:
        db.execute("UPDATE credentials SET key_id = 'k2' WHERE connection_id = ?", (connection_id,))

    altered = f"credential 'application_key' of connection '{connection_id}' was altered"
    for args in (("keys", "list"), ("keys", "retire", "k1"), ("products", connection_id, "--limit", "1")):
        line = one_line_error(run_cli(*args), 1)
        assert altered in line, args
        assert "its row names key 'k2' but its envelope was sealed with key 'k1'" in line, args
    assert KeyRing.load(key_file).ids == ("k2", "k1")

    with contextlib.closing(sqlite3.connect(env["STORELINK_DB"])) as db, db:
        db.execute("UPDATE credentials SET key_id = 'k1' WHERE connection_id = ?", (connection_id,))
    assert _keys(run_cli) == {"k2": (True, 0), "k1": (False, 1)}
    assert "still seals 1 stored credential" in one_line_error(run_cli("keys", "retire", "k1"), 2)
