"""Build hook: ship the plugin template in the wheel as ``storelink/_template``.

The sdist carries it as ``plugins/_template`` (see ``pyproject.toml``), so a wheel
built from the sdist has it too.

``storelink plugin new`` renders it (:mod:`storelink.scaffold`). An editable install
reads the template from the checkout instead, so nothing is copied then. Caches and
build leftovers in the template directory are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SKIPPED = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "build", "dist"}


class TemplateBuildHook(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no type hints
    """Add ``../plugins/_template`` to standard (non-editable) wheels."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Force-include every template file, unless this is an editable build."""
        if version == "editable":
            return
        root = Path(self.root)
        # In a checkout the template sits beside core/; in an sdist, inside it.
        found = [d for d in (root.parent / "plugins" / "_template", root / "plugins" / "_template") if d.is_dir()]
        if not found:
            raise FileNotFoundError("plugins/_template is missing: build storelink from a checkout or its sdist")
        template = found[0]
        for path in sorted(template.rglob("*")):
            parts = set(path.relative_to(template).parts)
            cached = parts & _SKIPPED or any(p.endswith(".egg-info") for p in parts) or path.suffix == ".pyc"
            if path.is_file() and not cached:
                build_data["force_include"][str(path)] = f"storelink/_template/{path.relative_to(template)}"
