"""``storelink sync``: stream a connection's data to JSON Lines files, resumably.

One file per kind in the target directory: ``products.jsonl``, ``inventory.jsonl``,
``shipping.jsonl`` and ``orders.jsonl``, one model per line (as ``--json`` prints it).

Resuming without duplicates. After each page the lines are written, flushed and
fsynced, and only then is the checkpoint stored: the page's resume cursor and the
file's byte length. A run that was interrupted (Ctrl-C, a crash, ``kill -9``) left a
checkpoint that is not done; the next run truncates the file to the stored length,
dropping any lines written after the checkpoint, and continues from the cursor. So
every item is in the file exactly once, whatever the moment of the interruption.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click
from attrs import evolve, frozen
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from storelink.cli.exits import Failure, Interrupted
from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run

if TYPE_CHECKING:
    from storelink.session import Session
    from storelink.store.base import ConnectionStore

__all__ = ["KINDS", "KindResult", "SyncJob", "progress_bar", "sync"]

#: What `sync` can write, in the order it writes them.
KINDS = ("products", "inventory", "shipping", "orders")


@frozen(kw_only=True)
class KindResult:
    """What one kind's sync did.

    :param items: Items this sync wrote, counting those of the interrupted run it resumed.
    :param resumed_after: When it resumed an interrupted run: the items that run wrote.
    :param since: Orders only: the run appended the orders changed since this time.
    """

    kind: str
    file: str
    items: int
    resumed_after: int | None = None
    since: datetime | None = None


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


class _Rate(ProgressColumn):
    """Items per second written by this run (a resumed run's earlier items excluded)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed
        done = task.completed - task.fields.get("resumed_at", 0)
        return Text(f"{done / elapsed:,.0f}/s" if elapsed and done > 0 else "", style="cyan")


def progress_bar(console: Console | None = None) -> Progress:
    """Return the progress display of a sync: kind, bar, count, rate, time (on stderr by default)."""
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )


class SyncJob:
    """Sync one connection's kinds into *directory*, checkpointing after every page.

    :param session: The connection's session.
    :param store: The connection store holding the checkpoints.
    :param full: Ignore checkpoints: start every kind over, orders included.
    """

    def __init__(
        self, session: Session, store: ConnectionStore, directory: Path, progress: Progress, *, full: bool = False
    ) -> None:
        self.session = session
        self.store = store
        self.directory = directory.resolve()
        self.progress = progress
        self.full = full
        self.connection_id = session.connection.id

    def _key(self, kind: str) -> str:
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
        return f"cli-sync:{kind}:{digest}"

    async def _save(self, kind: str, cp: Checkpoint) -> None:
        await self.store.set_checkpoint(self.connection_id, self._key(kind), cp.dumps(self.directory))

    async def _plan(self, kind: str, file: _LinesFile) -> tuple[Checkpoint, bool]:
        """Return where this run of *kind* starts, and whether it resumes an interrupted one."""
        now = datetime.now(UTC)
        stored = None if self.full else await self.store.get_checkpoint(self.connection_id, self._key(kind))
        cp = Checkpoint.loads(stored) if stored else None
        size = await asyncio.to_thread(file.size)
        if cp is None or size < cp.offset:
            return Checkpoint(started=now), False  # never synced here, or the file lost lines
        if not cp.done:
            return cp, True
        if kind == "orders":
            return Checkpoint(started=now, offset=size, since=cp.started), False
        return Checkpoint(started=now), False

    async def run(self, kinds: Sequence[str]) -> list[KindResult]:
        """Sync *kinds* in :data:`KINDS` order; return what each one did."""
        self.directory.mkdir(parents=True, exist_ok=True)
        results = []
        with _exclusive(self.directory):
            for kind in KINDS:
                if kind in kinds:
                    results.append(await (self._shipping() if kind == "shipping" else self._paged(kind)))
        return results

    async def _paged(self, kind: str) -> KindResult:
        from storelink.codec import cursor_from_str, cursor_to_str

        file = _LinesFile(self.directory / f"{kind}.jsonl")
        cp, resumed = await self._plan(kind, file)
        first = cp.count
        task = self.progress.add_task(kind, total=None, completed=first, resumed_at=first)
        if resumed:
            self.progress.console.print(f"resuming {kind} after {cp.count:,} items")
        options: dict[str, Any] = {"since": cp.since} if kind == "orders" else {}
        start = cursor_from_str(cp.cursor) if cp.cursor else None
        await asyncio.to_thread(file.open_at, cp.offset)
        try:
            await self._save(kind, cp)
            async for page, resume in self.session.pages(kind, start, **options):
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
                self.progress.update(task, completed=cp.count, total=total)
        finally:
            file.close()
        if not cp.done:
            cp = evolve(cp, cursor=None, done=True)
            await self._save(kind, cp)
        self.progress.update(task, total=cp.count, completed=cp.count)
        return KindResult(
            kind=kind, file=str(file.path), items=cp.count, resumed_after=first if resumed else None, since=cp.since
        )

    async def _shipping(self) -> KindResult:
        file = _LinesFile(self.directory / "shipping.jsonl")
        task = self.progress.add_task("shipping", total=None)
        methods = await self.session.shipping_methods()
        await asyncio.to_thread(file.replace_with, b"".join(_line(m) for m in methods))
        self.progress.update(task, total=len(methods), completed=len(methods))
        return KindResult(kind="shipping", file=str(file.path), items=len(methods))


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
    if r.resumed_after is not None:
        return f"resumed after {r.resumed_after:,}"
    return f"changed since {r.since.isoformat(timespec='seconds')}" if r.since else None


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
@json_option
@pass_state
def sync(
    state: CliState, connection_id: str, directory: Path, kinds: tuple[str, ...], full: bool, as_json: bool
) -> None:
    """Write a connection's products, inventory, shipping methods and orders to JSON Lines.

    Each kind goes to DIR/KIND.jsonl, one model per line, streamed page by page
    (memory stays flat whatever the catalog's size), with a progress bar on stderr.

    Interrupted (Ctrl-C, a crash, kill)? Run the same command again: it resumes from
    the last page it stored, and no line is written twice. Orders are incremental:
    after a finished sync, the next one appends only the orders changed since.
    """
    out = state.output(as_json)

    async def go() -> list[KindResult]:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            with progress_bar() as progress:
                return await SyncJob(session, hub.store, directory, progress, full=full).run(kinds)

    try:
        results = run(go())
    except KeyboardInterrupt:
        raise Interrupted("sync interrupted; run the same command again to resume from the last page") from None
    out.records(results, _RESULT_COLUMNS, title=f"Synced {connection_id} to {directory}")
