"""A simulator of the GraphQL Admin API queries the Shopify plugin sends, for demos and tests.

It is an ASGI app (Starlette), run in-process through ``httpx.ASGITransport`` or on
loopback with :func:`storelink.simulation.serve_in_thread`::

    sim = create(products=10_000)
    credentials = sim.issue_credentials()       # {"access_token": "shpat_..."}
    with serve_in_thread(sim.app) as base_url:  # "http://127.0.0.1:<port>"
        ...
    sim.revoke_credentials(credentials)          # the app is uninstalled: 401 from now on
    sim.stats["queries"], sim.stats["throttled"]

    app = sim.app_credentials()                  # {"client_id": ..., "client_secret": "shpss_..."}
    callback = sim.oauth.approve(authorization_url)  # the merchant clicks Install

The catalog is computed from the seed on demand, so its size costs no memory.
"""

from __future__ import annotations

from typing import Any

from storelink_shopify.simulator.app import ALL_SCOPES, ShopifySimulator
from storelink_shopify.simulator.config import SimulatorConfig

__all__ = ["ALL_SCOPES", "ShopifySimulator", "SimulatorConfig", "create"]


def create(
    *,
    products: int = 1000,
    seed: int = 0,
    token_ttl: float = 300.0,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    **options: Any,
) -> ShopifySimulator:
    """Return a new simulator (the ``storelink.simulators: shopify`` entry point).

    :param products: Catalog size.
    :param seed: Decides the catalog, stock, orders and faults.
    :param token_ttl: Accepted for the common factory signature and ignored: a custom
        app's access token does not expire.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param latency: Seconds added to every request.
    :param options: Any other :class:`SimulatorConfig` field.
    """
    del token_ttl  # Shopify's offline tokens do not expire
    return ShopifySimulator(
        SimulatorConfig(products=products, seed=seed, fail_rate=fail_rate, latency=latency, **options)
    )
