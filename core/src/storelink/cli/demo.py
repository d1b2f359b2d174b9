"""``storelink demo``: the whole job against a simulated OCC store, in well under a minute.

It starts the OCC simulator on loopback, connects with a store URL typed the way
merchants type them (mixed case, a trailing slash) and shows what it was normalised
to and what the key may do; syncs a catalog of a few thousand products with inventory
and shipping methods while the simulator's short-lived tokens force visible
refreshes; creates an order and sends it again to show that a reference never makes
two orders; revokes the key and shows the error a person would see and the
connection's new status; and ends with a summary table.

Everything it keeps is in a temporary directory (SQLite file, generated key, the
synced files), unless ``--dir`` names one to keep. Loopback is allowed for the
demo's own simulator only, through an explicit test egress policy; the environment
and ``--db`` are not used.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from attrs import define
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from storelink.cli.connections import show_report
from storelink.cli.exits import describe, exit_code_for
from storelink.cli.state import run
from storelink.cli.sync import SyncJob, progress_bar
from storelink.errors import StorelinkError

if TYPE_CHECKING:
    from storelink.hub import Hub
    from storelink.models import Order, OrderDraft
    from storelink.session import Session
    from storelink.simulation import Simulator

__all__ = ["demo"]

STEPS = 5


@define
class _Tally:
    """What the summary table reports."""

    products: int = 0
    inventory: int = 0
    shipping: int = 0
    orders: int = 0
    replays: int = 0
    refused: int = 0


class _Demo:
    """The demo's steps, printing as they go."""

    def __init__(self, console: Console, directory: Path, products: int, token_ttl: float, keep: bool = False) -> None:
        self.console = console
        self.directory = directory
        self.keep = keep
        self.products = products
        self.token_ttl = token_ttl
        self.tally = _Tally()

    def step(self, number: int, title: str) -> None:
        self.console.print()
        self.console.print(Rule(Text(f"{number}/{STEPS}  {title}", style="bold"), align="left"))

    def say(self, label: str, value: str | Text, style: str = "bold") -> None:
        """Print *value* under a label column; a long value wraps within its own column."""
        row = Table.grid(padding=(0, 2))
        row.add_column(width=12, style=style, no_wrap=True)
        row.add_column(overflow="fold")
        row.add_row(f"  {label}", value)
        self.console.print(row)

    async def run(self) -> None:
        from storelink.simulation import load, serve_in_thread

        started = time.monotonic()
        sim = load("occ")(products=self.products, token_ttl=self.token_ttl, seed=7)
        credentials = sim.issue_credentials()
        self.step(1, "Start a simulated Oracle Commerce Cloud store")
        with serve_in_thread(sim.app) as base_url:
            self.say("store", f"{base_url}  ({self.products:,} products, tokens live {self.token_ttl:g} s)")
            self.say("data", f"{self.directory}{'' if self.keep else '  (deleted at the end; --dir keeps it)'}")
            hub = await self._open_hub()
            async with hub:
                connection_id = await self._connect(hub, base_url, credentials)
                async with hub.session(connection_id) as session:
                    await self._sync(hub, session)
                    await self._order(session)
                    await self._revoke(hub, session, sim, credentials)
                self._summary(hub, time.monotonic() - started)

    async def _open_hub(self) -> Hub:
        from storelink.http import EgressPolicy
        from storelink.hub import Hub

        return await Hub.open(
            database=self.directory / "storelink.db",
            keys=self.directory / "keys",
            egress=EgressPolicy.for_tests(),
        )

    async def _connect(self, hub: Hub, base_url: str, credentials: dict[str, str]) -> str:
        self.step(2, "Connect it, the way a merchant types the address")
        typed = f"HTTP://LocalHost:{urlsplit(base_url).port}/"
        self.say("typed", typed)
        validation = await hub.validate("occ", store_url=typed, credentials=credentials)
        self.say("normalised", Text(validation.store_url.origin, style="green"))
        self.say("access", "login ok; each capability probed:")
        show_report(self.console, validation.report, indent=14)
        conn = await hub.save(validation, label="demo store")
        self.say("connection", Text(f"{conn.id} ({conn.status.value}), key stored encrypted", style="green"))
        return conn.id

    async def _sync(self, hub: Hub, session: Session) -> None:
        self.step(3, "Sync the catalog, inventory and shipping methods to JSON Lines")
        with progress_bar(self.console) as progress:
            job = SyncJob(session, hub.store, self.directory / "sync", progress)
            results = {r.kind: r.items for r in await job.run(("products", "inventory", "shipping"))}
        self.tally.products = results["products"]
        self.tally.inventory = results["inventory"]
        self.tally.shipping = results["shipping"]
        self.say("files", str(self.directory / "sync"))

    def _draft(self) -> OrderDraft:
        """Write ``draft.json`` (the format of ``storelink order create``) for a synced product, and read it."""
        from storelink.codec import draft_from_jsonable

        synced = self.directory / "sync"
        with (synced / "products.jsonl").open() as f:
            product: dict[str, Any] = json.loads(f.readline())
        with (synced / "shipping.jsonl").open() as f:
            method: dict[str, Any] = json.loads(f.readline())
        draft = {
            "reference": f"demo-{secrets.token_hex(4)}",
            "lines": [{"product_id": product["id"], "sku_id": product["variants"][0]["id"], "quantity": 2}],
            "shipping_address": {
                "name": "Ada Lovelace",
                "line1": "1 Main St",
                "city": "Syracuse",
                "region": "NY",
                "postal_code": "13202",
                "country": "US",
                "email": "ada@example.com",
            },
            "shipping_method_id": method["id"],
            "payment": {"type": "invoice", "po_number": "PO-1"},
        }
        path = self.directory / "draft.json"
        path.write_text(json.dumps(draft, indent=2) + "\n")
        self.say("draft", str(path))
        return draft_from_jsonable(draft)

    async def _order(self, session: Session) -> None:
        self.step(4, "Create an order, then send the same draft again")
        draft = self._draft()
        self.say("reference", f"{draft.reference} (the idempotency key)")
        first = await session.create_order(draft)
        self._show_order("sent", first.order, first.replayed)
        again = await session.create_order(draft)
        self._show_order("sent again", again.order, again.replayed)
        self.tally.orders = 1 if not first.replayed else 0
        self.tally.replays = int(again.replayed)
        same = "the same order" if again.order.id == first.order.id else "A DIFFERENT ORDER"
        self.say("result", Text(f"one order in the store; the replay returned {same}", style="green"))

    def _show_order(self, label: str, order: Order, replayed: bool) -> None:
        total = order.totals.total if order.totals else "-"
        self.say(label, f"order {order.id}, {order.state}, total {total}, replayed={replayed}")

    async def _revoke(self, hub: Hub, session: Session, sim: Simulator, credentials: dict[str, str]) -> None:
        self.step(5, "Revoke the key in the store")
        sim.revoke_credentials(credentials)
        self.say("revoked", "the merchant regenerated the application key")
        # The token manager logs the rejection as a warning; the demo shows it as the error line instead.
        tokens_log = logging.getLogger("storelink.http.tokens")
        level = tokens_log.level
        tokens_log.setLevel(logging.ERROR)
        try:
            for attempt in ("next call", "and again"):
                await self._call_revoked(hub, session, attempt)
        finally:
            tokens_log.setLevel(level)
        conn = await hub.get(session.connection.id)
        self.say("status", Text(conn.status.value, style="bold red" if conn.status.value == "revoked" else "bold"))

    async def _call_revoked(self, hub: Hub, session: Session, attempt: str) -> None:
        before = hub.stats.requests
        try:
            await session.shipping_methods()
        except StorelinkError as exc:
            self.tally.refused += 1
            sent = hub.stats.requests - before
            note = f"  (exit code {int(exit_code_for(exc))}, {sent} request(s) sent)"
            self.say(attempt, Text.assemble((describe(exc), "red"), (note, "dim")))
        else:
            self.say(attempt, Text("succeeded: the key was not revoked", style="bold red"))

    def _summary(self, hub: Hub, seconds: float) -> None:
        stats = hub.stats
        t = self.tally
        table = Table(title="storelink demo: summary", title_justify="left", title_style="bold")
        table.add_column("what")
        table.add_column("count", justify="right")
        rows = (
            ("products synced", f"{t.products:,}"),
            ("inventory levels synced", f"{t.inventory:,}"),
            ("shipping methods synced", f"{t.shipping:,}"),
            ("orders created", f"{t.orders}"),
            ("order replays (same order, nothing sent)", f"{t.replays}"),
            ("calls refused after revocation", f"{t.refused}"),
            ("logins", f"{stats.logins}"),
            (f"token refreshes ({self.token_ttl:g} s tokens)", f"{stats.refreshes}"),
            ("HTTP requests", f"{stats.requests:,}"),
            ("retries", f"{stats.retries}"),
            ("seconds", f"{seconds:.1f}"),
        )
        for what, count in rows:
            table.add_row(what, count)
        self.console.print()
        self.console.print(table)


@click.command()
@click.option(
    "--products",
    type=click.IntRange(min=1, max=100_000),
    metavar="N",
    default=3000,
    show_default=True,
    help="Products in the simulated catalog.",
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=1.0),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the simulator's access tokens (short, so refreshes happen).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database, key and synced files here (default: a temporary directory, deleted).",
)
def demo(products: int, token_ttl: float, directory: Path | None) -> None:
    """Watch storelink onboard a simulated OCC store, sync it, order, and handle a revoked key.

    Runs offline against the OCC simulator on 127.0.0.1, with its own database and
    key in a temporary directory: nothing else is read or changed. It ends with a
    summary table of counts, logins, token refreshes and seconds.
    """
    console = Console(highlight=False)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        run(_Demo(console, directory.resolve(), products, token_ttl, keep=True).run())
        return
    with tempfile.TemporaryDirectory(prefix="storelink-demo-") as tmp:
        run(_Demo(console, Path(tmp), products, token_ttl).run())
