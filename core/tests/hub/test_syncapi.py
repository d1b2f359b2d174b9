"""storelink.SyncHub: the hub's calls from blocking code, on a background event loop."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink import (
    Address,
    ConnectionStateError,
    ConnectionStatus,
    CredentialsError,
    OrderDraft,
    OrderLine,
    Registry,
    SyncHub,
    hookimpl,
)
from storelink.http import EgressPolicy
from storelink.vault import KeyRing

from .conftest import ORIGIN, FakeShop


@pytest.fixture
def sync_hub(tmp_path: Path, shop: FakeShop, registry: Registry) -> Any:
    hub = SyncHub.open(
        database=tmp_path / "sync.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
    )
    yield hub
    hub.close()


def test_the_blocking_calls_mirror_the_hub(sync_hub: SyncHub, shop: FakeShop) -> None:
    validation = sync_hub.validate("fakeshop", store_url="shop.example.com", credentials={"api_key": shop.key})
    assert validation.report.ok
    conn = sync_hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    assert sync_hub.get(conn.id) == conn
    assert sync_hub.connections() == [conn]
    assert sync_hub.check(conn.id).ok
    assert sync_hub.platform("fakeshop").info.title == "Fake Shop"
    with sync_hub.session(conn.id) as session:
        assert session.connection.id == conn.id
        assert [p.id for p in session.products()] == [f"p{i}" for i in range(25)]
        assert [level.sku_id for level in session.inventory(["s1"])] == ["s1"]
        assert [len(page.items) for page, _ in session.pages("products")] == [10, 10, 5]
        draft = OrderDraft(
            reference="r-1",
            lines=(OrderLine(product_id="p1", sku_id="s1", quantity=1),),
            shipping_address=Address(name="Ada", line1="1 Main St", city="Syracuse", country="US"),
            shipping_method_id="ground",
        )
        first = session.create_order(draft)
        assert session.create_order(draft).replayed is True
        assert session.get_order(first.order.id) == first.order
        assert [o.id for o in session.orders()] == [first.order.id]
        assert [m.id for m in session.shipping_methods()] == ["ground", "express"]
        assert session.reconcile_orders() == []
    assert sync_hub.stats.logins == 3  # validate, connect, and the connection's client
    new = sync_hub.reconnect(conn.id, credentials={"api_key": shop.new_key()})
    assert new.status is ConnectionStatus.ACTIVE
    assert sync_hub.remove(conn.id).status is ConnectionStatus.REMOVED


def test_errors_reach_the_caller(sync_hub: SyncHub, shop: FakeShop) -> None:
    with pytest.raises(CredentialsError):
        sync_hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": "fk_wrong"})
    with pytest.raises(ConnectionStateError), sync_hub.session("nope"):
        pass


def test_a_stream_left_early_is_closed(sync_hub: SyncHub, shop: FakeShop) -> None:
    conn = sync_hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    with sync_hub.session(conn.id) as session:
        with session.products() as products:
            assert next(products).id == "p0"
        assert list(products) == []
        requests = shop.requests
        stream = session.products()
        stream.close()
        assert list(stream) == []
        assert shop.requests == requests


def test_a_call_from_the_hubs_own_loop_is_refused(
    tmp_path: Path, shop: FakeShop, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    holder: dict[str, SyncHub] = {}

    class Reentrant:
        @hookimpl
        def connection_created(self, connection: Any) -> None:
            holder["hub"].connections()

    registry.register_plugin(Reentrant(), name="reentrant")
    with SyncHub.open(
        database=tmp_path / "re.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
    ) as hub:
        holder["hub"] = hub
        with caplog.at_level(logging.ERROR, logger="storelink.plugins"):
            hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    assert "a SyncHub call was made from its own event loop" in caplog.text
    hub.close()  # idempotent
    assert not [t for t in threading.enumerate() if t.name == "storelink-sync"]
