"""What every command shares: the global options, the hub, and running coroutines.

Backends are imported inside the functions here and in the commands, so that
``storelink --help`` and ``storelink platforms`` import no HTTP, store or vault code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click
from attrs import frozen

from storelink.cli.output import Output

if TYPE_CHECKING:
    from storelink.hub import Hub

__all__ = ["CliState", "open_hub", "pass_state", "run"]

T = TypeVar("T")


@frozen(kw_only=True)
class CliState:
    """The global options, as every command sees them.

    :param database: ``--db`` / ``STORELINK_DB``; ``None`` for the embedded default.
    :param json: ``storelink --json``: every command prints JSON.
    :param log_level: ``--log-level``, lower case.
    """

    database: str | None = None
    json: bool = False
    log_level: str = "warning"

    def output(self, as_json: bool = False) -> Output:
        """Return the output of a command that was given ``--json`` as *as_json*."""
        return Output(json=self.json or as_json)


pass_state = click.make_pass_decorator(CliState, ensure=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on a fresh event loop."""
    import asyncio  # here, not at the top: `storelink platforms` and `--help` run no loop

    return asyncio.run(coro)


@asynccontextmanager
async def open_hub(state: CliState, **options: Any) -> AsyncIterator[Hub]:
    """Open the hub on the configured database; close it on the way out.

    :param options: More :meth:`storelink.hub.Hub.open` options (``egress``, ``keys``...).
    """
    from storelink.hub import Hub

    async with await Hub.open(database=state.database, **options) as hub:
        yield hub
