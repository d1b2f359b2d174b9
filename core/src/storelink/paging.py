"""The page loop: the one way storelink walks a platform's list, for every platform.

A platform hook returns one :class:`~storelink.Page` at a time; :func:`iterate_pages`
turns such a hook into an async iterator of pages, and owns what every platform would
otherwise get subtly wrong:

- a guard against cursors that repeat or go backwards (a plugin bug that would loop
  forever), and a page limit, both raising :class:`~storelink.PluginError` naming the
  hook;
- given a *key* (an item's identity), a guard against a store that sends items it
  already sent, such as one whose ``totalResults`` lies and that answers every page
  past the end with the first page again: the walk stops with a
  :class:`~storelink.PlatformError` naming the page and its cursor, before that page
  reaches the caller (see :class:`PagingConfig` for the rules);
- bounded concurrency: when a page's next cursor is an :class:`~storelink.OffsetCursor`
  and the page reports the list's total, the remaining pages are fetched in parallel,
  at most ``concurrency`` at a time, and still yielded in order; at most that many
  pages are held in memory, whatever the length of the list;
- a checkpoint callback after each page the consumer has finished with, so a sync can
  resume from the last cursor it stored.

What happens when a page still fails after the HTTP layer's retries is the caller's
choice: :class:`~storelink.session.Session` and ``storelink sync`` resume from the last
finished page a bounded number of times, waiting :func:`resume_delay` in between.

A list hook builds its one page with the helpers below (exported from ``storelink``),
so that every platform reads cursors and decides "is there a next page?" the same way:
:func:`offset_start` and :func:`offset_page` (or :func:`next_offset`) for offset
paging, :func:`page_number_start` and :func:`numbered_page` for lists addressed by a
1-based page number (the cursor is still an :class:`~storelink.OffsetCursor` of whole
pages, so the core can read the rest in parallel), :func:`cursor_token` and
:func:`token_page` for opaque tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Iterable, Sequence
from contextlib import aclosing
from typing import Generic, TypeVar

from attrs import field, frozen
from attrs.validators import ge, instance_of

from storelink.errors import PlatformError, PluginError
from storelink.models import Cursor, OffsetCursor, Page, TokenCursor

__all__ = [
    "Fetch",
    "ItemKey",
    "OnPage",
    "PagingConfig",
    "cursor_token",
    "iterate_pages",
    "next_offset",
    "numbered_page",
    "offset_page",
    "offset_start",
    "page_number_start",
    "resume_delay",
    "token_page",
]

T = TypeVar("T")

#: Fetch one page starting at a cursor (``None``: the first page).
Fetch = Callable[[Cursor | None], Awaitable[Page[T]]]
#: Called with each finished page and the cursor to resume after it (``None``: done).
OnPage = Callable[[Page[T], Cursor | None], Awaitable[None]]
#: An item's identity in its list (a product's id; a SKU and location for a stock level).
ItemKey = Callable[[T], Hashable]

#: Repeated items tolerated in a walk, as a share of the items read, when above ``max_repeats``.
REPEAT_SHARE = 0.01


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
    :param max_repeats: Items a walk may read again before the store is taken to repeat
        itself (or 1 % of the items read, if that is more). A list that changes while it
        is read by offset repeats a few items honestly: an item added before the
        current offset pushes one already read onto the next page.
    :param repeat_window: How many of the latest item ids a walk remembers (between
        this many and twice as many), to spot an item read again. Ids are kept as
        8-byte digests, so memory stays bounded (at most about 17 MB by default) however long
        the list; a page repeating an earlier page's content is spotted at any distance,
        by a 16-byte fingerprint per page.
    """

    max_pages: int = field(default=100_000, validator=[instance_of(int), ge(1)])
    concurrency: int = field(default=4, validator=[instance_of(int), ge(1)])
    resumes: int = field(default=3, validator=[instance_of(int), ge(0)])
    resume_backoff: float = field(default=2.0, converter=float, validator=ge(0.0))
    resume_backoff_cap: float = field(default=60.0, converter=float, validator=ge(0.0))
    max_repeats: int = field(default=1_000, validator=[instance_of(int), ge(0)])
    repeat_window: int = field(default=100_000, validator=[instance_of(int), ge(1)])


