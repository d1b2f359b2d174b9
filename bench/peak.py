"""Run a Python command in this process and record its peak RSS when it exits.

Usage: ``BENCH_PEAK_FILE=F python bench/peak.py (-m MODULE | SCRIPT) [ARGS...]``.
At exit, ``F`` receives this process's ``VmHWM`` (kB) from ``/proc/self/status``.

Why not ``ru_maxrss`` of the child (``os.wait4``, ``RUSAGE_CHILDREN``): on Linux, a
child started with ``vfork`` (what ``subprocess`` uses) inherits the parent's
high-water mark at ``exec``, so a child's ``ru_maxrss`` is never below the RSS of the
process that started it. ``VmHWM`` belongs to the memory map created by ``exec``: it
is the child's own peak.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path


def _record() -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(os.environ["BENCH_PEAK_FILE"]).write_text(line.split()[1])
            return


def main() -> None:
    args = sys.argv[1:]
    atexit.register(_record)
    if args[:1] == ["-m"]:
        sys.argv = [args[1], *args[2:]]
        sys.path[0] = os.getcwd()  # as `python -m` does
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(args)
        sys.path[0] = str(Path(args[0]).resolve().parent)  # as `python SCRIPT` does
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()
