"""The ``storelink`` command line: click commands with rich output.

The commands live in one module per group (``connections``, ``reads``, ``orders``,
``sync``, ``keys``, ``simulate``, ``serve``, ``plugin``, ``demo``); this module holds
the top-level group, its global options, logging, and the one place where failures
become a single line on stderr and an exit code (see :mod:`storelink.cli.exits`).

A command's module is imported only when that command runs or shows its help
(:class:`LazyCommands`): ``storelink --help`` lists the commands from their summaries
here, so that it, and ``storelink platforms``, start without the HTTP stack, the store,
the vault or the connect server.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import click

from storelink._version import __version__
from storelink.cli.exits import ExitCode, describe, exit_code_for, one_line
from storelink.errors import StorelinkError

__all__ = ["COMMANDS", "LazyCommands", "cli", "main"]

log = logging.getLogger("storelink.cli")

LOG_LEVELS = ("debug", "info", "warning", "error")


class _ScrubbingFormatter(logging.Formatter):
    """Formats a record, then scrubs every known secret from the text, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        from storelink.redaction import scrub

        return scrub(super().format(record))


def _configure_logging(ctx: click.Context, level: str) -> None:
    """Send log records at *level* and above to stderr, scrubbed, for this invocation."""
    from storelink import redaction

    redaction.install()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level.upper())

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)

    ctx.call_on_close(restore)


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, each imported from its module on first use.

    Reading ``commands[name]`` (running the command, showing its help, completing it)
    imports the module; listing the names does not, and :meth:`summary` gives what
    ``--help`` shows for a command without importing it. Commands added later
    (``add_command``) are kept as given, after the declared ones.

    :param specs: Name -> (``"module:attribute"`` of the command, the first paragraph
        of its help, as its docstring has it).
    """

    def __init__(self, specs: Mapping[str, tuple[str, str]]) -> None:
        self._specs = dict(specs)
        self._loaded: dict[str, click.Command] = {}
        self._order = list(self._specs)

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            target, _summary = self._specs[name]
            module, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command (it is a {type(command).__name__!r})")
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._loaded.pop(name, None)
        self._specs.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def is_loaded(self, name: str) -> bool:
        """Whether *name*'s module has been imported (or the command was added as an object)."""
        return name in self._loaded

    def summary(self, name: str) -> click.Command:
        """Return the command if loaded, else a stand-in that has only its help's first paragraph."""
        command = self._loaded.get(name)
        if command is not None:
            return command
        return click.Command(name, help=self._specs[name][1])


class StorelinkGroup(click.Group):
    """The top-level group: every failure ends as one line and an exit code.

    Click's own usage errors, storelink errors (by their place in the error tree),
    Ctrl-C and unexpected exceptions are all reported here, the same way whether the
    CLI runs as a program or under click's test runner.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List the commands in the order they were added (the order of a session)."""
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their one-line help, as click does, importing none of them."""
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        shown = [(name, commands.summary(name)) for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown if not command.hidden]
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in shown])

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; log a failure's traceback at debug level while logging is still set up."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except Exception:
            log.debug("the command failed", exc_info=True)
            raise

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; exit with the code of the outcome (or return it, not standalone)."""
        code = self._run(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None, **extra: Any) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help())
            return ExitCode.OK
        except click.UsageError as exc:
            hint = f"see '{exc.ctx.command_path} --help'" if exc.ctx is not None else "see 'storelink --help'"
            click.echo(one_line(f"error: {exc.format_message().rstrip().removesuffix('.')}; {hint}"), err=True)
            return exc.exit_code
        except click.ClickException as exc:
            click.echo(one_line(f"error: {exc.format_message()}"), err=True)
            return exc.exit_code
        except click.Abort as exc:
            interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
            click.echo("interrupted" if interrupted else "aborted", err=True)
            return ExitCode.INTERRUPTED if interrupted else ExitCode.FAILURE
        except StorelinkError as exc:
            click.echo(describe(exc), err=True)
            return exit_code_for(exc)
        except BrokenPipeError:
            # The reader of stdout went away (`storelink products ID --json | head`).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return ExitCode.FAILURE
        except Exception as exc:
            from storelink.redaction import scrub

            text = one_line(scrub(f"{type(exc).__name__}: {exc}"))
            click.echo(
                f"error: unexpected {text}; this is a bug: rerun with --log-level debug and report the traceback",
                err=True,
            )
            return ExitCode.FAILURE
        return result if isinstance(result, int) else ExitCode.OK


