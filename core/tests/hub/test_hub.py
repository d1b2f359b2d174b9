"""storelink.hub.Hub over a fake platform: onboarding, lifecycle, sessions, orders."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from typing import Any

import httpx
import pytest

from storelink import (
    Address,
    AuthorizationError,
    Capability,
    ConfigurationError,
    ConflictError,
    ConnectionRevokedError,
    ConnectionStateError,
    ConnectionStatus,
    CredentialsError,
    InputError,
    NotFoundError,
    OffsetCursor,
    OrderDraft,
    OrderLine,
    Registry,
    RetryableError,
    StoreURLError,
)
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.paging import PagingConfig
from storelink.store import SubmissionState
from storelink.vault import KeyRing

from .conftest import ORIGIN, Events, FakeShop

pytestmark = pytest.mark.filterwarnings("error")


def draft(reference: str = "chan-1", quantity: int = 2) -> OrderDraft:
    return OrderDraft(
        reference=reference,
        lines=(OrderLine(product_id="p1", sku_id="s1", quantity=quantity),),
        shipping_address=Address(name="Ada", line1="1 Main St", city="Syracuse", country="US"),
        shipping_method_id="ground",
    )


async def connect(hub: Hub, shop: FakeShop, **extra: Any) -> Any:
    return await hub.connect("fakeshop", store_url="Shop.Example.com/", credentials={"api_key": shop.key}, **extra)


# --------------------------------------------------------------------------- onboarding


async def test_connect_validates_stores_sealed_credentials_and_fires_created(
    hub: Hub, shop: FakeShop, events: Events
) -> None:
    conn = await connect(hub, shop, settings={"site": "eu"}, label="EU store")
    assert conn.status is ConnectionStatus.ACTIVE
    assert conn.store_url.origin == ORIGIN
    assert dict(conn.settings) == {"site": "eu"}
    assert conn.label == "EU store"
    assert conn.id.startswith("fakeshop_")
    assert [e["connection"] for e in events.named("connection_created")] == [conn]
    assert await hub.get(conn.id) == conn
    assert await hub.connections() == [conn]
    envelopes, plain = await hub.store.get_credentials(conn.id)
    assert set(envelopes) == {"api_key"}
    assert plain == {}
    assert shop.key not in envelopes["api_key"]


async def test_validate_normalises_and_reports_without_storing(hub: Hub, shop: FakeShop) -> None:
    validation = await hub.validate("fakeshop", store_url="  SHOP.example.com ", credentials={"api_key": shop.key})
    assert validation.store_url.origin == ORIGIN
    assert validation.report.ok
    assert {c.capability for c in validation.report.checks} == set(Capability)
    assert await hub.connections() == []


async def test_a_bad_store_url_is_refused_before_any_request(hub: Hub, shop: FakeShop) -> None:
    with pytest.raises(StoreURLError, match="not a store address"):
        await hub.connect("fakeshop", store_url="ftp://nowhere", credentials={"api_key": shop.key})
    assert shop.requests == 0


async def test_a_malformed_key_is_refused_before_any_request(hub: Hub, shop: FakeShop) -> None:
    with pytest.raises(CredentialsError, match="starts with fk_") as caught:
        await hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": "not-a-key"})
    assert caught.value.field == "api_key"
    assert "not-a-key" not in str(caught.value)
    assert shop.requests == 0


async def test_a_rejected_key_stores_nothing(hub: Hub, shop: FakeShop) -> None:
    with pytest.raises(CredentialsError) as caught:
        await hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": "fk_wrong"})
    assert not isinstance(caught.value, ConnectionRevokedError)
    assert "fk_wrong" not in str(caught.value)
    assert await hub.connections() == []


async def test_a_missing_permission_is_named_and_stores_nothing(hub: Hub, shop: FakeShop) -> None:
    shop.denied = {"orders"}
    validation = await hub.validate("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    assert validation.report.missing == (Capability.ORDERS,)
    with pytest.raises(AuthorizationError, match="not allowed to use: orders") as caught:
        await connect(hub, shop)
    assert caught.value.capability == "orders"
    assert await hub.connections() == []


async def test_a_store_that_is_down_is_a_retryable_error(hub: Hub, shop: FakeShop) -> None:
    shop.down = True
    with pytest.raises(RetryableError):
        await connect(hub, shop)
    assert await hub.connections() == []


async def test_validation_is_bounded_in_time(tmp_path: Any, registry: Registry, shop: FakeShop) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with await Hub.open(
        database=tmp_path / "slow.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(never)},
        validate_timeout=0.05,
    ) as hub:
        with pytest.raises(RetryableError, match=r"did not answer within 0\.05 s"):
            await connect(hub, shop)


async def test_an_unknown_setting_is_refused(hub: Hub, shop: FakeShop) -> None:
    # A bad setting is a configuration problem, not a rejected key (the CLI exits 2, not 3).
    with pytest.raises(ConfigurationError, match="unknown setting 'colour'") as caught:
        await connect(hub, shop, settings={"colour": "red"})
    assert not isinstance(caught.value, CredentialsError)


# --------------------------------------------------------------------------- sessions


async def test_a_session_streams_every_list_in_order(hub: Hub, shop: FakeShop) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        assert session.connection == conn
        assert [p.id async for p in session.products()] == [f"p{i}" for i in range(25)]
        assert [i.sku_id async for i in session.inventory(["s3", "s4"])] == ["s3", "s4"]
        assert len([i async for i in session.inventory()]) == 25
        assert [m.id for m in await session.shipping_methods()] == ["ground", "express"]
        result = await session.create_order(draft())
        assert [o.id async for o in session.orders()] == [result.order.id]
        assert await session.get_order(result.order.id) == result.order
        with pytest.raises(NotFoundError):
            await session.get_order("o999")


async def test_pages_resume_from_a_cursor(hub: Hub, shop: FakeShop) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        walked = [(len(page.items), resume) async for page, resume in session.pages("products")]
        assert walked[0] == (10, OffsetCursor(offset=10, limit=10))
        assert walked[-1] == (5, None)
        rest = [
            p.id async for page, _ in session.pages("products", OffsetCursor(offset=20, limit=10)) for p in page.items
        ]
        assert rest == [f"p{i}" for i in range(20, 25)]


async def test_closing_a_stream_early_cancels_its_pages_in_flight(tmp_path: Any, registry: Registry) -> None:
    shop = FakeShop(products=1000)
    async with await Hub.open(
        database=tmp_path / "c.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
    ) as hub:
        conn = await connect(hub, shop)
        async with hub.session(conn.id) as session:
            products = session.products()
            assert [(await anext(products)).id for _ in range(15)][-1] == "p14"  # parallel pages are in flight
            await products.aclose()
            assert asyncio.all_tasks() == {asyncio.current_task()}
            assert shop.requests < 20


async def test_pages_refuse_an_unknown_kind_or_a_misplaced_option(hub: Hub, shop: FakeShop) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        with pytest.raises(InputError, match="kind: is 'customers'"):
            session.pages("customers")
        with pytest.raises(InputError, match="sku_ids: applies to inventory only"):
            session.pages("products", sku_ids=["s1"])


async def test_a_session_of_an_unknown_connection_is_refused(hub: Hub) -> None:
    with pytest.raises(ConnectionStateError, match="there is no connection 'nope'"):
        async with hub.session("nope"):
            pass


async def test_logins_are_counted_and_announced(hub: Hub, shop: FakeShop, events: Events) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        [p async for p in session.products()]
    stats = hub.stats
    assert stats.logins == 1  # the validation probe's; the session reuses its token (shared through the store)
    assert stats.by_connection[conn.id].logins == 0
    assert stats.by_connection["probe"].logins == 1
    assert stats.requests == shop.requests
    assert events.named("token_refreshed") == []  # no token was issued for the connection itself


async def test_parallel_pages_respect_the_window(tmp_path: Any, registry: Registry) -> None:
    shop = FakeShop(products=1000)
    async with await Hub.open(
        database=tmp_path / "p.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
        paging=PagingConfig(concurrency=3),
    ) as hub:
        conn = await connect(hub, shop)
        async with hub.session(conn.id) as session:
            ids = [p.id async for p in session.products()]
    assert ids == [f"p{i}" for i in range(1000)]


# --------------------------------------------------------------------------- orders


async def test_an_order_replay_returns_the_first_order_and_fires_twice(
    hub: Hub, shop: FakeShop, events: Events
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        first = await session.create_order(draft())
        again = await session.create_order(draft())
        with pytest.raises(ConflictError):
            await session.create_order(draft(quantity=3))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.order == first.order
    assert len(shop.orders) == 1
    assert [e["replayed"] for e in events.named("order_created")] == [False, True]


async def test_ten_concurrent_submissions_make_one_row_and_one_order(hub: Hub, shop: FakeShop) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        results = await asyncio.gather(*(session.create_order(draft()) for _ in range(10)))
    assert len(shop.orders) == 1
    assert {r.order.id for r in results} == {"o1"}
    rows = await hub.store.list_submissions(connection_id=conn.id)
    assert [(r.reference, r.state) for r in rows] == [("chan-1", SubmissionState.CREATED)]


# --------------------------------------------------------------------------- lifecycle


async def test_a_revoked_key_revokes_the_connection_and_stops_all_traffic(
    hub: Hub, shop: FakeShop, events: Events
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        [p async for p in session.products()]
        shop.revoke(shop.key)
        with pytest.raises(CredentialsError):
            await session.shipping_methods()
        assert (await hub.get(conn.id)).status is ConnectionStatus.REVOKED
        assert session.connection.status is ConnectionStatus.REVOKED
        before = shop.requests
        for call in (session.shipping_methods(), session.get_order("o1"), session.create_order(draft())):
            with pytest.raises(ConnectionRevokedError, match=f"connection {conn.id} is revoked"):
                await call
        with pytest.raises(ConnectionRevokedError):
            [p async for p in session.products()]
        assert shop.requests == before
    with pytest.raises(ConnectionRevokedError):
        async with hub.session(conn.id):
            pass
    changes = [(e["old"], e["new"]) for e in events.named("connection_status_changed")]
    assert changes == [(ConnectionStatus.ACTIVE, ConnectionStatus.REVOKED)]


async def test_reconnect_validates_the_new_key_first_then_keeps_the_id(
    hub: Hub, shop: FakeShop, events: Events
) -> None:
    conn = await connect(hub, shop)
    async with hub.session(conn.id) as session:
        await session.create_order(draft())
    shop.revoke(shop.key)
    with pytest.raises(CredentialsError):
        await hub.check(conn.id)
    assert (await hub.get(conn.id)).status is ConnectionStatus.REVOKED
    with pytest.raises(CredentialsError):
        await hub.reconnect(conn.id, credentials={"api_key": "fk_still_wrong"})
    assert (await hub.get(conn.id)).status is ConnectionStatus.REVOKED
    again = await hub.reconnect(conn.id, credentials={"api_key": shop.new_key()})
    assert (again.id, again.status, again.created_at) == (conn.id, ConnectionStatus.ACTIVE, conn.created_at)
    async with hub.session(conn.id) as session:
        assert (await session.create_order(draft())).replayed is True
        assert len(await session.shipping_methods()) == 2
    changes = [(e["old"], e["new"]) for e in events.named("connection_status_changed")]
    assert changes == [
        (ConnectionStatus.ACTIVE, ConnectionStatus.REVOKED),
        (ConnectionStatus.REVOKED, ConnectionStatus.ACTIVE),
    ]


async def test_check_moves_between_active_and_needs_attention(hub: Hub, shop: FakeShop, events: Events) -> None:
    conn = await connect(hub, shop)
    shop.denied = {"inventory"}
    report = await hub.check(conn.id)
    assert report.missing == (Capability.INVENTORY,)
    stored = await hub.get(conn.id)
    assert stored.status is ConnectionStatus.NEEDS_ATTENTION
    assert stored.last_error == "not allowed: inventory"
    shop.denied = set()
    assert (await hub.check(conn.id)).ok
    assert (await hub.get(conn.id)).status is ConnectionStatus.ACTIVE
    changes = [(e["old"], e["new"]) for e in events.named("connection_status_changed")]
    assert changes == [
        (ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_ATTENTION),
        (ConnectionStatus.NEEDS_ATTENTION, ConnectionStatus.ACTIVE),
    ]


async def test_remove_erases_the_credentials_and_refuses_sessions(hub: Hub, shop: FakeShop) -> None:
    conn = await connect(hub, shop)
    removed = await hub.remove(conn.id)
    assert removed.status is ConnectionStatus.REMOVED
    assert await hub.store.get_credentials(conn.id) == ({}, {})
    assert await hub.connections() == []
    assert [c.id for c in await hub.connections(status=ConnectionStatus.REMOVED)] == [conn.id]
    with pytest.raises(ConnectionStateError, match="was removed"):
        async with hub.session(conn.id):
            pass
    with pytest.raises(ConnectionStateError):
        await hub.reconnect(conn.id, credentials={"api_key": shop.key})


# --------------------------------------------------------------------------- defaults


async def test_open_defaults_to_the_user_data_directory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, registry: Registry
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("STORELINK_KEYS", raising=False)
    async with await Hub.open(registry=registry) as hub:
        assert hub.egress.allow_loopback is False
    home = tmp_path / "storelink"
    assert (home / "storelink.db").exists()
    assert stat.S_IMODE(os.stat(home / "keys").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700


async def test_save_stores_a_validation_with_one_login(hub: Hub, shop: FakeShop) -> None:
    validation = await hub.validate("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    logins = hub.stats.logins
    conn = await hub.save(validation, label="saved")
    assert hub.stats.logins == logins
    assert (await hub.get(conn.id)).label == "saved"
    assert "api_key" not in repr(validation)


async def test_save_refuses_a_stale_validation(hub: Hub, shop: FakeShop) -> None:
    import attrs

    from storelink import InputError
    from storelink.hub import VALIDATION_TTL

    validation = await hub.validate("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    stale = attrs.evolve(validation, checked_at=validation.checked_at - VALIDATION_TTL - 1)
    with pytest.raises(InputError, match="validate again"):
        await hub.save(stale)
    assert await hub.connections() == []


# --------------------------------------------------------------------------- paging configuration


class _InFlight:
    """Answers like *shop*, holding each product page open for a few loop turns, counting pages in flight."""

    def __init__(self, shop: FakeShop) -> None:
        self.shop = shop
        self.current = 0
        self.peak = 0
        self.pages = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/products":
            return self.shop.handle(request)
        self.pages += 1
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            for _ in range(5):  # let every other scheduled page start before this one answers
                await asyncio.sleep(0)
            return self.shop.handle(request)
        finally:
            self.current -= 1


async def _walk_products(tmp_path: Any, registry: Registry, store: _InFlight, paging: PagingConfig | None) -> list[str]:
    """Connect to *store* through a hub opened with *paging*, and stream its products."""
    async with await Hub.open(
        database=tmp_path / "paging.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(store.handle)},
        paging=paging,
    ) as hub:
        if paging is not None:
            assert hub.paging is paging
        conn = await connect(hub, store.shop)
        async with hub.session(conn.id) as session:
            return [p.id async for p in session.products()]


async def test_open_paging_sets_how_many_pages_a_session_fetches_at_once(tmp_path: Any, registry: Registry) -> None:
    """``Hub.open(paging=PagingConfig(concurrency=2))``: never more than two pages in flight, yet all of them."""
    assert PagingConfig().concurrency > 2
    store = _InFlight(FakeShop(products=200))
    ids = await _walk_products(tmp_path, registry, store, PagingConfig(concurrency=2))
    assert ids == [f"p{i}" for i in range(200)]
    assert store.peak == 2


async def test_open_paging_sets_the_page_limit_a_session_enforces(tmp_path: Any, registry: Registry) -> None:
    """``Hub.open(paging=PagingConfig(max_pages=3))``: a 20-page list stops as a plugin bug, after 3 requests."""
    from storelink import PluginError

    store = _InFlight(FakeShop(products=200))
    with pytest.raises(PluginError, match="returned more than 3 pages") as caught:
        await _walk_products(tmp_path, registry, store, PagingConfig(max_pages=3))
    assert caught.value.hook == "fetch_products"
    assert store.pages <= 3


async def test_without_paging_a_session_uses_the_default_window(tmp_path: Any, registry: Registry) -> None:
    """The fake store can show more than two pages in flight, so the window test above can tell them apart."""
    store = _InFlight(FakeShop(products=200))
    ids = await _walk_products(tmp_path, registry, store, None)
    assert ids == [f"p{i}" for i in range(200)]
    assert store.peak == PagingConfig().concurrency


# --------------------------------------------------------------------------- the host's logging


async def test_a_hub_leaves_the_host_s_logging_alone(tmp_path: Any, registry: Registry, shop: FakeShop) -> None:
    """Opening a hub, connecting and reading do not swap the log-record factory or touch root handlers."""

    def host_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return logging.LogRecord(*args, **kwargs)

    previous = logging.getLogRecordFactory()
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    logging.setLogRecordFactory(host_factory)
    try:
        async with await Hub.open(
            database=tmp_path / "quiet.db",
            keys=KeyRing.generate(),
            egress=EgressPolicy.default(),
            registry=registry,
            transports={ORIGIN: httpx.MockTransport(shop.handle)},
        ) as hub:
            conn = await connect(hub, shop)
            async with hub.session(conn.id) as session:
                assert len([p async for p in session.products()]) == 25
            assert logging.getLogRecordFactory() is host_factory
        assert logging.getLogRecordFactory() is host_factory
        assert handler.filters == []
    finally:
        logging.setLogRecordFactory(previous)
        root.removeHandler(handler)
