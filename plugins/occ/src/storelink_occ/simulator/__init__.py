"""A simulator of the OCC endpoints the plugin uses, for demos, tests and benchmarks.

It is an ASGI app (Starlette), run in-process through ``httpx.ASGITransport`` or on
loopback with :func:`storelink.simulation.serve_in_thread`::

    sim = create(products=10_000, token_ttl=2)
    credentials = sim.issue_credentials()       # {"application_key": "<JWT>"}
    with serve_in_thread(sim.app) as base_url:  # "http://127.0.0.1:<port>"
        ...
    sim.revoke_credentials(credentials)          # login and every token now get 401
    sim.stats["logins"], sim.stats["orders"]

The catalog is computed from the seed on demand, so its size costs no memory.
"""

from __future__ import annotations

from typing import Any

from storelink_occ.simulator.app import OccSimulator
from storelink_occ.simulator.config import SimulatorConfig

__all__ = ["OccSimulator", "SimulatorConfig", "create"]


def create(
    *,
    products: int = 1000,
    seed: int = 0,
    token_ttl: float = 300.0,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    **options: Any,
) -> OccSimulator:
    """Return a new simulator (the ``storelink.simulators: occ`` entry point).

    :param products: Catalog size.
    :param seed: Decides the catalog, stock and faults.
    :param token_ttl: Access-token lifetime in seconds.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param latency: Seconds added to every request.
    :param options: Any other :class:`SimulatorConfig` field.
    """
    config = SimulatorConfig(
        products=products, seed=seed, token_ttl=token_ttl, fail_rate=fail_rate, latency=latency, **options
    )
    return OccSimulator(config)
