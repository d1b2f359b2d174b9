"""Exit codes, and the one-line message every failure is reported with.

Scripts branch on the exit code; people read the line. Both come from the error's
class, never from parsing its text:

==  =====================================================================
0   success
1   anything else (a platform refusal, a vault or plugin problem, a bug)
2   bad input: arguments, files, store URL or key format, unknown ids, settings
3   credentials rejected or revoked, or a permission the key lacks
4   platform unavailable, or the connection store busy: retry later
==  =====================================================================

Ctrl-C ends with 130, as shells expect.
"""

from __future__ import annotations

import enum

import click

from storelink.errors import (
    AuthorizationError,
    ConfigurationError,
    ConflictError,
    ConnectionRevokedError,
    ConnectionStateError,
    CredentialsError,
    EgressError,
    InputError,
    NotFoundError,
    RetryableError,
    StoreBusyError,
    StorelinkError,
    StoreURLError,
)

__all__ = ["ExitCode", "Failure", "Interrupted", "Unavailable", "describe", "exit_code_for", "one_line"]


class ExitCode(enum.IntEnum):
    """What the process's exit status means."""

    OK = 0
    FAILURE = 1
    BAD_INPUT = 2
    CREDENTIALS = 3
    UNAVAILABLE = 4
    INTERRUPTED = 130


#: Most specific class first: the first match decides.
_CODES: tuple[tuple[type[StorelinkError], ExitCode], ...] = (
    (InputError, ExitCode.BAD_INPUT),
    (StoreURLError, ExitCode.BAD_INPUT),
    (EgressError, ExitCode.BAD_INPUT),
    (ConfigurationError, ExitCode.BAD_INPUT),
    (ConnectionStateError, ExitCode.BAD_INPUT),
    (NotFoundError, ExitCode.BAD_INPUT),
    (ConflictError, ExitCode.BAD_INPUT),
    (CredentialsError, ExitCode.CREDENTIALS),
    (AuthorizationError, ExitCode.CREDENTIALS),
    (RetryableError, ExitCode.UNAVAILABLE),
    (StoreBusyError, ExitCode.UNAVAILABLE),
)


class Failure(click.ClickException):
    """Bad input the CLI itself detects (an unreadable file, a malformed draft...)."""

    exit_code = ExitCode.BAD_INPUT


class Unavailable(click.ClickException):
    """The platform stayed unavailable; the message says what was kept and how to carry on."""

    exit_code = ExitCode.UNAVAILABLE


class Interrupted(click.ClickException):
    """The user pressed Ctrl-C in a command that says how to carry on."""

    exit_code = ExitCode.INTERRUPTED


def exit_code_for(exc: StorelinkError) -> ExitCode:
    """Return the exit code for *exc*, by its place in the error tree."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.FAILURE


def _action(exc: StorelinkError) -> str:
    """Return what to do about *exc*, with the exact command where there is one."""
    if isinstance(exc, ConnectionRevokedError):
        return f"reconnect it: storelink connections reconnect {exc.connection_id}"
    if isinstance(exc, RetryableError) and exc.retry_after:
        return f"try again in {exc.retry_after:g} s"
    if isinstance(exc, ConnectionStateError):
        return "check the id with: storelink connections list"
    return exc.action


def one_line(text: str) -> str:
    """Collapse *text* to a single line."""
    return " ".join(text.split())


def describe(exc: StorelinkError) -> str:
    """Return the one line shown for *exc*: what happened, then what to do."""
    from storelink.redaction import scrub

    message = one_line(scrub(str(exc))).removesuffix(".")
    return f"error: {message}; {_action(exc)}"
