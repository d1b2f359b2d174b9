"""The CLI under test: click's runner (in-process) and the real console script (subprocess).

Both run against the OCC simulator on loopback, with an isolated environment: a
SQLite file and a generated key ring in the test's temporary directory, loopback
allowed, and the user data directory moved there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from storelink.cli import cli
from storelink.simulation import Simulator, load, serve_in_thread
from storelink.vault import KeyRing

VENV_BIN = Path(sys.executable).parent
STORELINK = str(VENV_BIN / "storelink")
#: A well-formed application key (a JWT shape) that no simulator issued.
FOREIGN_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlktZm9yZWlnbiJ9.CANARYc2lnbmF0dXJlLW5vdC1vdXJz"


class Sim:
    """A simulator served on loopback, with one key it issued."""

    def __init__(self, sim: Simulator, url: str) -> None:
        self.sim = sim
        self.url = url
        self.credentials = sim.issue_credentials()

    @property
    def key(self) -> str:
        return self.credentials["application_key"]


def serve(**options: Any) -> Iterator[Sim]:
    """Serve an OCC simulator made with *options* until the generator is closed."""
    sim = load("occ")(**{"products": 300, "seed": 3, **options})
    with serve_in_thread(sim.app) as url:
        yield Sim(sim, url)


@pytest.fixture(scope="module")
def occ() -> Iterator[Sim]:
    """A small OCC store shared by a module's tests (do not revoke its key)."""
    yield from serve()


@pytest.fixture
def own_occ() -> Iterator[Sim]:
    """An OCC store for one test, whose key it may revoke."""
    yield from serve(products=60)


def isolate(directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point storelink at a fresh database and key ring in *directory*, and allow loopback stores."""
    values = {
        "STORELINK_DB": str(directory / "storelink.db"),
        "STORELINK_KEYS": KeyRing.generate("test1").render().splitlines()[-1],
        "STORELINK_ALLOW_LOOPBACK": "1",
        "XDG_DATA_HOME": str(directory / "data"),
        # STORELINK_ALLOW_LOOPBACK logs a warning on every command; the failure lines are the subject here.
        "STORELINK_LOG_LEVEL": "error",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An isolated environment for one test."""
    return isolate(tmp_path, monkeypatch)


class Cli:
    """Runs ``storelink`` in-process with click's runner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    def connect(self, store: Sim, *extra: str) -> str:
        """Connect *store* and return the connection id."""
        result = self("connect", "occ", "--store-url", store.url, "-c", "application_key=@-", *extra, input=store.key)
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip()

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def run_cli(env: dict[str, str]) -> Cli:
    """The CLI, in the isolated environment."""
    return Cli()


def one_line_error(result: Result, code: int) -> str:
    """Check that *result* failed with *code*, said why in one last line on stderr; return that line.

    Notes the command printed before failing ("Store URL ...") may precede it.
    """
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    assert lines[-1].startswith("error: "), result.stderr
    assert [line for line in lines if line.startswith("error")] == lines[-1:], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[-1]


def run_script(
    *args: str, env: Mapping[str, str], timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``storelink`` console script."""
    return subprocess.run(  # noqa: S603  # our own console script, fixed arguments
        [STORELINK, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )
