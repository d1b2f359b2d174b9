"""Meta-tests: every hook is documented with its exact signature, and exercised by a test."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from storelink.hookspecs import EVENT_HOOKS, PLATFORM_HOOKS

ROOT = Path(__file__).resolve().parents[3]
HOOKS = (*PLATFORM_HOOKS, *EVENT_HOOKS)


@pytest.fixture(scope="module")
def generator() -> dict[str, object]:
    return runpy.run_path(str(ROOT / "scripts" / "hook_reference.py"))


def test_the_hook_reference_page_is_generated_from_the_current_specs(generator: dict[str, object]) -> None:
    page = (ROOT / "docs" / "reference" / "hooks.md").read_text()
    assert page == generator["render"](), "run: python scripts/hook_reference.py"  # type: ignore[operator]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook: str, generator: dict[str, object]) -> None:
    from storelink import hookspecs

    page = (ROOT / "docs" / "reference" / "hooks.md").read_text()
    signature = generator["signature"](getattr(hookspecs, hook))  # type: ignore[operator]
    assert f"### `{hook}`\n\n```python\n{signature}\n```" in page


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_complete_docstring(hook: str) -> None:
    from storelink import hookspecs

    doc = getattr(hookspecs, hook).__doc__ or ""
    assert len(doc.strip().splitlines()[0]) > 10
    assert ".. versionadded::" in doc


def _test_sources() -> str:
    dirs = [ROOT / "core" / "tests", ROOT / "tests", *ROOT.glob("plugins/*/tests")]
    return "\n".join(p.read_text() for d in dirs if d.is_dir() for p in d.rglob("*.py"))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook: str) -> None:
    """A hook counts as exercised when a test implements it or calls it through the core."""
    sources = _test_sources()
    pattern = rf"def {hook}\(|\.{hook}\(|[\"']{hook}[\"']"
    assert re.search(pattern, sources), f"no test implements or calls {hook}"
