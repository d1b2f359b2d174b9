"""storelink.ledger: each reference makes at most one order, whatever fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from storelink import (
    Address,
    ConflictError,
    Connection,
    CredentialsError,
    Order,
    OrderDraft,
    OrderLine,
    OrderOutcomeUnknown,
    PluginError,
    RejectedError,
    RetryableError,
    StoreURL,
)
from storelink.http.faults import mark_not_sent
from storelink.ledger import OrderLedger
from storelink.store import ConnectionStore, SubmissionState, open_store

CONN = "conn-1"


class Crash(BaseException):
    """The process dies here (nothing catches it; the ledger row stays as it was)."""


class FakePlatform:
    """Orders by reference, with a script of faults for the next sends."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.sends = 0
        self.finds = 0
        self.script: list[str] = []
        self.find_fails = 0

    def by_ref(self, reference: str) -> list[Order]:
        return [o for o in self.orders if o.reference == reference]

    async def send(self, draft: OrderDraft) -> Order:
        self.sends += 1
        fault = self.script.pop(0) if self.script else "ok"
        if fault == "503":
            raise RetryableError("unavailable", status=503, operation="create_order")
        if fault == "429":
            raise RetryableError("slow down", status=429, operation="create_order", retry_after=1.0)
        if fault == "400":
            raise RejectedError("unknown SKU", status=400, operation="create_order")
        if fault == "401":
            raise CredentialsError("the key was rejected")
        order = Order(id=f"o{len(self.orders) + 1}", reference=draft.reference, state="SUBMITTED")
        self.orders.append(order)
        if fault == "lost":
            raise OrderOutcomeUnknown("the response was lost", reference=draft.reference)
        if fault == "500":
            raise RetryableError("internal error after commit", status=500, operation="create_order")
        return order

    async def find(self, reference: str) -> Order | None:
        self.finds += 1
        if self.find_fails:
            self.find_fails -= 1
            raise RetryableError("lookup failed", status=503, operation="find_order")
        found = self.by_ref(reference)
        return found[0] if found else None


class FakeSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []
        self.during: Callable[[], object] | None = None

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.during is not None:
            result = self.during()
            if asyncio.iscoroutine(result):
                await result
        await asyncio.sleep(0)


def draft(reference: str = "chan-1", quantity: int = 1) -> OrderDraft:
    return OrderDraft(
        reference=reference,
        lines=(OrderLine(product_id="p1", sku_id="s1", quantity=quantity),),
        shipping_address=Address(name="Ada", line1="1 Main St", city="Syracuse", country="US"),
        shipping_method_id="ground",
    )


@pytest.fixture
async def store() -> AsyncIterator[ConnectionStore]:
    db = open_store(":memory:")
    await db.migrate()
    now = datetime.now(UTC)
    conn = Connection(
        id=CONN,
        platform="occ",
        store_url=StoreURL(origin="https://shop.example.com"),
        status="active",
        created_at=now,
        updated_at=now,
    )
    await db.insert_connection(conn, {}, {"user": "x"})
    yield db
    await db.close()


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def ledger(store: ConnectionStore, sleep: FakeSleep) -> OrderLedger:
    return OrderLedger(store, sleep=sleep, quiet_period=90.0)


async def submit(ledger: OrderLedger, platform: FakePlatform, d: OrderDraft | None = None):  # type: ignore[no-untyped-def]
    return await ledger.submit(CONN, d or draft(), send=platform.send, find=platform.find)


async def state_of(store: ConnectionStore, reference: str = "chan-1") -> SubmissionState:
    row = await store.get_submission(CONN, reference)
    assert row is not None
    return row.state


