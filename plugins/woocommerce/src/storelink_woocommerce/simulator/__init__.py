"""A simulator of the WooCommerce REST API v3 endpoints the plugin uses, for demos and tests.

It is an ASGI app (Starlette), run in-process through ``httpx.ASGITransport`` or on
loopback with :func:`storelink.simulation.serve_in_thread`::

    sim = create(products=500, install_path="/shop")
    credentials = sim.issue_credentials()                 # read_write key: ck_... / cs_...
    read_only = sim.issue_credentials(permissions="read")
    with serve_in_thread(sim.app) as base_url:            # "http://127.0.0.1:<port>"
        ...                                               # the store is at base_url + "/shop"
    sim.revoke_credentials(credentials)                   # Revoke in the admin: 401 from now on
    sim.stats["requests"], sim.stats["variation_reads"]

It checks HTTP Basic credentials and the key's permission (``read``, ``write``,
``read_write``) per method, as WooCommerce does, answers WordPress's error bodies, and
reports totals in ``X-WP-Total`` and ``X-WP-TotalPages``. The catalog is computed from
the seed on demand, so its size costs no memory.
"""

from __future__ import annotations

from typing import Any

from storelink_woocommerce.simulator.app import PERMISSIONS, WooSimulator
from storelink_woocommerce.simulator.config import SimulatorConfig

__all__ = ["PERMISSIONS", "SimulatorConfig", "WooSimulator", "create"]


def create(
    *,
    products: int = 1000,
    seed: int = 0,
    token_ttl: float = 300.0,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    **options: Any,
) -> WooSimulator:
    """Return a new simulator (the ``storelink.simulators: woocommerce`` entry point).

    :param products: Catalog size.
    :param seed: Decides the catalog, stock, orders and faults.
    :param token_ttl: Accepted for the common factory signature and ignored: consumer
        keys do not expire.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param latency: Seconds added to every request.
    :param options: Any other :class:`SimulatorConfig` field.
    """
    del token_ttl  # WooCommerce keys do not expire
    return WooSimulator(SimulatorConfig(products=products, seed=seed, fail_rate=fail_rate, latency=latency, **options))
