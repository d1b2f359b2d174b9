"""OCC's fault injection: the core's :class:`~storelink.simulation.FaultInjector` with OCC's shapes.

Errors carry OCC's envelope (``status``, ``message``, ``errorCode``); ``fault_paths``
limits which paths get faults; order creation (``POST /ccappagent/v1/orders``) is the
request whose response may be lost after the commit (``lose_order_rate``) and is never
truncated.
"""

from __future__ import annotations

import json

from starlette.types import Scope

from storelink.simulation import UNAVAILABLE, FaultInjector
from storelink_occ.simulator.config import SimulatorConfig

__all__ = ["ORDER_CREATION", "OccFaults", "error_body"]

ORDER_CREATION = ("POST", "/ccappagent/v1/orders")


def error_body(status: int, retry_after: str | None) -> bytes:
    """OCC's error envelope for an injected *status*."""
    message = f"Too many requests; retry after {retry_after} seconds" if status == 429 else UNAVAILABLE[status]
    return json.dumps({"status": str(status), "message": message, "errorCode": f"SIM{status}"}).encode()


class OccFaults(FaultInjector[SimulatorConfig]):
    """Faults on the paths ``config.fault_paths`` names (all when empty); lost order responses."""

    def applies(self, scope: Scope) -> bool:
        paths = self.config.fault_paths
        return not paths or str(scope["path"]).startswith(paths)

    def commit_loss_rate(self, scope: Scope) -> float | None:
        if (scope["method"], str(scope["path"]).rstrip("/")) == ORDER_CREATION:
            return self.config.lose_order_rate
        return None
