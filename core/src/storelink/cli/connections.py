"""``storelink connect`` and ``storelink connections list | show | check | reconnect | remove``."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.console import Console
from rich.text import Text

from storelink.cli.credentials import collect_credentials, parse_credentials, parse_pairs
from storelink.cli.output import Column, json_option
from storelink.cli.platforms import PLATFORM
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.errors import AuthorizationError, ConnectionStateError
from storelink.models import AccessReport, CapabilityCheck, Connection, ConnectionStatus

__all__ = ["connect", "connections", "show_report"]

_CONNECTION_COLUMNS: tuple[Column[Connection], ...] = (
    Column("id", lambda c: c.id, no_wrap=True),
    Column("platform", lambda c: c.platform),
    Column("store URL", lambda c: c.store_url),
    Column("status", lambda c: c.status),
    Column("label", lambda c: c.label),
    Column("updated", lambda c: c.updated_at),
    Column("last error", lambda c: c.last_error),
)

_CHECK_COLUMNS: tuple[Column[CapabilityCheck], ...] = (
    Column("capability", lambda c: c.capability),
    Column("allowed", lambda c: c.ok),
    Column("detail", lambda c: c.detail),
)


def show_report(console: Console, report: AccessReport, *, indent: int = 2) -> None:
    """Print what the key may do, capability by capability."""
    for check in report.checks:
        mark = Text("ok  ", style="green") if check.ok else Text("no  ", style="bold red")
        line = Text.assemble(" " * indent, mark, (check.capability.value, "bold"))
        if check.detail:
            line.append(f"  {check.detail}", style="dim")
        console.print(line)


def _fields(conn: Connection) -> list[tuple[str, object]]:
    return [
        ("id", conn.id),
        ("platform", conn.platform),
        ("store URL", conn.store_url),
        ("status", conn.status),
        ("label", conn.label),
        ("settings", ", ".join(f"{k}={v}" for k, v in sorted(conn.settings.items())) or None),
        ("created", conn.created_at),
        ("updated", conn.updated_at),
        ("credentials expire", conn.credentials_expire_at),
        ("last error", conn.last_error),
    ]


_CREDENTIAL_HELP = (
    "A credential as NAME=VALUE; VALUE may be @- (read it from stdin) or @PATH (read it from a file). "
    "Fields not given are prompted for, secrets with hidden input. Repeatable."
)


_CONNECT_EXAMPLES = """\b
Examples:
  storelink connect occ --store-url https://www.example-store.com
  storelink connect occ --store-url example-store.com -c application_key=@- < key.txt
