"""The page loop: the one way storelink walks a platform's list, for every platform.

A platform hook returns one :class:`~storelink.Page` at a time; :func:`iterate_pages`
turns such a hook into an async iterator of pages, and owns what every platform would
otherwise get subtly wrong:

- a guard against cursors that repeat or go backwards (a plugin bug that would loop
  forever), and a page limit, both raising :class:`~storelink.PluginError` naming the
  hook;
- bounded concurrency: when a page's next cursor is an :class:`~storelink.OffsetCursor`
  and the page reports the list's total, the remaining pages are fetched in parallel,
  at most ``concurrency`` at a time, and still yielded in order; at most that many
  pages are held in memory, whatever the length of the list;
- a checkpoint callback after each page the consumer has finished with, so a sync can
  resume from the last cursor it stored.

What happens when a page still fails after the HTTP layer's retries is the caller's
choice: :class:`~storelink.session.Session` and ``storelink sync`` resume from the last
finished page a bounded number of times, waiting :func:`resume_delay` in between.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

from attrs import field, frozen
from attrs.validators import ge, instance_of

from storelink.errors import PluginError
from storelink.models import Cursor, OffsetCursor, Page

__all__ = ["Fetch", "OnPage", "PagingConfig", "iterate_pages", "resume_delay"]

T = TypeVar("T")

#: Fetch one page starting at a cursor (``None``: the first page).
Fetch = Callable[[Cursor | None], Awaitable[Page[T]]]
#: Called with each finished page and the cursor to resume after it (``None``: done).
OnPage = Callable[[Page[T], Cursor | None], Awaitable[None]]


@frozen(kw_only=True)
class PagingConfig:
    """Limits of the page loop.

    :param max_pages: More pages than this from one walk is taken for a plugin bug.
    :param concurrency: Offset pages with a known total fetched at once (1: one by one).
    :param resumes: Times a read whose page failed beyond the HTTP retries starts again
        from its last finished page, by itself, before it gives up (0: never).
    :param resume_backoff: Seconds before the first resume; each later one waits twice
        as long as the one before.
    :param resume_backoff_cap: No wait between resumes is longer than this.
    """

    max_pages: int = field(default=100_000, validator=[instance_of(int), ge(1)])
    concurrency: int = field(default=4, validator=[instance_of(int), ge(1)])
    resumes: int = field(default=3, validator=[instance_of(int), ge(0)])
    resume_backoff: float = field(default=2.0, converter=float, validator=ge(0.0))
    resume_backoff_cap: float = field(default=60.0, converter=float, validator=ge(0.0))


def resume_delay(config: PagingConfig, resumed: int, retry_after: float | None = None) -> float:
    """Return the seconds to wait before resume number *resumed* + 1 of a failed read.

    ``resume_backoff * 2**resumed``, at most ``resume_backoff_cap``; never shorter than
    the *retry_after* the store asked for in the failure that stopped the read.
    """
    delay = min(config.resume_backoff_cap, config.resume_backoff * 2.0**resumed)
    return max(delay, retry_after or 0.0)


class _Guard:
    """Refuse a walk whose cursors repeat, go backwards or never end."""

    def __init__(self, plugin: str, hook: str, max_pages: int) -> None:
        self.plugin = plugin
        self.hook = hook
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[Cursor] = set()
        self._offset = -1

    def fail(self, problem: str) -> PluginError:
        return PluginError(problem, plugin=self.plugin, hook=self.hook)

    def count(self) -> None:
        self.pages += 1
        if self.pages > self.max_pages:
            raise self.fail(f"returned more than {self.max_pages} pages; its cursors never end")

    def check(self, cursor: Cursor | None) -> None:
        if cursor is None:
            return
        if cursor in self._seen:
            raise self.fail(f"returned the cursor {cursor!r} twice; the walk would never end")
        if isinstance(cursor, OffsetCursor):
            if cursor.offset <= self._offset:
                raise self.fail(f"returned offset {cursor.offset} after offset {self._offset}; offsets must grow")
            self._offset = cursor.offset
        self._seen.add(cursor)


async def iterate_pages(
    fetch: Fetch[T],
    *,
    plugin: str,
    hook: str,
    start: Cursor | None = None,
    config: PagingConfig | None = None,
    on_page: OnPage[T] | None = None,
) -> AsyncGenerator[tuple[Page[T], Cursor | None], None]:
    """Walk a list page by page, yielding ``(page, resume_cursor)`` in list order.

    ``resume_cursor`` is where a later walk continues after this page (pass it as
    *start*), ``None`` after the last page.

    :param fetch: Fetches the page at a cursor (the platform hook, bound to a context).
    :param plugin: The platform slug, for errors.
    :param hook: The hook behind *fetch*, for errors.
    :param start: Resume from this cursor; ``None`` starts at the beginning.
    :param config: Page limit and concurrency; :class:`PagingConfig` defaults if ``None``.
    :param on_page: Awaited with each page and its resume cursor once the consumer
        asks for the page after it, so a checkpoint only covers finished pages.
    :raises PluginError: The cursors repeat or go backwards, parallel pages disagree
        with their offsets, or the walk passes the page limit.
    """
    config = config or PagingConfig()
    guard = _Guard(plugin, hook, config.max_pages)
    guard.check(start)
    cursor = start
    while True:
        guard.count()
        page = await fetch(cursor)
        guard.check(page.next)
        cursor = page.next
        yield page, cursor
        if on_page is not None:
            await on_page(page, cursor)
        if isinstance(cursor, OffsetCursor) and page.total is not None and config.concurrency > 1:
            async with aclosing(_parallel(fetch, guard, cursor, page.total, config.concurrency)) as later_pages:
                async for later, resume in later_pages:
                    yield later, resume
                    if on_page is not None:
                        await on_page(later, resume)
                    cursor = resume
        if cursor is None:
            return


async def _parallel(
    fetch: Fetch[T], guard: _Guard, first: OffsetCursor, total: int, window: int
) -> AsyncGenerator[tuple[Page[T], Cursor | None], None]:
    """Fetch the offsets from *first* up to *total*, *window* at a time, yielding in order."""
    limit = first.limit
    offsets = iter(range(first.offset, total, limit))
    pending: deque[tuple[OffsetCursor, asyncio.Task[Page[T]]]] = deque()

    def schedule() -> None:
        for offset in offsets:
            guard.count()
            cursor = OffsetCursor(offset=offset, limit=limit)
            if cursor != first:  # the caller checked the first one
                guard.check(cursor)
            pending.append((cursor, asyncio.ensure_future(fetch(cursor))))
            if len(pending) >= window:
                return

    try:
        schedule()
        while pending:
            cursor, task = pending.popleft()
            page = await task
            planned = OffsetCursor(offset=cursor.offset + limit, limit=limit)
            if page.next is None or (planned.offset >= total and page.next == planned):
                # The list ended here (it may have shrunk), or it grew past the total
                # the first page reported: the caller walks on from page.next.
                yield page, page.next
                return
            if page.next != planned:
                raise guard.fail(
                    f"the page at offset {cursor.offset} says the next is {page.next!r}, expected {planned!r}; "
                    "offset pages with a total must follow each other"
                )
            schedule()
            yield page, planned
    finally:
        for _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