def resume_delay(config: PagingConfig, resumed: int, retry_after: float | None = None) -> float:
    """Return the seconds to wait before resume number *resumed* + 1 of a failed read.

    ``resume_backoff * 2**resumed``, at most ``resume_backoff_cap``; never shorter than
    the *retry_after* the store asked for in the failure that stopped the read.
    """
    delay = min(config.resume_backoff_cap, config.resume_backoff * 2.0**resumed)
    return max(delay, retry_after or 0.0)


# --------------------------------------------------------------------------- building one page


def offset_start(cursor: Cursor | None, limit: int, *, platform: str, hook: str) -> OffsetCursor:
    """Return where an offset-paged list hook starts: *cursor*, or offset 0 and *limit* for the first page.

    :param cursor: The cursor the hook received.
    :param limit: The page size of the first page.
    :param platform: The platform slug, for the error.
    :param hook: The hook, for the error.
    :raises PluginError: *cursor* is not an :class:`~storelink.OffsetCursor` (another
        platform's, or a token cursor given back to an offset list).
    """
    if cursor is None:
        return OffsetCursor(offset=0, limit=limit)
    if isinstance(cursor, OffsetCursor):
        return cursor
    raise PluginError(f"{platform} pages by offset; got {type(cursor).__name__}", plugin=platform, hook=hook)


