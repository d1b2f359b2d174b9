"""``storelink sync``: stream a connection's data to JSON Lines files, resumably.

The engine is :class:`storelink.SyncJob` (:mod:`storelink.sync`): files per kind,
checkpoints after every page, resumes, bounds. This module is its command line: the
options, the progress bar and summary on the console, and each way a sync can stop
turned into one line and an exit code:

- a page that still fails after the HTTP retries and ``--resumes`` resumes: exit code
  4, with how many items were written and the exact command that resumes;
- a kind's run that would pass ``--max-items`` (default 10,000,000) or
  ``--max-bytes`` (default 20 GB): exit code 2, with the command that resumes under
  a doubled bound;
- a ``--to`` that cannot be written, or that another sync is writing to: exit code 2;
- a file that cannot be written part-way (a full disk): exit code 1;
- Ctrl-C: exit code 130. Run the same command again: it resumes from the last page
  stored, and no line is written twice.

While the engine runs, the command makes the cyclic garbage collector run far less
often (:func:`storelink.collector.fewer_collections`): the process is the command's own. The engine alone,
in a host's process, leaves the host's collector as it is.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from storelink.cli.exits import ExitCode, Failure, Interrupted, Unavailable, one_line
from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.collector import fewer_collections
from storelink.errors import RetryableError
from storelink.paging import PagingConfig
from storelink.sync import (
    DEFAULT_MAX_ITEMS,
    SyncBusyError,
    SyncJob,
    SyncLimitError,
    SyncProgress,
    SyncResult,
    SyncStoppedError,
    SyncTargetError,
    SyncWriteError,
)

__all__ = [
    "ByteSize",
    "KindsType",
    "SyncBar",
    "WriteFailed",
    "progress_bar",
    "resume_command",
    "sync",
]

#: What `sync` can write, in the order it writes them.
KINDS = SyncJob.KINDS
#: The option that sets each of the engine's bounds.
_OPTIONS = {"max_items": "--max-items", "max_bytes": "--max-bytes"}


class WriteFailed(click.ClickException):
    """A sync file could not be written part-way (a full disk...); exit code 1."""

    exit_code = ExitCode.FAILURE


class _Retries(ProgressColumn):
    """Requests sent again after a transient failure, and resumes, once there are any."""

    def render(self, task: Task) -> Text:
        retries, resumes = task.fields.get("retries", 0), task.fields.get("resumes", 0)
        parts = [_plural(retries, "retry", "retries")] if retries else []
        parts += [_plural(resumes, "resume", "resumes")] if resumes else []
        return Text(", ".join(parts), style="yellow")


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


class _Rate(ProgressColumn):
    """Items per second written by this run (a resumed run's earlier items excluded)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed
        done = task.completed - task.fields.get("resumed_at", 0)
        return Text(f"{done / elapsed:,.0f}/s" if elapsed and done > 0 else "", style="cyan")


class SyncBar(SyncProgress):
    """A sync's progress on a rich console: one bar per kind, and a line per resume.

    Use it as a context manager around the job's run, as rich's ``Progress``. The job
    moves a bar once per page; the console redraws at most :attr:`REFRESHES` times a
    second, whatever the pages' pace.
    """

    #: Redraws of the bars per second, at most.
    REFRESHES = 4

    def __init__(self, console: Console | None = None) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            _Retries(),
            console=console or Console(stderr=True),
            refresh_per_second=self.REFRESHES,
        )
        self._tasks: dict[str, TaskID] = {}

    @property
    def console(self) -> Console:
        """The console the bars and notices go to."""
        return self.bar.console

    def __enter__(self) -> Self:
        self.bar.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.__exit__(exc_type, exc, tb)

    def started(self, kind: str, *, items: int, resumed: bool) -> None:
        """Add the kind's bar; say so when it resumes an interrupted run."""
        self._tasks[kind] = self.bar.add_task(kind, total=None, completed=items, resumed_at=items, retries=0, resumes=0)
        if resumed:
            self.console.print(f"resuming {kind} after {items:,} items")

    def progressed(self, kind: str, *, items: int, total: int | None, retries: int, resumes: int) -> None:
        """Move the kind's bar."""
        self.bar.update(self._tasks[kind], completed=items, total=total, retries=retries, resumes=resumes)

    def resuming(
        self, kind: str, *, items: int, delay: float, attempt: int, attempts: int, cause: RetryableError
    ) -> None:
        """Say why and when the kind resumes."""
        self.console.print(
            one_line(
                f"{kind}: a page failed after its retries ({_reason(cause)}); resuming from the checkpoint "
                f"after {items:,} items in {delay:g} s ({attempt} of {attempts})"
            )
        )

    def finished(self, result: SyncResult) -> None:
        """Fill the kind's bar."""
        self.bar.update(self._tasks[result.kind], total=result.items, completed=result.items, retries=result.retries)


