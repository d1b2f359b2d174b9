"""``storelink serve``: run the connect service (onboarding pages and JSON API)."""

from __future__ import annotations

from pathlib import Path

import click

from storelink.cli.state import CliState, pass_state

__all__ = ["serve"]


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="Address to listen on (loopback by default).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, metavar="PORT", help="Port to listen on."
)
@click.option(
    "--channels",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file of the channels allowed to start connect sessions (their redirect URIs).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The https address the service is reached at, behind a TLS proxy (default: http://HOST:PORT).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    metavar="N",
    help="Worker processes on the one port; they share connect sessions through the database.",
)
@pass_state
def serve(state: CliState, host: str, port: int, channels: Path | None, public_url: str | None, workers: int) -> None:
    """Serve the connect pages where merchants link their stores, and their JSON API.

    Uses the same connection store and keys as the other commands (--db,
    STORELINK_KEYS). With no --channels it registers a local development channel
    and serves a start page at / that walks the whole flow. Stop it with Ctrl-C.

    Connect sessions live in the database, so a merchant's requests may reach any
    worker (--workers N), or any machine serving the same PostgreSQL database with
    the same STORELINK_KEYS, for example behind a load balancer. An in-memory
    database (--db :memory:) works with one worker only.
    """
    from storelink import redaction
    from storelink.connect import serve as run_service

    # The service logs on behalf of every merchant who onboards: scrub every record of
    # the process (uvicorn's too), whatever handler it reaches.
    redaction.install()
    run_service(
        host,
        port,
        channels=channels,
        public_url=public_url,
        log_level="debug" if state.log_level == "debug" else "info",
        workers=workers,
        database=state.database,
    )
