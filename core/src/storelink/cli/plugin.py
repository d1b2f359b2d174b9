"""``storelink plugin new``: start a platform plugin from the template."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from storelink.cli.state import CliState, pass_state

__all__ = ["plugin"]


@click.group()
def plugin() -> None:
    """Write your own platform plugin."""


@plugin.command()
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Where to create the plugin's directory.",
)
@click.option(
    "--oauth",
    is_flag=True,
    help="Onboard merchants with an OAuth install (approve the app, exchange the code) instead of a pasted key.",
)
@pass_state
def new(state: CliState, name: str, directory: Path, oauth: bool) -> None:
    """Create the package storelink-NAME: a working plugin for a tiny fake platform.

    It has the hooks, a simulator-backed contract test and its packaging; replace the
    fake platform's calls with the real platform's, and keep the contract suite green.
    NAME is the platform's slug: lower case letters, digits and underscores. With
    --oauth, merchants connect through an OAuth authorization-code install: the plugin
    declares the flow and implements build_authorization_url, verify_callback and
    complete_authorization, and its simulator has an approve screen and a token endpoint.
    """
    from storelink.scaffold import next_steps, render_plugin

    path = render_plugin(name, directory, variant="oauth" if oauth else None)
    out = state.output()
    out.result(str(path))
    out.note(Text.assemble(("Created ", "bold green"), str(path), "\nNext:"))
    for step in next_steps(path):
        out.note(Text(f"  {step}"))
