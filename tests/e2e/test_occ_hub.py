"""The hub against the OCC simulator: onboarding and its failures, revocation, orders, loopback."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink import (
    AuthorizationError,
    ConnectionRevokedError,
    ConnectionStatus,
    CredentialsError,
    RetryableError,
    StoreURLError,
    SyncHub,
)
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.simulation import serve_in_thread
from storelink.store import SubmissionState
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_occ.simulator import OccSimulator, SimulatorConfig

from .conftest import ORIGIN, FaultyTransport, make_drafts, orders_by_reference

MESSY = "  HTTP://127.0.0.1:9/occs-admin/ "


def fake_jwt() -> str:
    """A well-formed application key the simulator never issued."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'CANARY-app', 'iat': 1})}.{'c2lnbmF0dXJl'}"


async def catalog(hub: Hub, conn_id: str) -> tuple[list[tuple[str, str]], str]:
    async with hub.session(conn_id) as session:
        products = [(p.id, p.variants[0].id) async for p in session.products() if p.variants]
        shipping = (await session.shipping_methods())[0].id
    return products, shipping


async def test_connect_normalises_a_messy_url_and_reads_the_store(hub: Hub, sim: OccSimulator) -> None:
    validation = await hub.validate("occ", store_url=MESSY, credentials=sim.issue_credentials())
    assert validation.store_url.origin == ORIGIN
    assert validation.report.ok
    conn = await hub.connect("occ", store_url=MESSY, credentials=sim.issue_credentials())
    assert conn.status is ConnectionStatus.ACTIVE
    async with hub.session(conn.id) as session:
        products = [p async for p in session.products()]
        assert [p.id for p in products] == [p["id"] for p in sim.catalog.iter_products(0, 120)]
        skus = [v.id for v in products[0].variants]
        assert {level.sku_id async for level in session.inventory(skus)} == set(skus)
        assert await session.shipping_methods()


