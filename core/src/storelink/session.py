"""One connection's calls: reads as streams, resumable page walks, idempotent orders.

Get a :class:`Session` (``storelink.Session``) from :meth:`storelink.Hub.session`::

    async with hub.session(connection_id) as session:
        async for product in session.products():
            ...
        result = await session.create_order(draft)

Lists stream: ``products()``, ``orders()`` and ``inventory()`` hold at most a few pages
in memory (the page loop's concurrency window), however long the list. They are async
generators: ``aclose()`` one left early (or use :func:`contextlib.aclosing`) to cancel
its pages in flight at once.

Reads survive transient faults in two layers. The HTTP layer resends a failed request
(429, 5xx, resets, cut-off bodies; see :mod:`storelink.http.retry`). When a page still
fails, the read starts again from its last finished page by itself, up to
``resumes`` times (default :attr:`PagingConfig.resumes <storelink.paging.PagingConfig>`)
with a growing wait; only then does it raise
:class:`~storelink.ReadInterruptedError`, whose ``resume_from`` is the cursor to pass
back as ``start`` later. No item is delivered twice and none is skipped::

    try:
        async for product in session.products(start=saved):
            ...
    except ReadInterruptedError as exc:
        saved = exc.resume_from  # store it; continue from here on the next run
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from contextlib import aclosing
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

from storelink.errors import (
    ConnectionRevokedError,
    ConnectionStateError,
    InputError,
    ReadInterruptedError,
    RetryableError,
)
from storelink.ledger import OrderResult
from storelink.models import (
    Connection,
    ConnectionStatus,
    Cursor,
    InventoryLevel,
    Order,
    OrderDraft,
    Page,
    Product,
    ShippingMethod,
)
from storelink.paging import OnPage, iterate_pages, resume_delay
from storelink.runtimes import ConnectionStats

if TYPE_CHECKING:
    from storelink.context import PlatformContext
    from storelink.plugins import Platform
    from storelink.sessionhost import SessionHost
    from storelink.store import Submission

__all__ = ["KINDS", "Session"]

T = TypeVar("T")

log = logging.getLogger("storelink.session")

#: What :meth:`Session.pages` walks, and the hook behind each kind.
_HOOKS = {"products": "fetch_products", "orders": "fetch_orders", "inventory": "fetch_inventory"}
#: The kinds :meth:`Session.pages` walks.
KINDS = tuple(_HOOKS)
#: An item's identity in each list, for the page loop's guard against repeated items.
_KEYS: dict[str, Callable[[Any], Hashable]] = {  # attrgetter: no Python frame per item
    "products": operator.attrgetter("id"),
    "orders": operator.attrgetter("id"),
    "inventory": operator.attrgetter("sku_id", "location_id"),
}

PageItem = tuple[Page[T], Cursor | None]


class Session:
    """The calls of one connection. Use it as an async context manager.

    A revoked connection refuses every call with
    :class:`~storelink.ConnectionRevokedError` and makes no network call; a removed
    one raises :class:`~storelink.ConnectionStateError`.

    :param hub: The hub that opened it (any :class:`~storelink.sessionhost.SessionHost`).
    :param connection_id: The connection.
    """

    def __init__(self, hub: SessionHost, connection_id: str) -> None:
        self._hub = hub
        self._id = connection_id
        self._connection: Connection | None = None

    def __repr__(self) -> str:
        return f"<Session {self._id}>"

    async def __aenter__(self) -> Self:
        self._connection = await self._hub.get(self._id)
        self._usable(self._connection)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._connection = None

    @property
    def connection(self) -> Connection:
        """The connection, as it stood when the session began or last changed status."""
        if self._connection is None:
            raise ConnectionStateError("the session is not open: use 'async with hub.session(id) as session'")
        return self._hub.cached(self._id) or self._connection

    @property
    def platform(self) -> Platform:
        """The connection's platform."""
        return self._hub.platform(self.connection.platform)

    def _usable(self, conn: Connection) -> None:
        if conn.status is ConnectionStatus.REVOKED:
            raise ConnectionRevokedError(
                f"connection {conn.id} is revoked ({conn.last_error or 'its credentials were rejected'})",
                connection_id=conn.id,
            )
        if conn.status is ConnectionStatus.REMOVED:
            raise ConnectionStateError(f"connection {conn.id} was removed", status=conn.status.value)

    async def _ctx(self) -> PlatformContext:
        """Return the context to call the platform with, refusing a revoked connection."""
        conn = self.connection
        self._usable(conn)
        return await self._hub.context(conn)

    # ------------------------------------------------------------------ reads

    @overload
    def pages(
        self,
        kind: Literal["products"],
        start: Cursor | None = None,
        *,
        since: None = None,
        sku_ids: None = None,
        resumes: int | None = None,
        on_page: OnPage[Product] | None = None,
    ) -> AsyncGenerator[PageItem[Product], None]: ...

    @overload
    def pages(
        self,
        kind: Literal["orders"],
        start: Cursor | None = None,
        *,
        since: datetime | None = None,
        sku_ids: None = None,
        resumes: int | None = None,
        on_page: OnPage[Order] | None = None,
    ) -> AsyncGenerator[PageItem[Order], None]: ...

    @overload
    def pages(
        self,
        kind: Literal["inventory"],
        start: Cursor | None = None,
        *,
        since: None = None,
        sku_ids: Sequence[str] | None = None,
        resumes: int | None = None,
        on_page: OnPage[InventoryLevel] | None = None,
    ) -> AsyncGenerator[PageItem[InventoryLevel], None]: ...

    @overload
    def pages(
        self,
        kind: str,
        start: Cursor | None = None,
        *,
        since: datetime | None = None,
        sku_ids: Sequence[str] | None = None,
        resumes: int | None = None,
        on_page: OnPage[Any] | None = None,
    ) -> AsyncGenerator[PageItem[Any], None]: ...

    def pages(
        self,
        kind: str,
        start: Cursor | None = None,
        *,
        since: datetime | None = None,
        sku_ids: Sequence[str] | None = None,
        resumes: int | None = None,
        on_page: OnPage[Any] | None = None,
    ) -> AsyncGenerator[PageItem[Any], None]:
        """Walk a list page by page, yielding ``(page, resume_cursor)``, for resumable syncs.

        Store ``resume_cursor`` (as text: ``storelink.cursor_to_str``, read back with
        ``storelink.cursor_from_str``) once a page is processed; pass it back as *start*
        to continue after that page. It is ``None`` after the last page.

        :param kind: ``products``, ``orders`` or ``inventory``.
        :param start: Where to continue; ``None`` starts at the beginning.
        :param since: Orders only: those changed at or after this aware datetime.
        :param sku_ids: Inventory only: these SKUs only.
        :param resumes: Times a page that fails beyond the HTTP retries is fetched
            again, after a growing wait, before the walk gives up; ``None``: the hub's
            :attr:`PagingConfig.resumes <storelink.paging.PagingConfig>`.
        :param on_page: Awaited with each page and its resume cursor once the loop body
            has finished with that page (when it asks for the next one), so a checkpoint
            stored there covers only pages the body processed; a page the body raised
            on is never passed.
        :raises InputError: *kind* is unknown, an option does not apply to it, or
            *resumes* is negative.
        :raises ReadInterruptedError: A page still failed after the last resume; its
            ``resume_from`` continues after the last page yielded.
        :raises PlatformError: The store sent items it already sent in this walk (see
            :class:`PagingConfig <storelink.paging.PagingConfig>`'s ``max_repeats``); the
            page that showed it is not yielded.
        """
        fetch = self._fetcher(kind, since=since, sku_ids=sku_ids)
        if resumes is None:
            resumes = self._hub.paging.resumes
        elif isinstance(resumes, bool) or not isinstance(resumes, int) or resumes < 0:
            raise InputError(f"is {resumes!r}; give a whole number of resumes, 0 or more", path="resumes")
        return self._walk(kind, fetch, start, resumes, on_page)

    def _fetcher(
        self, kind: str, *, since: datetime | None, sku_ids: Sequence[str] | None
    ) -> Callable[[PlatformContext, Cursor | None], Awaitable[Page[Any]]]:
        if kind not in KINDS:
            raise InputError(f"is {kind!r}; choose one of {', '.join(KINDS)}", path="kind")
        if since is not None and kind != "orders":
            raise InputError("applies to orders only", path="since")
        if since is not None and since.utcoffset() is None:
            raise InputError("must be timezone-aware", path="since")
        if sku_ids is not None and kind != "inventory":
            raise InputError("applies to inventory only", path="sku_ids")
        platform = self.platform
        if kind == "products":
            return platform.fetch_products
        if kind == "orders":
            return lambda ctx, cursor: platform.fetch_orders(ctx, cursor, since)
        skus = tuple(sku_ids) if sku_ids is not None else None
        return lambda ctx, cursor: platform.fetch_inventory(ctx, cursor, skus)

    async def _walk(
        self,
        kind: str,
        fetch: Callable[[PlatformContext, Cursor | None], Awaitable[Page[Any]]],
        start: Cursor | None,
        resumes: int,
        on_page: OnPage[Any] | None = None,
    ) -> AsyncGenerator[PageItem[Any], None]:
        config = self._hub.paging
        cursor, items, resumed = start, 0, 0
        while True:
            ctx = await self._ctx()
            walk = iterate_pages(
                functools.partial(fetch, ctx),
                plugin=self.connection.platform,
                hook=_HOOKS[kind],
                start=cursor,
                config=config,
                on_page=on_page,
                key=_KEYS[kind],
            )
            try:
                async with aclosing(walk):
                    async for page, resume in walk:
                        yield page, resume
                        cursor, items = resume, items + len(page.items)
                return
            except RetryableError as exc:
                if resumed >= resumes:
                    raise self._interrupted(kind, exc, cursor, items, resumed) from exc
                delay = resume_delay(config, resumed, exc.retry_after)
                resumed += 1
                log.warning(
                    "%s of %s: a page failed after its retries (%s); resuming after %d items in %.1f s (%d of %d)",
                    kind,
                    self._id,
                    exc,
                    items,
                    delay,
                    resumed,
                    resumes,
                )
                await self._hub.clock.sleep(delay)

    def _interrupted(
        self, kind: str, exc: RetryableError, cursor: Cursor | None, items: int, resumed: int
    ) -> ReadInterruptedError:
        tries = f" and {resumed} resume{'s' if resumed != 1 else ''}" if resumed else ""
        return ReadInterruptedError(
            f"the {kind} read of {self._id} stopped after {items} items{tries}: {exc.message}",
            resume_from=cursor,
            items=items,
            resumes=resumed,
            retry_after=exc.retry_after,
            platform=exc.platform,
            operation=exc.operation,
            status=exc.status,
            code=exc.code,
            request_id=exc.request_id,
        )

    async def _items(self, pages: AsyncGenerator[PageItem[T], None]) -> AsyncGenerator[T, None]:
        async with aclosing(pages):
            async for page, _ in pages:
                for item in page.items:
                    yield item

    def products(self, start: Cursor | None = None, *, resumes: int | None = None) -> AsyncGenerator[Product, None]:
        """Stream every product of the store, with its variants.

        :param start: Continue from this cursor (a :class:`~storelink.ReadInterruptedError`'s
            ``resume_from``); ``None`` starts at the beginning.
        :param resumes: As for :meth:`pages`.
        :raises ReadInterruptedError: A page still failed after the last resume.
        """
        return self._items(self.pages("products", start, resumes=resumes))

    def orders(
        self, since: datetime | None = None, *, start: Cursor | None = None, resumes: int | None = None
    ) -> AsyncGenerator[Order, None]:
        """Stream the store's orders, oldest first.

        :param since: Only orders created or changed at or after this aware datetime.
        :param start: As for :meth:`products`.
        :param resumes: As for :meth:`pages`.
        """
        return self._items(self.pages("orders", start, since=since, resumes=resumes))

    def inventory(
        self, sku_ids: Sequence[str] | None = None, *, start: Cursor | None = None, resumes: int | None = None
    ) -> AsyncGenerator[InventoryLevel, None]:
        """Stream stock levels, per SKU and location.

        :param sku_ids: Only these SKUs; ``None`` for every SKU.
        :param start: As for :meth:`products`.
        :param resumes: As for :meth:`pages`.
        """
        return self._items(self.pages("inventory", start, sku_ids=sku_ids, resumes=resumes))

    @property
    def stats(self) -> ConnectionStats:
        """What this connection's HTTP clients did since the hub opened: requests, retries, logins."""
        return self._hub.stats.by_connection.get(self._id, ConnectionStats())

    async def get_order(self, order_id: str) -> Order:
        """Return one order by its platform id.

        :raises NotFoundError: There is no such order.
        """
        ctx = await self._ctx()
        return await self.platform.get_order(ctx, order_id)

    async def shipping_methods(self) -> list[ShippingMethod]:
        """Return every shipping method of the store, with its rates."""
        ctx = await self._ctx()
        return await self.platform.fetch_shipping_methods(ctx)

    # ------------------------------------------------------------------ orders

    async def create_order(self, draft: OrderDraft) -> OrderResult:
        """Create *draft* in the store, at most once per ``draft.reference``.

        A replay of the same reference and payload returns the first order with
        ``replayed=True`` and sends nothing. Fires ``order_created``.

        :raises ConflictError: The reference was already used with another payload.
        :raises RejectedError: The platform refused the order (also on a replay).
        :raises OrderOutcomeUnknown: Whether the order exists could not be settled
            yet; call again later with the same draft.
        """
        ctx = await self._ctx()
        platform = self.platform
        result = await self._hub.ledger.submit(
            self._id,
            draft,
            send=lambda d: platform.create_order(ctx, d),
            find=lambda reference: platform.find_order(ctx, reference),
        )
        self._hub.events.order_created(self.connection, result.order, result.replayed)
        return result

    async def reconcile_orders(self) -> list[Submission]:
        """Settle submissions left open by a crash or a lost response, by reference.

        :return: The submissions still open: submit their drafts again to finish them.
        """
        ctx = await self._ctx()
        platform = self.platform
        return await self._hub.ledger.reconcile(self._id, find=lambda reference: platform.find_order(ctx, reference))
