"""The plugin guide's commands, run as written in a fresh virtual environment.

docs/plugin-guide.md promises that its ``console`` blocks work: each ``$ command`` is
run in order (``cd`` moves the working directory), in an empty directory, and where
the guide shows output under a command, the command prints exactly that. The
environment is a new virtual environment that sees the test environment's packages
(so nothing is downloaded) and takes what the guide installs, leaving the shared
environment as it was.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugin-guide.md"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)

pytestmark = pytest.mark.slow


def commands(text: str) -> list[tuple[str, list[str]]]:
    """Return each ``$ command`` of the console blocks with the output lines shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
    return steps


def environment(root: Path) -> dict[str, str]:
    """Create a virtual environment in *root* that also sees this one's packages; return its env vars."""
    venv.EnvBuilder(with_pip=False).create(root)
    (site,) = root.glob("lib/python*/site-packages")
    (site / "_storelink_test_parent.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n"
    )
    return {
        **os.environ,
        "VIRTUAL_ENV": str(root),
        "PATH": os.pathsep.join([str(root / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def test_the_guide_has_commands_to_run() -> None:
    steps = commands(GUIDE.read_text())
    assert steps[0][0].startswith("storelink plugin new ")
    assert any("pytest" in command for command, _ in steps)


def test_the_guide_commands_work_as_written(tmp_path: Path) -> None:
    env = environment(tmp_path / "venv")
    cwd = tmp_path / "work"
    cwd.mkdir()
    bash = shutil.which("bash")
    assert bash is not None
    for command, expected in commands(GUIDE.read_text()):
        if command.startswith("cd "):
            cwd = cwd / shlex.split(command)[1]
            continue
        result = subprocess.run(  # noqa: S603  # the guide's own commands, in a directory the test made
            [bash, "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
        if expected:
            assert result.stdout.splitlines() == expected, f"$ {command}"
