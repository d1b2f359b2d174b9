"""Decoding platform bodies once, fast, with the bounds of :func:`~storelink.http.runtime.parse_json`.

Plugins read a response body with one of two functions, both built on msgspec:

:func:`decode_json`
    The body as plain JSON values (dicts, lists, str, int, bool, ``None``), numbers
    with a fraction or an exponent as :class:`~decimal.Decimal` (exact amounts). The
    same values and the same errors as ``parse_json(content, parse_float=Decimal)``, in
    a fraction of the time: use it in a reader (``ctx.http.read(..., reader=...)``).
:func:`decode`
    The body decoded straight into a typed wire struct (a :class:`msgspec.Struct`
    describing the platform's JSON), validated as it is decoded. A value of the wrong
    type is a :class:`~storelink.MappingError` whose ``path`` is where it sits in the
    body (``items[3].listPrice``).

Both refuse what ``parse_json`` refuses, as :class:`~storelink.http.runtime.UnreadableBody`
(which the runtime reports as a :class:`~storelink.PlatformError`, never retried): a body
nested deeper than :data:`~storelink.http.runtime.MAX_JSON_DEPTH`, an integer of more than
4,300 digits, bytes that are not UTF-8. A body that is not JSON, or is cut off, raises
:class:`ValueError` (a read is sent again).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from storelink.errors import MappingError

if TYPE_CHECKING:
    from storelink.http.runtime import UnreadableBody

__all__ = ["decode", "decode_json"]

T = TypeVar("T")

#: Distinct number texts remembered by :data:`_DECIMALS`, and the longest one remembered.
_DECIMALS_MAX = 4096
_DECIMAL_TEXT_MAX = 40


class _Decimals(dict[str, Decimal]):
    """The :class:`~decimal.Decimal` of each number text, remembered: a page repeats its prices.

    msgspec calls ``_DECIMALS.__getitem__`` (C) for every number with a fraction; a text
    seen before costs a dict lookup instead of a ``Decimal`` parse. Decimals are
    immutable, so sharing one between bodies is safe; ``Decimal(text)`` is exact
    whatever the context, so the values are those ``float_hook=Decimal`` gives. Bounded:
    short texts only, and forgotten all at once when full (a body of all-distinct
    numbers costs one Python call more per number, nothing more).
    """

    def __missing__(self, text: str) -> Decimal:
        value = Decimal(text)
        if len(text) <= _DECIMAL_TEXT_MAX:
            if len(self) >= _DECIMALS_MAX:
                self.clear()
            self[text] = value
        return value


_DECIMALS = _Decimals()
_ANY = msgspec.json.Decoder(float_hook=_DECIMALS.__getitem__)
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_AT = re.compile(r"(?: - at `\$(?P<path>[^`]*)`)$")
_MSGSPEC_TYPE = re.compile(r"`([^`]*)`")


def decode_json(content: bytes | str, *, max_depth: int | None = None) -> Any:
    """Return *content* as JSON values, numbers with a fraction as :class:`~decimal.Decimal`.

    :param content: The body (``response.content``).
    :param max_depth: Deepest nesting of arrays and objects accepted; ``None``:
        :data:`~storelink.http.runtime.MAX_JSON_DEPTH`.
    :raises UnreadableBody: Nested too deep, an integer of thousands of digits, or not
        UTF-8 before its end.
    :raises ValueError: Not JSON, or cut off.
    """
    return _decode(_ANY, content, max_depth)


def decode(content: bytes | str, kind: type[T], *, max_depth: int | None = None) -> T:
    """Return *content* decoded into *kind* (a msgspec struct, or a type msgspec decodes).

    Decoding is lax about spellings (``"12"`` is accepted for an int, ``"true"`` for a
    bool, a number or numeric string for a :class:`~decimal.Decimal`); fields typed
    ``Any`` hold JSON values as :func:`decode_json` returns them.

    :raises MappingError: A value does not fit *kind*; ``path`` names it
        (``items[3].listPrice``) and the message says what was expected.
    :raises UnreadableBody: As :func:`decode_json`.
    :raises ValueError: Not JSON, or cut off.
    """
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, strict=False, float_hook=_DECIMALS.__getitem__)
    result: T = _decode(decoder, content, max_depth)
    return result


@cache
def _bounds() -> tuple[int, type[UnreadableBody], Callable[[bytes], int]]:
    """Return the runtime's ``MAX_JSON_DEPTH``, ``UnreadableBody`` and depth scan (one meaning of "too deep").

    Imported on the first decode, not with this module: a plugin's module may import
    this one without importing the HTTP runtime (``storelink platforms`` reads no body).
    """
    from storelink.http.runtime import MAX_JSON_DEPTH, UnreadableBody
    from storelink.http.runtime import _depth as nesting

    return MAX_JSON_DEPTH, UnreadableBody, nesting


def _decode(decoder: msgspec.json.Decoder[Any], content: bytes | str, max_depth: int | None) -> Any:
    limit, UnreadableBody, nesting = _bounds()  # the class under its own name, as the raises below use it
    if max_depth is None:
        max_depth = limit
    data = content.encode() if isinstance(content, str) else content
    # Only a body longer than the limit can nest past it; the scan is a few C-speed passes.
    if len(data) > max_depth and nesting(data) > max_depth:
        raise UnreadableBody(_too_deep(max_depth))
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if message.startswith("Integer value out of range"):
            raise UnreadableBody("the body holds a number too long to read (more than 4,300 digits)") from None
        match = _AT.search(message)
        path = _path(match.group("path")) if match else ""
        reason = message[: match.start()] if match else message
        raise MappingError(_worded(reason), path=path or "body") from None
    except msgspec.DecodeError as exc:
        if str(exc).startswith("Invalid UTF-8"):
            try:
                data.decode()
            except UnicodeDecodeError as bad:
                if bad.end >= len(data) - 3:  # a character cut in two at the end: cut off
                    raise ValueError("the body was cut off inside a character") from None
                raise UnreadableBody(f"the body is not UTF-8 text (byte {bad.start})") from None
        raise  # not JSON, or cut off (a ValueError): the caller decides
    except RecursionError:
        raise UnreadableBody(_too_deep(max_depth)) from None


def _too_deep(limit: int) -> str:
    return f"the body is nested more than {limit} levels deep"


def _path(where: str) -> str:
    """Return msgspec's ``$.items[3].listPrice`` location as storelink's ``items[3].listPrice``."""
    return where.removeprefix(".")


def _worded(reason: str) -> str:
    """Return msgspec's ``Expected `decimal`, got `array``` as ``expected decimal, got array``."""
    text = _MSGSPEC_TYPE.sub(r"\1", reason.strip())
    return text[:1].lower() + text[1:]
