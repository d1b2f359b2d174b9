"""``storelink connect`` and ``storelink connections list | show | check | reconnect | remove``."""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.text import Text

from storelink.cli.credentials import collect_credentials, parse_credentials, parse_pairs
from storelink.cli.exits import Failure
from storelink.cli.output import Column, Output, json_option
from storelink.cli.platforms import PLATFORM
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.credentials import Credentials, Secret
from storelink.errors import AuthorizationError, ConnectionStateError
from storelink.models import AccessReport, CapabilityCheck, Connection, ConnectionStatus, StoreURL

if TYPE_CHECKING:
    from storelink.hub import Hub, Validation
    from storelink.plugins import Platform

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
  storelink connect PLATFORM --store-url URL -a client_id=ID -a client_secret=@secret.txt
"""

_APP_HELP = (
    "For an OAuth platform: the channel's app credential as NAME=VALUE (client_id, client_secret...); "
    "VALUE may be @- or @PATH. Missing ones are prompted for. Repeatable."
)


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
@click.option("--app-credential", "-a", "app_args", multiple=True, metavar="NAME=VALUE", help=_APP_HELP)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="a free port",
    help="For an OAuth platform: the port of the callback listener on 127.0.0.1.",
)
@click.option(
    "--callback-url",
    "paste",
    is_flag=True,
    help="For an OAuth platform: do not listen; paste the address the browser was sent back to (stdin).",
)
@click.option(
    "--redirect-uri",
    metavar="URI",
    help="For an OAuth platform, with --callback-url: the redirect URI registered for the app, exactly.",
)
@click.option("--open/--no-open", "open_browser", default=False, help="Open the authorization URL in a browser.")
@json_option
@pass_state
def connect(
    state: CliState,
    platform: str,
    store_url: str,
    credential_args: tuple[str, ...],
    setting_args: tuple[str, ...],
    label: str | None,
    app_args: tuple[str, ...],
    port: int,
    paste: bool,
    redirect_uri: str | None,
    open_browser: bool,
    as_json: bool,
) -> None:
    """Connect a store: normalise its URL, ask for its credentials, validate, save.

    The credential fields come from the platform (see `storelink platforms`). The key
    is checked at once (login and a probe of each capability) and stored encrypted;
    the connection id is printed on stdout.

    For a platform that onboards with OAuth, the command prints the authorization URL
    instead: open it, approve the app, and the platform sends the browser back to a
    listener on 127.0.0.1 (register http://127.0.0.1:PORT/oauth/callback with the
    app), or, with --callback-url, paste the address the browser ended on. The
    credentials the platform issues are then checked and stored like a key.

    Exit codes: 0 connected, 2 bad store URL or key format, 3 key rejected, a
    permission missing or the authorization refused, 4 platform unavailable (try
    again later).
    """
    out = state.output(as_json)

    async def go() -> Connection:
        async with open_hub(state) as hub:
            handle = hub.platform(platform)
            url = handle.normalize_store_url(store_url, allow_loopback=hub.egress.allow_loopback)
            out.note(Text.assemble(("Store URL  ", "bold"), url.origin))
            known = [f.name for f in handle.info.settings_schema]
            settings = parse_pairs(setting_args, option="--setting", known=known)
            if handle.info.oauth is not None:
                if credential_args:
                    raise click.BadParameter(
                        f"{handle.info.title} issues the credentials when the app is approved; "
                        "give the app's with --app-credential",
                        param_hint="--credential",
                    )
                oauth = _OAuthOptions(app_args=app_args, port=port, paste=paste, redirect_uri=redirect_uri)
                credentials = await _authorize(out, hub, handle, url, oauth, open_browser=open_browser)
            else:
                schema = handle.info.credential_schema
                values = collect_credentials(schema, credential_args, platform=platform)
                credentials = parse_credentials(schema, values)
            out.note(f"Checking the credentials with {handle.info.title}...")
            validation: Validation = await hub.validate(
                platform, store_url=url, credentials=credentials, settings=settings
            )
            show_report(out.err, validation.report)
            return await hub.save(validation, label=label)

    conn = run(go())
    if out.json:
        out.model_json(conn)
    else:
        out.note(Text.assemble(("Connected  ", "bold green"), f"{conn.id} ({conn.status.value})"))
        out.result(conn.id)


class _OAuthOptions:
    def __init__(self, *, app_args: Sequence[str], port: int, paste: bool, redirect_uri: str | None) -> None:
        self.app_args = app_args
        self.port = port
        self.paste = paste
        self.redirect_uri = redirect_uri


def _app_credentials(handle: Platform, app_args: Sequence[str]) -> Credentials:
    """Collect the app credentials (prompting for missing ones), secret fields as Secret."""
    from storelink.errors import ConfigurationError
    from storelink.onboarding import app_credentials

    flow = handle.info.oauth
    assert flow is not None  # noqa: S101  # the caller checked
    schema = flow.app_credentials
    typed = collect_credentials(schema, app_args, platform=handle.slug, option="--app-credential")
    values: dict[str, str | Secret] = {
        name: Secret(value) if schema.field_named(name).secret else value for name, value in typed.items()
    }
    try:
        return app_credentials(handle.info, values, owner="--app-credential")
    except ConfigurationError as exc:
        raise Failure(exc.message) from None


async def _authorize(
    out: Output, hub: Hub, handle: Platform, url: StoreURL, options: _OAuthOptions, *, open_browser: bool
) -> Credentials:
    """Send the merchant to the platform, receive the callback, check it, exchange the code."""
    from storelink.onboarding import STATE_TTL, AuthorizationStates, LoopbackListener, check_callback, read_callback

    app = _app_credentials(handle, options.app_args)
    states = AuthorizationStates()
    async with contextlib.AsyncExitStack() as stack:
        listener = None
        if options.paste:
            redirect_uri = _registered_redirect(options.redirect_uri)
        else:
            if options.redirect_uri is not None:
                raise click.BadParameter(
                    "only with --callback-url; the listener's is http://127.0.0.1:PORT/oauth/callback",
                    param_hint="--redirect-uri",
                )
            listener = await stack.enter_async_context(LoopbackListener(options.port))
            redirect_uri = listener.redirect_uri
        pending = states.begin(handle, url, client_id=str(app["client_id"]), redirect_uri=redirect_uri, browser=None)
        out.note(f"Open this address, sign in to {handle.info.title} and approve the app:")
        out.err.print(pending.authorization_url, soft_wrap=True, markup=False, highlight=False)
        if open_browser:
            webbrowser.open(pending.authorization_url)
        if listener is not None:
            out.note(f"Waiting for {handle.info.title} to send the browser back to {redirect_uri} ...")
            try:
                async with asyncio.timeout(STATE_TTL):
                    query = await listener.wait()
            except TimeoutError:
                raise Failure(
                    f"nothing came back to {redirect_uri} within {STATE_TTL / 60:g} minutes; run the command again"
                ) from None
        else:
            pasted = click.prompt("Paste the address your browser was sent back to", err=True)
            query = _pasted_query(pasted, redirect_uri)
    params = read_callback(query)
    states.claim(params.get("state"), None)
    check_callback(handle, pending, query=query, params=params, app=app, allow_loopback=hub.egress.allow_loopback)
    out.note(f"Exchanging the authorization with {handle.info.title}...")
    return await hub.complete_authorization(
        handle.slug,
        store_url=url,
        params=params,
        app_credentials=app,
        redirect_uri=redirect_uri,
        code_verifier=pending.code_verifier,
    )


def _registered_redirect(uri: str | None) -> str:
    from storelink.connect.channels import check_redirect_uri

    if uri is None:
        raise click.BadParameter("give the redirect URI registered for the app", param_hint="--redirect-uri")
    try:
        check_redirect_uri(uri)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--redirect-uri") from None
    return uri


def _pasted_query(pasted: str, redirect_uri: str) -> str:
    """Return the query of the pasted callback address, which must be at *redirect_uri* exactly."""
    text = pasted.strip()
    parts = urlsplit(text)
    expected = urlsplit(redirect_uri)
    if (parts.scheme, parts.netloc, parts.path) != (expected.scheme, expected.netloc, expected.path):
        raise Failure(f"the address pasted is not at the redirect URI {redirect_uri}; paste the whole address")
    return parts.query


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
