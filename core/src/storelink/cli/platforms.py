"""``storelink platforms``, and the PLATFORM argument other commands share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, pass_state

if TYPE_CHECKING:
    from storelink.models import PlatformInfo

__all__ = ["PLATFORM", "platforms"]


class PlatformType(click.ParamType[str]):
    """A platform slug that names an installed platform plugin."""

    name = "platform"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return *value* if such a platform is installed; otherwise fail naming the installed ones."""
        from storelink.plugins import default_registry

        slug = str(value).strip().lower()
        installed = default_registry().available()
        if slug not in installed:
            choices = ", ".join(installed) or "none"
            self.fail(f"no platform {slug!r} is installed (installed: {choices}); pip install storelink-{slug}")
        return slug


PLATFORM = PlatformType()

_COLUMNS: tuple[Column[PlatformInfo], ...] = (
    Column("platform", lambda i: i.slug, no_wrap=True),
    Column("title", lambda i: i.title, no_wrap=True),
    Column("capabilities", lambda i: ", ".join(sorted(c.value for c in i.capabilities))),
    Column("credentials", lambda i: ", ".join(f.name for f in i.credential_schema)),
)


@click.command()
@json_option
@pass_state
def platforms(state: CliState, as_json: bool) -> None:
    """List the installed platforms: slug, title, capabilities, credential fields.

    A platform is a plugin package (storelink-occ, ...) that registers itself in the
    'storelink.platforms' entry-point group; install one with pip and it appears here.
    """
    from storelink import list_platforms

    out = state.output(as_json)
    out.records(
        list_platforms(),
        _COLUMNS,
        title="Installed platforms",
        empty="No platform is installed: pip install storelink-occ",
    )
