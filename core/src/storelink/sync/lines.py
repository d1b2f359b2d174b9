"""The JSON Lines files of a sync, written in whole pages, and the directory that holds them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from storelink.sync.errors import SyncBusyError, SyncTargetError, SyncWriteError

__all__ = ["LOCK_FILE", "LinesFile", "exclusive", "line", "writable", "written"]

_T = TypeVar("_T")

#: The file in a sync's directory that a running sync holds locked.
LOCK_FILE = ".storelink-sync.lock"


def line(model: object) -> bytes:
    """Return *model* as one JSON line (``to_jsonable``, compact, UTF-8), newline included (``codec.encode_line``)."""
    from storelink.codec import encode_line

    return encode_line(model)


class LinesFile:
    """A JSON Lines file written in whole pages, each made durable before it counts.

    Blocking file calls: the sync runs them in a worker thread (:func:`written`).
    ``offset`` is the file's length after the last page appended since :meth:`open_at`.
    """

    _file: BinaryIO

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def size(self) -> int:
        """Return the file's length in bytes, or -1 if it does not exist."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return -1

    def open_at(self, offset: int) -> None:
        """Open the file for appending, cut to *offset* bytes (dropping unrecorded lines)."""
        self._file = self.path.open("ab")
        self._file.truncate(offset)
        self.offset = offset

    def append(self, data: bytes) -> None:
        """Write *data*, flush it and fsync it."""
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.offset += len(data)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def replace_with(self, data: bytes) -> None:
        """Atomically replace the file's content with *data*, durably."""
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        partial.replace(self.path)


async def written(file: LinesFile, call: Callable[[_T], None], argument: _T) -> None:
    """Run the blocking file *call* in a worker thread; a failure to write is a :class:`SyncWriteError`."""
    try:
        await asyncio.to_thread(call, argument)
    except OSError as exc:
        raise SyncWriteError(str(file.path), reason=exc.strerror or type(exc).__name__) from exc


@contextmanager
def writable(directory: Path) -> Iterator[None]:
    """Create *directory* if missing, and its lock file; refuse one that cannot be written.

    Only the directory itself and its lock file: a file that fails mid-sync is a
    :class:`SyncWriteError`, with what was kept.

    :raises SyncTargetError: The directory or its lock file cannot be created.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / LOCK_FILE).open("a").close()
    except OSError as exc:
        raise SyncTargetError(str(directory), reason=exc.strerror or type(exc).__name__) from exc
    yield


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold the directory's sync lock for the duration (POSIX; elsewhere, no lock).

    :raises SyncBusyError: Another sync, in this process or another, holds it.
    """
    if os.name != "posix":
        yield
        return
    import fcntl

    with (directory / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusyError(str(directory)) from None
        yield
