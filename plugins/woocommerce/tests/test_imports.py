"""Importing the plugin for platform_info stays light: ``storelink platforms`` imports every plugin."""

from __future__ import annotations

import json
import subprocess
import sys

#: What platform_info must not import: the request, mapping and key-approval machinery, and the HTTP layer.
HEAVY = (
    "storelink_woocommerce.api",
    "storelink_woocommerce.mapping",
    "storelink_woocommerce.approval",
    "storelink_woocommerce.simulator",
    "storelink.http",
)

PROBE = """
import json, sys
import storelink, storelink_woocommerce.plugin
info = storelink.get_platform("woocommerce").info
assert storelink_woocommerce.plugin.platform_info().slug == info.slug == "woocommerce"
print(json.dumps(sorted(sys.modules)))
"""


def test_platform_info_imports_none_of_the_request_modules() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603  # our own interpreter and code
    loaded = set(json.loads(done.stdout))
    assert "storelink_woocommerce.plugin" in loaded
    assert sorted(m for m in HEAVY if m in loaded) == []
