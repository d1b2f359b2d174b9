"""Oracle Commerce Cloud for storelink.

The platform plugin is :mod:`storelink_occ.plugin` (entry point ``storelink.platforms:
occ``); :mod:`storelink_occ.simulator` is a simulator of the OCC endpoints it uses.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
