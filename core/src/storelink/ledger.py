"""Idempotent order creation: the order ledger.

A channel's order reference is its idempotency key. Before anything is sent, the
reference is claimed in the store's ledger (unique per connection) with a hash of the
draft. Then each submission moves through these states::

    pending ──► sending ──► created          the platform returned the order
       ▲           │
       │           ├──────► failed           the platform refused it (a 4xx): no order
       │           │
       └───────────┤                         no request reached the platform (the
                   │                         error proves it: see below)
                   │
                   └──────► unknown ──► sending (again, same reference)
                              │
                              └──► created   found by find_order(reference)

- An error that proves no order was made sets the row back to ``pending`` and is raised
  as it is: the platform refused the caller (401/403), the egress guard or the
  configuration refused the call, or the HTTP layer marked the error as not sent
  (:func:`storelink.http.faults.was_not_sent`: the request could not be built or was
  too large, the connection was refused, the login before it failed). The draft may be
  submitted again as it is.
- A replay (same reference, same payload) returns the stored outcome; it sends nothing.
- The same reference with another payload raises :class:`~storelink.ConflictError`.
- An unknown outcome (a lost response, a 5xx, a crash between sending and recording,
  which leaves the row ``sending``) is reconciled with ``find_order(reference)``
  before anything is sent again. Only if the order is still not found after a quiet
  period, long enough for any request still in flight to have ended, is it sent again,
  with the same reference.
- Every transition is a compare-and-swap on the stored state, so of any number of
  submitters, in one process or several sharing the database, one sends at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from attrs import frozen

from storelink.codec import order_from_jsonable, payload_hash, to_jsonable
from storelink.errors import (
    AuthorizationError,
    ConfigurationError,
    ConflictError,
    CredentialsError,
    EgressError,
    OrderOutcomeUnknown,
    RejectedError,
    StorelinkError,
)
from storelink.models import Order, OrderDraft
from storelink.store import ConnectionStore, Submission, SubmissionState

__all__ = ["OrderLedger", "OrderResult"]

Send = Callable[[OrderDraft], Awaitable[Order]]
Find = Callable[[str], Awaitable[Order | None]]
Sleep = Callable[[float], Awaitable[None]]

#: Errors that prove no order was made: nothing was sent, or the platform refused
#: the caller (401/403) before looking at the order.
_NO_ORDER_MADE = (CredentialsError, AuthorizationError, EgressError, ConfigurationError)
_OPEN = (SubmissionState.SENDING, SubmissionState.UNKNOWN)
#: What to do about a reference the platform refused: it stays spent, so a fixed draft needs a new one.
_REFUSED_ACTION = "a refused reference is spent: send the fixed draft under a new reference"
#: The same, the first time: the store has just refused the draft.
_REJECTED_ACTION = "the store refused the order, so none was made: fix the draft and send it under a new reference"


def _not_sent(exc: BaseException) -> bool:
    """Whether the HTTP layer proved that *exc*'s request never left the process."""
    from storelink.http.faults import was_not_sent  # the HTTP stack is loaded by then

    return was_not_sent(exc)


@frozen(kw_only=True)
class OrderResult:
    """What :meth:`~storelink.session.Session.create_order` returns.

    :param order: The order the platform holds for the draft's reference.
    :param replayed: ``True`` when the reference had been submitted before, so this
        call returned that submission's order instead of creating one.
    """

    order: Order
    replayed: bool


