"""The seam without worker processes: settings, errors across the broker, the Redis lease, the jobs."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from celery.backends.base import Backend
from redis.asyncio import Redis

from storelink import ConfigurationError, InputError, SyncLimitError, to_jsonable
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.vault import KeyRing
from storelink_celery import (
    ConnectionBusyError,
    LockLostError,
    RedisConnectionLock,
    WorkerSettings,
    active_connections,
    create_order,
    sync_connection,
)
from storelink_celery.app import celery_config
from storelink_celery.tasks import TaskError
from storelink_occ.simulator import OccSimulator, SimulatorConfig

from .conftest import _redis_url, product_ids

ORIGIN = "http://127.0.0.1:9"
KEY = KeyRing.generate("unit").render().splitlines()[-1]

# ---------------------------------------------------------------------------- settings


def test_settings_read_every_variable() -> None:
    env = {
        "STORELINK_DB": "postgresql://app:pw@db/storelink",
        "STORELINK_KEYS": KEY,
        "STORELINK_CELERY_BROKER": "redis://:secret@broker:6379/1",
        "STORELINK_SYNC_ROOT": "/srv/sync",
        "STORELINK_CELERY_LOCK_LEASE": "20",
        "STORELINK_CELERY_VISIBILITY": "600",
        "STORELINK_HTTP_DEADLINE": "30",
        "STORELINK_HTTP_READ_TIMEOUT": "10",
    }
    s = WorkerSettings.from_env(env)
    assert (s.broker, s.locks) == ("redis://:secret@broker:6379/1", "redis://:secret@broker:6379/1")
    assert (s.lock_lease, s.visibility_timeout, s.http_deadline, s.http_read_timeout) == (20, 600, 30, 10)
    assert s.directory("c1") == Path("/srv/sync/c1")
    assert "secret" not in repr(s)
    assert "pw" not in repr(s)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "STORELINK_DB"),
        ({"STORELINK_DB": "x.db"}, "STORELINK_KEYS_FILE"),
        ({"STORELINK_DB": "x.db", "STORELINK_KEYS": KEY, "STORELINK_CELERY_BROKER": "amqp://h"}, "redis://"),
        ({"STORELINK_DB": "x.db", "STORELINK_KEYS": KEY, "STORELINK_CELERY_LOCK_LEASE": "0"}, "LOCK_LEASE"),
        ({"STORELINK_DB": "x.db", "STORELINK_KEYS": KEY, "STORELINK_HTTP_DEADLINE": "soon"}, "HTTP_DEADLINE"),
    ],
)
def test_bad_settings_name_what_to_fix(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        WorkerSettings.from_env(env)


def test_a_key_file_is_read_never_created(tmp_path: Path) -> None:
    env = {"STORELINK_DB": "x.db", "STORELINK_KEYS_FILE": str(tmp_path / "keys")}
    with pytest.raises(ConfigurationError):
        WorkerSettings.from_env(env)
    assert not (tmp_path / "keys").exists()


def test_syncing_without_a_sync_root_says_which_variable_to_set() -> None:
    s = WorkerSettings.from_env({"STORELINK_DB": "x.db", "STORELINK_KEYS": KEY})
    with pytest.raises(ConfigurationError, match="STORELINK_SYNC_ROOT"):
        s.directory("c1")


def test_celery_config_acks_late_and_sweeps_lost_messages_within_the_visibility_timeout() -> None:
    conf = celery_config({"STORELINK_CELERY_VISIBILITY": "8", "STORELINK_CELERY_QUEUE": "q1"})
    assert conf["task_acks_late"]
    assert conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_default_queue"] == "q1"
    options = conf["broker_transport_options"]
    assert options["visibility_timeout"] == 8
    assert options["unacked_restore_interval"] == 1


# ---------------------------------------------------------------------------- errors


def test_a_task_error_is_rebuilt_from_celerys_json_form() -> None:
    exc = SyncLimitError("products", bound="max_items", limit=10, items=8, file="/x", remaining=("products",))
    error = TaskError.of(exc)
    backend = Backend(app=Celery("unit", set_as_current=False), serializer="json")
    rebuilt = backend.exception_to_python(backend.prepare_exception(error, "json"))  # type: ignore[no-untyped-call]
    assert type(rebuilt) is TaskError
    assert (rebuilt.error, rebuilt.retryable) == ("SyncLimitError", False)
    assert str(rebuilt) == str(error)
    assert "raise the bound" in str(rebuilt)


def test_the_sync_task_runs_with_fewer_collections_and_puts_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    from types import SimpleNamespace

    from storelink.collector import DEFAULT_THRESHOLD
    from storelink_celery import tasks

    seen: list[tuple[int, int, int]] = []

    def run(work: object) -> dict[str, object]:
        seen.append(gc.get_threshold())
        return {"connection": "conn1", "directory": "sync/conn1", "kinds": []}

    monkeypatch.setattr(tasks.runtime, "run", run)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        result = tasks._sync_connection(SimpleNamespace(request=SimpleNamespace(hostname="w1", retries=0)), "conn1")
        assert seen == [(DEFAULT_THRESHOLD, 10, 10)]
        assert gc.get_threshold() == (700, 10, 10)
        assert result["worker"] == "w1"
    finally:
        gc.set_threshold(*before)


def test_the_lock_errors_survive_pickling() -> None:
    busy = pickle.loads(pickle.dumps(ConnectionBusyError("c1", retry_after=2.5)))  # noqa: S301  # our own bytes
    lost = pickle.loads(pickle.dumps(LockLostError("c1")))  # noqa: S301
    assert (busy.connection_id, busy.retry_after) == ("c1", 2.5)
    assert str(busy) == str(ConnectionBusyError("c1", retry_after=2.5))
    assert (lost.connection_id, str(lost)) == ("c1", str(LockLostError("c1")))


# ---------------------------------------------------------------------------- the Redis lease


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(_redis_url())
    yield client
    await client.aclose()


async def test_a_second_holder_is_refused_until_the_first_lets_go(redis: Redis) -> None:
    lock = RedisConnectionLock(redis, lease=5.0, prefix="storelink-test:lock:")
    async with lock.hold("c-busy"):
        with pytest.raises(ConnectionBusyError) as busy:
            async with lock.hold("c-busy"):
                pass
        assert 0 < busy.value.retry_after <= 5.0
    async with lock.hold("c-busy"):
        pass


async def test_the_lease_is_renewed_while_held_and_a_lost_holder_frees_it_when_it_ends(redis: Redis) -> None:
    lock = RedisConnectionLock(redis, lease=0.6, prefix="storelink-test:lock:")
    async with lock.hold("c-renew"):
        await asyncio.sleep(1.5)  # past two leases: renewed, so still held
        assert await redis.exists("storelink-test:lock:c-renew")
    # A holder that died: its key, left with a short lease, frees without anyone releasing it.
    await redis.set("storelink-test:lock:c-dead", "someone", px=400)
    with pytest.raises(ConnectionBusyError):
        async with lock.hold("c-dead"):
            pass
    await asyncio.sleep(0.5)
    async with lock.hold("c-dead"):
        pass


async def test_a_holder_whose_lock_is_taken_over_is_cancelled_with_lock_lost(redis: Redis) -> None:
    lock = RedisConnectionLock(redis, lease=0.6, prefix="storelink-test:lock:")

    async def taken_over() -> None:
        async with lock.hold("c-lost"):
            await redis.set("storelink-test:lock:c-lost", "another holder", px=5000)
            await asyncio.sleep(2)

    with pytest.raises(LockLostError):
        await taken_over()
    assert await redis.get("storelink-test:lock:c-lost") == b"another holder"  # not released by the loser
    await redis.delete("storelink-test:lock:c-lost")


# ---------------------------------------------------------------------------- the jobs, in-process


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Hub, OccSimulator]]:
    sim = OccSimulator(SimulatorConfig(products=120, seed=3))
    opened = await Hub.open(
        database=tmp_path / "s.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        transports={ORIGIN: httpx.ASGITransport(app=sim.app)},
    )
    async with opened:
        yield opened, sim


async def test_sync_connection_writes_the_kinds_and_holds_the_connection_lock(
    hub: tuple[Hub, OccSimulator], tmp_path: Path, redis: Redis
) -> None:
    h, sim = hub
    conn = await h.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    lock = RedisConnectionLock(redis, lease=5.0, prefix="storelink-test:lock:")
    async with lock.hold(conn.id):
        with pytest.raises(ConnectionBusyError):
            await sync_connection(h, conn.id, tmp_path / "out", kinds=("products",), lock=lock)
    assert not (tmp_path / "out" / "products.jsonl").exists()

    result = await sync_connection(h, conn.id, tmp_path / "out", kinds=("products", "shipping"), lock=lock)

    assert [k["kind"] for k in result["kinds"]] == ["products", "shipping"]
    assert result["kinds"][0]["items"] == 120 == len(set(product_ids(tmp_path / "out" / "products.jsonl")))
    assert not await redis.exists(f"storelink-test:lock:{conn.id}")


async def test_active_connections_leave_out_removed_ones(hub: tuple[Hub, OccSimulator]) -> None:
    h, sim = hub
    kept = await h.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    gone = await h.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    await h.remove(gone.id)
    assert await active_connections(h) == [kept.id]


async def test_create_order_from_json_twice_makes_one_order(hub: tuple[Hub, OccSimulator]) -> None:
    from storelink import Address, OrderDraft, OrderLine, Payment

    h, sim = hub
    conn = await h.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    async with h.session(conn.id) as session:
        products = [p async for p in session.products() if p.variants]
        product = products[0]
        shipping = (await session.shipping_methods())[0].id
    draft = OrderDraft(
        reference="unit-1",
        lines=(OrderLine(product_id=product.id, sku_id=product.variants[0].id, quantity=1),),
        shipping_address=Address(name="Ada", line1="1 Main St", city="Syracuse", region="NY", country="US"),
        shipping_method_id=shipping,
        payment=Payment(type="invoice", po_number="PO-1"),
    )
    orders_before = len(sim.orders)

    first = await create_order(h, conn.id, to_jsonable(draft))
    again = await create_order(h, conn.id, to_jsonable(draft))

    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["order"]["id"] == again["order"]["id"]
    assert len(sim.orders) == orders_before + 1


async def test_create_order_refuses_json_that_is_not_a_draft(hub: tuple[Hub, OccSimulator]) -> None:
    h, sim = hub
    conn = await h.connect("occ", store_url=ORIGIN, credentials=sim.issue_credentials())
    with pytest.raises(InputError):
        await create_order(h, conn.id, {"reference": "x"})