def _count(value: object) -> int | None:
    """*value* if it is a count (an int of 0 or more, not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def next_offset(
    start: OffsetCursor, count: int, *, total: int | None = None, limit: int | None = None
) -> OffsetCursor | None:
    """Return the cursor of the page after the one read at *start*, or ``None`` after the last.

    The next page starts after the *count* records the platform returned. There is one
    while *total* says more remain, or, with no total, while pages come back full. A
    platform that clamps the page size answers with a smaller *limit*, which the next
    cursor keeps.

    :param start: Where this page was read.
    :param count: How many records the platform returned (before mapping).
    :param total: The list's length as the platform reports it; anything but an int
        of 0 or more is taken as unknown.
    :param limit: The page size the platform says it used; ignored unless it is an
        int between 1 and ``start.limit``.
    """
    known = _count(total)
    size = start.limit
    echoed = _count(limit)
    if echoed is not None and 0 < echoed < size:
        size = echoed
    end = start.offset + count
    more = count > 0 and (end < known if known is not None else count >= size)
    return OffsetCursor(offset=end, limit=size) if more else None


def offset_page(
    items: Sequence[T],
    start: OffsetCursor,
    *,
    count: int | None = None,
    total: int | None = None,
    limit: int | None = None,
) -> Page[T]:
    """Return one page of an offset-paged list, with the cursor of the next (see :func:`next_offset`).

    :param items: The page's models.
    :param start: Where this page was read.
    :param count: How many records the platform returned, when it differs from
        ``len(items)`` (one record mapped to several models, or to none).
    :param total: The list's length as the platform reports it (``Page.total``, which
        lets the core read the remaining pages in parallel); not a count: unknown.
    :param limit: The page size the platform says it used.
    """
    returned = len(items) if count is None else count
    following = next_offset(start, returned, total=total, limit=limit)
    return Page(items=items, next=following, total=_count(total))


def page_number_start(cursor: Cursor | None, per_page: int, *, platform: str, hook: str) -> tuple[int, int]:
    """Return the 1-based page number and page size a page-numbered list hook reads for *cursor*.

    Page-numbered lists (``?page=3&per_page=100``) use :class:`~storelink.OffsetCursor`
    cursors of whole pages: offset ``(page - 1) * per_page``.

    :param cursor: The cursor the hook received (``None``: page 1 of *per_page*).
    :param per_page: The page size of the first page, and the largest the list accepts.
    :param platform: The platform slug, for the error.
    :param hook: The hook, for the error.
    :raises PluginError: *cursor* is not an offset cursor of whole pages of at most
        *per_page* records.
    """
    if cursor is None:
        return 1, per_page
    if isinstance(cursor, OffsetCursor) and cursor.limit <= per_page and cursor.offset % cursor.limit == 0:
        return cursor.offset // cursor.limit + 1, cursor.limit
    raise PluginError(
        f"{platform} pages by page number; got {cursor!r} (offsets must be whole pages of at most {per_page})",
        plugin=platform,
        hook=hook,
    )


def numbered_page(
    items: Sequence[T],
    *,
    page: int,
    per_page: int,
    count: int | None = None,
    total_pages: int | None = None,
    total: int | None = None,
) -> Page[T]:
    """Return page *page* of a page-numbered list, with the cursor of the next.

    There is a next page while *total_pages* says so, or, with no page count, while
    pages come back full.

    :param items: The page's models.
    :param page: The 1-based number of this page.
    :param per_page: The page size it was read with.
    :param count: How many records the platform returned, when it differs from
        ``len(items)``.
    :param total_pages: The number of pages as the platform reports it; anything but
        an int of 0 or more is taken as unknown.
    :param total: The list's length as the platform reports it (``Page.total``).
    """
    returned = len(items) if count is None else count
    pages = _count(total_pages)
    more = returned > 0 and (page < pages if pages is not None else returned >= per_page)
    following = OffsetCursor(offset=page * per_page, limit=per_page) if more else None
    return Page(items=items, next=following, total=_count(total))


def cursor_token(cursor: Cursor | None, *, platform: str, hook: str) -> str | None:
    """Return the token a token-paged list hook sends for *cursor* (``None``: the first page).

    :raises PluginError: *cursor* is not a :class:`~storelink.TokenCursor`.
    """
    if cursor is None:
        return None
    if isinstance(cursor, TokenCursor):
        return cursor.token
    raise PluginError(f"{platform} pages by token; got {type(cursor).__name__}", plugin=platform, hook=hook)


def token_page(items: Iterable[T], token: str | None, *, total: int | None = None) -> Page[T]:
    """Return one page of a token-paged list; an empty or missing *token* ends the list.

    :param items: The page's models.
    :param token: The platform's token for the next page.
    :param total: The list's length, when the platform reports it.
    """
    return Page(items=items, next=TokenCursor(token=token) if token else None, total=_count(total))


# --------------------------------------------------------------------------- the loop


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

    def rewind(self, offset: int) -> None:
        """Forget the offsets checked past *offset*: pages scheduled there were never read."""
        self._seen = {c for c in self._seen if not (isinstance(c, OffsetCursor) and c.offset > offset)}
        self._offset = offset

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


_BLAKE2B_8 = hashlib.blake2b(digest_size=8)


def _digest(key: Hashable) -> bytes:
    # Copying a ready empty state is cheaper than building one with its parameters each time.
    state = _BLAKE2B_8.copy()
    state.update(repr(key).encode())
    return state.digest()


def _short(key: Hashable) -> str:
    text = repr(key)
    return text if len(text) <= 80 else f"{text[:77]}..."


class _Repeats(Generic[T]):
    """Refuse a walk whose store sends items it already sent.

    The rules, checked on every page before the caller sees it:

    - a page of two or more items with the same items, in the same order, as an
      earlier page of the walk (a 16-byte fingerprint per page, kept for the whole walk);
    - a page of two or more items that were all read before (within the id window);
    - more items read again than ``max_repeats``, or than 1 % of the items read if that
      is more (single-item pages and pages that repeat only a few items count here).
    """

    def __init__(self, key: ItemKey[T], plugin: str, hook: str, config: PagingConfig) -> None:
        self.key = key
        self.plugin = plugin
        self.hook = hook
        self.max_repeats = config.max_repeats
        self.window = config.repeat_window
        self._recent: set[bytes] = set()
        self._older: set[bytes] = set()
        self._pages: dict[bytes, int] = {}
        self.pages = 0
        self.items = 0
        self.repeats = 0

    def _fail(self, at: Cursor | None, problem: str) -> PlatformError:
        error = PlatformError(
            f"the store repeated items: page {self.pages} of the read (cursor {at!r}) {problem}; it stopped there, "
            f"after {self.items:,} items, so as not to read the same items again",
            platform=self.plugin,
            operation=self.hook,
        )
        error.action = "check the store's list: it answers pages with items it already sent"
        return error

    def _remember(self, digests: list[bytes]) -> None:
        if len(self._recent) + len(digests) <= self.window:  # no rotation within the page: one C call
            self._recent.update(digests)
            return
        for digest in digests:
            if len(self._recent) >= self.window:
                self._older, self._recent = self._recent, set()
            self._recent.add(digest)

    def check(self, page: Page[T], at: Cursor | None) -> None:
        """Count *page*, fetched at cursor *at*; raise if its store repeats itself."""
        self.pages += 1
        if not page.items:
            return
        keys = list(map(self.key, page.items))
        digests = list(map(_digest, keys))
        recent, older = self._recent, self._older
        if recent.isdisjoint(digests) and older.isdisjoint(digests):  # the usual page: nothing read before
            again: list[int] = []
        else:
            again = [i for i, d in enumerate(digests) if d in recent or d in older]
        if len(keys) > 1:
            fingerprint = hashlib.blake2b(b"".join(digests), digest_size=16).digest()
            earlier = self._pages.get(fingerprint)
            if earlier is not None:
                raise self._fail(at, f"holds the same {len(keys)} items as page {earlier} (first {_short(keys[0])})")
            if len(again) == len(keys):
                raise self._fail(at, f"holds only items already read ({len(keys)}, first {_short(keys[0])})")
            self._pages[fingerprint] = self.pages
        repeats = self.repeats + len(again)
        allowed = max(self.max_repeats, int(REPEAT_SHARE * (self.items + len(keys))))
        if repeats > allowed:
            raise self._fail(
                at,
                f"brings the items read again to {repeats:,}, more than the {allowed:,} a changing list explains "
                f"(this page repeats {_short(keys[again[0]])})",
            )
        self.repeats = repeats
        self.items += len(keys)
        self._remember(digests)


async def iterate_pages(
    fetch: Fetch[T],
    *,
    plugin: str,
    hook: str,
    start: Cursor | None = None,
    config: PagingConfig | None = None,
    on_page: OnPage[T] | None = None,
    key: ItemKey[T] | None = None,
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
    :param key: Returns an item's identity; with it, a store that sends items it
        already sent is refused (``None``: items are not checked).
    :raises PluginError: The cursors repeat or go backwards, parallel pages disagree
        with their offsets, or the walk passes the page limit.
    :raises PlatformError: The store sent items it already sent in this walk (only
        with *key*); the page that showed it is not yielded.
    """
    config = config or PagingConfig()
    guard = _Guard(plugin, hook, config.max_pages)
    repeats = _Repeats(key, plugin, hook, config) if key is not None else None
    guard.check(start)
    cursor = start
    while True:
        guard.count()
        page = await fetch(cursor)
        guard.check(page.next)
        if repeats is not None:
            repeats.check(page, cursor)
        cursor = page.next
        yield page, cursor
        if on_page is not None:
            await on_page(page, cursor)
        if isinstance(cursor, OffsetCursor) and page.total is not None and config.concurrency > 1:
            async with aclosing(_parallel(fetch, guard, cursor, page.total, config.concurrency)) as later_pages:
                async for later, resume in later_pages:
                    if repeats is not None:
                        repeats.check(later, cursor)  # pages follow each other: fetched at the last resume
                    yield later, resume
                    if on_page is not None:
                        await on_page(later, resume)
                    cursor = resume
        if cursor is None:
            return


def _shrank(page: Page[T], cursor: OffsetCursor) -> bool:
    """Whether *page* is short and says the next page starts right after its items."""
    after = page.next
    return (
        isinstance(after, OffsetCursor)
        and after.limit == cursor.limit
        and len(page.items) < cursor.limit
        and after.offset == cursor.offset + len(page.items)
    )


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
            if _shrank(page, cursor):
                # A short page before the total: the list shrank while it was read (or the
                # store reports more than it has). The pages scheduled past it are dropped
                # and the caller walks on from page.next, one page at a time.
                guard.rewind(cursor.offset)
                guard.check(page.next)
                yield page, page.next
                return
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
