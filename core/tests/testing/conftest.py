"""Helpers to render the plugin template, install it in isolation and run its tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def pip_install(project: Path, site: Path) -> None:
    """Build *project* with its own pyproject.toml and install it into the directory *site*."""
    subprocess.run(  # noqa: S603  # this interpreter, on a directory the test made
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(project)],
        check=True,
        capture_output=True,
        timeout=180,
    )


def run_pytest(
    project: Path, site: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pytest in *project* (its own configuration) with the packages in *site* importable.

    :param env: Variables to add to the environment.
    """
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(site)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(  # noqa: S603  # this interpreter, in a directory the test made
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def edit(path: Path, old: str, new: str) -> None:
    """Replace *old* (which must occur) by *new* in the file *path*."""
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}; update the test's edit"
    path.write_text(text.replace(old, new))
