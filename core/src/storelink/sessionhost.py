"""What a :class:`~storelink.Session` needs from the hub that opened it, and nothing more.

:class:`SessionHost` is the small surface :mod:`storelink.session` is typed against, so
the session depends on this protocol, not on :mod:`storelink.hub` (which imports the
session to open one). :class:`storelink.Hub` satisfies it; so can a test double, or
another host that keeps connections its own way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from storelink.context import PlatformContext
    from storelink.events import Events
    from storelink.http import Clock
    from storelink.ledger import OrderLedger
    from storelink.models import Connection
    from storelink.paging import PagingConfig
    from storelink.plugins import Platform
    from storelink.runtimes import HubStats

__all__ = ["SessionHost"]


class SessionHost(Protocol):
    """The calls a session makes on its hub."""

    @property
    def paging(self) -> PagingConfig:
        """Page limit, concurrency and resumes of the page loop."""
        ...

    @property
    def clock(self) -> Clock:
        """Time, for the waits between resumes of a read."""
        ...

    @property
    def ledger(self) -> OrderLedger:
        """The order ledger that makes ``create_order`` idempotent."""
        ...

    @property
    def events(self) -> Events:
        """Where the session fires ``order_created``."""
        ...

    @property
    def stats(self) -> HubStats:
        """The HTTP counts, per connection."""
        ...

    async def get(self, connection_id: str) -> Connection:
        """Return the connection *connection_id* as stored now."""
        ...

    def cached(self, connection_id: str) -> Connection | None:
        """Return the connection as the host last saw it, without reading the store."""
        ...

    def platform(self, slug: str) -> Platform:
        """Return the platform *slug*."""
        ...

    async def context(self, conn: Connection) -> PlatformContext:
        """Return the platform context to call *conn*'s store with."""
        ...
