"""Where a kind's sync to one directory stands, as stored in the connection store."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from attrs import frozen

__all__ = ["Checkpoint", "checkpoint_name"]


def checkpoint_name(kind: str, directory: Path) -> str:
    """Return the store's name for the checkpoint of *kind* synced to *directory* (resolved).

    The ``cli-sync`` prefix dates from when the engine lived in the CLI; it stays, so
    that a sync interrupted before still resumes.
    """
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return f"cli-sync:{kind}:{digest}"


@frozen(kw_only=True)
class Checkpoint:
    """Where a kind's sync to one directory stands (stored as JSON in the store).

    ``cursor`` is where the walk continues (``None`` at the start or once done),
    ``offset`` the file's length after the last page, ``base`` its length when the run
    began (an orders run appends), ``count`` the items the run wrote, ``started`` when
    the run began and ``since`` the orders run's lower bound.
    """

    cursor: str | None = None
    offset: int = 0
    count: int = 0
    base: int = 0
    done: bool = False
    started: datetime
    since: datetime | None = None

    def dumps(self, directory: Path) -> str:
        """Return the stored form."""
        return json.dumps(
            {
                "v": 1,
                "dir": str(directory),
                "cursor": self.cursor,
                "offset": self.offset,
                "count": self.count,
                "base": self.base,
                "done": self.done,
                "started": self.started.isoformat(),
                "since": self.since.isoformat() if self.since else None,
            }
        )

    @classmethod
    def loads(cls, text: str) -> Checkpoint | None:
        """Read a stored checkpoint; ``None`` for one this version did not write."""
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                return None
            return cls(
                cursor=data["cursor"],
                offset=int(data["offset"]),
                count=int(data["count"]),
                base=int(data.get("base", 0)),
                done=bool(data["done"]),
                started=datetime.fromisoformat(data["started"]),
                since=datetime.fromisoformat(data["since"]) if data["since"] else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
