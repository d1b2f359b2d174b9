"""storelink platform plugin for Template.

The hooks live in :mod:`storelink_template.plugin` (the ``storelink.platforms`` entry
point), and an in-process fake of the platform's API in
:mod:`storelink_template.simulator` (the ``storelink.simulators`` entry point).
"""

from __future__ import annotations

__version__ = "0.1.0"
