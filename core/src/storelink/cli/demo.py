"""``storelink demo``: the whole job against a simulated store (OCC by default), in well under a minute.

It starts the OCC simulator on loopback, connects with a store URL typed the way
merchants type them (mixed case, a trailing slash) and shows what it was normalised
to and what the key may do; syncs a catalog of a few thousand products with inventory
and shipping methods while the simulator's short-lived tokens force visible
refreshes; creates an order and sends it again to show that a reference never makes
two orders; revokes the key and shows the error a person would see and the
connection's new status; and ends with a summary table.

``--platform`` picks another platform whose plugin ships a simulator. One that
onboards with OAuth (``PlatformInfo.oauth``) is connected through the core's OAuth
onboarding, as ``storelink connect`` does it: the authorization URL with a single-use
state, the simulator playing the merchant who approves the app
(:class:`storelink.testing.OAuthSimulator`: ``app_credentials()`` and
``approve(authorization_url)``), the callback received on a loopback listener and
checked (state, store, the platform's verification), the code exchanged
(:meth:`Hub.complete_authorization`), then the same validation and save; the last step
uninstalls the app instead of revoking a key. A platform without a ``refresh_token``
hook skips the token refresh step.

Everything it keeps is in a temporary directory (SQLite file, generated key, the
synced files), unless ``--dir`` names one to keep. Loopback is allowed for the
demo's own simulator only, through an explicit test egress policy; the environment
and ``--db`` are not used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Mapping
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
from storelink.cli.simulate import SimulatorType
from storelink.cli.state import run
from storelink.cli.sync import progress_bar
from storelink.credentials import Secret
from storelink.errors import PluginError, StorelinkError
from storelink.sync import SyncJob

if TYPE_CHECKING:
    from storelink.credentials import Credentials
    from storelink.hub import Hub
    from storelink.models import Order, OrderDraft, StoreURL
    from storelink.plugins import Platform
    from storelink.session import Session
    from storelink.simulation import Simulator
    from storelink.testing.oauth import OAuthSimulator

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

    def __init__(
        self,
        console: Console,
        directory: Path,
        products: int,
        token_ttl: float,
        keep: bool = False,
        platform: str = "occ",
    ) -> None:
        self.console = console
        self.platform = platform
        self.oauth = False
        self.refreshes = True
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
        from storelink.plugins import default_registry
        from storelink.simulation import load, serve_in_thread

        started = time.monotonic()
        handle = default_registry().platform(self.platform)
        self.oauth = handle.info.oauth is not None
        self.refreshes = handle.implements("refresh_token")
        sim = load(self.platform)(products=self.products, token_ttl=self.token_ttl, seed=7)
        credentials = {} if self.oauth else sim.issue_credentials()
        self.step(1, f"Start a simulated {handle.info.title} store")
        with serve_in_thread(sim.app) as base_url:
            lifetime = f", tokens live {self.token_ttl:g} s" if self.refreshes else ""
            self.say("store", f"{base_url}  ({self.products:,} products{lifetime})")
            self.say("data", f"{self.directory}{'' if self.keep else '  (deleted at the end; --dir keeps it)'}")
            hub = await self._open_hub()
            async with hub:
                if self.oauth:
                    connection_id, credentials = await self._install(hub, handle, base_url, sim)
                else:
                    connection_id = await self._connect(hub, base_url, credentials)
                async with hub.session(connection_id) as session:
                    await self._sync(hub, session)
                    if self.refreshes:
                        await self._show_refresh(hub, session)
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
        validation = await hub.validate(self.platform, store_url=typed, credentials=credentials)
        self.say("normalised", Text(validation.store_url.origin, style="green"))
        self.say("access", "login ok; each capability probed:")
        show_report(self.console, validation.report, indent=14)
        conn = await hub.save(validation, label="demo store")
        self.say("connection", Text(f"{conn.id} ({conn.status.value}), key stored encrypted", style="green"))
        return conn.id

    async def _install(self, hub: Hub, handle: Platform, base_url: str, sim: Simulator) -> tuple[str, dict[str, str]]:
        """Connect through the OAuth flow; return the connection id and the credentials (to uninstall)."""
        from storelink.testing.oauth import OAuthSimulator

        if not isinstance(sim, OAuthSimulator):
            raise PluginError(
                "declares an OAuth flow, but its simulator cannot play the merchant's approval "
                "(it needs app_credentials() and approve(authorization_url))",
                plugin=handle.slug,
            )
        self.step(2, "Connect it, the way a merchant types the address")
        typed = f"HTTP://LocalHost:{urlsplit(base_url).port}/"
        self.say("typed", typed)
        url = handle.normalize_store_url(typed, allow_loopback=hub.egress.allow_loopback)
        self.say("normalised", Text(url.origin, style="green"))
        app = self._app_credentials(handle, sim.app_credentials())
        params, redirect_uri, verifier = await self._authorize(hub, handle, url, app, sim)
        obtained = await hub.complete_authorization(
            handle.slug,
            store_url=url,
            params=params,
            app_credentials=app,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
        )
        self.say("exchange", f"the code was exchanged for {handle.info.title}'s credentials")
        validation = await hub.validate(handle.slug, store_url=url, credentials=obtained)
        self.say("access", "credentials ok; each capability probed:")
        show_report(self.console, validation.report, indent=14)
        conn = await hub.save(validation, label="demo store")
        self.say("connection", Text(f"{conn.id} ({conn.status.value}), credentials stored encrypted", style="green"))
        # The simulator's control (uninstall) takes the values; they are never printed.
        plain = {name: value.reveal() if isinstance(value, Secret) else str(value) for name, value in obtained.items()}
        return conn.id, plain

    @staticmethod
    def _app_credentials(handle: Platform, values: Mapping[str, str]) -> Credentials:
        """Parse the simulated app's credentials as an operator's, secret fields held as :class:`Secret`."""
        from storelink.onboarding import app_credentials

        flow = handle.info.oauth
        assert flow is not None  # noqa: S101  # the caller checked
        secret = {f.name for f in flow.app_credentials if f.secret}
        held: dict[str, str | Secret] = {k: Secret(v) if k in secret else v for k, v in values.items()}
        return app_credentials(handle.info, held, owner="the demo's simulated app")

    async def _authorize(
        self, hub: Hub, handle: Platform, url: StoreURL, app: Credentials, sim: OAuthSimulator
    ) -> tuple[dict[str, str], str, Secret | None]:
        """Send the merchant to approve the app, receive the callback on loopback, and check it."""
        import httpx

        from storelink.onboarding import (
            STATE_TTL,
            AuthorizationStates,
            LoopbackListener,
            check_callback,
            read_callback,
        )

        flow = handle.info.oauth
        assert flow is not None  # noqa: S101  # the caller checked
        states = AuthorizationStates()
        async with LoopbackListener() as listener:
            pending = states.begin(
                handle, url, client_id=str(app["client_id"]), redirect_uri=listener.redirect_uri, browser=None
            )
            shown = urlsplit(pending.authorization_url)
            lasts = f"single-use state, {STATE_TTL / 60:g} minutes"
            self.say("authorize", f"{shown.scheme}://{shown.netloc}{shown.path}  ({lasts})")
            self.say("scopes", ", ".join(flow.scopes))
            callback = sim.approve(pending.authorization_url)
            self.say("approved", f"the merchant approved the app; {handle.info.title} sends the browser back")
            async with httpx.AsyncClient(trust_env=False, timeout=10) as browser:
                await browser.get(callback)  # the browser following the platform's redirect
            async with asyncio.timeout(10):
                query = await listener.wait()
        params = read_callback(query)
        claimed = states.claim(params.get("state"), None)
        check_callback(handle, claimed, query=query, params=params, app=app, allow_loopback=hub.egress.allow_loopback)
        self.say("callback", f"{listener.redirect_uri}: state spent, store matched, verified")
        return params, pending.redirect_uri, pending.code_verifier

    async def _sync(self, hub: Hub, session: Session) -> None:
        self.step(3, "Sync the catalog, inventory and shipping methods to JSON Lines")
        with progress_bar(self.console) as progress:
            job = SyncJob(session, hub.store, self.directory / "sync", progress)
            results = {r.kind: r.items for r in await job.run(("products", "inventory", "shipping"))}
        self.tally.products = results["products"]
        self.tally.inventory = results["inventory"]
        self.tally.shipping = results["shipping"]
        self.say("files", str(self.directory / "sync"))
        await self._show_pacing(hub, session)

    async def _show_pacing(self, hub: Hub, session: Session) -> None:
        """Say how long requests waited for the store's request budget, if the platform reports one."""
        from storelink.http import ConnectionRuntime

        runtime = (await hub.context(session.connection)).http
        if isinstance(runtime, ConnectionRuntime) and runtime.pacer.waits:
            pacer = runtime.pacer
            self.say(
                "paced",
                f"{pacer.waits} request(s) waited {pacer.waited:.1f} s in all for the store's request budget, "
                "instead of being throttled",
            )

    async def _show_refresh(self, hub: Hub, session: Session) -> None:
        """Make sure a token refresh is seen: a fast sync can finish before its token comes due."""
        if hub.stats.refreshes:
            self.say("tokens", f"refreshed {hub.stats.refreshes} time(s) during the sync")
            return
        # A token is refreshed once it is past its refresh point (at most half its lifetime) and
        # before it expires; reading every tenth of a lifetime lands at least one read in that window.
        step = self.token_ttl / 10
        waited = 0.0
        while not hub.stats.refreshes and waited < 2 * self.token_ttl:
            await asyncio.sleep(step)
            waited += step
            await session.shipping_methods()
        self.say("tokens", f"the sync beat its token; refreshed after {waited:.1f} s of light reads")

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
        self.step(5, "Uninstall the app from the store" if self.oauth else "Revoke the key in the store")
        sim.revoke_credentials(credentials)
        self.say(
            "revoked",
            "the merchant uninstalled the app" if self.oauth else "the merchant regenerated the application key",
        )
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
            (
                f"token refreshes ({self.token_ttl:g} s tokens)" if self.refreshes else "token refreshes",
                f"{stats.refreshes}",
            ),
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
    "--platform",
    type=SimulatorType(),
    default="occ",
    show_default=True,
    help="The platform to simulate (any whose plugin ships a simulator; see `storelink simulate`).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database, key and synced files here (default: a temporary directory, deleted).",
)
def demo(products: int, token_ttl: float, platform: str, directory: Path | None) -> None:
    """Watch storelink onboard a simulated store, sync it, order, and handle a revoked key.

    Runs offline against the platform's simulator (OCC by default) on 127.0.0.1, with
    its own database and key in a temporary directory: nothing else is read or
    changed. A platform that onboards with OAuth (--platform shopify) is connected
    through the OAuth flow, its simulator approving the app, and uninstalled at the
    end. It ends with a summary table of counts, logins, token refreshes and seconds.
    """
    console = Console(highlight=False)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        run(_Demo(console, directory.resolve(), products, token_ttl, keep=True, platform=platform).run())
        return
    with tempfile.TemporaryDirectory(prefix="storelink-demo-") as tmp:
        run(_Demo(console, Path(tmp), products, token_ttl, platform=platform).run())