async def test_a_new_reference_is_sent_once_and_recorded(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    result = await submit(ledger, platform)
    assert result.order == platform.orders[0]
    assert result.replayed is False
    row = await store.get_submission(CONN, "chan-1")
    assert row is not None
    assert (row.state, row.platform_order_id, row.attempts) == (SubmissionState.CREATED, "o1", 1)


async def test_a_replay_returns_the_stored_order_without_sending(ledger, platform) -> None:  # type: ignore[no-untyped-def]
    first = await submit(ledger, platform)
    again = await submit(ledger, platform)
    assert again.order == first.order
    assert again.replayed is True
    assert platform.sends == 1
    assert platform.finds == 0


async def test_the_same_reference_with_another_payload_is_a_conflict(ledger, platform) -> None:  # type: ignore[no-untyped-def]
    await submit(ledger, platform)
    with pytest.raises(ConflictError, match="'chan-1' was already submitted with a different payload"):
        await submit(ledger, platform, draft(quantity=2))
    assert platform.sends == 1


async def test_a_lost_response_is_found_by_reference_not_sent_again(ledger, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["lost"]
    result = await submit(ledger, platform)
    assert result.order == platform.orders[0]
    assert result.replayed is False
    assert (platform.sends, platform.finds, len(platform.orders)) == (1, 1, 1)
    assert sleep.slept == []


async def test_a_500_after_commit_is_found_by_reference(ledger, platform) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["500"]
    result = await submit(ledger, platform)
    assert len(platform.by_ref("chan-1")) == 1
    assert result.order.id == "o1"


async def test_a_503_before_commit_is_sent_again_after_the_quiet_period(ledger, platform, sleep, store) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["503"]
    result = await submit(ledger, platform)
    assert len(platform.orders) == 1
    assert result.order.id == "o1"
    assert platform.sends == 2
    assert platform.finds == 2  # once at once, once after the quiet period
    assert sleep.slept == [90.0]
    row = await store.get_submission(CONN, "chan-1")
    assert row is not None
    assert row.attempts == 2


async def test_a_429_is_reconciled_like_any_unknown_outcome(ledger, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["429"]
    result = await submit(ledger, platform)
    assert (platform.sends, len(platform.orders), result.order.id) == (2, 1, "o1")
    assert sleep.slept == [90.0]


async def test_a_platform_that_keeps_failing_gives_up_with_an_unknown_outcome(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["503"] * 10
    with pytest.raises(OrderOutcomeUnknown, match="no order was found after 3 attempts") as caught:
        await submit(ledger, platform)
    assert caught.value.reference == "chan-1"
    assert platform.sends == 3
    assert await state_of(store) is SubmissionState.UNKNOWN
    platform.script = []
    result = await submit(ledger, platform)
    assert result.replayed is True
    assert len(platform.orders) == 1


async def test_a_rejected_order_fails_and_its_replay_fails_the_same_way(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["400"]
    with pytest.raises(RejectedError, match="unknown SKU"):
        await submit(ledger, platform)
    assert await state_of(store) is SubmissionState.FAILED
    with pytest.raises(
        RejectedError, match=r"^order .chan-1. was refused when first submitted: create_order: unknown SKU"
    ):
        await submit(ledger, platform)
    assert platform.sends == 1
    assert platform.orders == []


async def test_a_refused_reference_says_a_fixed_draft_needs_a_new_reference(ledger, platform) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["400"]
    with pytest.raises(RejectedError):
        await submit(ledger, platform)
    for fixed in (draft(), draft(quantity=2)):  # the same draft again, then a corrected one
        with pytest.raises(RejectedError) as caught:
            await submit(ledger, platform, fixed)
        assert "under a new reference" in caught.value.action
    assert platform.sends == 1


async def test_an_error_that_proves_no_order_leaves_the_submission_pending(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["401"]
    with pytest.raises(CredentialsError):
        await submit(ledger, platform)
    assert await state_of(store) is SubmissionState.PENDING
    assert platform.finds == 0
    result = await submit(ledger, platform)
    assert result.order.id == "o1"
    assert len(platform.orders) == 1


@pytest.mark.parametrize(
    "error",
    [
        RetryableError("could not reach shop.example.com (ConnectError)", operation="create_order"),
        RejectedError("the store redirected to sso.example.net (HTTP 302)", operation="login"),
        PluginError("the create_order request could not be built, so nothing was sent"),
    ],
    ids=["connection refused", "login redirected", "body not built"],
)
async def test_an_error_marked_not_sent_leaves_the_submission_pending_not_unknown(  # type: ignore[no-untyped-def]
    ledger, platform, store, sleep, error
) -> None:
    """The HTTP layer proved the request never left: no lookup, no quiet period, the error as it is."""
    marked = mark_not_sent(error)

    async def unsent(d: OrderDraft) -> Order:
        raise marked

    with pytest.raises(type(error)) as caught:
        await ledger.submit(CONN, draft(), send=unsent, find=platform.find)
    assert caught.value is marked
    assert await state_of(store) is SubmissionState.PENDING
    assert (platform.finds, sleep.slept) == (0, [])
    result = await submit(ledger, platform)  # the same draft, sent again as it is
    assert result.order.id == "o1"


async def test_the_same_errors_unmarked_stay_unknown(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    """Without the proof, a 5xx-like error may follow a commit: the ledger reconciles."""

    async def failing(d: OrderDraft) -> Order:
        raise RetryableError("could not reach shop.example.com", operation="create_order")

    ledger.max_sends = 1
    with pytest.raises(OrderOutcomeUnknown):
        await ledger.submit(CONN, draft(), send=failing, find=platform.find)
    assert await state_of(store) is SubmissionState.UNKNOWN
    assert platform.finds == 2


async def test_a_first_refusal_says_no_order_was_made_and_the_reference_is_spent(ledger, platform) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["400"]
    with pytest.raises(RejectedError) as caught:
        await submit(ledger, platform)
    assert "none was made" in caught.value.action
    assert "new reference" in caught.value.action


class CrashingStore:
    """Wraps a store; the process dies when the ledger records the outcome of a send."""

    def __init__(self, inner: ConnectionStore, *, on: SubmissionState) -> None:
        self.inner = inner
        self.on = on
        self.armed = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def update_submission(self, *args: object, **kwargs: object) -> bool:
        if self.armed and kwargs.get("state") is self.on:
            self.armed = False
            raise Crash
        return await self.inner.update_submission(*args, **kwargs)  # type: ignore[arg-type]


async def test_a_crash_after_the_order_was_made_is_reconciled_not_sent_again(store, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    crashing = CrashingStore(store, on=SubmissionState.CREATED)
    with pytest.raises(Crash):
        await OrderLedger(crashing, sleep=sleep).submit(CONN, draft(), send=platform.send, find=platform.find)  # type: ignore[arg-type]
    assert await state_of(store) is SubmissionState.SENDING
    restarted = OrderLedger(store, sleep=sleep)
    result = await submit(restarted, platform)
    assert result.order == platform.orders[0]
    assert result.replayed is True
    assert (platform.sends, len(platform.orders)) == (1, 1)


async def test_a_crash_before_anything_was_sent_is_sent_after_the_quiet_period(store, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    async def dies(_draft: OrderDraft) -> Order:
        raise Crash

    with pytest.raises(Crash):
        await OrderLedger(store, sleep=sleep).submit(CONN, draft(), send=dies, find=platform.find)
    assert await state_of(store) is SubmissionState.SENDING
    result = await submit(OrderLedger(store, sleep=sleep, quiet_period=5.0), platform)
    assert len(platform.orders) == 1
    assert result.order.id == "o1"
    assert sleep.slept == [5.0]


async def test_a_failed_lookup_leaves_the_outcome_unknown_until_a_later_call(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    platform.script = ["lost"]
    platform.find_fails = 1
    with pytest.raises(OrderOutcomeUnknown, match="looking it up failed"):
        await submit(ledger, platform)
    assert await state_of(store) is SubmissionState.UNKNOWN
    result = await submit(ledger, platform)
    assert result.order == platform.orders[0]
    assert len(platform.orders) == 1


async def test_ten_concurrent_submissions_make_one_row_and_one_order(ledger, platform, store) -> None:  # type: ignore[no-untyped-def]
    results = await asyncio.gather(*(submit(ledger, platform) for _ in range(10)))
    assert len(platform.orders) == 1
    assert {r.order.id for r in results} == {"o1"}
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert len(await store.list_submissions(connection_id=CONN)) == 1


async def test_two_processes_sharing_the_database_send_once(store, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    """B finds A's attempt in flight; after B's quiet period A has recorded it, and B returns that."""
    release, entered = asyncio.Event(), asyncio.Event()

    async def slow_send(d: OrderDraft) -> Order:
        entered.set()
        await release.wait()
        return await platform.send(d)

    a, b = OrderLedger(store, sleep=sleep), OrderLedger(store, sleep=sleep)
    first = asyncio.create_task(a.submit(CONN, draft(), send=slow_send, find=platform.find))
    await entered.wait()

    async def a_finishes() -> None:
        release.set()
        await asyncio.wait({first})

    sleep.during = a_finishes
    second = await b.submit(CONN, draft(), send=platform.send, find=platform.find)
    assert (await first).order == second.order
    assert second.replayed is True
    assert len(platform.orders) == 1


async def test_reconcile_settles_open_rows_whose_orders_exist(store, platform, sleep) -> None:  # type: ignore[no-untyped-def]
    crashing = CrashingStore(store, on=SubmissionState.CREATED)
    with pytest.raises(Crash):
        await OrderLedger(crashing, sleep=sleep).submit(CONN, draft("a-1"), send=platform.send, find=platform.find)  # type: ignore[arg-type]

    async def dies(_draft: OrderDraft) -> Order:
        raise Crash

    ledger = OrderLedger(store, sleep=sleep)
    with pytest.raises(Crash):
        await ledger.submit(CONN, draft("b-1"), send=dies, find=platform.find)
    left = await ledger.reconcile(CONN, find=platform.find)
    assert [row.reference for row in left] == ["b-1"]
    assert await state_of(store, "a-1") is SubmissionState.CREATED
    assert platform.sends == 1
