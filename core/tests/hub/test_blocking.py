"""storelink.SyncHub: the hub's calls from blocking code, on a background event loop."""

from __future__ import annotations

import inspect
import logging
import re
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
from storelink.blocking import SyncSession
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.session import Session
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
    assert sync_hub.stats.logins == 2  # validate and connect; the connection's client reuses the connect token
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


# --------------------------------------------------------------------------- parity with the async API


#: Async protocol methods and their blocking counterparts.
_TWIN_NAMES = {"__aenter__": "__enter__", "__aexit__": "__exit__"}
_PROTOCOL = {*_TWIN_NAMES, *_TWIN_NAMES.values()}

#: Public ``Hub`` calls with no blocking twin, and why.
_NO_TWIN = {
    "context": "returns a PlatformContext whose HTTP client is async and bound to the hub's loop",
}


def _public_calls(cls: type) -> dict[str, Any]:
    """Return the public methods and properties *cls* defines or inherits (dunders of the protocols included)."""
    calls = {}
    for klass in reversed(cls.__mro__[:-1]):  # object's members are nobody's API
        for name, member in vars(klass).items():
            if (not name.startswith("_") or name in _PROTOCOL) and _is_call(member):
                calls[name] = member
    return calls


def _is_call(member: Any) -> bool:
    return isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(member)


def _blocking_return(annotation: str) -> str:
    """Return what the blocking twin of a call annotated *annotation* returns."""
    generator = re.fullmatch(r"AsyncGenerator\[(.+), None\]", annotation)
    if generator:
        return f"BlockingIterator[{generator.group(1)}]"
    return {"Hub": "SyncHub", "Session": "SyncSession"}.get(annotation, annotation)


def _function(member: Any) -> Any:
    if isinstance(member, property):
        return member.fget
    if isinstance(member, classmethod | staticmethod):
        return member.__func__
    return member


@pytest.mark.parametrize(("async_cls", "sync_cls"), [(Hub, SyncHub), (Session, SyncSession)])
def test_every_public_async_call_has_a_blocking_twin_with_the_same_signature(async_cls: type, sync_cls: type) -> None:
    """SyncHub and SyncSession offer every call of Hub and Session, with the same parameters, blocking."""
    async_calls = _public_calls(async_cls)
    sync_calls = _public_calls(sync_cls)
    problems = []
    for name, member in sorted(async_calls.items()):
        if async_cls is Hub and name in _NO_TWIN:
            continue
        twin_name = _TWIN_NAMES.get(name, name)
        twin = sync_calls.get(twin_name)
        if twin is None:
            problems.append(f"{sync_cls.__name__} has no {twin_name} (the twin of {async_cls.__name__}.{name})")
            continue
        if isinstance(member, property) or isinstance(twin, property):
            if not (isinstance(member, property) and isinstance(twin, property)):
                problems.append(f"{name}: a property on one side only")
            kind = (member.fget.__annotations__["return"], twin.fget.__annotations__["return"])
            if _blocking_return(kind[0]) != kind[1]:
                problems.append(f"{name}: returns {kind[1]}, expected {_blocking_return(kind[0])}")
            continue
        if isinstance(member, classmethod) != isinstance(twin, classmethod):
            problems.append(f"{name}: a classmethod on one side only")
        ours, theirs = inspect.signature(_function(member)), inspect.signature(_function(twin))
        if inspect.iscoroutinefunction(_function(twin)):
            problems.append(f"{sync_cls.__name__}.{twin_name} is async; it must block")
        if list(ours.parameters.values()) != list(theirs.parameters.values()):
            problems.append(f"{twin_name}: parameters {theirs} differ from {async_cls.__name__}.{name}{ours}")
        expected = _blocking_return(ours.return_annotation)
        if theirs.return_annotation != expected:
            problems.append(f"{twin_name}: returns {theirs.return_annotation}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_the_calls_without_a_twin_are_still_hub_calls() -> None:
    """An exemption from the parity rule names a call the hub still has."""
    assert set(_NO_TWIN) <= set(_public_calls(Hub))


def test_save_blocks_until_the_validated_connection_is_stored(sync_hub: SyncHub, shop: FakeShop) -> None:
    validation = sync_hub.validate("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key})
    logins = sync_hub.stats.logins
    conn = sync_hub.save(validation, label="saved")
    assert sync_hub.stats.logins == logins
    assert sync_hub.get(conn.id).label == "saved"
    assert sync_hub.cached(conn.id) == sync_hub.get(conn.id)
    with sync_hub.session(conn.id) as session:
        assert session.platform.slug == "fakeshop"
