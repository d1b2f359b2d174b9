"""storelink platform plugin for Template, onboarded by an OAuth install.

The hooks live in :mod:`storelink_template.plugin` (the ``storelink.platforms`` entry
point), the platform's side of the install in :mod:`storelink_template.oauth`, and an
in-process fake of the platform's API and install screens in
:mod:`storelink_template.oauth_simulator` (the ``storelink.simulators`` entry point).
"""

from __future__ import annotations

__version__ = "0.1.0"
