"""Importing the plugin for platform_info stays light: ``storelink platforms`` imports every plugin."""

from __future__ import annotations

import json
import subprocess
import sys

#: What platform_info must not import: the request, mapping and OAuth machinery, and the HTTP layer.
HEAVY = (
    "storelink_shopify.api",
    "storelink_shopify.mapping",
    "storelink_shopify.queries",
    "storelink_shopify.drafts",
    "storelink_shopify.oauth",
    "storelink_shopify.simulator",
    "storelink.http",
)

PROBE = """
import json, sys
import storelink, storelink_shopify.plugin
info = storelink.get_platform("shopify").info
assert storelink_shopify.plugin.platform_info().slug == info.slug == "shopify"
print(json.dumps(sorted(sys.modules)))
"""


def test_platform_info_imports_none_of_the_request_modules() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603  # our own interpreter and code
    loaded = set(json.loads(done.stdout))
    assert "storelink_shopify.plugin" in loaded
    assert sorted(m for m in HEAVY if m in loaded) == []
