"""The top-level group: help, version, platforms, and how failures become exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from storelink import (
    AuthorizationError,
    ConfigurationError,
    ConflictError,
    ConnectionRevokedError,
    ConnectionStateError,
    CredentialsError,
    EgressError,
    MappingError,
    NotFoundError,
    OrderOutcomeUnknown,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
    Secret,
    StorelinkError,
    StoreURLError,
    VaultError,
)
from storelink.cli import cli
from storelink.cli.exits import ExitCode, describe, exit_code_for
from storelink.errors import InputError

from .conftest import Cli, one_line_error

COMMANDS = [
    ["platforms"],
    ["connect"],
    ["connections"],
    ["connections", "list"],
    ["connections", "show"],
    ["connections", "check"],
    ["connections", "reconnect"],
    ["connections", "remove"],
    ["products"],
    ["orders"],
    ["order"],
    ["order", "get"],
    ["order", "create"],
    ["inventory"],
    ["shipping-methods"],
    ["sync"],
    ["simulate"],
    ["keys"],
    ["keys", "list"],
    ["keys", "rotate"],
    ["keys", "retire"],
    ["serve"],
    ["plugin"],
    ["plugin", "new"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_complete_help(run_cli: Cli, command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: storelink " + " ".join(command))
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20, summary
    for line in result.stdout.splitlines():
        if line.lstrip().startswith("--") and "--help" not in line:
            assert len(line.split("  ")) > 1, f"option without help: {line}"


def _leaf(path: list[str]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"
LEAVES = [c for c in COMMANDS if not isinstance(_leaf(c), click.Group)]


@pytest.mark.parametrize("command", LEAVES, ids=" ".join)
def test_every_command_and_option_is_in_the_cli_reference(command: list[str]) -> None:
    page = DOCS.read_text()
    heading = f"### `storelink {' '.join(command)}`\n"
    assert heading in page
    section = page.split(heading, 1)[1].split("\n### ", 1)[0]
    for param in _leaf(command).params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.opts[-1] in section or param.opts[0] in section, f"{param.opts[0]} is not documented"
        if isinstance(param, click.Argument):
            assert (param.metavar or param.name or "").upper() in section


def test_every_command_is_listed_in_the_top_level_help(run_cli: Cli) -> None:
    result = run_cli("--help")
    names = {c[0] for c in COMMANDS}
    assert names == set(cli.list_commands(click.Context(cli)))
    for name in names:
        assert f"  {name} " in result.stdout
    assert "Exit codes:" in result.stdout
    assert "STORELINK_KEYS" in result.stdout


def test_bare_storelink_prints_the_help_and_succeeds(run_cli: Cli) -> None:
    result = run_cli()
    assert result.exit_code == 0
    assert "Usage: storelink" in result.stdout


def test_version(run_cli: Cli) -> None:
    from storelink import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"storelink {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ["nosuchcommand"],
        ["--nosuchoption"],
        ["--log-level", "loud", "platforms"],
        ["platforms", "extra"],
        ["platforms", "--all"],
        ["products"],
        ["sync", "x"],
        ["connections", "list", "--status", "bogus"],
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(run_cli: Cli, args: list[str]) -> None:
    line = one_line_error(run_cli(*args), 2)
    assert "--help" in line
    assert ".;" not in line


def test_platforms_lists_occ_with_its_title_and_capabilities(run_cli: Cli) -> None:
    result = run_cli("platforms")
    assert result.exit_code == 0
    assert "occ" in result.stdout
    assert "Oracle Commerce Cloud" in result.stdout
    assert "create_orders" in result.stdout
    assert "application_key" in result.stdout


def test_platforms_json_has_the_model_field_names(run_cli: Cli) -> None:
    by_slug = {line["slug"]: line for line in run_cli.json_lines("platforms")}
    occ = by_slug["occ"]
    assert occ["title"] == "Oracle Commerce Cloud"
    assert "products" in occ["capabilities"]
    assert occ["credential_schema"]["fields"][0]["name"] == "application_key"


def test_the_global_json_flag_applies_to_every_command(run_cli: Cli) -> None:
    result = run_cli("--json", "platforms")
    assert "occ" in [json.loads(line)["slug"] for line in result.stdout.splitlines()]


def test_python_dash_m_storelink_runs_the_cli() -> None:
    done = subprocess.run(  # this interpreter, fixed arguments
        [sys.executable, "-m", "storelink", "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0
    assert done.stdout.startswith("storelink ")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreURLError("bad URL"), ExitCode.BAD_INPUT),
        (EgressError("private address"), ExitCode.BAD_INPUT),
        (ConfigurationError("bad ring"), ExitCode.BAD_INPUT),
        (InputError("must be a positive integer", path="lines[0].quantity"), ExitCode.BAD_INPUT),
        (ConnectionStateError("no such connection"), ExitCode.BAD_INPUT),
        (NotFoundError("no such order", platform="occ", status=404), ExitCode.BAD_INPUT),
        (ConflictError("reference reused", platform="occ", status=409), ExitCode.BAD_INPUT),
        (CredentialsError("key rejected"), ExitCode.CREDENTIALS),
        (ConnectionRevokedError("revoked", connection_id="occ_1"), ExitCode.CREDENTIALS),
        (AuthorizationError("no orders", capability="orders"), ExitCode.CREDENTIALS),
        (RetryableError("503", platform="occ", status=503), ExitCode.UNAVAILABLE),
        (RejectedError("400", platform="occ", status=400), ExitCode.FAILURE),
        (PlatformError("odd"), ExitCode.FAILURE),
        (PluginError("broken", plugin="occ"), ExitCode.FAILURE),
        (VaultError("tampered"), ExitCode.FAILURE),
        (OrderOutcomeUnknown("lost response", reference="r1"), ExitCode.FAILURE),
        (MappingError("not a number", path="items[0].listPrice"), ExitCode.FAILURE),
        (StorelinkError("other"), ExitCode.FAILURE),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(int(v)),
)
def test_each_error_maps_to_its_exit_code(error: StorelinkError, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_a_message_is_one_line_with_what_to_do() -> None:
    line = describe(RetryableError("the store is busy.\nvery busy", platform="occ", retry_after=7))
    assert "\n" not in line
    assert line.startswith("error: occ: the store is busy. very busy")
    assert line.endswith("; try again in 7 s")
    revoked = describe(ConnectionRevokedError("connection occ_1 is revoked", connection_id="occ_1"))
    assert revoked.endswith("storelink connections reconnect occ_1")


def test_a_message_never_shows_a_live_secret() -> None:
    secret = Secret("CANARY-a-long-secret-value")
    assert "CANARY" not in describe(PlatformError(f"echoed {secret.reveal()}"))


@click.command()
@click.argument("what")
def _explode(what: str) -> None:
    if what == "storelink":
        raise RetryableError("down", platform="occ", status=503)
    if what == "interrupt":
        raise KeyboardInterrupt
    raise RuntimeError("something broke")


@pytest.mark.parametrize(
    ("what", "code", "text"),
    [
        ("storelink", 4, "error: occ: down (HTTP 503); try again later"),
        ("interrupt", 130, "interrupted"),
        ("bug", 1, "error: unexpected RuntimeError: something broke; this is a bug"),
    ],
)
def test_failures_inside_a_command_end_as_one_line_and_a_code(
    run_cli: Cli, monkeypatch: pytest.MonkeyPatch, what: str, code: int, text: str
) -> None:
    monkeypatch.setitem(cli.commands, "explode", _explode)
    result = run_cli("explode", what)
    assert result.exit_code == code
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.lstrip().startswith(text)
    assert "Traceback" not in result.stderr


def test_debug_logging_adds_the_traceback_of_a_bug(run_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.commands, "explode", _explode)
    result = run_cli("--log-level", "debug", "explode", "bug")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unexpected RuntimeError: something broke")
