"""Reading a connection and creating orders: tables, JSON Lines, drafts, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cli, Sim, isolate, one_line_error


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One environment for the module: its tests share a connection (orders differ by reference)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield isolate(tmp_path_factory.mktemp("reads"), monkeypatch)


@pytest.fixture(scope="module")
def conn(env: dict[str, str], occ: Sim) -> str:
    return Cli().connect(occ)


@pytest.fixture(scope="module")
def order_line(conn: str) -> dict[str, Any]:
    """A line and a shipping method of the store, as a draft names them."""
    (product,) = Cli().json_lines("products", conn, "--limit", "1")
    method = Cli().json_lines("shipping-methods", conn)[0]
    return {"product_id": product["id"], "sku_id": product["variants"][0]["id"], "method": method["id"]}


def _draft(line: dict[str, Any], reference: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "lines": [{"product_id": line["product_id"], "sku_id": line["sku_id"], "quantity": 2}],
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "line2": None,
            "city": "Syracuse",
            "region": "NY",
            "postal_code": "13202",
            "country": "US",
            "email": "ada@example.com",
            "phone": "+13155550100",
        },
        "shipping_method_id": line["method"],
        "payment": {"type": "invoice", "po_number": "PO-1"},
    }


def test_products_prints_a_table_and_stops_at_the_limit(run_cli: Cli, conn: str) -> None:
    result = run_cli("products", conn, "--limit", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("prod") == 3
    assert "variants" in result.stdout


def test_products_json_streams_every_product_once(run_cli: Cli, conn: str) -> None:
    products = run_cli.json_lines("products", conn)
    assert len(products) == 300
    assert len({p["id"] for p in products}) == 300
    first = products[0]
    assert {"id", "title", "price", "variants", "extra"} <= set(first)
    assert isinstance(first["price"]["amount"], str)


def test_inventory_filters_by_sku(run_cli: Cli, conn: str) -> None:
    (product,) = run_cli.json_lines("products", conn, "--limit", "1")
    sku = product["variants"][0]["id"]
    levels = run_cli.json_lines("inventory", conn, "--sku", sku)
    assert levels
    assert {level["sku_id"] for level in levels} == {sku}
    table = run_cli("inventory", conn, "--limit", "2")
    assert table.exit_code == 0
    assert "available" in table.stdout


def test_shipping_methods_show_their_rates(run_cli: Cli, conn: str) -> None:
    result = run_cli("shipping-methods", conn)
    assert result.exit_code == 0
    assert "USD" in result.stdout
    methods = run_cli.json_lines("shipping-methods", conn)
    assert all({"id", "title", "enabled", "rates"} <= set(m) for m in methods)


def test_orders_since_a_time(run_cli: Cli, conn: str, order_line: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(_draft(order_line, "chan-since")))
    assert run_cli("order", "create", conn, "--file", str(path)).exit_code == 0
    assert "chan-since" in [o["reference"] for o in run_cli.json_lines("orders", conn, "--since", "2000-01-01")]
    assert run_cli.json_lines("orders", conn, "--since", "2999-01-01T00:00:00+02:00") == []
    empty = run_cli("orders", conn, "--since", "2999-01-01")
    assert empty.exit_code == 0
    assert "No orders." in empty.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["products", "{conn}", "--limit", "-1"], "--limit"),
        (["orders", "{conn}", "--since", "yesterday"], "not an ISO 8601 date"),
        (["products", "occ_nope"], "no connection 'occ_nope'"),
        (["orders", "occ_nope"], "no connection 'occ_nope'"),
        (["inventory", "occ_nope"], "no connection 'occ_nope'"),
        (["shipping-methods", "occ_nope"], "no connection 'occ_nope'"),
        (["order", "get", "{conn}", "o-does-not-exist"], "o-does-not-exist"),
        (["order", "get", "occ_nope", "o1"], "no connection 'occ_nope'"),
        (["order", "create", "{conn}"], "Missing option '--file'"),
        (["order", "create", "{conn}", "--file", "/nonexistent/draft.json"], "/nonexistent/draft.json"),
    ],
)
def test_reads_refuse_bad_input_with_exit_code_2(run_cli: Cli, conn: str, args: list[str], expected: str) -> None:
    line = one_line_error(run_cli(*(a.format(conn=conn) for a in args)), 2)
    assert expected in line


def test_order_create_then_a_replay_prints_the_same_order(
    run_cli: Cli, conn: str, order_line: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(_draft(order_line, "chan-replay")))

    first = run_cli("order", "create", conn, "--file", str(path))
    assert first.exit_code == 0, first.stderr
    assert "Created" in first.stderr
    assert "chan-replay" in first.stdout
    again = json.loads(run_cli("order", "create", conn, "--file", str(path), "--json").stdout)
    assert again["replayed"] is True
    assert again["order"]["reference"] == "chan-replay"

    got = run_cli.json_lines("order", "get", conn, again["order"]["id"])
    assert got[0]["id"] == again["order"]["id"]
    assert [o["reference"] for o in run_cli.json_lines("orders", conn)].count("chan-replay") == 1


def test_order_create_reads_the_draft_from_stdin(run_cli: Cli, conn: str, order_line: dict[str, Any]) -> None:
    result = run_cli("order", "create", conn, "-f", "-", "--json", input=json.dumps(_draft(order_line, "chan-2")))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["replayed"] is False


def test_the_same_reference_with_another_payload_is_refused(
    run_cli: Cli, conn: str, order_line: dict[str, Any]
) -> None:
    draft = _draft(order_line, "chan-3")
    assert run_cli("order", "create", conn, "-f", "-", input=json.dumps(draft)).exit_code == 0
    draft["lines"][0]["quantity"] = 5
    line = one_line_error(run_cli("order", "create", conn, "-f", "-", input=json.dumps(draft)), 2)
    assert "chan-3" in line
    assert "different payload" in line


# The bad-drafts corpus of the adversarial pass (issue 18), in three parts: malformed
# drafts (the field is named), implausible drafts (refused before anything is sent) and
# draft files that are not plausible documents. Its size is pinned below.
MALFORMED_DRAFTS: list[tuple[Any, str]] = [
    (lambda d: d["lines"][0].update(quantity=0), "lines[0].quantity"),
    (lambda d: d["lines"][0].pop("sku_id"), "lines[0].sku_id"),
    (lambda d: d["shipping_address"].update(country="usa"), "shipping_address.country"),
    (lambda d: d.update(reference=""), "reference"),
    (lambda d: d.update(lines=[]), "lines"),
    (lambda d: d.update(shipping_metod="x"), "shipping_metod"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED_DRAFTS)
def test_a_malformed_draft_names_the_field_at_fault(
    run_cli: Cli, conn: str, order_line: dict[str, Any], change: Any, field: str
) -> None:
    draft = _draft(order_line, "chan-malformed")
    change(draft)
    line = one_line_error(run_cli("order", "create", conn, "-f", "-", input=json.dumps(draft)), 2)
    assert f"invalid draft: {field}:" in line
    assert "chan-malformed" not in [o["reference"] for o in run_cli.json_lines("orders", conn)]


def test_a_draft_that_is_not_json_says_where(run_cli: Cli, conn: str) -> None:
    line = one_line_error(run_cli("order", "create", conn, "-f", "-", input='{"reference": '), 2)
    assert "is not JSON" in line
    assert "line 1" in line


def _many_lines(d: dict[str, Any]) -> None:
    d["lines"] = [dict(d["lines"][0]) for _ in range(1001)]


IMPLAUSIBLE_DRAFTS: list[tuple[Any, str]] = [
    (lambda d: d["lines"][0].update(quantity=10**30), "'quantity' must be <= 1000000"),
    (lambda d: d["lines"][0].update(price={"amount": "-5", "currency": "USD"}), "price must not be negative"),
    (lambda d: d["lines"][0].update(price={"amount": "1E+400", "currency": "USD"}), "out of range"),
    (lambda d: d["shipping_address"].update(name="Ann\x00Lee"), "control characters"),
    (lambda d: d["shipping_address"].update(line1="x" * 5000), "line1"),
    (_many_lines, "'lines' must be <= 1000"),
    (lambda d: d.update(payment={"type": "card; DROP TABLE"}), "payment.type"),
    (lambda d: d.update(extra={"blob": "x" * 70_000}), "extra is 70,"),
]


@pytest.mark.parametrize(("change", "says"), IMPLAUSIBLE_DRAFTS)
def test_a_draft_the_store_could_never_accept_is_refused_before_anything_is_sent(
    run_cli: Cli, conn: str, occ: Sim, order_line: dict[str, Any], change: Any, says: str
) -> None:
    draft = _draft(order_line, "chan-implausible")
    change(draft)
    orders = occ.sim.stats.get("orders", 0)
    line = one_line_error(run_cli("order", "create", conn, "-f", "-", input=json.dumps(draft)), 2)
    assert "invalid draft" in line
    assert says in line
    assert occ.sim.stats.get("orders", 0) == orders  # no order request reached the store


IMPLAUSIBLE_FILES: list[tuple[str, str]] = [
    ('{"reference": "a", "reference": "b"}', "the key 'reference' appears twice"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"reference": "' + "x" * (2 * 1024 * 1024) + '"}', "larger than 1,048,576 characters"),
]


def test_the_bad_drafts_corpus_size_is_recorded() -> None:
    assert (len(MALFORMED_DRAFTS), len(IMPLAUSIBLE_DRAFTS), len(IMPLAUSIBLE_FILES)) == (6, 8, 3)


@pytest.mark.parametrize(("text", "says"), IMPLAUSIBLE_FILES)
def test_a_draft_file_that_is_not_a_plausible_document_is_refused_with_what_to_fix(
    run_cli: Cli, conn: str, text: str, says: str
) -> None:
    line = one_line_error(run_cli("order", "create", conn, "-f", "-", input=text), 2)
    assert says in line
