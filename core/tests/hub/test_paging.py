"""storelink.paging: the one page loop (guards, limits, bounded parallel offset pages)."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import Cursor, OffsetCursor, Page, PlatformError, PluginError, TokenCursor
from storelink.paging import Fetch, PagingConfig, iterate_pages


class FakeList:
    """A platform list of *n* integers, paged by offset (with a total) or by token."""

    def __init__(self, n: int, *, limit: int = 10, tokens: bool = False, seed: int = 0, total: bool = True) -> None:
        self.items = list(range(n))
        self.limit = limit
        self.tokens = tokens
        self.report_total = total
        self.rng = random.Random(seed)
        self.calls: list[Cursor | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0

    def start_of(self, cursor: Cursor | None) -> tuple[int, int]:
        if cursor is None:
            return 0, self.limit
        if isinstance(cursor, TokenCursor):
            return int(cursor.token), self.limit
        return cursor.offset, cursor.limit

    def next_of(self, end: int, limit: int) -> Cursor | None:
        if end >= len(self.items):
            return None
        return TokenCursor(token=str(end)) if self.tokens else OffsetCursor(offset=end, limit=limit)

    async def fetch(self, cursor: Cursor | None) -> Page[int]:
        self.calls.append(cursor)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.rng.randrange(6)):  # completes out of order, no real sleep
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        start, limit = self.start_of(cursor)
        end = start + limit
        total = len(self.items) if self.report_total and not self.tokens else None
        return Page(items=self.items[start:end], next=self.next_of(end, limit), total=total)


async def walk(fake: FakeList, **kwargs: object) -> list[tuple[Page[int], Cursor | None]]:
    return [item async for item in iterate_pages(fake.fetch, plugin="fake", hook="fetch_products", **kwargs)]  # type: ignore[arg-type]


def flat(pages: list[tuple[Page[int], Cursor | None]]) -> list[int]:
    return [i for page, _ in pages for i in page.items]


async def test_token_pages_are_walked_in_order() -> None:
    fake = FakeList(35, tokens=True)
    pages = await walk(fake)
    assert flat(pages) == list(range(35))
    assert [r for _, r in pages] == [TokenCursor(token="10"), TokenCursor(token="20"), TokenCursor(token="30"), None]
    assert fake.max_in_flight == 1


async def test_offset_pages_with_a_total_are_fetched_in_parallel_and_yielded_in_order() -> None:
    fake = FakeList(1000, limit=10, seed=3)
    pages = await walk(fake, config=PagingConfig(concurrency=4))
    assert flat(pages) == list(range(1000))
    assert len(fake.calls) == 100
    assert fake.max_in_flight == 4
    assert pages[-1][1] is None
    assert [r for _, r in pages[:2]] == [OffsetCursor(offset=10, limit=10), OffsetCursor(offset=20, limit=10)]


async def test_parallel_walk_holds_at_most_the_window_of_pages() -> None:
    fake = FakeList(500, limit=5, seed=9)
    finished_ahead = 0
    consumed = 0
    async for page, _ in iterate_pages(
        fake.fetch, plugin="fake", hook="fetch_products", config=PagingConfig(concurrency=3)
    ):
        consumed += len(page.items)
        fetched = len(fake.calls) * 5
        finished_ahead = max(finished_ahead, fetched - consumed)
    assert consumed == 500
    assert finished_ahead <= 3 * 5


async def test_offset_pages_without_a_total_go_one_by_one() -> None:
    fake = FakeList(95, limit=10, total=False)
    pages = await walk(fake, config=PagingConfig(concurrency=8))
    assert flat(pages) == list(range(95))
    assert fake.max_in_flight == 1


async def test_concurrency_one_is_sequential() -> None:
    fake = FakeList(95, limit=10)
    assert flat(await walk(fake, config=PagingConfig(concurrency=1))) == list(range(95))
    assert fake.max_in_flight == 1


async def test_an_empty_list_is_one_empty_page() -> None:
    fake = FakeList(0)
    pages = await walk(fake)
    assert [(p.items, r) for p, r in pages] == [((), None)]


async def test_a_repeated_token_is_refused_naming_the_hook() -> None:
    async def fetch(cursor: Cursor | None) -> Page[int]:
        return Page(items=(1,), next=TokenCursor(token="a" if cursor is None else "b" if cursor.token == "a" else "a"))  # type: ignore[union-attr]

    with pytest.raises(PluginError, match=r"plugin 'fake', hook 'fetch_products': returned the cursor .* twice"):
        [x async for x in iterate_pages(fetch, plugin="fake", hook="fetch_products")]


async def test_an_offset_that_goes_backwards_is_refused() -> None:
    async def fetch(cursor: Cursor | None) -> Page[int]:
        offset = 0 if cursor is None else cursor.offset  # type: ignore[union-attr]
        return Page(items=(offset,), next=OffsetCursor(offset=max(0, 20 - offset), limit=10))

    with pytest.raises(PluginError, match="hook 'fetch_orders': returned offset 0 after offset 20; offsets must grow"):
        [x async for x in iterate_pages(fetch, plugin="fake", hook="fetch_orders")]


async def test_the_page_limit_stops_an_endless_walk() -> None:
    async def fetch(cursor: Cursor | None) -> Page[int]:
        n = 0 if cursor is None else int(cursor.token)  # type: ignore[union-attr]
        return Page(items=(n,), next=TokenCursor(token=str(n + 1)))

    with pytest.raises(PluginError, match="returned more than 50 pages"):
        [x async for x in iterate_pages(fetch, plugin="fake", hook="fetch_products", config=PagingConfig(max_pages=50))]


async def test_the_page_limit_counts_parallel_pages() -> None:
    fake = FakeList(1000, limit=10)
    with pytest.raises(PluginError, match="returned more than 20 pages"):
        await walk(fake, config=PagingConfig(max_pages=20))
    assert len(fake.calls) <= 20


async def test_a_parallel_page_that_disagrees_with_its_offset_is_refused() -> None:
    async def fetch(cursor: Cursor | None) -> Page[int]:
        offset = 0 if cursor is None else cursor.offset  # type: ignore[union-attr]
        step = 7 if offset == 30 else 10  # the platform capped this page's limit
        return Page(items=(offset,), next=OffsetCursor(offset=offset + step, limit=10), total=100)

    with pytest.raises(PluginError, match="the page at offset 30 says the next is"):
        [x async for x in iterate_pages(fetch, plugin="fake", hook="fetch_products")]


async def test_a_list_that_shrinks_during_the_walk_ends_early() -> None:
    fake = FakeList(100, limit=10)
    seen: list[int] = []
    async for page, _ in iterate_pages(fake.fetch, plugin="fake", hook="fetch_products"):
        seen.extend(page.items)
        if len(seen) == 10:
            del fake.items[45:]
    assert seen == list(range(45))


async def test_a_list_that_grows_during_the_walk_is_read_to_its_new_end() -> None:
    fake = FakeList(40, limit=10)
    seen: list[int] = []
    async for page, _ in iterate_pages(fake.fetch, plugin="fake", hook="fetch_products"):
        seen.extend(page.items)
        if len(seen) == 10:
            fake.items.extend(range(40, 65))
    assert seen == list(range(65))


async def test_on_page_runs_after_the_consumer_finished_each_page() -> None:
    fake = FakeList(30, tokens=True)
    log: list[str] = []

    async def checkpoint(page: Page[int], resume: Cursor | None) -> None:
        log.append(f"checkpoint {page.items[0]} -> {resume}")

    async for page, _ in iterate_pages(fake.fetch, plugin="fake", hook="fetch_products", on_page=checkpoint):
        log.append(f"consumed {page.items[0]}")
    assert log == [
        "consumed 0",
        f"checkpoint 0 -> {TokenCursor(token='10')}",
        "consumed 10",
        f"checkpoint 10 -> {TokenCursor(token='20')}",
        "consumed 20",
        "checkpoint 20 -> None",
    ]


async def test_breaking_out_cancels_the_pages_in_flight() -> None:
    fake = FakeList(1000, limit=10, seed=1)
    never = asyncio.Event()
    blocked = 0

    async def fetch(cursor: Cursor | None) -> Page[int]:
        nonlocal blocked
        if isinstance(cursor, OffsetCursor) and cursor.offset >= 40:
            blocked += 1
            try:
                await never.wait()
            except asyncio.CancelledError:
                fake.cancelled += 1
                raise
        return await fake.fetch(cursor)

    pages = iterate_pages(fetch, plugin="fake", hook="fetch_products", config=PagingConfig(concurrency=4))
    async for page, _ in pages:
        if page.items[0] == 30:
            break
    async with asyncio.timeout(5):
        await pages.aclose()
    assert blocked >= 1
    assert fake.cancelled == blocked
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_failing_page_propagates_and_stops_the_others() -> None:
    fake = FakeList(1000, limit=10, seed=5)

    async def fetch(cursor: Cursor | None) -> Page[int]:
        if isinstance(cursor, OffsetCursor) and cursor.offset == 200:
            raise RuntimeError("boom")
        return await fake.fetch(cursor)

    seen: list[int] = []

    async def consume() -> None:
        async for page, _ in iterate_pages(fetch, plugin="fake", hook="fetch_products"):
            seen.extend(page.items)

    with pytest.raises(RuntimeError, match="boom"):
        await consume()
    assert seen == list(range(200))
    assert fake.in_flight == 0
    assert len(fake.calls) <= 20 + 4


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    limit=st.integers(1, 15),
    concurrency=st.integers(1, 5),
    tokens=st.booleans(),
    stop=st.integers(0, 20),
    seed=st.integers(0, 1000),
)
def test_resuming_from_the_last_checkpoint_reads_the_rest_exactly_once(
    n: int, limit: int, concurrency: int, tokens: bool, stop: int, seed: int
) -> None:
    """Walk, stop after *stop* pages keeping the checkpoints, resume: every item once, in order."""

    async def scenario() -> list[int]:
        fake = FakeList(n, limit=limit, tokens=tokens, seed=seed)
        config = PagingConfig(concurrency=concurrency)
        saved: list[Cursor | None] = []
        got: list[int] = []

        async def checkpoint(_page: Page[int], resume: Cursor | None) -> None:
            saved.append(resume)

        first = iterate_pages(fake.fetch, plugin="fake", hook="h", config=config, on_page=checkpoint)
        async for page, _ in first:
            if len(saved) == stop:
                break
            got.extend(page.items)
        await first.aclose()
        if saved and saved[-1] is None:
            return got
        start = saved[-1] if saved else None
        async for page, _ in iterate_pages(fake.fetch, plugin="fake", hook="h", config=config, start=start):
            got.extend(page.items)
        return got

    assert asyncio.run(scenario()) == list(range(n))


# ---------------------------------------------------------------------- stores that repeat items


class LyingList(FakeList):
    """A list of *n* items whose store claims *claimed* items and answers past its end with *replay*."""

    def __init__(self, n: int, *, claimed: int = 10**9, replay: slice = slice(0, 10), **kwargs: object) -> None:
        super().__init__(n, **kwargs)  # type: ignore[arg-type]
        self.claimed = claimed
        self.replay = replay

    async def fetch(self, cursor: Cursor | None) -> Page[int]:
        page = await super().fetch(cursor)
        start, limit = self.start_of(cursor)
        items = page.items if start < len(self.items) else tuple(self.items[self.replay])
        following = start + limit
        upcoming = TokenCursor(token=str(following)) if self.tokens else OffsetCursor(offset=following, limit=limit)
        return Page(items=items, next=upcoming, total=None if self.tokens else self.claimed)


async def _collect(
    fetch: Fetch[int], seen: list[int], config: PagingConfig | None = None, *, checked: bool = True
) -> None:
    """Walk *fetch* into *seen*, checking items for repeats unless *checked* is false."""
    key = (lambda item: item) if checked else None
    async for page, _ in iterate_pages(fetch, plugin="fake", hook="fetch_products", config=config, key=key):
        seen.extend(page.items)


async def _read(fake: FakeList, config: PagingConfig | None = None) -> list[int]:
    seen: list[int] = []
    await _collect(fake.fetch, seen, config)
    return seen


async def test_a_store_answering_past_its_end_with_the_first_page_is_stopped_within_a_few_pages() -> None:
    """The lying store of issue 18: totalResults 10^9, every page past the end is page 1 again."""
    fake = LyingList(35, limit=10, seed=2)
    with pytest.raises(PlatformError) as caught:
        await _read(fake)
    message = str(caught.value)
    assert message.startswith("fake fetch_products: the store repeated items: page 5 of the read")
    assert f"(cursor {OffsetCursor(offset=40, limit=10)!r}) holds the same 10 items as page 1" in message
    assert "after 35 items" in message
    assert caught.value.platform == "fake"
    assert caught.value.operation == "fetch_products"
    assert caught.value.action.startswith("check the store's list")
    assert len(fake.calls) <= 5 + 4  # the bad page, and at most one window in flight
    assert fake.in_flight == 0


async def test_the_page_that_repeats_is_never_yielded() -> None:
    fake = LyingList(35, limit=10, seed=4)
    seen: list[int] = []
    with pytest.raises(PlatformError, match="the store repeated items"):
        await _collect(fake.fetch, seen)
    assert seen == list(range(35))


async def test_a_token_store_that_replays_a_page_is_stopped() -> None:
    fake = LyingList(30, limit=10, tokens=True, replay=slice(10, 20))
    with pytest.raises(PlatformError, match=r"page 4 of the read \(cursor TokenCursor\(token='30'\)\) holds the same"):
        await _read(fake)
    assert len(fake.calls) == 4


async def test_a_page_of_items_already_read_in_another_order_is_stopped() -> None:
    fake = LyingList(40, limit=10, tokens=True, replay=slice(25, 5, -2))
    with pytest.raises(PlatformError, match=r"page 5 .* holds only items already read \(10, first 25\)"):
        await _read(fake)


async def test_pages_that_mostly_repeat_are_stopped_once_the_repeats_pass_the_limit() -> None:
    """One new item and nine old ones a page: refused when the items read again pass ``max_repeats``."""
    state = {"next": 20}

    async def fetch(cursor: Cursor | None) -> Page[int]:
        n = 0 if cursor is None else int(cursor.token)  # type: ignore[union-attr]
        if n < 20:
            return Page(items=tuple(range(n, n + 10)), next=TokenCursor(token=str(n + 10)))
        state["next"] += 1
        return Page(items=(state["next"], *range(n % 10, n % 10 + 9)), next=TokenCursor(token=str(n + 10)))

    seen: list[int] = []
    with pytest.raises(PlatformError, match=r"brings the items read again to 36, more than the 30 a changing list"):
        await _collect(fetch, seen, PagingConfig(max_repeats=30))
    assert len(seen) == 5 * 10  # 2 honest pages, then 3 with 9 repeats each; the 4th would pass 30


async def test_a_list_that_shifts_while_it_is_read_is_read_to_the_end() -> None:
    """Items added at the front during an offset walk repeat one item a page: tolerated."""
    fake = FakeList(200, limit=10)
    seen: list[int] = []
    async for page, _ in iterate_pages(
        fake.fetch, plugin="fake", hook="h", config=PagingConfig(concurrency=1), key=lambda item: item
    ):
        seen.extend(page.items)
        fake.items.insert(0, -len(seen))  # a new item before the offset: the last one shifts onto the next page
    assert set(range(200)) <= set(seen)
    assert len(seen) - len(set(seen)) > 10


async def test_a_replay_beyond_the_id_window_is_still_caught_by_its_fingerprint() -> None:
    fake = LyingList(500, limit=10, replay=slice(0, 10))
    with pytest.raises(PlatformError, match="holds the same 10 items as page 1"):
        await _read(fake, PagingConfig(repeat_window=20))


async def test_items_read_again_are_counted_across_a_rotation_of_the_id_window() -> None:
    """Pages that fit the window are remembered at once, one that passes it item by item: both are checked."""

    async def fetch(cursor: Cursor | None) -> Page[int]:
        n = 0 if cursor is None else int(cursor.token)  # type: ignore[union-attr]
        items = tuple(range(n, n + 10)) if n < 30 else (0, 1, 2, 3, *range(100, 106))
        return Page(items=items, next=TokenCursor(token=str(n + 10)))

    seen: list[int] = []
    with pytest.raises(PlatformError, match=r"brings the items read again to 4, more than the 3 .* repeats 0\)"):
        await _collect(fetch, seen, PagingConfig(max_repeats=3, repeat_window=25))
    assert seen == list(range(30))  # the window (25) rotated inside page 3; page 1's ids were still remembered


async def test_without_a_key_items_are_not_checked() -> None:
    fake = LyingList(20, limit=10, tokens=True)
    seen: list[int] = []
    with pytest.raises(PluginError, match="returned more than 8 pages"):
        await _collect(fake.fetch, seen, PagingConfig(max_pages=8), checked=False)
    assert len(seen) == 80


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 300),
    limit=st.integers(1, 15),
    concurrency=st.integers(1, 5),
    tokens=st.booleans(),
    window=st.integers(1, 50),
    seed=st.integers(0, 1000),
)
def test_an_honest_list_is_never_taken_for_a_repeating_store(
    n: int, limit: int, concurrency: int, tokens: bool, window: int, seed: int
) -> None:
    fake = FakeList(n, limit=limit, tokens=tokens, seed=seed)
    config = PagingConfig(concurrency=concurrency, repeat_window=window, max_repeats=0)
    assert asyncio.run(_read(fake, config)) == list(range(n))


class ShortPagesList(FakeList):
    """A list whose store reports *claimed* items but holds fewer; the plugin's next cursor
    starts right after the items a page holds. Past its end the store answers *replay*
    (a lying store) or nothing (a list that shrank after its first page was read)."""

    def __init__(self, n: int, *, claimed: int, replay: slice | None = None, **kwargs: object) -> None:
        super().__init__(n, **kwargs)  # type: ignore[arg-type]
        self.claimed = claimed
        self.replay = replay

    async def fetch(self, cursor: Cursor | None) -> Page[int]:
        page = await super().fetch(cursor)
        start, limit = self.start_of(cursor)
        items = page.items
        if start >= len(self.items) and self.replay is not None:
            items = tuple(self.items[self.replay])
        upcoming = OffsetCursor(offset=start + len(items), limit=limit) if items else None
        return Page(items=items, next=upcoming, total=self.claimed)


async def test_a_list_that_shrank_after_its_first_page_is_read_to_its_new_end() -> None:
    """A short page before the reported total is the list shrinking, not a plugin fault."""
    fake = ShortPagesList(75, claimed=100, seed=5)
    assert await _read(fake, PagingConfig(concurrency=4)) == list(range(75))
    assert fake.in_flight == 0


async def test_a_lying_store_whose_last_page_is_short_is_blamed_not_the_plugin() -> None:
    """Issue 18: totalResults 10^9, a short last page, then page 1 again: a store error."""
    fake = ShortPagesList(35, claimed=10**9, replay=slice(0, 10), seed=6)
    with pytest.raises(PlatformError, match="the store repeated items") as caught:
        await _read(fake, PagingConfig(concurrency=4))
    assert "holds only items already read" in str(caught.value) or "holds the same" in str(caught.value)
    assert len(fake.calls) <= 4 + 1 + 4  # one window, the page after the short one, and no more
    assert fake.in_flight == 0