_EPILOG = """\b
Environment:
  STORELINK_DB              the connection store (as --db)
  STORELINK_KEYS            the key ring "kid:base64key,..." (active key first)
  STORELINK_ALLOW_LOOPBACK  1 allows http://127.0.0.1 stores (local simulators only)
  STORELINK_LOG_LEVEL       as --log-level

\b
Exit codes:
  0  success                  3  credentials rejected or revoked
  1  any other failure        4  platform unavailable: retry later
  2  bad input
"""


#: The commands, in the order of a session: name -> (where it is defined, the first
#: paragraph of its help). A test checks each summary against its command's docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "platforms": (
        "storelink.cli.platforms:platforms",
        "List the installed platforms: slug, title, capabilities, credential fields.",
    ),
    "connect": (
        "storelink.cli.connections:connect",
        "Connect a store: normalise its URL, ask for its credentials, validate, save.",
    ),
    "connections": (
        "storelink.cli.connections:connections",
        "List, inspect, check, reconnect and remove connections.",
    ),
    "products": (
        "storelink.cli.reads:products",
        "List the store's products with their price and number of variants.",
    ),
    "orders": (
        "storelink.cli.reads:orders",
        "List the store's orders, optionally only those changed since a time.",
    ),
    "order": (
        "storelink.cli.orders:order",
        "Get one order, or create one from a draft file.",
    ),
    "inventory": (
        "storelink.cli.reads:inventory",
        "List stock levels, per SKU and location.",
    ),
    "shipping-methods": (
        "storelink.cli.reads:shipping_methods",
        "List the store's shipping methods and their rates.",
    ),
    "sync": (
        "storelink.cli.sync:sync",
        "Write a connection's products, inventory, shipping methods and orders to JSON Lines.",
    ),
    "simulate": (
        "storelink.cli.simulate:simulate",
        "Serve a simulated PLATFORM store until Ctrl-C, and print its URL and a valid key.",
    ),
    "keys": (
        "storelink.cli.keys:keys",
        "List, rotate and retire the keys that encrypt stored credentials.",
    ),
    "serve": (
        "storelink.cli.serve:serve",
        "Serve the connect pages where merchants link their stores, and their JSON API.",
    ),
    "plugin": (
        "storelink.cli.plugin:plugin",
        "Write your own platform plugin.",
    ),
    "demo": (
        "storelink.cli.demo:demo",
        "Watch storelink onboard a simulated store, sync it, order, and handle a revoked key.",
    ),
}


@click.group(
    cls=StorelinkGroup,
    name="storelink",
    commands=LazyCommands(COMMANDS),
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="storelink", message="%(prog)s %(version)s")
@click.option(
    "--db",
    "database",
    envvar="STORELINK_DB",
    metavar="URL",
    help=(
        "Connection store: a SQLite path, sqlite:///PATH or postgresql://... "
        "[env STORELINK_DB; default: a SQLite file in the user data directory]"
    ),
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="warning",
    show_default=True,
    envvar="STORELINK_LOG_LEVEL",
    help="Log to stderr from this level; 'debug' shows every HTTP call, secrets scrubbed. [env STORELINK_LOG_LEVEL]",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON from every command (JSON Lines for lists).")
@click.pass_context
def cli(ctx: click.Context, database: str | None, log_level: str, as_json: bool) -> None:
    """Link merchants' commerce platforms to your sales channels.

    Connect a store, read its catalog, inventory, shipping methods and orders, create
    orders, and sync everything to JSON Lines files. Try `storelink demo` first.
    """
    from storelink.cli.state import CliState

    _configure_logging(ctx, log_level)
    ctx.obj = CliState(database=database, json=as_json, log_level=log_level.lower())


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``storelink`` program (the console-script entry point)."""
    cli.main(args=argv, prog_name="storelink")
