"""The page-building helpers list hooks share: offset cursors, page numbers, next pages, token pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import (
    OffsetCursor,
    Page,
    PluginError,
    TokenCursor,
    cursor_token,
    next_offset,
    numbered_page,
    offset_page,
    offset_start,
    page_number_start,
    token_page,
)


def test_an_offset_list_starts_at_zero_with_the_page_size() -> None:
    assert offset_start(None, 250, platform="shop", hook="fetch_products") == OffsetCursor(offset=0, limit=250)
    given_cursor = OffsetCursor(offset=500, limit=100)
    assert offset_start(given_cursor, 250, platform="shop", hook="fetch_products") is given_cursor


def test_a_token_cursor_given_to_an_offset_list_is_a_plugin_error() -> None:
    expected = "plugin 'shop', hook 'fetch_orders': shop pages by offset; got TokenCursor"
    with pytest.raises(PluginError, match=f"^{re.escape(expected)}$"):
        offset_start(TokenCursor(token="t"), 250, platform="shop", hook="fetch_orders")


def test_an_offset_given_to_a_token_list_is_a_plugin_error() -> None:
    assert cursor_token(None, platform="shop", hook="fetch_products") is None
    assert cursor_token(TokenCursor(token="abc"), platform="shop", hook="fetch_products") == "abc"
    with pytest.raises(PluginError, match="shop pages by token; got OffsetCursor"):
        cursor_token(OffsetCursor(offset=0, limit=1), platform="shop", hook="fetch_products")


def test_with_a_total_the_list_ends_when_it_is_reached() -> None:
    start = OffsetCursor(offset=0, limit=2)
    page = offset_page(["a", "b"], start, total=3)
    assert page == Page(items=("a", "b"), next=OffsetCursor(offset=2, limit=2), total=3)
    assert offset_page(["c"], OffsetCursor(offset=2, limit=2), total=3).next is None


def test_without_a_total_the_list_ends_with_a_short_page() -> None:
    start = OffsetCursor(offset=10, limit=5)
    assert offset_page(list("abcde"), start).next == OffsetCursor(offset=15, limit=5)
    assert offset_page(list("abcd"), start).next is None
    assert offset_page([], start).next is None


def test_a_clamped_page_size_is_kept_and_a_larger_one_ignored() -> None:
    start = OffsetCursor(offset=0, limit=250)
    assert next_offset(start, 100, limit=100) == OffsetCursor(offset=100, limit=100)
    assert next_offset(start, 250, limit=1000) == OffsetCursor(offset=250, limit=250)


@pytest.mark.parametrize("total", [-1, True, "12", 1.5, None])
def test_a_total_that_is_not_a_count_is_unknown(total: Any) -> None:
    page = offset_page(["a"], OffsetCursor(offset=0, limit=1), total=total)
    assert page.total is None
    assert page.next == OffsetCursor(offset=1, limit=1)  # a full page: go on


def test_the_records_read_move_the_offset_not_the_models_made() -> None:
    """One record may map to several models (stock levels per location): the offset counts records."""
    page = offset_page(["l1", "l2", "l3", "l4"], OffsetCursor(offset=0, limit=2), count=2, total=5)
    assert page.next == OffsetCursor(offset=2, limit=2)


def test_a_token_page_ends_without_a_token() -> None:
    assert token_page(["a"], "n2") == Page(items=("a",), next=TokenCursor(token="n2"))
    assert token_page(["a"], None).next is None
    assert token_page([], "").next is None
    assert token_page(["a"], "n2", total=9).total == 9


@given(
    total=st.integers(min_value=0, max_value=2_000),
    limit=st.integers(min_value=1, max_value=300),
    clamp=st.one_of(st.none(), st.integers(min_value=1, max_value=300)),
)
def test_following_next_offset_reads_every_record_once(total: int, limit: int, clamp: int | None) -> None:
    """Walking a list of *total* records by next_offset covers it exactly, with and without the total."""
    for reported in (total, None):
        cursor: OffsetCursor | None = OffsetCursor(offset=0, limit=limit)
        read: list[int] = []
        while cursor is not None:
            served = min(cursor.limit, clamp or cursor.limit)
            batch = list(range(cursor.offset, min(cursor.offset + served, total)))
            read.extend(batch)
            cursor = next_offset(cursor, len(batch), total=reported, limit=served)
            assert len(read) <= total
        assert read == list(range(total))


# --------------------------------------------------------------------------- page numbers


def test_a_numbered_list_starts_at_page_one_and_reads_whole_page_offsets() -> None:
    assert page_number_start(None, 100, platform="shop", hook="fetch_products") == (1, 100)
    assert page_number_start(OffsetCursor(offset=200, limit=100), 100, platform="shop", hook="fetch_products") == (
        3,
        100,
    )
    assert page_number_start(OffsetCursor(offset=150, limit=50), 100, platform="shop", hook="fetch_products") == (
        4,
        50,
    )


@pytest.mark.parametrize(
    "cursor",
    [OffsetCursor(offset=150, limit=100), OffsetCursor(offset=0, limit=101), TokenCursor(token="t")],
    ids=["not-a-whole-page", "larger-than-the-list-allows", "token"],
)
def test_a_cursor_that_is_no_whole_page_is_a_plugin_error(cursor: Any) -> None:
    with pytest.raises(PluginError, match=r"^plugin 'shop', hook 'fetch_orders': shop pages by page number; got "):
        page_number_start(cursor, 100, platform="shop", hook="fetch_orders")


def test_a_numbered_page_has_a_next_while_the_page_count_says_so() -> None:
    page = numbered_page(["a", "b"], page=1, per_page=2, total_pages=2, total=3)
    assert page == Page(items=("a", "b"), next=OffsetCursor(offset=2, limit=2), total=3)
    assert numbered_page(["c"], page=2, per_page=2, total_pages=2, total=3).next is None
    # the page count wins over a full page: the list has no page 3
    assert numbered_page(["c", "d"], page=2, per_page=2, total_pages=2).next is None


def test_without_a_page_count_a_numbered_list_ends_with_a_short_or_empty_page() -> None:
    assert numbered_page(list("abc"), page=4, per_page=3).next == OffsetCursor(offset=12, limit=3)
    assert numbered_page(list("ab"), page=4, per_page=3).next is None
    assert numbered_page([], page=4, per_page=3, total_pages=9).next is None


def test_a_numbered_page_counts_the_records_returned_not_the_models() -> None:
    # three records mapped to one model: the page was full, so another may follow
    assert numbered_page(["only"], page=1, per_page=3, count=3).next == OffsetCursor(offset=3, limit=3)
    assert numbered_page(["a", "b", "c"], page=1, per_page=3, count=1).next is None


@given(page=st.integers(1, 10_000), per_page=st.integers(1, 500))
def test_the_next_cursor_of_a_numbered_page_starts_the_following_page(page: int, per_page: int) -> None:
    following = numbered_page(["x"] * per_page, page=page, per_page=per_page).next
    assert following is not None
    assert page_number_start(following, per_page, platform="shop", hook="fetch_products") == (page + 1, per_page)


def test_a_page_count_or_total_that_is_not_a_count_is_unknown() -> None:
    page = numbered_page(["a"], page=1, per_page=1, total_pages=-1, total=True)
    assert page.next == OffsetCursor(offset=1, limit=1)
    assert page.total is None
