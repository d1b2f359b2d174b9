"""Why a sync to a directory stopped, grouped by what the caller should do.

::

    StorelinkError
    ├── SyncTargetError        the directory cannot be created or written to: give another
    ├── SyncBusyError          another sync is writing to the directory: let it finish
    ├── SyncWriteError         a file failed part-way (a full disk): fix it, run again
    ├── ConfigurationError
    │   └── SyncLimitError     a kind's run would pass max_items or max_bytes: raise it
    └── PlatformError
        └── RetryableError
            └── SyncStoppedError a page kept failing beyond retries and resumes: run later

Whatever the error, the files hold whole lines up to their last checkpoint, and the
same job run again continues from there.
"""

from __future__ import annotations

from typing import Literal

from storelink.errors import ConfigurationError, RetryableError, StorelinkError

__all__ = ["SyncBusyError", "SyncLimitError", "SyncStoppedError", "SyncTargetError", "SyncWriteError"]


class SyncTargetError(StorelinkError):
    """The sync's directory (or its lock file) cannot be created or written to; nothing was synced.

    :param directory: The directory.
    :param reason: What the system said (``Permission denied``...).
    """

    action = "give a directory you can write to (a missing one is created, with its parents)"

    def __init__(self, directory: str, *, reason: str) -> None:
        super().__init__(f"cannot write the sync files to {directory}: {reason}")
        self.directory = directory
        self.reason = reason


class SyncBusyError(StorelinkError):
    """Another sync holds the directory's lock; nothing was synced.

    :param directory: The directory.
    """

    action = "let it finish first"

    def __init__(self, directory: str) -> None:
        super().__init__(f"another storelink sync is writing to {directory}")
        self.directory = directory


class SyncWriteError(StorelinkError):
    """A kind's file could not be written part-way (a full disk...); the pages before are kept.

    :param path: The file.
    :param reason: What the system said (``No space left on device``...).
    """

    action = "fix the cause (disk space, permissions), then run the same sync again to resume"

    def __init__(self, path: str, *, reason: str) -> None:
        super().__init__(f"writing {path} failed: {reason}; the lines of the pages before are kept")
        self.path = path
        self.reason = reason


class SyncLimitError(ConfigurationError):
    """A kind's next page would take its run past ``max_items`` or ``max_bytes``.

    Nothing of that page is written; the file ends with the last checkpointed page, and
    a job with a higher bound resumes from there.

    :param kind: The kind that stopped.
    :param bound: ``max_items`` or ``max_bytes``.
    :param limit: The bound's value.
    :param items: Items of this run in the file, all checkpointed.
    :param file: The kind's file.
    :param remaining: The kinds still to sync: the stopped one and those after it.
    """

    action = "if the store really holds that much, raise the bound and run the sync again to resume"

    def __init__(
        self,
        kind: str,
        *,
        bound: Literal["max_items", "max_bytes"],
        limit: int,
        items: int,
        file: str,
        remaining: tuple[str, ...],
    ) -> None:
        unit = "items" if bound == "max_items" else "bytes"
        super().__init__(
            f"the {kind} sync stopped at {bound} ({limit:,} {unit}): the next page would pass it; "
            f"the {items:,} items written to {file} are kept"
        )
        self.kind = kind
        self.bound = bound
        self.limit = limit
        self.items = items
        self.file = file
        self.remaining = remaining


class SyncStoppedError(RetryableError):
    """A kind's page failed beyond its HTTP retries and the job's resumes; what was written is kept.

    Run the job again later: it resumes from the kind's checkpoint. The error of the
    last failed attempt is :attr:`cause` (and ``__cause__``); its platform, operation,
    status, code and ``retry_after`` are copied here.

    :param kind: The kind that failed.
    :param items: Items of that kind in its file, all checkpointed.
    :param file: The kind's file.
    :param resumes: Times it resumed from its checkpoint before it stopped.
    :param remaining: The kinds still to sync: the failed one and those after it.
    :param cause: The error of the last failed attempt.
    """

    action = "run the same sync again later: it resumes from the last checkpoint"

    def __init__(
        self, kind: str, *, items: int, file: str, resumes: int, remaining: tuple[str, ...], cause: RetryableError
    ) -> None:
        tries = f" and {resumes} resume{'s' if resumes != 1 else ''}" if resumes else ""
        super().__init__(
            f"the {kind} sync stopped after {items:,} items written to {file} (they are kept), "
            f"after its retries{tries}: {cause.message}",
            retry_after=cause.retry_after,
            platform=cause.platform,
            operation=cause.operation,
            status=cause.status,
            code=cause.code,
            request_id=cause.request_id,
        )
        self.kind = kind
        self.items = items
        self.file = file
        self.resumes = resumes
        self.remaining = remaining
        self.cause = cause
