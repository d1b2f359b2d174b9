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

:func:`decode_listing`
    A list envelope (``{"items": [...], "totalResults": 250}``) whose items are decoded
    one at a time, as the plugin maps them, instead of all at once: each item's values
    are mapped while they are fresh in the CPU's caches and freed before the next is
    decoded, so a 250-item page never holds all its decoded dicts at once (about a
    quarter less CPU per item than decoding the page whole, then mapping it; see
    ``bench/RESULTS.md``). Map the items inside the reader, so that a bad item's
    bytes are refused as the body's.

All three refuse what ``parse_json`` refuses, as :class:`~storelink.http.runtime.UnreadableBody`
(which the runtime reports as a :class:`~storelink.PlatformError`, never retried): a body
nested deeper than :data:`~storelink.http.runtime.MAX_JSON_DEPTH`, an integer of more than
4,300 digits, bytes that are not UTF-8. A body that is not JSON, or is cut off, raises
:class:`ValueError` (a read is sent again).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, final

import msgspec

from storelink.errors import MappingError

if TYPE_CHECKING:
    from storelink.http.runtime import UnreadableBody

__all__ = ["Listing", "decode", "decode_json", "decode_listing"]

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
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])  # an object's members, each left undecoded
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])  # an array's elements, each left undecoded
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


@final
class Listing:
    """A list envelope read by :func:`decode_listing`: its other members, and its items, decoded as reached.

    :ivar fields: Every member of the object but the list, decoded as :func:`decode_json`
        decodes (a member named *key* that is not a list stays here, as it is).
    :ivar key: The member that holds the items (``items``).
    """

    __slots__ = ("_items", "fields", "key")

    def __init__(self, fields: dict[str, Any], key: str, items: list[msgspec.Raw] | None) -> None:
        self.fields = fields
        self.key = key
        self._items = items

    @property
    def has_items(self) -> bool:
        """Whether the object holds a list under :attr:`key` (an empty one included)."""
        return self._items is not None

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    def __iter__(self) -> Iterator[Any]:
        """Yield each item decoded, in order; nothing decoded is kept (iterate again to decode again).

        :raises UnreadableBody: The item holds a number of thousands of digits, or bytes
            that are not UTF-8.
        """
        for raw in self._items or ():
            yield _decode_part(raw)

    def map(self, mapper: Callable[[Any, str], T]) -> list[T]:
        """Return ``mapper(item, path)`` for each item, decoded just before, ``path`` being ``items[3]``.

        A :class:`ValueError` or :class:`TypeError` the mapper raises (a model's
        validator) becomes a :class:`~storelink.MappingError` at the item's path, so
        that inside a reader it is not taken for a body cut off on the way.

        :raises MappingError: The mapper's, or as above.
        :raises UnreadableBody: As :meth:`__iter__`.
        """
        mapped = []
        key = self.key
        for i, raw in enumerate(self._items or ()):
            item = _decode_part(raw)
            path = f"{key}[{i}]"
            try:
                mapped.append(mapper(item, path))
            except (ValueError, TypeError) as exc:
                if isinstance(exc, _bounds()[1]):  # the mapper decoded something itself
                    raise
                raise MappingError(str(exc) or type(exc).__name__, path=path) from exc
        return mapped

    def __repr__(self) -> str:
        return f"<Listing {len(self)} {self.key} and {sorted(self.fields)}>"


def decode_listing(content: bytes | str, key: str = "items", *, max_depth: int | None = None) -> Listing:
    """Return a JSON object *content* with its list under *key* left to decode an item at a time.

    The whole body is checked here as :func:`decode_json` checks it (not JSON, cut off,
    nested too deep); the members other than the list are decoded. Each item is decoded
    when it is reached (iterate the :class:`Listing`, or :meth:`Listing.map` it), and
    refused then if it holds what :func:`decode_json` refuses (a number of thousands
    of digits, bytes that are not UTF-8): map the items inside the reader
    (``ctx.http.read(..., reader=...)``) so that the runtime reports those as the
    store's malformed answer, as it does for :func:`decode_json`.

    :param key: The member holding the list.
    :raises MappingError: The body is JSON but not an object (``path`` ``body``).
    :raises UnreadableBody: As :func:`decode_json`.
    :raises ValueError: Not JSON, or cut off.
    """
    data, max_depth = _checked(content, max_depth)
    try:
        members = _MEMBERS.decode(data)
    except msgspec.ValidationError:  # JSON, but not an object: refuse it as decode_json would read it
        value = _decode(_ANY, data, max_depth)
        raise MappingError(f"expected an object holding a list at {key!r}, got {_kind(value)}", path="body") from None
    except msgspec.DecodeError:
        _decode(_ANY, data, max_depth)  # the same error decode_json raises (not UTF-8, cut off, not JSON)
        raise  # the skim refuses only what the full decode refuses: not reached
    fields: dict[str, Any] = {}
    items: list[msgspec.Raw] | None = None
    for name, raw in members.items():
        if name == key:
            try:
                items = _ELEMENTS.decode(raw)
                continue
            except msgspec.ValidationError:  # not a list: kept, decoded, with the other members
                pass
        fields[name] = _decode_part(raw)
    return Listing(fields, key, items)


def _kind(value: Any) -> str:
    return "array" if isinstance(value, list) else "null" if value is None else type(value).__name__


def _decode_part(raw: msgspec.Raw) -> Any:
    """Decode one member or element of a body already checked whole (its syntax, its depth).

    Bytes that are not UTF-8 are refused as such wherever they end: the part is
    complete, so they cannot be a character cut in two by the end of the body.
    """
    try:
        return _ANY.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        UnreadableBody = _bounds()[1]
        if str(exc).startswith("Integer value out of range"):
            raise UnreadableBody("the body holds a number too long to read (more than 4,300 digits)") from None
        if str(exc).startswith("Invalid UTF-8"):
            try:
                bytes(raw).decode()
            except UnicodeDecodeError as bad:
                raise UnreadableBody(f"the body is not UTF-8 text (byte {bad.start} of an item)") from None
        raise  # the whole body's syntax was checked: not reached


@cache
def _bounds() -> tuple[int, type[UnreadableBody], Callable[[bytes], int]]:
    """Return the runtime's ``MAX_JSON_DEPTH``, ``UnreadableBody`` and depth scan (one meaning of "too deep").

    Imported on the first decode, not with this module: a plugin's module may import
    this one without importing the HTTP runtime (``storelink platforms`` reads no body).
    """
    from storelink.http.runtime import MAX_JSON_DEPTH, UnreadableBody
    from storelink.http.runtime import _depth as nesting

    return MAX_JSON_DEPTH, UnreadableBody, nesting


def _checked(content: bytes | str, max_depth: int | None) -> tuple[bytes, int]:
    """Return *content* as bytes and the depth limit, refusing a body nested deeper (one scan)."""
    limit, UnreadableBody, nesting = _bounds()
    if max_depth is None:
        max_depth = limit
    data = content.encode() if isinstance(content, str) else content
    # Only a body longer than the limit can nest past it; the scan is a few C-speed passes.
    if len(data) > max_depth and nesting(data) > max_depth:
        raise UnreadableBody(_too_deep(max_depth))
    return data, max_depth


def _decode(decoder: msgspec.json.Decoder[Any], content: bytes | str, max_depth: int | None) -> Any:
    UnreadableBody = _bounds()[1]  # the class under its own name, as the raises below use it
    data, max_depth = _checked(content, max_depth)
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
