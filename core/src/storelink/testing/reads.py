"""The contract's checks of store data: list walks, single orders, shipping, order creation.

Every list hook is walked to its end by the core's own page loop
(:func:`storelink.paging.iterate_pages`, with its guard against repeated cursors),
and each page is checked: valid models, no record twice, the reported total kept.
A walk can also start from a stored cursor (:func:`check_resume`): every cursor a
walk hands out survives :func:`~storelink.cursor_to_str` and
:func:`~storelink.cursor_from_str`, and a walk resumed from one in the middle, in a
new session, returns exactly the records after it. That is how ``storelink sync``
resumes, and the only way an opaque token (a :class:`~storelink.TokenCursor`, with no
total to check against) shows that it moves on correctly.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from storelink.codec import cursor_from_str, cursor_to_str
from storelink.errors import ConflictError, InputError, NotFoundError, PluginError, RejectedError, StorelinkError
from storelink.models import Cursor, InventoryLevel, Order, OrderDraft, Page, TokenCursor
from storelink.paging import PagingConfig, iterate_pages
from storelink.testing.checks import ContractViolation, check_models
from storelink.testing.harness import Harness

__all__ = [
    "LIST_HOOKS",
    "Walk",
    "check_create_order",
    "check_get_order",
    "check_inventory_by_sku",
    "check_orders_since",
    "check_resume",
    "check_shipping_methods",
    "walk",
]


def _identity(item: Any) -> Hashable:
    if isinstance(item, InventoryLevel):
        return (item.sku_id, item.location_id)
    ident: str = item.id
    return ident


#: The list hooks and the arguments of a full walk.
LIST_HOOKS: dict[str, dict[str, Any]] = {
    "fetch_products": {},
    "fetch_orders": {"since": None},
    "fetch_inventory": {"sku_ids": None},
}


@frozen
class Walk:
    """What a walk of a list hook returned: its pages, their items, and where to resume after each page."""

    pages: list[Page[Any]]
    items: list[Any]
    resumes: list[Cursor | None] = field(factory=list)


def _repeat(hook: str, pages: Sequence[Page[Any]], exc: PluginError) -> ContractViolation:
    last = pages[-1].next
    earlier = [n for n, page in enumerate(pages[:-1], start=1) if page.next == last]
    problem = (
        f"page {len(pages)} returned the same cursor as page {earlier[0]} ({last!r})"
        if earlier
        else str(exc).split(": ", 1)[-1]
    )
    return ContractViolation(
        hook, "pages end", problem, "return Page.next=None on the last page, and a cursor that moves on, on every other"
    )


async def walk(
    h: Harness,
    hook: str,
    *,
    max_pages: int,
    expected: int | None = None,
    start: Cursor | None = None,
    **kwargs: Any,
) -> Walk:
    """Walk *hook* to its end through the core's page loop, checking every page.

    :param expected: How many records the test store holds, when the test knows.
    :param start: Resume from this cursor (a new runtime, as a later run would).
    :raises ContractViolation: A page is invalid, repeats a record or a cursor, the
        walk does not end, or the count disagrees with the total or *expected*.
    """
    fetched: list[Page[Any]] = []
    arguments = {**LIST_HOOKS[hook], **kwargs}
    async with h.runtime() as rt:

        async def fetch(cursor: Cursor | None) -> Page[Any]:
            try:
                page: Page[Any] = await h.call(rt, hook, cursor=cursor, **arguments)
            except StorelinkError as exc:
                raise ContractViolation(
                    hook,
                    "pages end",
                    f"page {len(fetched) + 1} (cursor {cursor!r}) failed: {exc}",
                    "fix the page request",
                ) from exc
            fetched.append(page)
            return page

        pages: list[Page[Any]] = []
        resumes: list[Cursor | None] = []
        try:
            async for page, resume in iterate_pages(
                fetch, plugin=h.slug, hook=hook, start=start, config=PagingConfig(max_pages=max_pages)
            ):
                pages.append(page)
                resumes.append(resume)
        except PluginError as exc:
            raise _repeat(hook, fetched, exc) from exc
    first_seen: dict[Hashable, int] = {}
    items: list[Any] = []
    for number, page in enumerate(pages, start=1):
        check_models(hook, page.items, f"page {number} item")
        for i, item in enumerate(page.items):
            key = _identity(item)
            if key in first_seen:
                raise ContractViolation(
                    hook,
                    "every record once",
                    f"page {number} item {i} repeats {key!r} from page {first_seen[key]}",
                    "pages must not overlap: check the cursor or offset arithmetic",
                )
            first_seen[key] = number
            items.append(item)
    totals = {page.total for page in pages if page.total is not None}
    if totals and start is None and totals != {len(items)}:
        raise ContractViolation(
            hook,
            "every record once",
            f"returned {len(items)} records in {len(pages)} pages, but Page.total says {sorted(totals)}",
            "make Page.total the size of the whole list, and page until every record is returned",
        )
    if expected is not None and expected != len(items):
        raise ContractViolation(
            hook,
            "every record once",
            f"returned {len(items)} records in {len(pages)} pages; the test store holds {expected}",
            "page until the platform says the list ended",
        )
    if not items and start is None:
        raise ContractViolation(
            hook, "test data", "returned no records from the test store", "seed the test store so the hook is exercised"
        )
    return Walk(pages=pages, items=items, resumes=resumes)


def _round_trip(hook: str, number: int, cursor: Cursor) -> Cursor:
    """Return *cursor* written by :func:`cursor_to_str` and read back, checking it survived."""
    try:
        again = cursor_from_str(cursor_to_str(cursor))
    except (InputError, TypeError, ValueError) as exc:
        raise ContractViolation(
            hook,
            "cursor round trip",
            f"the cursor after page {number} ({cursor!r}) cannot be stored as text: {exc}",
            "return Page.next as a TokenCursor holding the platform's token (a string) or an OffsetCursor",
        ) from exc
    if again != cursor:
        raise ContractViolation(
            hook,
            "cursor round trip",
            f"the cursor after page {number} came back as {again!r} from its text form, not {cursor!r}",
            "return a plain TokenCursor or OffsetCursor, not a subclass or a wrapper",
        )
    return again


async def check_resume(h: Harness, hook: str, *, max_pages: int) -> bool:
    """Check that every cursor of a walk round-trips as text, and that resuming from one yields exactly the rest.

    The walk is resumed, in a new runtime, after its middle page (the cursor stored and
    read back as ``storelink sync`` keeps it).

    :return: Whether a cursor could be resumed from (``False``: the list fits one page).
    :raises ContractViolation: A cursor does not survive its text form, or the resumed
        walk repeats, misses, adds or reorders records.
    """
    full = await walk(h, hook, max_pages=max_pages)
    for number, cursor in enumerate(full.resumes, start=1):
        if cursor is not None:
            _round_trip(hook, number, cursor)
    if len(full.pages) < 2:
        return False
    middle = len(full.pages) // 2
    resume = full.resumes[middle - 1]
    if resume is None:  # the core's loop stops at a page without a next cursor
        return False
    cursor = _round_trip(hook, middle, resume)
    before = sum(len(page.items) for page in full.pages[:middle])
    expected = [_identity(item) for item in full.items[before:]]
    rest = [_identity(item) for item in (await walk(h, hook, max_pages=max_pages, start=cursor)).items]
    kind = "token" if isinstance(cursor, TokenCursor) else "offset"
    if rest != expected:
        got, wanted = set(rest), set(expected)
        missing = [key for key in expected if key not in got]
        extra = [key for key in rest if key not in wanted]
        if extra:
            problem = f"returned {extra[0]!r}, which the walk had before the cursor or never"
        elif missing:
            problem = f"left out {missing[0]!r}, which the walk returned after the cursor"
        else:
            problem = "returned the records after the cursor in another order"
        raise ContractViolation(
            hook,
            "resume from a cursor",
            f"resumed from the {kind} cursor after page {middle} of {len(full.pages)} ({cursor!r}), it {problem}",
            "make the cursor alone say where the next page starts: no state kept between calls or in the session",
        )
    return True


def _stamp(order: Order) -> datetime | None:
    return order.updated_at or order.created_at


async def check_orders_since(h: Harness, *, max_pages: int) -> None:
    """Check that ``fetch_orders(since=...)`` returns exactly the orders changed at or after *since*."""
    every = (await walk(h, "fetch_orders", max_pages=max_pages)).items
    stamps = sorted(s for s in map(_stamp, every) if s is not None)
    if not stamps:
        raise ContractViolation(
            "fetch_orders", "since", "returned orders without created_at or updated_at", "map the order's timestamps"
        )
    since = stamps[len(stamps) // 2]
    later = (await walk(h, "fetch_orders", max_pages=max_pages, since=since)).items
    early = [o.id for o in later if (_stamp(o) or since) < since]
    if early:
        raise ContractViolation(
            "fetch_orders",
            "since",
            f"returned order {early[0]!r}, changed before since={since.isoformat()}",
            "filter by since",
        )
    wanted = {o.id for o in every if (_stamp(o) or since) >= since}
    missing = sorted(wanted - {o.id for o in later})
    if missing:
        raise ContractViolation(
            "fetch_orders",
            "since",
            f"left out order {missing[0]!r}, changed at or after since={since.isoformat()}",
            "include orders changed exactly at since",
        )


async def check_inventory_by_sku(h: Harness, *, max_pages: int) -> None:
    """Check that ``fetch_inventory(sku_ids=...)`` returns the levels of those SKUs and no others."""
    every = (await walk(h, "fetch_inventory", max_pages=max_pages)).items
    skus = tuple(sorted({level.sku_id for level in every})[:2])
    some = (await walk(h, "fetch_inventory", max_pages=max_pages, sku_ids=skus)).items
    wanted = {_identity(level) for level in every if level.sku_id in skus}
    got = {_identity(level) for level in some}
    if got != wanted:
        extra, missing = sorted(got - wanted, key=repr), sorted(wanted - got, key=repr)
        problem = f"returned {extra[0]!r}, not asked for" if extra else f"left out {missing[0]!r}"
        raise ContractViolation(
            "fetch_inventory", "sku filter", f"with sku_ids={skus!r} {problem}", "filter by sku_ids"
        )


async def check_get_order(h: Harness, *, max_pages: int) -> None:
    """Check that ``get_order`` returns a listed order by its id, and NotFoundError for an unknown one."""
    listed = (await walk(h, "fetch_orders", max_pages=max_pages)).items[0]
    async with h.runtime() as rt:
        order = await h.call(rt, "get_order", order_id=listed.id)
        check_models("get_order", [order], "order")
        if order.id != listed.id:
            raise ContractViolation(
                "get_order", "get by id", f"asked for {listed.id!r}, returned {order.id!r}", "fix it"
            )
        try:
            found = await h.call(rt, "get_order", order_id="storelink-contract-no-such-order")
        except NotFoundError:
            return
        except StorelinkError as exc:
            problem = f"raised {type(exc).__name__} for an unknown order id, not NotFoundError: {exc}"
            raise ContractViolation(
                "get_order", "unknown id", problem, "let the core's NotFoundError (404) propagate"
            ) from exc
    raise ContractViolation(
        "get_order",
        "unknown id",
        f"returned {found.id!r} for an unknown id",
        "raise NotFoundError when the order is missing",
    )


async def check_shipping_methods(h: Harness) -> None:
    """Check that ``fetch_shipping_methods`` returns valid methods with distinct ids."""
    async with h.runtime() as rt:
        methods = await h.call(rt, "fetch_shipping_methods")
    check_models("fetch_shipping_methods", methods, "method")
    ids = [m.id for m in methods]
    if not ids:
        raise ContractViolation(
            "fetch_shipping_methods", "test data", "returned no method", "seed the test store with shipping methods"
        )
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise ContractViolation(
            "fetch_shipping_methods", "distinct ids", f"returned method {twice!r} twice", "return each method once"
        )


async def _find(h: Harness, rt: Any, reference: str, expected_id: str | None, problem: str) -> None:
    found = await h.call(rt, "find_order", reference=reference)
    if found is not None:
        check_models("find_order", [found], "order")
    if (found.id if found is not None else None) != expected_id:
        shown = "None" if found is None else f"order {found.id!r} (reference {found.reference!r})"
        raise ContractViolation(
            "find_order", "finds by reference", f"{problem}; it returned {shown}", "search the orders by the reference"
        )


async def check_create_order(h: Harness, drafts: Sequence[OrderDraft], *, repeat: bool = True) -> None:
    """Check create_order (a valid order carrying the reference) and find_order.

    :param repeat: Also send each draft a second time: the platform must not make a
        second order for a reference (it raises ConflictError, or returns the first).
    """
    if not drafts:
        raise ContractViolation(
            "create_order", "test data", "the test supplies no sample_drafts", "override the sample_drafts fixture"
        )
    async with h.runtime() as rt:
        await _find(h, rt, "storelink-contract-unknown", None, "asked for a reference no order has")
        for draft in drafts:
            order = await h.call(rt, "create_order", draft=draft)
            check_models("create_order", [order], "order")
            if order.reference != draft.reference:
                raise ContractViolation(
                    "create_order",
                    "reference kept",
                    f"returned an order with reference {order.reference!r} for draft {draft.reference!r}",
                    "send draft.reference to the platform and map it back into Order.reference",
                )
            same = f"found no order {order.id!r} for reference {draft.reference!r} just created"
            await _find(h, rt, draft.reference, order.id, same)
            if not repeat:
                continue
            try:
                again = await h.call(rt, "create_order", draft=draft)
            except (ConflictError, RejectedError):
                again = order
            if again.id != order.id:
                raise ContractViolation(
                    "create_order",
                    "one order per reference",
                    f"made a second order {again.id!r} for reference {draft.reference!r} (the first is {order.id!r})",
                    "make the platform refuse a repeated reference (raise ConflictError) or return the first order",
                )
            await _find(h, rt, draft.reference, order.id, same)