class OrderLedger:
    """Submits orders at most once per reference, over a :class:`ConnectionStore`.

    :param store: Where the ledger rows live.
    :param sleep: Waits for the quiet period (the HTTP layer's clock, so tests run on
        a fake one).
    :param quiet_period: Seconds to wait, after an unknown outcome and a lookup that
        found nothing, before looking again and sending again. Make it longer than
        the HTTP deadline of a request, so that none is still in flight.
    :param max_sends: Requests one :meth:`submit` makes at most before it gives up
        with :class:`~storelink.OrderOutcomeUnknown`.
    """

    def __init__(self, store: ConnectionStore, *, sleep: Sleep, quiet_period: float = 90.0, max_sends: int = 3) -> None:
        self.store = store
        self.sleep = sleep
        self.quiet_period = quiet_period
        self.max_sends = max_sends
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def _local(self, key: tuple[str, str]) -> AsyncIterator[None]:
        """Serialise this process's submissions of one reference (the store's CAS covers the rest)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def submit(self, connection_id: str, draft: OrderDraft, *, send: Send, find: Find) -> OrderResult:
        """Create *draft* on the platform once, whatever happens and however often it is called.

        :param connection_id: The connection the order is for.
        :param draft: The order; ``draft.reference`` is its idempotency key.
        :param send: Creates the order on the platform (the ``create_order`` hook).
        :param find: Looks an order up by reference (the ``find_order`` hook).
        :raises ConflictError: The reference was submitted with another payload.
        :raises RejectedError: The platform refused the order (now or the first time).
        :raises OrderOutcomeUnknown: The outcome could not be settled yet (the lookup
            failed, or the platform kept failing); call again later with the same
            draft to reconcile it.
        :raises CredentialsError: Or another error that proves no order was made; the
            submission is ``pending`` again and may be retried.
        """
        digest = payload_hash(draft)
        async with self._local((connection_id, draft.reference)):
            row, claimed = await self.store.claim_submission(connection_id, draft.reference, digest)
            if row.payload_hash != digest:
                conflict = ConflictError(
                    f"order reference {draft.reference!r} was already submitted with a different payload",
                    operation="create_order",
                )
                if row.state is SubmissionState.FAILED:  # a refused reference stays spent: say so
                    conflict.action = _REFUSED_ACTION
                raise conflict
            return await _Submission(self, row, draft, send, find, replayed=not claimed).run()

    async def reconcile(self, connection_id: str, *, find: Find) -> list[Submission]:
        """Settle the connection's open submissions by looking each up by reference.

        A ``sending`` or ``unknown`` row whose order is found becomes ``created``. Rows
        this process is submitting right now are left alone.

        :return: The rows still not settled (``pending``, ``sending`` or ``unknown``):
            submit their drafts again to finish them.
        """
        left = []
        open_states = (SubmissionState.PENDING, *_OPEN)
        for row in await self.store.list_submissions(state=open_states, connection_id=connection_id):
            if (connection_id, row.reference) in self._locks or row.state is SubmissionState.PENDING:
                left.append(row)
                continue
            order = await find(row.reference)
            if order is None or not await self._record(row, order):
                left.append(row)
        return left

    async def _record(self, row: Submission, order: Order) -> bool:
        return await self.store.update_submission(
            row.connection_id,
            row.reference,
            state=SubmissionState.CREATED,
            platform_order_id=order.id,
            order_json=json.dumps(to_jsonable(order), separators=(",", ":")),
            expect_state=_OPEN,
        )


class _Submission:
    """One call of :meth:`OrderLedger.submit`: drives a ledger row to a settled state."""

    def __init__(
        self, ledger: OrderLedger, row: Submission, draft: OrderDraft, send: Send, find: Find, *, replayed: bool
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.row = row
        self.draft = draft
        self.send = send
        self.find = find
        self.replayed = replayed
        self.sends = 0

    async def reread(self) -> Submission:
        row = await self.store.get_submission(self.row.connection_id, self.row.reference)
        if row is None:
            raise StorelinkError(f"the ledger row of order {self.draft.reference!r} disappeared")
        self.row = row
        return row

    async def move(self, state: SubmissionState, *, expect: SubmissionState, error: str | None = None) -> bool:
        row = self.row
        return await self.store.update_submission(
            row.connection_id, row.reference, state=state, last_error=error, expect_state=expect
        )

    def unknown(self, why: str) -> OrderOutcomeUnknown:
        return OrderOutcomeUnknown(
            f"order {self.draft.reference!r}: {why}; submit it again later to reconcile it",
            reference=self.draft.reference,
        )

    async def run(self) -> OrderResult:
        while True:
            row = self.row
            if row.state is SubmissionState.CREATED:
                order = order_from_jsonable(json.loads(row.order_json or "null"))
                return OrderResult(order=order, replayed=self.replayed)
            if row.state is SubmissionState.FAILED:
                refused = RejectedError(f"order {row.reference!r} was refused when first submitted: {row.last_error}")
                refused.action = _REFUSED_ACTION
                raise refused
            if row.state is SubmissionState.PENDING:
                if await self.move(SubmissionState.SENDING, expect=SubmissionState.PENDING):
                    await self.attempt()
                await self.reread()
                continue
            await self.settle()

    async def attempt(self) -> None:
        """Send the order once (the row is ``sending``) and record what happened."""
        self.sends += 1
        try:
            order = await self.send(self.draft)
        except Exception as exc:
            if isinstance(exc, _NO_ORDER_MADE) or _not_sent(exc):
                await self.move(SubmissionState.PENDING, expect=SubmissionState.SENDING, error=str(exc))
                raise
            if isinstance(exc, RejectedError) and not isinstance(exc, ConflictError):
                await self.move(SubmissionState.FAILED, expect=SubmissionState.SENDING, error=str(exc))
                exc.action = _REJECTED_ACTION
                raise
            # A conflict (it may mean "this reference exists"), a lost response, a 5xx, a
            # mapping failure after the platform answered...: the order may exist.
            await self.move(SubmissionState.UNKNOWN, expect=SubmissionState.SENDING, error=str(exc))
            return
        await self.ledger._record(self.row, order)

    async def look_up(self) -> bool:
        """Look the reference up; record the order and return ``True`` if it exists."""
        try:
            order = await self.find(self.draft.reference)
        except _NO_ORDER_MADE:
            raise
        except StorelinkError as exc:
            raise self.unknown(f"the outcome is unknown and looking it up failed ({exc})") from exc
        if order is None:
            return False
        await self.ledger._record(self.row, order)
        return True

    async def settle(self) -> None:
        """Settle an open row (``sending`` or ``unknown``): find its order, or send it again."""
        if self.row.state is SubmissionState.SENDING:
            # An attempt that did not record its outcome: it crashed, or it is still in
            # flight in another process (which may still record "created").
            error = "an earlier attempt was interrupted before its outcome was recorded"
            await self.move(SubmissionState.UNKNOWN, expect=SubmissionState.SENDING, error=error)
            await self.reread()
            return
        if await self.look_up():
            await self.reread()
            return
        seen = self.row
        await self.ledger.sleep(self.ledger.quiet_period)
        row = await self.reread()
        if (row.state, row.attempts, row.updated_at) != (seen.state, seen.attempts, seen.updated_at):
            return  # someone else moved it on: start from its new state
        if await self.look_up():
            await self.reread()
            return
        if self.sends >= self.ledger.max_sends:
            raise self.unknown(f"no order was found after {self.sends} attempts")
        if await self.move(SubmissionState.SENDING, expect=SubmissionState.UNKNOWN, error=None):
            await self.attempt()
        await self.reread()
