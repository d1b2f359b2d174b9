"""Shopify for storelink: the ``storelink.platforms: shopify`` plugin and its simulator.

:mod:`storelink_shopify.plugin` holds the hook implementations; the access token in
:mod:`storelink_shopify.auth`; requests and errors are in
:mod:`storelink_shopify.api`, the GraphQL documents in :mod:`storelink_shopify.queries`,
payload mapping in :mod:`storelink_shopify.mapping`, the shop-address normaliser in
:mod:`storelink_shopify.urls` and the simulator in :mod:`storelink_shopify.simulator`.
"""

from __future__ import annotations

__all__ = ["PLATFORM", "__version__"]

__version__ = "0.1.0"

#: The platform slug, the entry-point name.
PLATFORM = "shopify"
