"""Meta-tests: every hook is documented with its exact signature (``test_hook_calls`` proves each is called)."""

from __future__ import annotations

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
