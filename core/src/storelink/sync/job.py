"""The sync job: one connection's kinds into one directory, checkpointed after every page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from attrs import evolve, frozen

from storelink.errors import InputError, RetryableError
from storelink.models import Cursor, Page
from storelink.paging import PagingConfig, resume_delay
from storelink.sync.checkpoints import Checkpoint, checkpoint_name
from storelink.sync.errors import SyncLimitError, SyncStoppedError
from storelink.sync.lines import LinesFile, exclusive, line, writable, written

if TYPE_CHECKING:
    from storelink.hub import Hub
    from storelink.session import Session
    from storelink.store.base import ConnectionStore

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ITEMS", "SyncJob", "SyncProgress", "SyncResult"]

#: Items one kind's run may write by default: far more than a real catalog holds.
DEFAULT_MAX_ITEMS = 10_000_000
#: Bytes one kind's run may write by default (20 GB): about 5 million products of OCC's.
DEFAULT_MAX_BYTES = 20 * 1000**3


@frozen(kw_only=True)
class SyncResult:
    """What one kind's sync did.

    :param kind: ``products``, ``inventory``, ``shipping`` or ``orders``.
    :param file: The kind's file.
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


def _whole(name: str, value: object, least: int) -> None:
    """Refuse *value* unless it is a whole number, *least* or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InputError(f"is {value!r}; give a whole number, {least} or more", path=name)


class SyncProgress:
    """What a :class:`SyncJob` reports while it runs; every method here does nothing.

    Subclass it and override what you show (a progress bar, a task's state, metrics).
    The job calls these on its event loop, between pages: keep them quick, and do not
    raise (an exception stops the sync like any other, its files kept).
    """

    def started(self, kind: str, *, items: int, resumed: bool) -> None:
        """Report that *kind* began; it resumes an interrupted run that wrote *items* if *resumed*.

        :param kind: The kind.
        :param items: Items already in the file for this run (0 unless *resumed*).
        :param resumed: Whether the run continues an interrupted one.
        """

    def progressed(self, kind: str, *, items: int, total: int | None, retries: int, resumes: int) -> None:
        """Report where *kind* stands, after each checkpointed page and after each failure.

        :param kind: The kind.
        :param items: Items in the file for this run, all checkpointed.
        :param total: The size of the list, when the platform reports one.
        :param retries: HTTP requests of this kind sent again after a transient failure.
        :param resumes: Times the run resumed from its checkpoint.
        """

    def resuming(
        self, kind: str, *, items: int, delay: float, attempt: int, attempts: int, cause: RetryableError
    ) -> None:
        """Report that a page failed beyond its retries and the run resumes after *delay* seconds.

        :param kind: The kind.
        :param items: Items in the file, from which the run resumes.
        :param delay: Seconds the job waits before it resumes.
        :param attempt: This resume's number, from 1.
        :param attempts: Resumes the job may make.
        :param cause: The error that stopped the page.
        """

    def finished(self, result: SyncResult) -> None:
        """Report that a kind is done, with what it did."""


class SyncJob:
    """Sync a connection's kinds to JSON Lines files in *directory*, checkpointing after every page.

    Each kind goes to ``DIRECTORY/KIND.jsonl``, one model per line (``to_jsonable``).
    Run it again after any interruption and it resumes from the stored checkpoints,
    with no line written twice; see :mod:`storelink.sync`. Build one with
    :meth:`from_hub`, or give the parts.

    :param session: The connection's session (open).
    :param store: The connection store holding the checkpoints.
    :param directory: Where the files go; created if missing. Checkpoints are kept per
        connection, kind and (resolved) directory.
    :param progress: Told how the sync goes; ``None`` tells nobody.
    :param full: Ignore checkpoints: start every kind over, orders included.
    :param paging: The waits between resumes (``resume_backoff``, ``resume_backoff_cap``)
        and, unless *resumes* is given, how many there may be.
    :param resumes: Times a kind resumes from its checkpoint after a page failed beyond
        its retries, before the job raises :class:`SyncStoppedError`.
    :param sleep: Waits between resumes (the hub clock's ``sleep``).
    :param max_items: Items one kind's run may write; the page that would pass it is not
        written and the job raises :class:`SyncLimitError`.
    :param max_bytes: Bytes one kind's run may write, likewise.
    :raises InputError: A bound is not a positive whole number, or *resumes* a whole
        number, 0 or more.
    """

    #: What a job can sync, in the order :meth:`run` syncs them.
    KINDS: ClassVar[tuple[str, ...]] = ("products", "inventory", "shipping", "orders")

    def __init__(
        self,
        session: Session,
        store: ConnectionStore,
        directory: Path | str,
        progress: SyncProgress | None = None,
        *,
        full: bool = False,
        paging: PagingConfig | None = None,
        resumes: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        _whole("max_items", max_items, 1)
        _whole("max_bytes", max_bytes, 1)
        if resumes is not None:
            _whole("resumes", resumes, 0)
        self.session = session
        self.store = store
        self.directory = Path(directory).resolve()
        self.progress = progress or SyncProgress()
        self.full = full
        self.paging = paging or PagingConfig()
        self.resumes = self.paging.resumes if resumes is None else resumes
        self.sleep = sleep
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.connection_id = session.connection.id

    @classmethod
    def from_hub(
        cls,
        hub: Hub,
        session: Session,
        directory: Path | str,
        progress: SyncProgress | None = None,
        *,
        full: bool = False,
        resumes: int | None = None,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> SyncJob:
        """Return a job over *hub*'s store, paging configuration and clock.

        :param hub: The hub that opened *session*.
        :param session: The connection's session (open).
        :param directory: As for :class:`SyncJob`; so are the other parameters.
        """
        return cls(
            session,
            hub.store,
            directory,
            progress,
            full=full,
            paging=hub.paging,
            resumes=resumes,
            sleep=hub.clock.sleep,
            max_items=max_items,
            max_bytes=max_bytes,
        )

    def __repr__(self) -> str:
        return f"<SyncJob {self.connection_id} to {self.directory}>"

    # ------------------------------------------------------------------ running

    async def run(self, kinds: Sequence[str] = KINDS) -> list[SyncResult]:
        """Sync *kinds*, in :attr:`KINDS` order whatever the order given; return what each did.

        The job holds the directory's lock for the whole run, so two jobs never write
        to one directory at once.

        :param kinds: Some of :attr:`KINDS`.
        :raises InputError: A kind is unknown, or none is given.
        :raises SyncStoppedError: A kind still failed after its last resume.
        :raises SyncLimitError: A kind's run reached ``max_items`` or ``max_bytes``.
        :raises SyncTargetError: The directory cannot be created or written to.
        :raises SyncBusyError: Another sync is writing to the directory.
        :raises SyncWriteError: A file could not be written part-way (a full disk...).
        """
        if isinstance(kinds, str):
            raise InputError(f"is the string {kinds!r}; give a sequence of kinds, such as ({kinds!r},)", path="kinds")
        unknown = [k for k in kinds if k not in self.KINDS]
        if unknown or not kinds:
            problem = f"has the unknown kind {unknown[0]!r}" if unknown else "is empty"
            raise InputError(f"{problem}; choose from {', '.join(self.KINDS)}", path="kinds")
        chosen = tuple(k for k in self.KINDS if k in kinds)
        results = []
        with writable(self.directory), exclusive(self.directory):
            for index, kind in enumerate(chosen):
                try:
                    results.append(await (self._shipping() if kind == "shipping" else self._paged(kind)))
                except (SyncStoppedError, SyncLimitError) as stopped:
                    stopped.remaining = chosen[index:]
                    raise
        return results

    async def run_kind(self, kind: str) -> SyncResult:
        """Sync one kind (see :meth:`run`, which says what it raises); return what it did."""
        (result,) = await self.run((kind,))
        return result

    # ------------------------------------------------------------------ checkpoints

    def _name(self, kind: str) -> str:
        return checkpoint_name(kind, self.directory)

    async def _save(self, kind: str, cp: Checkpoint) -> None:
        await self.store.set_checkpoint(self.connection_id, self._name(kind), cp.dumps(self.directory))

    async def _stored(self, kind: str) -> Checkpoint | None:
        stored = await self.store.get_checkpoint(self.connection_id, self._name(kind))
        return Checkpoint.loads(stored) if stored else None

    async def _plan(self, kind: str, file: LinesFile) -> tuple[Checkpoint, bool]:
        """Return where this run of *kind* starts, and whether it resumes an interrupted one."""
        now = datetime.now(UTC)
        cp = None if self.full else await self._stored(kind)
        size = await asyncio.to_thread(file.size)
        if cp is None or size < cp.offset:
            return Checkpoint(started=now), False  # never synced here, or the file lost lines
        if not cp.done:
            return cp, True
        if kind == "orders":
            return Checkpoint(started=now, offset=size, base=size, since=cp.started), False
        return Checkpoint(started=now), False

    # ------------------------------------------------------------------ kinds

    def _retries(self, base: int) -> int:
        return self.session.stats.retries - base

    async def _after_failure(self, kind: str, exc: RetryableError, items: int, resumes: int, file: Path) -> None:
        """Wait before resume number *resumes* + 1, or raise :class:`SyncStoppedError` if none is left."""
        cause = exc.__cause__ if isinstance(exc.__cause__, RetryableError) else exc
        if resumes >= self.resumes:
            raise SyncStoppedError(
                kind, items=items, file=str(file), resumes=resumes, remaining=(kind,), cause=cause
            ) from cause
        delay = resume_delay(self.paging, resumes, cause.retry_after)
        self.progress.resuming(kind, items=items, delay=delay, attempt=resumes + 1, attempts=self.resumes, cause=cause)
        await self.sleep(delay)

    async def _paged(self, kind: str) -> SyncResult:
        file = LinesFile(self.directory / f"{kind}.jsonl")
        cp, resumed = await self._plan(kind, file)
        first = cp.count
        self.progress.started(kind, items=first, resumed=resumed)
        walk = _Walk(self, kind, file, cp, self.session.stats.retries)
        while True:
            try:
                await walk.stream()
                break
            except RetryableError as exc:
                walk.report()
                await self._after_failure(kind, exc, walk.cp.count, walk.resumes, file.path)
                walk.resumes += 1
                walk.report()
                walk.cp = await self._stored(kind) or walk.cp  # the last page's checkpoint, as a new run finds it
        result = SyncResult(
            kind=kind,
            file=str(file.path),
            items=walk.cp.count,
            resumed_after=first if resumed else None,
            since=walk.cp.since,
            retries=self._retries(walk.base),
            resumes=walk.resumes,
        )
        self.progress.finished(result)
        return result

    def _within_bounds(self, kind: str, file: LinesFile, cp: Checkpoint, items: int, size: int) -> None:
        """Raise :class:`SyncLimitError` if a page of *items* and *size* bytes would pass a bound."""
        bounds: tuple[tuple[Literal["max_items", "max_bytes"], int, int], ...] = (
            ("max_items", self.max_items, cp.count + items),
            ("max_bytes", self.max_bytes, file.offset - cp.base + size),
        )
        for bound, limit, after in bounds:
            if after > limit:
                raise SyncLimitError(
                    kind, bound=bound, limit=limit, items=cp.count, file=str(file.path), remaining=(kind,)
                )

    async def _shipping(self) -> SyncResult:
        file = LinesFile(self.directory / "shipping.jsonl")
        self.progress.started("shipping", items=0, resumed=False)
        base = self.session.stats.retries
        resumes = 0
        while True:
            try:
                methods = await self.session.shipping_methods()
                break
            except RetryableError as exc:
                self.progress.progressed("shipping", items=0, total=None, retries=self._retries(base), resumes=resumes)
                await self._after_failure("shipping", exc, 0, resumes, file.path)
                resumes += 1
                self.progress.progressed("shipping", items=0, total=None, retries=self._retries(base), resumes=resumes)
        await written(file, file.replace_with, b"".join(line(m) for m in methods))
        result = SyncResult(
            kind="shipping", file=str(file.path), items=len(methods), retries=self._retries(base), resumes=resumes
        )
        self.progress.finished(result)
        return result


class _Walk:
    """One paged kind's run: its file, its checkpoint, and the page loop that feeds them.

    The loop body writes each page and makes it durable; the page loop's ``on_page``
    callback (:meth:`checkpoint`), which runs only once the body has finished with a
    page, stores the checkpoint that covers it. A page the body refused (past a bound)
    or failed to write is never checkpointed.
    """

    def __init__(self, job: SyncJob, kind: str, file: LinesFile, cp: Checkpoint, base: int) -> None:
        self.job = job
        self.kind = kind
        self.file = file
        self.cp = cp
        self.base = base
        self.resumes = 0
        self.total: int | None = None

    def report(self) -> None:
        """Tell the job's progress where the run stands."""
        self.job.progress.progressed(
            self.kind, items=self.cp.count, total=self.total, retries=self.job._retries(self.base), resumes=self.resumes
        )

    async def checkpoint(self, page: Page[Any], resume: Cursor | None) -> None:
        """Store the checkpoint after *page*, whose lines the loop body made durable."""
        from storelink.codec import cursor_to_str

        self.cp = evolve(
            self.cp,
            cursor=cursor_to_str(resume) if resume else None,
            offset=self.file.offset,
            count=self.cp.count + len(page.items),
            done=resume is None,
        )
        await self.job._save(self.kind, self.cp)
        self.total = page.total if page.total is not None and page.total >= self.cp.count else None
        self.report()

    async def stream(self) -> None:
        """Append the kind from the checkpoint to the end of its list; leave the final checkpoint stored."""
        from storelink.codec import cursor_from_str, encode_lines

        job, kind, file = self.job, self.kind, self.file
        options: dict[str, Any] = {"since": self.cp.since} if kind == "orders" else {}
        start = cursor_from_str(self.cp.cursor) if self.cp.cursor else None
        await written(file, file.open_at, self.cp.offset)
        try:
            await job._save(kind, self.cp)
            pages = job.session.pages(kind, start, resumes=0, on_page=self.checkpoint, **options)
            # Closed at once when a page is refused or cannot be written: its pages in flight are cancelled.
            async with aclosing(pages):
                async for page, _ in pages:
                    data = encode_lines(page.items)  # lines.line of each item, in one call
                    job._within_bounds(kind, file, self.cp, len(page.items), len(data))
                    await written(file, file.append, data)
        finally:
            file.close()
        if not self.cp.done:
            self.cp = evolve(self.cp, cursor=None, done=True)
            await job._save(kind, self.cp)
