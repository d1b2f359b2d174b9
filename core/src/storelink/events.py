"""The events the core fires, from one place, each with its typed arguments.

Every event hook of :mod:`storelink.hookspecs` (``EVENT_HOOKS``) has exactly one
method here, named after it and taking its arguments; the hub and the sessions fire
events only through an :class:`Events`. Each call goes through
:meth:`Registry.fire <storelink.plugins.Registry.fire>`: every plugin's listener is
called on its own, and one that raises is logged and does not stop the others, nor
the call that fired the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storelink.models import Connection, ConnectionStatus, Order
    from storelink.plugins import Registry

__all__ = ["Events"]


class Events:
    """Fire the core's events on every plugin of *registry*.

    :param registry: The plugins that listen.
    """

    __slots__ = ("registry",)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __repr__(self) -> str:
        return f"<Events of {self.registry!r}>"

    def connection_created(self, connection: Connection) -> None:
        """Fire ``connection_created``: *connection* was validated and stored."""
        self.registry.fire("connection_created", connection=connection)

    def connection_status_changed(
        self, connection: Connection, old: ConnectionStatus, new: ConnectionStatus, reason: str | None
    ) -> None:
        """Fire ``connection_status_changed``: *connection* (with status *new*) left *old*, for *reason*."""
        self.registry.fire("connection_status_changed", connection=connection, old=old, new=new, reason=reason)

    def token_refreshed(
        self, connection_id: str, platform: str, audience: str, expires_in: float, renewed: bool
    ) -> None:
        """Fire ``token_refreshed``: a new token for *audience* (``renewed`` if from ``refresh_token``)."""
        self.registry.fire(
            "token_refreshed",
            connection_id=connection_id,
            platform=platform,
            audience=audience,
            expires_in=expires_in,
            renewed=renewed,
        )

    def order_created(self, connection: Connection, order: Order, replayed: bool) -> None:
        """Fire ``order_created``: ``create_order`` returned *order* (``replayed`` if stored before)."""
        self.registry.fire("order_created", connection=connection, order=order, replayed=replayed)