"""


@click.command(epilog=_CONNECT_EXAMPLES)
@click.argument("platform", type=PLATFORM)
@click.option(
    "--store-url", required=True, metavar="URL", help="The store's address, as the merchant has it; it is normalised."
)
@click.option("--credential", "-c", "credential_args", multiple=True, metavar="NAME=VALUE", help=_CREDENTIAL_HELP)
@click.option(
    "--setting", "setting_args", multiple=True, metavar="NAME=VALUE", help="A platform setting (site, language...)."
)
@click.option("--label", metavar="NAME", help="A name for the connection, shown in listings.")
@json_option
@pass_state
def connect(
    state: CliState,
    platform: str,
    store_url: str,
    credential_args: tuple[str, ...],
    setting_args: tuple[str, ...],
    label: str | None,
    as_json: bool,
) -> None:
    """Connect a store: normalise its URL, ask for its credentials, validate, save.

    The credential fields come from the platform (see `storelink platforms`). The key
    is checked at once (login and a probe of each capability) and stored encrypted;
    the connection id is printed on stdout.

    Exit codes: 0 connected, 2 bad store URL or key format, 3 key rejected or a
    permission missing, 4 platform unavailable (try again later).
    """
    out = state.output(as_json)

    async def go() -> Connection:
        async with open_hub(state) as hub:
            handle = hub.platform(platform)
            url = handle.normalize_store_url(store_url, allow_loopback=hub.egress.allow_loopback)
            out.note(Text.assemble(("Store URL  ", "bold"), url.origin))
            known = [f.name for f in handle.info.settings_schema]
            settings = parse_pairs(setting_args, option="--setting", known=known)
            schema = handle.info.credential_schema
            credentials = parse_credentials(schema, collect_credentials(schema, credential_args, platform=platform))
            out.note(f"Checking the credentials with {handle.info.title}...")
            validation = await hub.validate(platform, store_url=url, credentials=credentials, settings=settings)
            show_report(out.err, validation.report)
            return await hub.save(validation, label=label)

    conn = run(go())
    if out.json:
        out.model_json(conn)
    else:
        out.note(Text.assemble(("Connected  ", "bold green"), f"{conn.id} ({conn.status.value})"))
        out.result(conn.id)


@click.group()
def connections() -> None:
    """List, inspect, check, reconnect and remove connections."""


@connections.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in ConnectionStatus]),
    help="Only connections with this status.",
)
@json_option
@pass_state
def list_(state: CliState, status: str | None, as_json: bool) -> None:
    """List the connections (removed ones only with --status removed)."""
    out = state.output(as_json)

    async def go() -> list[Connection]:
        async with open_hub(state) as hub:
            return list(await hub.connections(status=ConnectionStatus(status) if status else None))

    rows = run(go())
    out.records(
        rows,
        _CONNECTION_COLUMNS,
        title="Connections",
        empty="No connections: storelink connect PLATFORM --store-url URL",
    )


@connections.command()
@click.argument("connection_id", metavar="ID")
@json_option
@pass_state
def show(state: CliState, connection_id: str, as_json: bool) -> None:
    """Show one connection (never its credentials)."""
    out = state.output(as_json)

    async def go() -> Connection:
        async with open_hub(state) as hub:
            return await hub.get(connection_id)

    conn = run(go())
    out.record(conn, _fields(conn))


@connections.command()
@click.argument("connection_id", metavar="ID")
@json_option
@pass_state
def check(state: CliState, connection_id: str, as_json: bool) -> None:
    """Log in again and probe what the key may do, capability by capability.

    Exits 3 when the key is rejected or a capability is denied.
    """
    out = state.output(as_json)

    async def go() -> AccessReport:
        async with open_hub(state) as hub:
            return await hub.check(connection_id)

    report = run(go())
    out.records(report.checks, _CHECK_COLUMNS, title=f"Access of {connection_id}")
    if not report.ok:
        missing = ", ".join(c.value for c in report.missing)
        raise AuthorizationError(f"the key of {connection_id} may not use: {missing}", capability=missing)


@connections.command()
@click.argument("connection_id", metavar="ID")
@click.option("--credential", "-c", "credential_args", multiple=True, metavar="NAME=VALUE", help=_CREDENTIAL_HELP)
@json_option
@pass_state
def reconnect(state: CliState, connection_id: str, credential_args: Sequence[str], as_json: bool) -> None:
    """Give a connection new credentials (after a key was revoked or rotated).

    They are validated like `storelink connect` does before they replace the old ones.
    """
    out = state.output(as_json)

    async def go() -> Connection:
        async with open_hub(state) as hub:
            conn = await hub.get(connection_id)
            if conn.status is ConnectionStatus.REMOVED:
                raise ConnectionStateError(f"connection {connection_id} was removed", status=conn.status.value)
            schema = hub.platform(conn.platform).info.credential_schema
            values = collect_credentials(schema, credential_args, platform=conn.platform)
            credentials = parse_credentials(schema, values)
            out.note(f"Checking the new credentials of {conn.id} ({conn.store_url})...")
            return await hub.reconnect(connection_id, credentials=credentials)

    conn = run(go())
    if out.json:
        out.model_json(conn)
    else:
        out.note(Text.assemble(("Reconnected  ", "bold green"), f"{conn.id} ({conn.status.value})"))


@connections.command()
@click.argument("connection_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def remove(state: CliState, connection_id: str, yes: bool) -> None:
    """Remove a connection and erase its credentials (it stays listed as removed)."""
    if not yes:
        click.confirm(f"Remove connection {connection_id} and erase its credentials?", abort=True, err=True)

    async def go() -> Connection:
        async with open_hub(state) as hub:
            await hub.remove(connection_id)
            return await hub.get(connection_id)

    conn = run(go())
    state.output().note(Text.assemble(("Removed  ", "bold"), f"{conn.id} ({conn.store_url})"))
