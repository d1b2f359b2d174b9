"""``storelink sync``: stream a connection's data to JSON Lines files, resumably.

One file per kind in the target directory: ``products.jsonl``, ``inventory.jsonl``,
``shipping.jsonl`` and ``orders.jsonl``, one model per line (as ``--json`` prints it).

Resuming without duplicates. After each page the lines are written, flushed and
fsynced, and only then is the checkpoint stored: the page's resume cursor and the
file's byte length. A run that was interrupted (Ctrl-C, a crash, ``kill -9``) left a
checkpoint that is not done; the next run truncates the file to the stored length,
dropping any lines written after the checkpoint, and continues from the cursor. So
every item is in the file exactly once, whatever the moment of the interruption.

A page that fails after the HTTP layer's retries does not lose the run: the sync waits
(2 s, then twice as long each time) and resumes from its last checkpoint by itself, up
to ``--resumes`` times (default 3). Only then does it stop, with exit code 4 and one
line saying how many items were written and the exact command that resumes. Retries
show in the progress line and in the summary.

Checkpoints live in the connection store, one per connection, kind and target
directory. A finished products or inventory sync starts over the next time (the file
is rewritten); a finished orders sync continues incrementally: the next run appends
the orders changed since the previous run started. ``--full`` ignores checkpoints.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click
from attrs import evolve, frozen
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

from storelink.cli.exits import Failure, Interrupted, Unavailable, one_line
from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.errors import RetryableError
from storelink.paging import PagingConfig, resume_delay

if TYPE_CHECKING:
    from storelink.session import Session
    from storelink.store.base import ConnectionStore

__all__ = ["KINDS", "KindResult", "SyncJob", "SyncStopped", "progress_bar", "resume_command", "sync"]

#: What `sync` can write, in the order it writes them.
KINDS = ("products", "inventory", "shipping", "orders")


@frozen(kw_only=True)
class KindResult:
    """What one kind's sync did.

    :param items: Items this sync wrote, counting those of the interrupted run it resumed.
    :param resumed_after: When it resumed an interrupted run: the items that run wrote.
    :param since: Orders only: the run appended the orders changed since this time.
    :param retries: HTTP requests of this kind that were sent again after a transient failure.
    :param resumes: Times this run resumed from its checkpoint after a page failed beyond its retries.
    """

    kind: str
    file: str
    items: int
    resumed_after: int | None = None
    since: datetime | None = None
    retries: int = 0
    resumes: int = 0


class SyncStopped(Exception):
    """A kind's sync failed beyond its retries and resumes; what was written is kept.

    :param kind: The kind that failed.
    :param items: Items of that kind in its file, all checkpointed.
    :param file: The kind's file.
    :param resumes: Times it resumed from its checkpoint before it stopped.
    :param remaining: The kinds still to sync: the failed one and those after it.
    :param cause: The error of the last failed attempt.
    """

    def __init__(
        self, kind: str, *, items: int, file: str, resumes: int, remaining: tuple[str, ...], cause: RetryableError
    ) -> None:
        super().__init__(f"{kind} sync stopped after {items} items")
        self.kind = kind
        self.items = items
        self.file = file
        self.resumes = resumes
        self.remaining = remaining
        self.cause = cause


@frozen(kw_only=True)
class Checkpoint:
    """Where a kind's sync to one directory stands (stored as JSON in the store)."""

    cursor: str | None = None
    offset: int = 0
    count: int = 0
    done: bool = False
    started: datetime
    since: datetime | None = None

    def dumps(self, directory: Path) -> str:
        """Return the stored form."""
        return json.dumps(
            {
                "v": 1,
                "dir": str(directory),
                "cursor": self.cursor,
                "offset": self.offset,
                "count": self.count,
                "done": self.done,
                "started": self.started.isoformat(),
                "since": self.since.isoformat() if self.since else None,
            }
        )

    @classmethod
    def loads(cls, text: str) -> Checkpoint | None:
        """Read a stored checkpoint; ``None`` for one this version did not write."""
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                return None
            return cls(
                cursor=data["cursor"],
                offset=int(data["offset"]),
                count=int(data["count"]),
                done=bool(data["done"]),
                started=datetime.fromisoformat(data["started"]),
                since=datetime.fromisoformat(data["since"]) if data["since"] else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class _LinesFile:
    """A JSON Lines file written in whole pages, each made durable before it counts.

    Blocking file calls: the sync runs them in a worker thread.
    """

    _file: BinaryIO

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self) -> int:
        """Return the file's length in bytes, or -1 if it does not exist."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return -1

    def open_at(self, offset: int) -> None:
        """Open the file for appending, cut to *offset* bytes (dropping unrecorded lines)."""
        self._file = self.path.open("ab")
        self._file.truncate(offset)

    def append(self, data: bytes) -> None:
        """Write *data*, flush it and fsync it."""
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def replace_with(self, data: bytes) -> None:
        """Atomically replace the file's content with *data*, durably."""
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        partial.replace(self.path)


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold the directory's sync lock for the duration; refuse if another sync holds it (POSIX)."""
    if os.name != "posix":
        yield
        return
    import fcntl

    with (directory / ".storelink-sync.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Failure(f"another storelink sync is writing to {directory}; let it finish first") from None
        yield


def _line(model: object) -> bytes:
    from storelink.codec import to_jsonable

    return json.dumps(to_jsonable(model), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


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


def progress_bar(console: Console | None = None) -> Progress:
    """Return the progress display of a sync: kind, bar, count, rate, time, retries (on stderr by default)."""
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        _Retries(),
        console=console or Console(stderr=True),
    )


class SyncJob:
    """Sync one connection's kinds into *directory*, checkpointing after every page.

    :param session: The connection's session.
    :param store: The connection store holding the checkpoints.
    :param full: Ignore checkpoints: start every kind over, orders included.
    :param paging: The waits between resumes (``resume_backoff``, ``resume_backoff_cap``)
        and, unless *resumes* is given, how many there may be.
    :param resumes: Times a kind resumes from its checkpoint after a page failed beyond
        its retries, before the job raises :class:`SyncStopped`.
    :param sleep: Waits between resumes (the hub clock's ``sleep``).
    """

    def __init__(
        self,
        session: Session,
        store: ConnectionStore,
        directory: Path,
        progress: Progress,
        *,
        full: bool = False,
        paging: PagingConfig | None = None,
        resumes: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.store = store
        self.directory = directory.resolve()
        self.progress = progress
        self.full = full
        self.paging = paging or PagingConfig()
        self.resumes = self.paging.resumes if resumes is None else resumes
        self.sleep = sleep
        self.connection_id = session.connection.id

    def _key(self, kind: str) -> str:
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
        return f"cli-sync:{kind}:{digest}"

    async def _save(self, kind: str, cp: Checkpoint) -> None:
        await self.store.set_checkpoint(self.connection_id, self._key(kind), cp.dumps(self.directory))

    async def _stored(self, kind: str) -> Checkpoint | None:
        stored = await self.store.get_checkpoint(self.connection_id, self._key(kind))
        return Checkpoint.loads(stored) if stored else None

    async def _plan(self, kind: str, file: _LinesFile) -> tuple[Checkpoint, bool]:
        """Return where this run of *kind* starts, and whether it resumes an interrupted one."""
        now = datetime.now(UTC)
        cp = None if self.full else await self._stored(kind)
        size = await asyncio.to_thread(file.size)
        if cp is None or size < cp.offset:
            return Checkpoint(started=now), False  # never synced here, or the file lost lines
        if not cp.done:
            return cp, True
        if kind == "orders":
            return Checkpoint(started=now, offset=size, since=cp.started), False
        return Checkpoint(started=now), False

    async def run(self, kinds: Sequence[str]) -> list[KindResult]:
        """Sync *kinds* in :data:`KINDS` order; return what each one did.

        :raises SyncStopped: A kind still failed after its last resume.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        chosen = tuple(k for k in KINDS if k in kinds)
        results = []
        with _exclusive(self.directory):
            for index, kind in enumerate(chosen):
                try:
                    results.append(await (self._shipping() if kind == "shipping" else self._paged(kind)))
                except SyncStopped as stopped:
                    stopped.remaining = chosen[index:]
                    raise
        return results

    def _retries(self, base: int) -> int:
        return self.session.stats.retries - base

    async def _after_failure(self, kind: str, exc: RetryableError, items: int, resumes: int, file: Path) -> None:
        """Wait before resume number *resumes* + 1, or raise :class:`SyncStopped` if none is left."""
        cause = exc.__cause__ if isinstance(exc.__cause__, RetryableError) else exc
        if resumes >= self.resumes:
            raise SyncStopped(kind, items=items, file=str(file), resumes=resumes, remaining=(kind,), cause=cause)
        delay = resume_delay(self.paging, resumes, cause.retry_after)
        self.progress.console.print(
            one_line(
                f"{kind}: a page failed after its retries ({_reason(cause)}); resuming from the checkpoint "
                f"after {items:,} items in {delay:g} s ({resumes + 1} of {self.resumes})"
            )
        )
        await self.sleep(delay)

    async def _paged(self, kind: str) -> KindResult:
        file = _LinesFile(self.directory / f"{kind}.jsonl")
        cp, resumed = await self._plan(kind, file)
        first = cp.count
        task = self.progress.add_task(kind, total=None, completed=first, resumed_at=first, retries=0, resumes=0)
        if resumed:
            self.progress.console.print(f"resuming {kind} after {cp.count:,} items")
        base = self.session.stats.retries
        resumes = 0
        while True:
            try:
                cp = await self._stream(kind, file, cp, task, base)
                break
            except RetryableError as exc:
                self.progress.update(task, retries=self._retries(base))
                await self._after_failure(kind, exc, cp.count, resumes, file.path)
                resumes += 1
                self.progress.update(task, resumes=resumes)
                cp = await self._stored(kind) or cp  # the last page's checkpoint, as a new run would find it
        self.progress.update(task, total=cp.count, completed=cp.count, retries=self._retries(base))
        return KindResult(
            kind=kind,
            file=str(file.path),
            items=cp.count,
            resumed_after=first if resumed else None,
            since=cp.since,
            retries=self._retries(base),
            resumes=resumes,
        )

    async def _stream(self, kind: str, file: _LinesFile, cp: Checkpoint, task: TaskID, base: int) -> Checkpoint:
        """Append *kind* from checkpoint *cp* to the end; return the final checkpoint."""
        from storelink.codec import cursor_from_str, cursor_to_str

        options: dict[str, Any] = {"since": cp.since} if kind == "orders" else {}
        start = cursor_from_str(cp.cursor) if cp.cursor else None
        await asyncio.to_thread(file.open_at, cp.offset)
        try:
            await self._save(kind, cp)
            async for page, resume in self.session.pages(kind, start, resumes=0, **options):
                data = b"".join(_line(item) for item in page.items)
                await asyncio.to_thread(file.append, data)
                cp = evolve(
                    cp,
                    cursor=cursor_to_str(resume) if resume else None,
                    offset=cp.offset + len(data),
                    count=cp.count + len(page.items),
                    done=resume is None,
                )
                await self._save(kind, cp)
                total = page.total if page.total is not None and page.total >= cp.count else None
                self.progress.update(task, completed=cp.count, total=total, retries=self._retries(base))
        finally:
            file.close()
        if not cp.done:
            cp = evolve(cp, cursor=None, done=True)
            await self._save(kind, cp)
        return cp

    async def _shipping(self) -> KindResult:
        file = _LinesFile(self.directory / "shipping.jsonl")
        task = self.progress.add_task("shipping", total=None, retries=0, resumes=0)
        base = self.session.stats.retries
        resumes = 0
        while True:
            try:
                methods = await self.session.shipping_methods()
                break
            except RetryableError as exc:
                self.progress.update(task, retries=self._retries(base))
                await self._after_failure("shipping", exc, 0, resumes, file.path)
                resumes += 1
                self.progress.update(task, resumes=resumes)
        await asyncio.to_thread(file.replace_with, b"".join(_line(m) for m in methods))
        self.progress.update(task, total=len(methods), completed=len(methods), retries=self._retries(base))
        return KindResult(
            kind="shipping", file=str(file.path), items=len(methods), retries=self._retries(base), resumes=resumes
        )


def _reason(exc: RetryableError) -> str:
    from storelink.redaction import scrub

    return one_line(scrub(str(exc))).removesuffix(".")


def resume_command(
    connection_id: str, directory: Path, remaining: Sequence[str], *, database: str | None = None
) -> str:
    """Return the ``storelink sync`` command line that carries on with *remaining*.

    :param database: The ``--db`` value to repeat, when it was given on the command
        line (a password in a database URL is shown as ``***``, never in clear).
    """
    words = ["storelink"]
    if database:
        words += ["--db", _without_password(database)]
    words += ["sync", connection_id, "--to", str(directory)]
    if tuple(remaining) != KINDS:
        words += ["--only", ",".join(remaining)]
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


def _note(r: KindResult) -> str | None:
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


_RESULT_COLUMNS: tuple[Column[KindResult], ...] = (
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
@json_option
@pass_state
def sync(
    state: CliState,
    connection_id: str,
    directory: Path,
    kinds: tuple[str, ...],
    full: bool,
    resumes: int,
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
    """
    out = state.output(as_json)

    async def go() -> list[KindResult]:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            with progress_bar() as progress:
                job = SyncJob(
                    session,
                    hub.store,
                    directory,
                    progress,
                    full=full,
                    paging=hub.paging,
                    resumes=resumes,
                    sleep=hub.clock.sleep,
                )
                return await job.run(kinds)

    try:
        results = run(go())
    except KeyboardInterrupt:
        raise Interrupted("sync interrupted; run the same command again to resume from the last page") from None
    except SyncStopped as stopped:
        root = click.get_current_context().find_root()
        given = root.get_parameter_source("database") is click.core.ParameterSource.COMMANDLINE
        command = resume_command(
            connection_id, directory.resolve(), stopped.remaining, database=state.database if given else None
        )
        tries = f" and {_plural(stopped.resumes, 'resume', 'resumes')}" if stopped.resumes else ""
        raise Unavailable(
            f"{stopped.kind} sync stopped after {stopped.items:,} items written to {stopped.file} "
            f"(they are kept), after its retries{tries}: {_reason(stopped.cause)}; resume with: {command}"
        ) from None
    out.records(results, _RESULT_COLUMNS, title=f"Synced {connection_id} to {directory}")
