"""Keep secrets out of logs: one scrubbing layer for every stdlib logging record.

:func:`scrub` removes, from any text:

- every live :class:`~storelink.credentials.Secret` value (8 characters or more),
  and its URL-encoded and base64 forms;
- ``Authorization:`` and ``Proxy-Authorization:`` header values and ``Bearer`` tokens;
- anything shaped like a JWT (``eyJ...``.``...``.``...``);
- token-looking query parameters (``?access_token=``, ``&api_key=``...) and
  JSON-looking fields (``"access_token": "..."``).

:func:`install` applies it to every log record as it is created, from any logger
(``storelink.*``, ``httpx``, ``httpcore``, the root...): the message template, each
argument, ``exc_text`` (the formatted traceback) and ``stack_info``. Carriage returns,
line feeds and other control characters inside interpolated arguments are escaped, so
a store name or platform message cannot forge a log line. The exception object stays
on the record (``exc_info``) for tools that need it; the stdlib formatters print the
scrubbed ``exc_text`` instead of formatting it again. :class:`RedactingFilter` does
the same as a handler filter; :func:`install` puts it on the root logger's handlers,
which is where fields passed with ``extra=`` are covered (they are attached to a
record only after it is created).

storelink never installs it behind a host's back: constructing a hub, a runtime or
the connect app leaves the process's logging as it was. The ``storelink`` CLI and
``storelink serve`` call :func:`install`; a host embedding storelink calls it once at
start-up if it wants the same second line (the first is that storelink logs no
secret itself).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from storelink.credentials import live_secret_values

__all__ = ["RedactingFilter", "install", "neutralize", "safe_to_echo", "scrub", "scrubbed_logger"]

MASK = "***"
#: Shorter secret values are not scrubbed by value (they would mangle ordinary text);
#: the patterns below still apply.
MIN_SECRET_LENGTH = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;]+"),
        r"\1***",
    ),
    (re.compile(r"(?i)\bbearer\s+[\w.~+/-]{8,}=*"), "Bearer ***"),
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), MASK),
    (
        re.compile(
            r"(?i)([?&;](?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|client_secret"
            r"|password|passwd|signature|sig|code)=)[^&#\s\"']+"
        ),
        r"\1***",
    ),
    (
        re.compile(
            r"(?i)([\"']?\b(?:access_token|refresh_token|id_token|client_secret|application_key|api_key|password"
            r"|secret)[\"']?\s*[:=]\s*[\"']?)[^\"'\s,&}]+"
        ),
        r"\1***",
    ),
)

#: ``extra=`` fields whose names say they hold a secret are masked whatever they hold.
_SECRET_KEY = re.compile(r"(?i)authorization|token|secret|password|passwd|api_?key|credential")

_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c != 9} | {13: "\\r", 10: "\\n", 127: "\\x7f"}

# The standard LogRecord attributes; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

_lock = threading.Lock()
_cache: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)


def _variants(value: str) -> set[str]:
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update({text, text.rstrip("=")})
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _values_pattern() -> re.Pattern[str] | None:
    global _cache
    values = tuple(v for v in live_secret_values() if len(v) >= MIN_SECRET_LENGTH)
    with _lock:
        if values != _cache[0]:
            forms = sorted({f for v in values for f in _variants(v)}, key=len, reverse=True)
            _cache = (values, re.compile("|".join(map(re.escape, forms))) if forms else None)
        return _cache[1]


def scrub(text: str) -> str:
    """Return *text* with every secret value, auth header, bearer token and JWT masked."""
    pattern = _values_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


#: The start of a URL up to its host: an optional scheme and ``//``, then user info ending in ``@``.
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#@\s]*@")


def safe_to_echo(text: str) -> str:
    """Return a typed address fit to show back to the person who typed it, or to log.

    A refused store URL is put back into its form field so the merchant can fix it;
    what they pasted may carry a credential: ``user:password@`` before the host, a
    ``?key=...`` or ``?access_token=...`` query, a ``#token=...`` fragment. Those parts
    are dropped (an address needs none of them), then :func:`scrub` masks anything
    else shaped like a secret (a JWT, a bearer token, a live secret value).
    """
    text = _USERINFO.sub(lambda m: m.group(1) or "", text, count=1)
    for mark in ("?", "#"):
        text = text.split(mark, 1)[0]
    return scrub(text)


def neutralize(text: str) -> str:
    """Escape CR, LF and other control characters, so *text* stays on one log line."""
    return text.translate(_CONTROL)


def _clean_arg(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    shown = str(value), repr(value)
    cleaned = tuple(neutralize(scrub(s)) for s in shown)
    if cleaned == shown:
        return value
    return cleaned[0]


def _clean_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {k: MASK if _SECRET_KEY.search(str(k)) else _clean_arg(v) for k, v in args.items()}
    if isinstance(args, tuple):
        return tuple(_clean_arg(a) for a in args)
    return args


def _scrub_record(record: logging.LogRecord) -> None:
    record.msg = scrub(record.msg if isinstance(record.msg, str) else str(record.msg))
    if record.args:
        record.args = _clean_args(record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    for key, value in list(record.__dict__.items()):
        if key in _STANDARD:
            continue
        if _SECRET_KEY.search(key):
            record.__dict__[key] = MASK
        elif isinstance(value, str):
            record.__dict__[key] = neutralize(scrub(value))


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs each record (see :func:`scrub`) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub *record* in place; always keep it."""
        _scrub_record(record)
        return True


class _ScrubbingFactory:
    """Wraps the previous LogRecord factory; scrubs every record it creates."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        _scrub_record(record)
        return record


def scrubbed_logger(name: str) -> logging.Logger:
    """Return the logger *name* with a :class:`RedactingFilter` of its own (added once).

    The records logged through it are scrubbed whether or not :func:`install` was
    called, and nothing else about the process's logging changes: this is how a
    platform's ``ctx.log`` keeps its promise to plugins. (A logger's filters see only
    the records logged on it, not those of its children.)
    """
    logger = logging.getLogger(name)
    with _lock:
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
    return logger


def install() -> None:
    """Scrub every log record of the process from now on. Idempotent.

    Call it once at start-up (the CLI and ``storelink serve`` do; library code never
    does, since it changes logging for the whole process).

    Wraps the LogRecord factory (so records of every logger are scrubbed when they
    are created, whichever handler later sees them) and adds a
    :class:`RedactingFilter` to each handler of the root logger that has none.
    """
    with _lock:
        if not isinstance(logging.getLogRecordFactory(), _ScrubbingFactory):
            logging.setLogRecordFactory(_ScrubbingFactory(logging.getLogRecordFactory()))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
