"""A blocking facade over the hub, for hosts that do not run an event loop.

:class:`SyncHub` runs one event loop in a background thread and forwards each call to
the :class:`~storelink.hub.Hub` living there; the calls and their arguments are the
same, and async iterators become blocking iterators::

    with SyncHub.open() as hub:
        conn = hub.connect("occ", store_url="https://shop.example.com", credentials={...})
        with hub.session(conn.id) as session:
            for product in session.products():
                ...

A blocking iterator that is left before its end should be closed (``with`` or
``.close()``) so its pages in flight are cancelled at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from storelink.credentials import Credentials, Secret
from storelink.http import Clock, EgressPolicy, HttpConfig
from storelink.hub import Hub, Validation
from storelink.ledger import OrderResult
from storelink.models import (
    AccessReport,
    Connection,
    ConnectionStatus,
    Cursor,
    InventoryLevel,
    Order,
    OrderDraft,
    Product,
    ShippingMethod,
    StoreURL,
)
from storelink.paging import OnPage, PagingConfig
from storelink.plugins import Platform, Registry
from storelink.runtimes import ConnectionStats, HubStats
from storelink.session import PageItem, Session
from storelink.store import ConnectionStore, Submission
from storelink.vault import KeyRing

__all__ = ["BlockingIterator", "SyncHub", "SyncSession"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread, and a way to run coroutines on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="storelink-sync", daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run *work* on the loop and wait for its result; cancel it if the wait is interrupted."""
        if threading.current_thread() is self._thread:
            work.close()
            raise RuntimeError("a SyncHub call was made from its own event loop; use the async Hub there")
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        """Finish the loop's async generators, stop the loop and its thread."""
        if self.loop.is_closed():
            return
        try:
            self.call(self.loop.shutdown_asyncgens())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()


