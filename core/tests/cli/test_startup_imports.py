"""Start-up: `storelink --help` and `storelink platforms` import only what they use.

Each probe runs in a fresh interpreter and reads ``sys.modules`` afterwards; nothing
here is timed (the figures are in ``bench/startup.py``). The commands' modules are
imported on first use (:class:`storelink.cli.LazyCommands`), so the top-level help
is made from the summaries in :data:`storelink.cli.COMMANDS`; the tests below check
that those summaries are the commands' own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from storelink.cli import COMMANDS, LazyCommands, cli

#: What a command run prints its modules after (on stderr, after the command's own output).
MARKER = "--modules--"

PROBE = """
import json, sys
{setup}
sys.stdout.flush()
print({marker!r} + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

RUN_CLI = """
from storelink.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    assert exc.code == 0, exc.code
"""

#: The command modules (all but the ones every command shares).
COMMAND_MODULES = (
    "storelink.cli.connections",
    "storelink.cli.credentials",
    "storelink.cli.demo",
    "storelink.cli.keys",
    "storelink.cli.orders",
    "storelink.cli.platforms",
    "storelink.cli.plugin",
    "storelink.cli.reads",
    "storelink.cli.serve",
    "storelink.cli.simulate",
    "storelink.cli.sync",
)

#: What neither `--help` nor `platforms` uses: the store, the vault, the servers, the
#: sync engine and the hub, and every command module but platforms'.
NEVER_AT_START = (
    "cryptography",
    "sqlite3",
    "_sqlite3",
    "psycopg",
    "starlette",
    "uvicorn",
    "storelink.store",
    "storelink.vault",
    "storelink.connect",
    "storelink.hub",
    "storelink.session",
    "storelink.sync",
    "storelink.onboarding",
    "storelink.simulation",
    *(m for m in COMMAND_MODULES if m != "storelink.cli.platforms"),
)

#: What `--help` does not use either: the models, the plugin machinery, HTTP, rich.
NOT_FOR_HELP = (
    *NEVER_AT_START,
    "storelink.cli.platforms",
    "storelink.cli.output",
    "storelink.cli.state",
    "storelink.models",
    "storelink.credentials",
    "storelink.context",
    "storelink.plugins",
    "storelink.http",
    "httpx",
    "rich",
    "attrs",
    "attr",
    "pluggy",
    "stevedore",
    "msgspec",
    "asyncio",
)

#: The modules `storelink platforms` may add to what loading every platform imports.
PLATFORMS_CLI = {
    "storelink.cli",
    "storelink.cli.exits",
    "storelink.cli.output",
    "storelink.cli.platforms",
    "storelink.cli.state",
}


def _modules(setup: str) -> set[str]:
    """Run *setup* in a fresh interpreter; return the modules it left imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE_PROCESS_", "STORELINK_"))}
    env["COLUMNS"] = "80"
    code = PROBE.format(setup=setup, marker=MARKER)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)  # noqa: S603
    assert done.returncode == 0, done.stderr
    line = done.stderr.rsplit(MARKER, 1)[1]
    return set(json.loads(line))


def _found(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Return the *names* imported, a package counting when any of its modules is."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.mark.parametrize("argv", [["--help"], []], ids=["--help", "bare"])
def test_help_imports_no_command_module_and_no_backend(argv: list[str]) -> None:
    modules = _modules(RUN_CLI.format(argv=argv))
    assert _found(modules, NOT_FOR_HELP) == []


def test_platforms_imports_no_store_vault_server_or_other_command() -> None:
    modules = _modules(RUN_CLI.format(argv=["platforms"]))
    assert "storelink.cli.platforms" in modules
    assert _found(modules, NEVER_AT_START) == []


def test_platforms_imports_only_its_own_cli_modules_beyond_what_the_platforms_import() -> None:
    """The plugins decide the rest: loading them is what listing them costs."""
    command = _modules(RUN_CLI.format(argv=["platforms"]))
    platforms = _modules("import storelink\nstorelink.list_platforms()")
    # What the CLI's own modules import (click, rich, logging's scrubbing) whatever runs.
    own = _modules("import storelink.cli, storelink.cli.output, storelink.cli.state, storelink.redaction")
    extra = {m for m in command - platforms - (own - PLATFORMS_CLI) if not m.startswith("rich.")}  # the table
    assert extra == PLATFORMS_CLI


def test_the_top_level_help_is_the_same_once_every_command_is_loaded() -> None:
    """The help made from the summaries is byte for byte the one made from the commands."""
    setup = textwrap.dedent(
        """
        import contextlib, io
        from storelink.cli import cli

        def help_text():
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert cli.main(["--help"], prog_name="storelink", standalone_mode=False) == 0
            return out.getvalue()

        lazy = help_text()
        assert not any(cli.commands.is_loaded(name) for name in cli.commands), "help loaded a command"
        for name in cli.commands:
            cli.commands[name]
        loaded = help_text()
        assert lazy == loaded, (lazy, loaded)
        assert "Commands:" in lazy
        """
    )
    _modules(setup)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_its_commands_help(name: str) -> None:
    command = cli.commands[name]
    assert command.name == name
    first = (command.help or "").partition("\n\n")[0]
    assert " ".join(COMMANDS[name][1].split()) == " ".join(first.split()), (
        f"update the summary of {name!r} in storelink.cli.COMMANDS to its docstring's first paragraph"
    )


# --------------------------------------------------------------------------- LazyCommands


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` for throwaway command modules (forgotten afterwards)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("lazycmd_"):
            del sys.modules[name]


def _write_command(directory: Path, module: str, body: str = "") -> None:
    (directory / f"{module}.py").write_text(
        "import click\n\n\n@click.command()\ndef hello():\n    '''Say hello.'''\n    click.echo('hello')\n" + body
    )


def test_lazy_commands_import_a_module_on_first_lookup_only(module_dir: Path) -> None:
    _write_command(module_dir, "lazycmd_hello")
    commands = LazyCommands({"hello": ("lazycmd_hello:hello", "Say hello.")})
    assert list(commands) == ["hello"]
    assert "hello" in commands
    assert commands.summary("hello").get_short_help_str() == "Say hello."
    assert "lazycmd_hello" not in sys.modules
    assert not commands.is_loaded("hello")
    command = commands["hello"]
    assert "lazycmd_hello" in sys.modules
    assert commands.is_loaded("hello")
    assert commands["hello"] is command
    assert commands.summary("hello") is command


def test_a_lazy_group_runs_its_command_and_its_help(module_dir: Path) -> None:
    _write_command(module_dir, "lazycmd_run")
    group = click.Group("top", commands=LazyCommands({"hello": ("lazycmd_run:hello", "Say hello.")}))
    runner = CliRunner()
    assert runner.invoke(group, ["hello"]).output == "hello\n"
    assert "Say hello." in runner.invoke(group, ["hello", "--help"]).output


def test_lazy_commands_keep_added_commands_after_the_declared_ones(module_dir: Path) -> None:
    _write_command(module_dir, "lazycmd_order")
    commands = LazyCommands({"hello": ("lazycmd_order:hello", "Say hello.")})
    extra = click.Command("extra", help="Do more.")
    commands["extra"] = extra
    assert list(commands) == ["hello", "extra"]
    assert commands["extra"] is extra
    assert len(commands) == 2
    del commands["extra"]
    assert list(commands) == ["hello"]
    with pytest.raises(KeyError):
        del commands["extra"]
    with pytest.raises(KeyError):
        commands["nosuch"]
    assert "nosuch" not in commands
    assert commands.get("nosuch") is None


def test_lazy_commands_refuse_a_target_that_is_not_a_command(module_dir: Path) -> None:
    _write_command(module_dir, "lazycmd_bad", "\nnot_a_command = 42\n")
    commands = LazyCommands({"bad": ("lazycmd_bad:not_a_command", "Nothing.")})
    with pytest.raises(TypeError, match=r"lazycmd_bad:not_a_command is not a click command \(it is a 'int'\)"):
        commands["bad"]


#: What listing one platform (its ``platform_info``) must not import: the HTTP runtime
#: and the layer's heavy parts, the decoders, the plugin's API, auth and mapping
#: modules, its simulator, the store's crypto.
NOT_FOR_PLATFORM_INFO = {
    "occ": (
        "storelink.http.runtime",
        "storelink.http.tokens",
        "storelink.http.auth",
        "storelink.http.egress",
        "storelink.http.faults",
        "storelink.http.transport",
        "storelink.decode",
        "msgspec",
        "httpcore",
        "cryptography",
        "storelink_occ.api",
        "storelink_occ.auth",
        "storelink_occ.mapping",
        "storelink_occ.simulator",
    ),
}


@pytest.mark.parametrize("slug", sorted(NOT_FOR_PLATFORM_INFO))
def test_listing_a_platform_imports_no_http_runtime_mapping_or_simulator(slug: str) -> None:
    """``storelink platforms`` calls every plugin's ``platform_info``: it needs none of the reads."""
    modules = _modules(f"import storelink\nassert storelink.get_platform({slug!r}).info.slug == {slug!r}")
    assert f"storelink_{slug}.plugin" in modules
    assert _found(modules, NOT_FOR_PLATFORM_INFO[slug]) == []


def test_importing_the_http_package_or_one_of_its_names_imports_no_runtime() -> None:
    modules = _modules("from storelink.http import TOKEN_OPERATIONS, EgressPolicy\nimport storelink.decode")
    assert _found(modules, ("storelink.http.runtime", "storelink.http.tokens", "storelink.http.faults")) == []


def test_the_occ_plugin_binds_its_modules_on_first_use() -> None:
    """A hook's first call imports the module it needs and puts it in the stand-in's place."""
    setup = textwrap.dedent(
        """
        import sys, types
        import storelink_occ.plugin as plugin
        assert "storelink_occ.api" not in sys.modules
        assert plugin.api.PLATFORM == plugin.PLATFORM
        assert isinstance(plugin.api, types.ModuleType)
        assert plugin.auth.AUDIENCES == plugin.AUDIENCES
        assert callable(plugin.mapping.order_from_occ)
        assert plugin.mapping is sys.modules["storelink_occ.mapping"]
        """
    )
    _modules(setup)
