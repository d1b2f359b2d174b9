"""Reading a connection: ``products``, ``orders``, ``inventory``, ``shipping-methods``.

Lists stream: with ``--json`` each item is printed as soon as its page arrives, so
``storelink products ID --json | head`` stops early without reading the catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.models import InventoryLevel, Order, Product, ShippingMethod, ShippingRate

__all__ = ["inventory", "orders", "products", "shipping_methods"]


class IsoDateTime(click.ParamType[datetime]):
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""

    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """Parse *value* into an aware datetime."""
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or date-time, like 2025-01-31 or 2025-01-31T12:00:00Z")
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _rates(rates: tuple[ShippingRate, ...]) -> str:
    parts = []
    for r in rates:
        if r.min_subtotal is None and r.max_subtotal is None:
            parts.append(str(r.amount))
        else:
            parts.append(f"{r.amount} ({r.min_subtotal or 0}-{'' if r.max_subtotal is None else r.max_subtotal})")
    return ", ".join(parts)


PRODUCT_COLUMNS: tuple[Column[Product], ...] = (
    Column("id", lambda p: p.id, no_wrap=True),
    Column("title", lambda p: p.title),
    Column("price", lambda p: p.price),
    Column("variants", lambda p: len(p.variants), "right"),
    Column("active", lambda p: p.active),
)
ORDER_COLUMNS: tuple[Column[Order], ...] = (
    Column("id", lambda o: o.id, no_wrap=True),
    Column("reference", lambda o: o.reference),
    Column("state", lambda o: o.state),
    Column("lines", lambda o: len(o.lines), "right"),
    Column("total", lambda o: o.totals.total if o.totals else None, "right"),
    Column("created", lambda o: o.created_at),
    Column("updated", lambda o: o.updated_at),
)
INVENTORY_COLUMNS: tuple[Column[InventoryLevel], ...] = (
    Column("sku", lambda i: i.sku_id, no_wrap=True),
    Column("location", lambda i: i.location_id),
    Column("available", lambda i: i.available, "right"),
    Column("status", lambda i: i.status),
)
SHIPPING_COLUMNS: tuple[Column[ShippingMethod], ...] = (
    Column("id", lambda m: m.id, no_wrap=True),
    Column("title", lambda m: m.title),
    Column("enabled", lambda m: m.enabled),
    Column("rates", lambda m: _rates(m.rates)),
)

_ID = click.argument("connection_id", metavar="ID")
_LIMIT = click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Stop after N items.")


@click.command()
@_ID
@_LIMIT
@json_option
@pass_state
def products(state: CliState, connection_id: str, limit: int | None, as_json: bool) -> None:
    """List the store's products with their price and number of variants."""
    out = state.output(as_json)

    async def go() -> None:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            await out.stream(session.products(), PRODUCT_COLUMNS, limit=limit, title="Products", empty="No products.")

    run(go())


@click.command()
@_ID
@click.option("--since", type=IsoDateTime(), help="Only orders changed at or after this time (UTC if no offset).")
@_LIMIT
@json_option
@pass_state
def orders(state: CliState, connection_id: str, since: datetime | None, limit: int | None, as_json: bool) -> None:
    """List the store's orders, optionally only those changed since a time."""
    out = state.output(as_json)

    async def go() -> None:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            await out.stream(
                session.orders(since=since), ORDER_COLUMNS, limit=limit, title="Orders", empty="No orders."
            )

    run(go())


@click.command()
@_ID
@click.option("--sku", "skus", multiple=True, metavar="SKU_ID", help="Only this SKU (repeatable).")
@_LIMIT
@json_option
@pass_state
def inventory(state: CliState, connection_id: str, skus: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """List stock levels, per SKU and location."""
    out = state.output(as_json)

    async def go() -> None:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            levels = session.inventory(sku_ids=skus or None)
            await out.stream(levels, INVENTORY_COLUMNS, limit=limit, title="Inventory", empty="No inventory levels.")

    run(go())


@click.command("shipping-methods")
@_ID
@json_option
@pass_state
def shipping_methods(state: CliState, connection_id: str, as_json: bool) -> None:
    """List the store's shipping methods and their rates."""
    out = state.output(as_json)

    async def go() -> list[ShippingMethod]:
        async with open_hub(state) as hub, hub.session(connection_id) as session:
            return list(await session.shipping_methods())

    out.records(run(go()), SHIPPING_COLUMNS, title="Shipping methods", empty="No shipping methods.")
