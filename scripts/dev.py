#!/usr/bin/env python3
"""Set up the development environment and run the demo or the tests.

Usage (from the repository root, with only Python 3.11+ and pip on the machine)::

    python3 scripts/dev.py demo     # create .venv, install, run `storelink demo`
    python3 scripts/dev.py test     # create .venv, install dev tools and services, run every check

The virtual environment lives in ``.venv``; it is reused when the project's
``pyproject.toml`` files have not changed since it was set up.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
MEMBERS = ["core", "plugins/occ", "plugins/shopify", "plugins/woocommerce", "integrations/celery"]


def run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Run *cmd*, echoing it; exit with its status if it fails."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    done = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, check=False)  # noqa: S603
    if done.returncode:
        sys.exit(done.returncode)


def fingerprint(dev: bool) -> str:
    """Hash what decides the environment's contents."""
    h = hashlib.sha256(b"dev" if dev else b"run")
    for p in sorted([ROOT / "pyproject.toml", *(ROOT / m / "pyproject.toml" for m in MEMBERS)]):
        h.update(p.read_bytes())
    return h.hexdigest()


def ensure_venv(dev: bool) -> None:
    """Create .venv and install the workspace (and the dev tools with *dev*)."""
    stamp = VENV / ".storelink-stamp"
    wanted = fingerprint(dev)
    if stamp.exists() and stamp.read_text() in (wanted, fingerprint(True)):
        return
    if not PY.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    editable = [arg for m in MEMBERS for arg in ("-e", m)]
    run(PY, "-m", "pip", "install", "--quiet", *editable, *(["--group", "dev"] if dev else []))
    stamp.write_text(wanted)


def main(argv: list[str]) -> None:
    """Dispatch ``demo`` or ``test``."""
    if len(argv) < 1 or argv[0] not in ("demo", "test"):
        print(__doc__)
        sys.exit(2)
    if sys.version_info < (3, 11):  # noqa: UP036  # this script runs before the venv exists
        sys.exit("storelink needs Python 3.11 or newer")
    what, rest = argv[0], argv[1:]
    ensure_venv(dev=what == "test")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if what == "demo":
        os.execve(BIN / "storelink", [str(BIN / "storelink"), "demo", *rest], env)  # noqa: S606
    run("bash", ROOT / "scripts" / "test.sh", *rest, env=env)


if __name__ == "__main__":
    main(sys.argv[1:])
