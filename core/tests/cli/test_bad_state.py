"""Expected failures of the state the CLI is pointed at: one clear line and exit code 2, never "a bug".

A ``--db`` that is a directory, not a SQLite database, damaged, or in a directory that
does not exist; a ``sync --to`` that cannot be created or written to.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import Result

from storelink.sync.lines import LinesFile as _LinesFile

from .conftest import Cli, Sim, one_line_error


def _clear(result: Result, code: int) -> str:
    """Check the one error line of *result* and that it does not call itself a bug; return it."""
    line = one_line_error(result, code)
    assert "this is a bug" not in result.stderr
    assert "unexpected" not in line
    return line


# ---------------------------------------------------------------------- --db


def test_a_db_that_is_not_a_sqlite_database_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("shopping list\n")
    line = _clear(run_cli("--db", str(tmp_path / "notes.txt"), "connections", "list"), 2)
    assert line.startswith(f"error: the database file {tmp_path / 'notes.txt'} is not a SQLite database")
    assert "use another database file (--db, STORELINK_DB), or restore this one from a backup" in line
    assert (tmp_path / "notes.txt").read_text() == "shopping list\n"


def test_a_damaged_db_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "storelink.db"
    assert run_cli("--db", str(db), "connections", "list").exit_code == 0
    db.write_bytes(db.read_bytes()[:3000])
    line = _clear(run_cli("--db", str(db), "connections", "list"), 2)
    assert "is not a SQLite database, or it is damaged" in line


def test_a_db_that_is_a_directory_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    line = _clear(run_cli("--db", str(tmp_path), "connections", "list"), 2)
    assert f"the database path {tmp_path} is a directory; name a file, such as {tmp_path / 'storelink.db'}" in line


def test_a_db_in_a_missing_directory_is_refused_and_the_directory_not_created(run_cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nonexistent/dir/x.db"
    line = _clear(run_cli("--db", url, "connections", "list"), 2)
    assert f"the directory {tmp_path}/nonexistent/dir of the database file" in line
    assert "does not exist, and storelink does not create it" in line
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_database_directory_is_still_created(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db the CLI owns its data directory, and creates it (mode 0700)."""
    monkeypatch.delenv("STORELINK_DB")
    data = Path(env["XDG_DATA_HOME"])
    assert not data.exists()
    assert run_cli("connections", "list").exit_code == 0
    database = data / "storelink" / "storelink.db"
    assert database.is_file()
    assert database.parent.stat().st_mode & 0o777 == 0o700


# ---------------------------------------------------------------------- sync --to


@pytest.fixture
def conn(run_cli: Cli, own_occ: Sim) -> str:
    return run_cli.connect(own_occ)


def test_sync_to_a_path_under_a_file_exits_2(run_cli: Cli, conn: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "out"
    line = _clear(run_cli("sync", conn, "--to", str(target), "--only", "shipping"), 2)
    assert line == (
        f"error: cannot write the sync files to {target}: Not a directory; give --to a directory you can "
        "write to (a missing one is created, with its parents)"
    )


def test_sync_to_a_directory_it_may_not_write_exits_2(
    run_cli: Cli, conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory the user may not write (the permission error is injected: tests may run as root)."""
    target = tmp_path / "readonly" / "out"
    original = Path.mkdir

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        if self.is_relative_to(tmp_path / "readonly"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refuse)
    line = _clear(run_cli("sync", conn, "--to", str(target), "--only", "shipping"), 2)
    assert line.startswith(f"error: cannot write the sync files to {target}: Permission denied; give --to a")


def test_a_file_that_cannot_be_written_mid_sync_exits_1_keeping_earlier_pages(
    run_cli: Cli, conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _LinesFile.append
    pages = 0

    def disk_fills(self: _LinesFile, data: bytes) -> None:
        nonlocal pages
        pages += 1
        if pages > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(self, data)

    monkeypatch.setattr(_LinesFile, "append", disk_fills)
    monkeypatch.setattr("storelink_occ.plugin.PAGE_SIZE", 25)
    line = _clear(run_cli("sync", conn, "--to", str(tmp_path), "--only", "products"), 1)
    products = tmp_path / "products.jsonl"
    assert line == (
        f"error: writing {products} failed: No space left on device; the lines of the pages before are kept: "
        "fix the cause (disk space, permissions), then run the same command to resume"
    )
    assert [json.loads(row)["id"] for row in products.read_text().splitlines()][:1]
    assert len(products.read_text().splitlines()) == 25

    monkeypatch.setattr(_LinesFile, "append", original)
    (result,) = run_cli.json_lines("sync", conn, "--to", str(tmp_path), "--only", "products")
    assert result["resumed_after"] == 25
    assert result["items"] == 60
    ids = [json.loads(row)["id"] for row in products.read_text().splitlines()]
    assert len(ids) == 60 == len(set(ids))
