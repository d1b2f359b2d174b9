"""``storelink order get`` and ``storelink order create`` (idempotent by the draft's reference)."""

from __future__ import annotations

import json
from typing import IO, Any

import click
from rich.text import Text

from storelink.cli.exits import Failure
from storelink.cli.output import Output, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.errors import StorelinkError
from storelink.models import Order, OrderDraft

__all__ = ["order", "read_draft"]

DRAFT_EXAMPLE = """\
{"reference": "chan-1001",
 "lines": [{"product_id": "prod100", "sku_id": "sku100_0", "quantity": 2}],
 "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Syracuse",
                      "region": "NY", "postal_code": "13202", "country": "US"},
 "shipping_method_id": "ground",
 "payment": {"type": "invoice", "po_number": "PO-1"}}"""


def order_fields(o: Order) -> list[tuple[str, object]]:
    """Return the rows of an order's grid."""
    rows: list[tuple[str, object]] = [
        ("id", o.id),
        ("reference", o.reference),
        ("state", o.state),
        ("total", o.totals.total if o.totals else None),
        ("created", o.created_at),
        ("updated", o.updated_at),
    ]
    rows += [(f"line {i + 1}", f"{ln.quantity} x {ln.sku_id} ({ln.product_id})") for i, ln in enumerate(o.lines)]
    if o.shipping_address:
        a = o.shipping_address
        rows.append(("ship to", ", ".join(x for x in (a.name, a.line1, a.city, a.postal_code, a.country) if x)))
    return rows


#: The largest draft file read, in characters: above the largest valid draft (1,000 lines of 256-character ids).
MAX_DRAFT_CHARS = 1024 * 1024


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a key given twice (JSON keeps the last one silently)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def read_draft(stream: IO[str]) -> OrderDraft:
    """Read an order draft from a JSON document; a malformed one names the field at fault.

    :raises Failure: Not JSON, or not a valid draft (exit code 2).
    """
    from storelink.codec import draft_from_jsonable
    from storelink.errors import InputError

    name = getattr(stream, "name", "-")
    try:
        text = stream.read(MAX_DRAFT_CHARS + 1)
        if len(text) > MAX_DRAFT_CHARS:
            raise Failure(f"{name} is larger than {MAX_DRAFT_CHARS:,} characters; a draft is far smaller")
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise Failure(f"{name} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise Failure(f"{name} is not UTF-8 text") from None
    except _DuplicateKey as exc:
        raise Failure(f"{name}: the key {exc.key!r} appears twice in one object; keep one") from None
    except RecursionError:
        raise Failure(f"{name} is nested too deeply to be an order draft") from None
    try:
        return draft_from_jsonable(data)
    except InputError as exc:
        raise Failure(f"{name}: invalid draft: {exc}; see 'storelink order create --help' for the format") from None


@click.group()
def order() -> None:
    """Get one order, or create one from a draft file."""


@order.command()
@click.argument("connection_id", metavar="ID")
@click.argument("order_id")
@json_option
@pass_state
def get(state: CliState, connection_id: str, order_id: str, as_json: bool) -> None:
    """Show one order by its id on the platform."""
    out = state.output(as_json)

    async def go() -> Order:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            return await session.get_order(order_id)

    found = run(go())
    out.record(found, order_fields(found))


def _print_created(out: Output, created: Order, replayed: bool) -> None:
    if out.json:
        from storelink.codec import to_jsonable

        out.json_line({"order": to_jsonable(created), "replayed": replayed})
        return
    if replayed:
        out.note(Text.assemble(("Replayed  ", "bold yellow"), f"reference {created.reference}: the existing order"))
    else:
        out.note(Text.assemble(("Created  ", "bold green"), f"order {created.id}"))
    out.record(created, order_fields(created))


@order.command(
    epilog="\b\nA draft (JSON; optional: billing_address, customer, payment, price of a line):\n" + DRAFT_EXAMPLE
)
@click.argument("connection_id", metavar="ID")
@click.option(
    "--file",
    "-f",
    "draft_file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    metavar="PATH",
    help="The order draft (JSON); '-' reads stdin.",
)
@json_option
@pass_state
def create(state: CliState, connection_id: str, draft_file: IO[str], as_json: bool) -> None:
    """Create an order from a draft; the draft's reference is its idempotency key.

    Sending the same draft again never makes a second order: it prints the order the
    first one made, marked replayed. A different draft under a used reference is
    refused (exit 2). A request that never left (the store could not be reached, its
    login failed) prints "Not sent" and exits with the error's code: send the same
    draft again. A store's refusal (a 4xx) spends the reference (exit 1). Only when the
    order may exist without an answer saying so does the command reconcile it by
    reference and, failing that, say the outcome is unknown (exit 1).
    With --json it prints {"order": {...}, "replayed": true|false}.
    """
    out = state.output(as_json)
    draft = read_draft(draft_file)

    async def go() -> tuple[Order, bool]:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            result = await session.create_order(draft)
            return result.order, result.replayed

    try:
        created, replayed = run(go())
    except StorelinkError as exc:
        from storelink.http.faults import was_not_sent  # loaded by the request already

        if was_not_sent(exc):
            out.note(
                Text.assemble(
                    ("Not sent  ", "bold yellow"),
                    f"order {draft.reference} did not reach the store; the same draft can be sent again",
                )
            )
        raise
    _print_created(out, created, replayed)
