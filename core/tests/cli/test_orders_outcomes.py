"""What ``order create`` says when it fails: not sent, refused, or unknown (and reconciled).

Each test runs the CLI in-process against its own OCC simulator on loopback; faults are
switched on after connecting, so the connection's validation sees a healthy store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from storelink.http.clock import SystemClock

from .conftest import Cli, Sim, one_line_error, serve

ORDERS = "/ccappagent/v1/orders"


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Sim]:
    yield from serve(products=20)


def draft(cli: Cli, conn: str, reference: str, *, sku: str | None = None) -> str:
    (product,) = cli.json_lines("products", conn, "--limit", "1")
    method = cli.json_lines("shipping-methods", conn)[0]["id"]
    return json.dumps(
        {
            "reference": reference,
            "lines": [{"product_id": product["id"], "sku_id": sku or product["variants"][0]["id"], "quantity": 1}],
            "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Syracuse", "country": "US"},
            "shipping_method_id": method,
        }
    )


def faults(store: Sim, **rates: Any) -> None:
    """Switch the simulator's faults on, for order creation only."""
    store.sim.app.config = attrs.evolve(store.sim.config, fault_paths=(ORDERS,), **rates)


def posts(store: Sim) -> int:
    return store.sim.stats.get("orders", 0)


def test_a_store_that_cannot_be_reached_is_not_sent_not_unknown(env: dict[str, str]) -> None:
    """Connection refused: exit 4 at once, "Not sent", no reconciling and no quiet period."""
    cli = Cli()
    server = serve(products=20)
    sim = next(server)
    conn = cli.connect(sim)
    text = draft(cli, conn, "chan-unreachable")
    server.close()  # the store is gone: every connection is refused
    started = time.monotonic()
    result = cli("order", "create", conn, "-f", "-", input=text)
    line = one_line_error(result, 4)
    assert time.monotonic() - started < 30  # no quiet period (90 s) was waited
    assert "could not reach" in line
    assert "unknown" not in line
    assert "reconcile" not in line
    assert "Not sent" in result.stderr
    assert "chan-unreachable" in result.stderr


def test_a_store_refusal_is_reported_as_refused(store: Sim) -> None:
    """A 4xx (an unknown SKU) is a definite answer: refused, the reference spent, nothing unknown."""
    cli = Cli()
    conn = cli.connect(store)
    text = draft(cli, conn, "chan-refused", sku="no-such-sku")
    line = one_line_error(cli("order", "create", conn, "-f", "-", input=text), 1)
    assert "HTTP 400" in line
    assert "the store refused the order, so none was made" in line
    assert "unknown" not in line
    again = one_line_error(cli("order", "create", conn, "-f", "-", input=text), 1)
    assert "was refused when first submitted" in again
    assert posts(store) == 0


def test_a_lost_response_is_reconciled_by_reference(store: Sim) -> None:
    """The store committed the order and the answer was lost: found by reference, made once."""
    cli = Cli()
    conn = cli.connect(store)
    text = draft(cli, conn, "chan-lost")
    faults(store, lose_order_rate=1.0)
    result = cli("order", "create", conn, "-f", "-", "--json", input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["order"]["reference"] == "chan-lost"
    assert posts(store) == 1


def test_a_store_answering_5xx_leaves_the_outcome_unknown(store: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500 may follow a commit: the ledger looks the order up and sends again, then says unknown."""

    async def no_wait(self: SystemClock, seconds: float) -> None:
        """The quiet periods and back-offs pass at once (the test asserts what is sent, not when)."""

    cli = Cli()
    conn = cli.connect(store)
    text = draft(cli, conn, "chan-5xx")
    faults(store, fail_rate=1.0)
    monkeypatch.setattr(SystemClock, "sleep", no_wait)
    result = cli("order", "create", conn, "-f", "-", input=text)
    line = one_line_error(result, 1)
    assert "no order was found after 3 attempts" in line
    assert "reconcile" in line
    assert "Not sent" not in result.stderr
    assert store.sim.stats.get("faults_5xx", 0) == 3  # sent three times, looked up in between