class BlockingIterator(Iterator[T]):
    """Iterate an async iterator from blocking code, one item per round trip to the loop."""

    def __init__(self, runner: _LoopThread, source: AsyncIterator[T]) -> None:
        self._runner = runner
        self._source = source
        self._done = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        try:
            return self._runner.call(self._step())
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None

    async def _step(self) -> T:
        return await anext(self._source)

    def close(self) -> None:
        """Stop early: cancel what is in flight and release the source."""
        if self._done:
            return
        self._done = True
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            self._runner.call(aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyncSession:
    """The blocking form of :class:`~storelink.session.Session`: same calls, blocking."""

    def __init__(self, runner: _LoopThread, session: Session) -> None:
        self._runner = runner
        self._session = session

    def __repr__(self) -> str:
        return f"<SyncSession {self._session!r}>"

    def __enter__(self) -> Self:
        self._runner.call(self._session.__aenter__())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._runner.call(self._session.__aexit__(exc_type, exc, tb))

    @property
    def connection(self) -> Connection:
        """See :attr:`Session.connection <storelink.session.Session.connection>`."""
        return self._session.connection

    @property
    def platform(self) -> Platform:
        """See :attr:`Session.platform <storelink.session.Session.platform>`."""
        return self._session.platform

    def pages(
        self,
        kind: str,
        start: Cursor | None = None,
        *,
        since: datetime | None = None,
        sku_ids: Sequence[str] | None = None,
        resumes: int | None = None,
        on_page: OnPage[Any] | None = None,
    ) -> BlockingIterator[PageItem[Any]]:
        """See :meth:`Session.pages <storelink.session.Session.pages>`.

        *on_page* is a coroutine function, as there: it runs on the hub's event loop.
        """
        return BlockingIterator(
            self._runner,
            self._session.pages(kind, start, since=since, sku_ids=sku_ids, resumes=resumes, on_page=on_page),
        )

    def products(self, start: Cursor | None = None, *, resumes: int | None = None) -> BlockingIterator[Product]:
        """See :meth:`Session.products <storelink.session.Session.products>`."""
        return BlockingIterator(self._runner, self._session.products(start, resumes=resumes))

    def orders(
        self, since: datetime | None = None, *, start: Cursor | None = None, resumes: int | None = None
    ) -> BlockingIterator[Order]:
        """See :meth:`Session.orders <storelink.session.Session.orders>`."""
        return BlockingIterator(self._runner, self._session.orders(since, start=start, resumes=resumes))

    def inventory(
        self, sku_ids: Sequence[str] | None = None, *, start: Cursor | None = None, resumes: int | None = None
    ) -> BlockingIterator[InventoryLevel]:
        """See :meth:`Session.inventory <storelink.session.Session.inventory>`."""
        return BlockingIterator(self._runner, self._session.inventory(sku_ids, start=start, resumes=resumes))

    @property
    def stats(self) -> ConnectionStats:
        """See :attr:`Session.stats <storelink.session.Session.stats>`."""
        return self._session.stats

    def get_order(self, order_id: str) -> Order:
        """See :meth:`Session.get_order <storelink.session.Session.get_order>`."""
        return self._runner.call(self._session.get_order(order_id))

    def shipping_methods(self) -> list[ShippingMethod]:
        """See :meth:`Session.shipping_methods <storelink.session.Session.shipping_methods>`."""
        return self._runner.call(self._session.shipping_methods())

    def create_order(self, draft: OrderDraft) -> OrderResult:
        """See :meth:`Session.create_order <storelink.session.Session.create_order>`."""
        return self._runner.call(self._session.create_order(draft))

    def reconcile_orders(self) -> list[Submission]:
        """See :meth:`Session.reconcile_orders <storelink.session.Session.reconcile_orders>`."""
        return self._runner.call(self._session.reconcile_orders())


class SyncHub:
    """The blocking form of :class:`~storelink.hub.Hub`: same calls, blocking.

    Make one with :meth:`open`, and close it (``with`` or :meth:`close`): that closes
    the hub and stops its thread.
    """

    def __init__(self, runner: _LoopThread, hub: Hub) -> None:
        self._runner = runner
        self.hub = hub

    @classmethod
    def open(
        cls,
        *,
        database: str | os.PathLike[str] | ConnectionStore | None = None,
        keys: KeyRing | str | os.PathLike[str] | None = None,
        egress: EgressPolicy | None = None,
        registry: Registry | None = None,
        http: HttpConfig | None = None,
        clock: Clock | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        paging: PagingConfig | None = None,
        validate_timeout: float = 10.0,
        share_tokens: bool | None = None,
    ) -> SyncHub:
        """Open a hub on a new background loop; the options are :meth:`Hub.open <storelink.hub.Hub.open>`'s."""
        runner = _LoopThread()
        try:
            hub = runner.call(
                Hub.open(
                    database=database,
                    keys=keys,
                    egress=egress,
                    registry=registry,
                    http=http,
                    clock=clock,
                    transports=transports,
                    paging=paging,
                    validate_timeout=validate_timeout,
                    share_tokens=share_tokens,
                )
            )
        except BaseException:
            runner.stop()
            raise
        return cls(runner, hub)

    def close(self) -> None:
        """Close the hub and stop the background loop. Idempotent."""
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.call(self.hub.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncHub {self.hub!r}>"

    @property
    def stats(self) -> HubStats:
        """See :attr:`Hub.stats <storelink.hub.Hub.stats>` (read on the hub's loop)."""

        async def read() -> HubStats:
            return self.hub.stats

        return self._runner.call(read())

    def platform(self, slug: str) -> Platform:
        """See :meth:`Hub.platform <storelink.hub.Hub.platform>`."""
        return self.hub.platform(slug)

    def validate(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None = None,
    ) -> Validation:
        """See :meth:`Hub.validate <storelink.hub.Hub.validate>`."""
        return self._runner.call(
            self.hub.validate(platform, store_url=store_url, credentials=credentials, settings=settings)
        )

    def connect(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Mapping[str, str | Secret | None],
        settings: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Connection:
        """See :meth:`Hub.connect <storelink.hub.Hub.connect>`."""
        return self._runner.call(
            self.hub.connect(platform, store_url=store_url, credentials=credentials, settings=settings, label=label)
        )

    def complete_authorization(
        self,
        platform: str,
        *,
        store_url: StoreURL,
        params: Mapping[str, str],
        app_credentials: Credentials,
        redirect_uri: str,
        code_verifier: Secret | None,
    ) -> Credentials:
        """See :meth:`Hub.complete_authorization <storelink.hub.Hub.complete_authorization>`."""
        return self._runner.call(
            self.hub.complete_authorization(
                platform,
                store_url=store_url,
                params=params,
                app_credentials=app_credentials,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            )
        )

    def save(self, validation: Validation, *, label: str | None = None) -> Connection:
        """See :meth:`Hub.save <storelink.hub.Hub.save>`."""
        return self._runner.call(self.hub.save(validation, label=label))

    def connections(self, *, status: ConnectionStatus | None = None) -> list[Connection]:
        """See :meth:`Hub.connections <storelink.hub.Hub.connections>`."""
        return self._runner.call(self.hub.connections(status=status))

    def get(self, connection_id: str) -> Connection:
        """See :meth:`Hub.get <storelink.hub.Hub.get>`."""
        return self._runner.call(self.hub.get(connection_id))

    def cached(self, connection_id: str) -> Connection | None:
        """See :meth:`Hub.cached <storelink.hub.Hub.cached>`."""
        return self.hub.cached(connection_id)

    def check(self, connection_id: str) -> AccessReport:
        """See :meth:`Hub.check <storelink.hub.Hub.check>`."""
        return self._runner.call(self.hub.check(connection_id))

    def reconnect(self, connection_id: str, *, credentials: Mapping[str, str | Secret | None]) -> Connection:
        """See :meth:`Hub.reconnect <storelink.hub.Hub.reconnect>`."""
        return self._runner.call(self.hub.reconnect(connection_id, credentials=credentials))

    def remove(self, connection_id: str) -> Connection:
        """See :meth:`Hub.remove <storelink.hub.Hub.remove>`."""
        return self._runner.call(self.hub.remove(connection_id))

    def session(self, connection_id: str) -> SyncSession:
        """See :meth:`Hub.session <storelink.hub.Hub.session>`; use it as ``with hub.session(id) as s``."""
        return SyncSession(self._runner, self.hub.session(connection_id))