def progress_bar(console: Console | None = None) -> SyncBar:
    """Return the progress display of a sync: kind, bar, count, rate, time, retries (on stderr by default)."""
    return SyncBar(console)


def _given_database(state: CliState) -> str | None:
    """Return ``--db`` if it was given on the command line (to repeat it), else ``None``."""
    root = click.get_current_context().find_root()
    given = root.get_parameter_source("database") is click.core.ParameterSource.COMMANDLINE
    return state.database if given else None


def _reason(exc: RetryableError) -> str:
    from storelink.redaction import scrub

    return one_line(scrub(str(exc))).removesuffix(".")


def resume_command(
    connection_id: str,
    directory: Path,
    remaining: Sequence[str],
    *,
    database: str | None = None,
    options: Sequence[str] = (),
) -> str:
    """Return the ``storelink sync`` command line that carries on with *remaining*.

    :param database: The ``--db`` value to repeat, when it was given on the command
        line (a password in a database URL is shown as ``***``, never in clear).
    :param options: More ``sync`` options to add, such as ``("--max-items", "20000000")``.
    """
    words = ["storelink"]
    if database:
        words += ["--db", _without_password(database)]
    words += ["sync", connection_id, "--to", str(directory)]
    if tuple(remaining) != KINDS:
        words += ["--only", ",".join(remaining)]
    words += options
    return shlex.join(words)


def _without_password(database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database)
    if not parts.password:
        return database
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class KindsType(click.ParamType[tuple[str, ...]]):
    """A comma-separated subset of :data:`KINDS`."""

    name = "KINDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        """Return the kinds named in *value*, refusing unknown ones."""
        if isinstance(value, tuple):
            return value
        names = [v.strip().lower() for v in str(value).split(",") if v.strip()]
        unknown = [n for n in names if n not in KINDS]
        if unknown or not names:
            self.fail(f"unknown kind {unknown[0] if unknown else value!r}; choose from {','.join(KINDS)}")
        return tuple(k for k in KINDS if k in names)


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


class ByteSize(click.ParamType[int]):
    """A number of bytes: ``5000000``, ``500MB``, ``20GB``, ``2TB``, or ``KiB``/``MiB``/``GiB``/``TiB``."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Return the bytes *value* stands for; refuse anything but a positive size."""
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        else:
            found = re.fullmatch(r"\s*(\d+)\s*(?:([kmgt])(i?)b?|b?)\s*", str(value).replace("_", ""), re.IGNORECASE)
            if found is None:
                self.fail(f"{value!r} is not a size; give bytes (5000000) or a size such as 500MB, 20GB or 1GiB")
            unit = (found[2] or "").lower()
            base = 1024 ** ("kmgt".index(unit) + 1) if unit and found[3] else _UNITS[unit]
            size = int(found[1]) * base
        if size < 1:
            self.fail(f"{value!r} is not a size of at least one byte")
        return size


def _size(size: int) -> str:
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= factor:
            value = size / factor
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return _plural(size, "byte", "bytes")


def _note(r: SyncResult) -> str | None:
    notes = []
    if r.resumed_after is not None:
        notes.append(f"resumed after {r.resumed_after:,}")
    elif r.since:
        notes.append(f"changed since {r.since.isoformat(timespec='seconds')}")
    if r.retries:
        notes.append(_plural(r.retries, "retry", "retries"))
    if r.resumes:
        notes.append(_plural(r.resumes, "resume", "resumes"))
    return ", ".join(notes) or None


_RESULT_COLUMNS: tuple[Column[SyncResult], ...] = (
    Column("kind", lambda r: r.kind),
    Column("items", lambda r: r.items, "right"),
    Column("file", lambda r: r.file),
    Column("note", _note),
)