@pytest.mark.parametrize(
    ("store_url", "credentials", "error", "match"),
    [
        ("ftp://127.0.0.1:9", None, StoreURLError, "must start with https://"),
        (ORIGIN, {"application_key": "not a key"}, CredentialsError, "must not contain spaces"),
        (ORIGIN, {"application_key": fake_jwt()}, CredentialsError, "rejected the credentials"),
    ],
)
async def test_connect_fails_clearly(
    hub: Hub, sim: OccSimulator, store_url: str, credentials: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        await hub.connect("occ", store_url=store_url, credentials=credentials or sim.issue_credentials())
    assert "CANARY" not in str(caught.value)
    assert await hub.connections() == []


async def test_a_missing_permission_is_named(hub: Hub, sim: OccSimulator, faulty: FaultyTransport) -> None:
    faulty.deny = ("/ccadmin/v1/orders",)
    with pytest.raises(AuthorizationError, match="orders") as caught:
        await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    assert caught.value.capability == "orders"
    assert await hub.connections() == []


async def test_a_platform_that_is_down_is_retryable(open_hub: Callable[..., Any]) -> None:
    down = OccSimulator(SimulatorConfig(products=5, fail_rate=1.0))
    async with await open_hub(transports={ORIGIN: httpx.ASGITransport(app=down.app)}) as hub:
        with pytest.raises(RetryableError):
            await hub.connect("occ", store_url=ORIGIN, credentials=down.issue_credentials())
        assert await hub.connections() == []


async def test_a_revoked_key_stops_all_traffic_until_reconnected(hub: Hub, sim: OccSimulator) -> None:
    credentials = sim.issue_credentials()
    conn = await hub.connect("occ", store_url=ORIGIN, credentials=credentials)
    products, shipping = await catalog(hub, conn.id)
    (order_draft,) = make_drafts(1, products, shipping)
    async with hub.session(conn.id) as session:
        first = await session.create_order(order_draft)
        sim.revoke_credentials(credentials)
        with pytest.raises(CredentialsError):
            [p async for p in session.products()]
        assert (await hub.get(conn.id)).status is ConnectionStatus.REVOKED
        requests = sim.stats["requests"]
        with pytest.raises(ConnectionRevokedError, match="is revoked"):
            await session.shipping_methods()
        with pytest.raises(ConnectionRevokedError):
            await session.create_order(order_draft)
        with pytest.raises(ConnectionRevokedError):
            [p async for p in session.products()]
        assert sim.stats["requests"] == requests
    again = await hub.reconnect(conn.id, credentials=sim.issue_credentials())
    assert (again.id, again.status) == (conn.id, ConnectionStatus.ACTIVE)
    async with hub.session(conn.id) as session:
        replay = await session.create_order(order_draft)
    assert (replay.replayed, replay.order.id) == (True, first.order.id)
    assert orders_by_reference(sim)[order_draft.reference] == 1


async def test_the_same_order_ten_times_at_once_makes_one_order(hub: Hub, sim: OccSimulator) -> None:
    conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    products, shipping = await catalog(hub, conn.id)
    (order_draft,) = make_drafts(1, products, shipping)
    async with hub.session(conn.id) as session:
        results = await asyncio.gather(*(session.create_order(order_draft) for _ in range(10)))
    assert len({r.order.id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert orders_by_reference(sim) == {order_draft.reference: 1}
    rows = await hub.store.list_submissions(connection_id=conn.id)
    assert [(r.reference, r.state) for r in rows] == [(order_draft.reference, SubmissionState.CREATED)]


async def test_over_loopback_with_short_tokens(tmp_path: Path) -> None:
    """A read that outlives its 1-s tokens renews them: the hub and the simulator both count the refreshes."""
    clock = FakeClock(start=0.0)
    # One fake clock for the hub's token ages and the simulator's token lifetimes;
    # each request costs 0.4 s of it (the simulator's latency sleeps on the clock).
    sim = OccSimulator(
        SimulatorConfig(products=600, token_ttl=1.0, latency=0.4), clock=clock.monotonic, sleep=clock.sleep
    )
    with serve_in_thread(sim.app) as base_url:
        async with await Hub.open(
            database=tmp_path / "loop.db", keys=KeyRing.generate(), egress=EgressPolicy.for_tests(), clock=clock
        ) as hub:
            conn = await hub.connect("occ", store_url=base_url.upper() + "/", credentials=sim.issue_credentials())
            assert conn.store_url.origin == base_url
            async with hub.session(conn.id) as session:
                assert len([p async for p in session.products()]) == 600
            stats = hub.stats
    assert stats.by_connection[conn.id].refreshes >= 1  # the session's read renewed its token
    assert sim.stats.get("refreshes", 0) == stats.refreshes  # through OCC's refresh, each one seen by the store
    assert "unauthorized" not in sim.stats  # renewed in time: no request carried an expired token
    assert stats.logins == sim.stats["logins"] + sim.stats.get("agent_logins", 0)


def test_the_blocking_facade_over_loopback(tmp_path: Path) -> None:
    sim = OccSimulator(SimulatorConfig(products=300))
    with (
        serve_in_thread(sim.app) as base_url,
        SyncHub.open(database=tmp_path / "sync.db", keys=KeyRing.generate(), egress=EgressPolicy.for_tests()) as hub,
    ):
        conn = hub.connect("occ", store_url=base_url, credentials=sim.issue_credentials())
        assert [c.id for c in hub.connections()] == [conn.id]
        with hub.session(conn.id) as session:
            products = list(session.products())
            assert len(products) == 300
            with session.products() as stream:
                assert next(stream).id == products[0].id
            shipping = session.shipping_methods()[0].id
            drafts = make_drafts(1, [(p.id, p.variants[0].id) for p in products[:5]], shipping)
            result = session.create_order(drafts[0])
            assert session.create_order(drafts[0]).order == result.order
            assert session.get_order(result.order.id).id == result.order.id
        assert hub.check(conn.id).ok
        assert hub.remove(conn.id).status is ConnectionStatus.REMOVED


async def test_the_key_expiry_is_recorded_so_hosts_can_warn(hub: Hub, sim: OccSimulator) -> None:
    """``credentials_expire_at`` carries the key's ``exp`` claim to the connection, and reconnect updates it."""
    conn = await hub.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials(lifetime_days=30))
    assert conn.credentials_expire_at is not None
    assert 29 * 86400 < (conn.credentials_expire_at - conn.created_at).total_seconds() <= 30 * 86400 + 5
    assert (await hub.get(conn.id)).credentials_expire_at == conn.credentials_expire_at
    again = await hub.reconnect(conn.id, credentials=sim.issue_credentials())
    assert again.credentials_expire_at is None
