"""WooCommerce for storelink.

The platform plugin is :mod:`storelink_woocommerce.plugin` (entry point
``storelink.platforms: woocommerce``); :mod:`storelink_woocommerce.simulator` is a
simulator of the WooCommerce REST API v3 endpoints it uses.
"""

from __future__ import annotations

__all__ = ["PLATFORM", "__version__"]

__version__ = "0.1.0"

#: The platform slug, the entry-point name.
PLATFORM = "woocommerce"