@click.command()
@click.argument("connection_id", metavar="ID")
@click.option(
    "--to",
    "directory",
    required=True,
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Directory for the JSON Lines files (created if missing).",
)
@click.option(
    "--only",
    "kinds",
    type=KindsType(),
    default=",".join(KINDS),
    show_default=True,
    help="The kinds to sync, comma-separated.",
)
@click.option("--full", is_flag=True, help="Ignore checkpoints: sync everything again, orders included.")
@click.option(
    "--resumes",
    type=click.IntRange(min=0),
    default=PagingConfig().resumes,
    show_default=True,
    help="Times a kind resumes from its checkpoint after a page fails beyond its retries, before giving up.",
)
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ITEMS,
    show_default=True,
    help="Most items one kind may write in a run; stop (exit 2) rather than pass it.",
)
@click.option(
    "--max-bytes",
    type=ByteSize(),
    default="20GB",
    show_default=True,
    help="Most bytes one kind may write in a run (500MB, 20GB, 1TiB...); stop (exit 2) rather than pass it.",
)
@json_option
@pass_state
def sync(
    state: CliState,
    connection_id: str,
    directory: Path,
    kinds: tuple[str, ...],
    full: bool,
    resumes: int,
    max_items: int,
    max_bytes: int,
    as_json: bool,
) -> None:
    """Write a connection's products, inventory, shipping methods and orders to JSON Lines.

    Each kind goes to DIR/KIND.jsonl, one model per line, streamed page by page
    (memory stays flat whatever the catalog's size), with a progress bar on stderr.

    Interrupted (Ctrl-C, a crash, kill)? Run the same command again: it resumes from
    the last page it stored, and no line is written twice. Orders are incremental:
    after a finished sync, the next one appends only the orders changed since.

    A page that still fails after its HTTP retries is fetched again from the last
    checkpoint, up to --resumes times with a growing wait; then the sync stops with
    exit code 4 and prints the command that resumes it.

    A store that sends items it already sent is refused (exit 1). A kind's run stops
    before it writes more than --max-items items or --max-bytes bytes (exit 2): what
    was written is kept, and the same command with a higher bound continues.
    """
    out = state.output(as_json)

    async def go() -> list[SyncResult]:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            with progress_bar() as progress:
                job = SyncJob.from_hub(
                    hub,
                    session,
                    directory,
                    progress,
                    full=full,
                    resumes=resumes,
                    max_items=max_items,
                    max_bytes=max_bytes,
                )
                with fewer_collections():
                    return await job.run(kinds)

    try:
        results = run(go())
    except KeyboardInterrupt:
        raise Interrupted("sync interrupted; run the same command again to resume from the last page") from None
    except SyncLimitError as limited:
        option = _OPTIONS[limited.bound]
        command = resume_command(
            connection_id,
            directory.resolve(),
            limited.remaining,
            database=_given_database(state),
            options=(option, str(limited.limit * 2)),
        )
        bound = f"{limited.limit:,} items" if limited.bound == "max_items" else _size(limited.limit)
        raise Failure(
            f"{limited.kind} sync stopped at {option} ({bound}): the next page would pass it; "
            f"the {limited.items:,} items written to {limited.file} are kept. If the store really holds more, "
            f"raise the bound and resume with: {command}"
        ) from None
    except SyncStoppedError as stopped:
        command = resume_command(connection_id, directory.resolve(), stopped.remaining, database=_given_database(state))
        tries = f" and {_plural(stopped.resumes, 'resume', 'resumes')}" if stopped.resumes else ""
        raise Unavailable(
            f"{stopped.kind} sync stopped after {stopped.items:,} items written to {stopped.file} "
            f"(they are kept), after its retries{tries}: {_reason(stopped.cause)}; resume with: {command}"
        ) from None
    except SyncTargetError as refused:
        raise Failure(
            f"cannot write the sync files to {refused.directory}: {refused.reason}; "
            "give --to a directory you can write to (a missing one is created, with its parents)"
        ) from None
    except SyncBusyError as busy:
        raise Failure(f"another storelink sync is writing to {busy.directory}; let it finish first") from None
    except SyncWriteError as failed:
        raise WriteFailed(
            f"writing {failed.path} failed: {failed.reason}; the lines of the pages before are kept: "
            "fix the cause (disk space, permissions), then run the same command to resume"
        ) from None
    out.records(results, _RESULT_COLUMNS, title=f"Synced {connection_id} to {directory}")
