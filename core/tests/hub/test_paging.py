"""storelink.paging: the one page loop (guards, limits, bounded parallel offset pages)."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import Cursor, OffsetCursor, Page, PluginError, TokenCursor
from storelink.paging import PagingConfig, iterate_pages


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
