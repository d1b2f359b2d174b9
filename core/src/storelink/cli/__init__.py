"""The ``storelink`` command line: click commands with rich output.

The commands live in one module per group (``connections``, ``reads``, ``orders``,
``sync``, ``keys``, ``simulate``, ``serve``, ``plugin``, ``demo``); this module holds
the top-level group, its global options, logging, and the one place where failures
become a single line on stderr and an exit code (see :mod:`storelink.cli.exits`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from storelink._version import __version__
from storelink.cli import connections, demo, keys, orders, platforms, plugin, reads, serve, simulate, sync
from storelink.cli.exits import ExitCode, describe, exit_code_for, one_line
from storelink.cli.state import CliState
from storelink.errors import StorelinkError

__all__ = ["cli", "main"]

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


class StorelinkGroup(click.Group):
    """The top-level group: every failure ends as one line and an exit code.

    Click's own usage errors, storelink errors (by their place in the error tree),
    Ctrl-C and unexpected exceptions are all reported here, the same way whether the
    CLI runs as a program or under click's test runner.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List the commands in the order they were added (the order of a session)."""
        return list(self.commands)

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


@click.group(
    cls=StorelinkGroup,
    name="storelink",
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
    _configure_logging(ctx, log_level)
    ctx.obj = CliState(database=database, json=as_json, log_level=log_level.lower())


for _command in (
    platforms.platforms,
    connections.connect,
    connections.connections,
    reads.products,
    reads.orders,
    orders.order,
    reads.inventory,
    reads.shipping_methods,
    sync.sync,
    simulate.simulate,
    keys.keys,
    serve.serve,
    plugin.plugin,
    demo.demo,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``storelink`` program (the console-script entry point)."""
    cli.main(args=argv, prog_name="storelink")
