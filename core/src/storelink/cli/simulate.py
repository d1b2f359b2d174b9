"""``storelink simulate``: run a platform's simulator on loopback for local development."""

from __future__ import annotations

import importlib.metadata
import threading
from typing import Any

import click
from rich.text import Text

from storelink.cli.output import json_option
from storelink.cli.state import CliState, pass_state

__all__ = ["simulate"]


class SimulatorType(click.ParamType[str]):
    """The slug of a platform whose plugin ships a simulator."""

    name = "platform"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return *value* if an installed plugin simulates it; otherwise fail naming those that do."""
        from storelink.simulation import SIMULATOR_GROUP

        slug = str(value).strip().lower()
        installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=SIMULATOR_GROUP))
        if slug not in installed:
            self.fail(f"no installed plugin simulates {slug!r} (simulated: {', '.join(installed) or 'none'})")
        return slug


@click.command()
@click.argument("platform", type=SimulatorType())
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS", help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    metavar="PORT",
    help="Port to listen on (0: a free one).",
)
@click.option(
    "--products",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    metavar="N",
    help="Products in the catalog.",
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the access tokens it issues.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    metavar="SHARE",
    default=0.0,
    show_default=True,
    help="Share of requests answered with a transient failure (500, 502, 503 or 504).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Delay added to every response (a slow store).",
)
@click.option("--seed", type=int, default=0, show_default=True, metavar="N", help="Seed of the generated catalog.")
@json_option
@pass_state
def simulate(
    state: CliState,
    platform: str,
    host: str,
    port: int,
    products: int,
    token_ttl: float,
    fail_rate: float,
    latency: float,
    seed: int,
    as_json: bool,
) -> None:
    """Serve a simulated PLATFORM store until Ctrl-C, and print its URL and a valid key.

    The simulator answers the platform's endpoints with a generated catalog, for
    trying storelink and developing channels without a real store. Connect to it
    with STORELINK_ALLOW_LOOPBACK=1, since storelink refuses loopback stores otherwise.
    With --json it prints {"store_url": ..., "credentials": {...}} on one line.
    """
    from storelink.simulation import load, serve_in_thread

    out = state.output(as_json)
    factory = load(platform)
    sim = factory(products=products, seed=seed, token_ttl=token_ttl, fail_rate=fail_rate, latency=latency)
    credentials = sim.issue_credentials()
    with serve_in_thread(sim.app, host=host, port=port) as url:
        if out.json:
            out.json_line({"store_url": url, "credentials": credentials})
        else:
            for label, value in [("store URL", url), *credentials.items()]:
                out.result(f"{label:<16} {value}")  # whole, unwrapped: it is copied from here
            pairs = " ".join(f"-c {name}={value}" for name, value in credentials.items())
            out.note(
                Text.assemble(
                    "\nConnect to it:\n  ",
                    (f"STORELINK_ALLOW_LOOPBACK=1 storelink connect {platform} --store-url {url} {pairs}", "bold"),
                    "\nPress Ctrl-C to stop.",
                )
            )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            out.note("simulator stopped")
