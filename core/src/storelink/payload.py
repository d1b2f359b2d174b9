"""Typed reads of untyped JSON, naming the path of whatever does not fit.

A plugin's mapping turns a platform's JSON objects into storelink models. The readers
here take the object, the key and the object's own path (``items[3]``) and return the
value in the type asked for, or raise :class:`~storelink.MappingError` naming the
field (``items[3].listPrice: expected an amount, got an array``)::

    from storelink import payload

    item = payload.expect_object(raw, "items", 3)  # path "items[3]"
    title = payload.text(item, "displayName", path) or ""
    price = payload.money(item, "listPrice", currency, path)
    extra = payload.leftovers(item, "displayName", "listPrice")

The path of a field is formatted only when a reader refuses it, so a mapping that
reads forty fields of twenty thousand products pays for no path it does not report.
On a hot path, pass options positionally: CPython specialises a call without
keywords, and a well-typed value returns before any option is looked at.
:func:`at` formats one for a mapping's own refusals.

Platforms differ in how loose they are (OCC sends numbers as text and ``"true"`` for
true, Shopify never does), so the readers take keyword options for the spellings they
accept. A number is read as text by default (platforms send ids either way); every
other option's default is the strict reading.

A :class:`Dialect` says how refusals are worded and which error they raise:
:data:`PLATFORM` (the default, :class:`~storelink.MappingError`, for platform
payloads) or :data:`INPUT` (:class:`~storelink.InputError`, for what a person wrote,
such as an order draft file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn, TypeVar

import attrs

from storelink.errors import InputError, MappingError
from storelink.models import Money, to_decimal

__all__ = [
    "INPUT",
    "PLATFORM",
    "Dialect",
    "Object",
    "amount",
    "at",
    "build",
    "expect_list",
    "expect_object",
    "flag",
    "integer",
    "items",
    "kind",
    "leftovers",
    "loose_text",
    "money",
    "record_id",
    "refuse_unknown",
    "required_integer",
    "required_text",
    "text",
    "timestamp",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- paths and refusals


def at(path: str, key: str | int | None = None) -> str:
    """Return the path of *key* in the value at *path*.

    ``at("items", 3)`` is ``items[3]``, ``at("items[3]", "listPrice")`` is
    ``items[3].listPrice``, and a key of the root (*path* empty) is the key alone.
    """
    if key is None:
        return path
    if type(key) is int:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def kind(value: object) -> str:
    """Name *value*'s JSON type for a message: ``a string``, ``a number``, ``an array``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


class Dialect:
    """How the readers word a refusal, and the error they raise.

    :param error: The error class, called as ``error(message, path=...)``.
    :param words: The message of each refusal by name (``object``, ``list``, ``text``,
        ``required``, ``empty``, ``flag``, ``integer``, ``whole``, ``amount``,
        ``finite``, ``timestamp``, ``zone``, ``id``, ``unknown``); ``{kind}`` is the
        refused value's JSON type (:func:`kind`).
    :param field_paths: Whether :func:`build` names the model field a validator refused
        (``shipping_address.email``) rather than the object: right when the JSON keys
        are the model's field names.
    :param root: The path of the document itself, for a refusal of it as a whole
        (``draft``); the paths of its fields stay unprefixed (``lines[0]``).
    """

    __slots__ = ("error", "field_paths", "root", "words")

    def __init__(
        self,
        error: type[MappingError | InputError],
        words: Mapping[str, str],
        *,
        field_paths: bool = False,
        root: str = "",
    ) -> None:
        self.error = error
        self.words = dict(words)
        self.field_paths = field_paths
        self.root = root

    def rooted(self, root: str) -> Dialect:
        """Return this dialect for a document whose own path is *root*."""
        return Dialect(self.error, self.words, field_paths=self.field_paths, root=root)

    def refuse(self, word: str, path: str, key: str | int | None = None, value: object = None) -> NoReturn:
        """Raise this dialect's error for refusal *word* of *value* at ``at(path, key)``."""
        raise self.error(self.words[word].format(kind=kind(value)), path=at(path, key) or self.root)


#: Platform payloads: :class:`~storelink.MappingError`, "expected ...".
PLATFORM = Dialect(
    MappingError,
    {
        "object": "expected an object, got {kind}",
        "list": "expected a list, got {kind}",
        "text": "expected text, got {kind}",
        "required": "is required",
        "empty": "must not be empty",
        "flag": "expected true or false, got {kind}",
        "integer": "expected an integer, got {kind}",
        "whole": "expected a whole number",
        "amount": "expected an amount, got {kind}",
        "finite": "expected a finite decimal amount",
        "timestamp": "expected an ISO 8601 date and time",
        "zone": "expected a date and time with a time zone",
        "id": "expected an id, got {kind}",
        "unknown": "is not a known field",
    },
)

#: Input a person wrote (an order draft file): :class:`~storelink.InputError`, "must be ...".
INPUT = Dialect(
    InputError,
    {
        "object": "must be an object, got {kind}",
        "list": "must be an array, got {kind}",
        "text": "must be a string, got {kind}",
        "required": "is required",
        "empty": "must not be empty",
        "flag": "must be true or false, got {kind}",
        "integer": "must be an integer, got {kind}",
        "whole": "must be a whole number",
        "amount": "must be a decimal string or a number, got {kind}",
        "finite": 'must be a finite decimal amount, like "12.50"',
        "timestamp": "must be an ISO 8601 date and time",
        "zone": "must be a date and time with a time zone",
        "id": "must be an id, got {kind}",
        "unknown": "is not a known field",
    },
    field_paths=True,
)


# --------------------------------------------------------------------------- objects and lists


def expect_object(
    value: Any, path: str, key: str | int | None = None, dialect: Dialect = PLATFORM
) -> Mapping[str, Any]:
    """Return *value* if it is a JSON object (the value at ``at(path, key)``)."""
    if type(value) is dict or isinstance(value, Mapping):
        return value
    dialect.refuse("object", path, key, value)


def expect_list(
    value: Any, path: str, key: str | int | None = None, required: bool = False, dialect: Dialect = PLATFORM
) -> list[Any]:
    """Return *value* if it is a JSON list; ``null`` is an empty one unless *required*."""
    if type(value) is list:
        return value
    if value is None and not required:
        return []
    if isinstance(value, list):
        return value
    dialect.refuse("list", path, key, value)


def items(
    payload: Mapping[str, Any], key: str, path: str, required: bool = False, dialect: Dialect = PLATFORM
) -> list[Any]:
    """Return the list at *key* (:func:`expect_list`); absent or ``null`` is empty unless *required*."""
    value = payload.get(key)
    if type(value) is list:
        return value
    if value is None and not required:
        return []
    return expect_list(value, path, key, required, dialect)


def leftovers(payload: Mapping[str, Any], *used: str) -> dict[str, Any]:
    """Return the fields of *payload* not in *used*, in payload order: a model's ``extra``."""
    rest = dict(payload)  # copying and dropping the few used keys beats filtering every key
    for key in used:
        rest.pop(key, None)
    return rest


def refuse_unknown(payload: Mapping[str, Any], path: str, *known: str, dialect: Dialect = PLATFORM) -> None:
    """Refuse the first (in sorted order) key of *payload* not in *known*, so no misspelling is dropped."""
    unknown = sorted(str(k) for k in payload if k not in known)
    if unknown:
        dialect.refuse("unknown", path, unknown[0])


# --------------------------------------------------------------------------- text and ids


def text(
    payload: Mapping[str, Any],
    key: str,
    path: str,
    numbers: bool = True,
    strip: bool = False,
    empty: bool = True,
    dialect: Dialect = PLATFORM,
) -> str | None:
    """Return the text at *key*, or ``None`` when it is absent or ``null``.

    :param numbers: Accept a number (not a boolean) as its text (``12`` is ``"12"``), as
        platforms send ids and codes; ``False`` refuses it.
    :param strip: Strip surrounding whitespace; text that is then empty is ``None``.
    :param empty: Accept empty text (when not *strip*); else it is refused.
    """
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is str and not strip and (empty or value):
        return value
    return _text(value, path, key, numbers, strip, empty, dialect)


def _text(value: Any, path: str, key: str, numbers: bool, strip: bool, empty: bool, dialect: Dialect) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if strip:
            return value.strip() or None
        if value or empty:
            return str(value)
        dialect.refuse("empty", path, key)
    if numbers and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    dialect.refuse("text", path, key, value)


def required_text(
    payload: Mapping[str, Any],
    key: str,
    path: str,
    numbers: bool = True,
    strip: bool = False,
    empty: bool = False,
    dialect: Dialect = PLATFORM,
) -> str:
    """Return the text at *key* as :func:`text` does, refusing it absent (and, by default, empty)."""
    value = payload.get(key)
    if type(value) is str and value and not strip:
        return value
    found = _text(value, path, key, numbers, strip, empty, dialect)
    if found is None:
        dialect.refuse("required" if value is None else "empty", path, key)
    return found


def loose_text(payload: Mapping[str, Any], key: str) -> str | None:
    """Return the stripped text at *key*, or ``None`` when it is anything else (never refuses).

    For free text a platform is known to fill with other types (WooCommerce sends
    ``false`` for an unset field); a mapping that can tell text from junk reads it with
    :func:`text` instead.
    """
    value = payload.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def record_id(
    payload: Mapping[str, Any],
    path: str,
    keys: tuple[str, ...] = ("id",),
    integer: bool = False,
    name: str | None = None,
    dialect: Dialect = PLATFORM,
) -> str:
    """Return the record's id: the first of *keys* (``("repositoryId", "id")``) that is set, as text.

    An id is non-empty text or a whole number (written in decimal); ``null``, ``""``
    and ``0`` fall through to the next key. The path in a refusal names *name* (by
    default the last key).

    :param integer: Accept only a non-negative integer (WooCommerce ids).
    """
    if len(keys) == 2:  # the common cases, without a loop
        value = payload.get(keys[0]) or payload.get(keys[1])
    elif len(keys) == 1:
        value = payload.get(keys[0])
    else:
        value = None
        for key in keys:
            value = payload.get(key)
            if value:
                break
    if type(value) is str and value and not integer:  # "" is no id: it is refused below
        return value
    if type(value) is int and value >= 0:
        return str(value)
    where = name or keys[-1]
    if value is None or value == "":
        dialect.refuse("required", path, where)
    if isinstance(value, bool) or not isinstance(value, int if integer else int | Decimal | str):
        dialect.refuse("id", path, where, value)
    if integer and value < 0:
        dialect.refuse("id", path, where, value)
    return str(value) if isinstance(value, str) else str(int(value)) if isinstance(value, int) else str(value)


# --------------------------------------------------------------------------- flags and numbers


def flag(
    payload: Mapping[str, Any],
    key: str,
    path: str,
    default: bool = True,
    strings: bool = False,
    dialect: Dialect = PLATFORM,
) -> bool:
    """Return the boolean at *key*, *default* when it is absent or ``null``.

    :param strings: Accept ``"true"`` and ``"false"`` (any case), as OCC sends them.
    """
    value = payload.get(key)
    if value is True or value is False:
        return value
    if value is None:
        return default
    if strings and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    dialect.refuse("flag", path, key, value)


def integer(
    payload: Mapping[str, Any], key: str, path: str, loose: bool = False, dialect: Dialect = PLATFORM
) -> int | None:
    """Return the integer at *key*, or ``None`` when it is absent or ``null``. A boolean is never one.

    :param loose: Also accept a whole number written otherwise (``"12"``, ``12.0``), as
        OCC sends stock levels; ``""`` is then ``None`` too.
    """
    value = payload.get(key)
    if type(value) is int or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if not loose or isinstance(value, bool):
        dialect.refuse("integer", path, key, value)
    number = amount(payload, key, path, dialect=dialect)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise dialect.error(f"{dialect.words['whole']}, got {number}", path=at(path, key))
    return int(number)


def required_integer(
    payload: Mapping[str, Any], key: str, path: str, loose: bool = False, dialect: Dialect = PLATFORM
) -> int:
    """Return the integer at *key* as :func:`integer` does, refusing it absent or ``null``."""
    value = payload.get(key)
    if type(value) is int:
        return value
    number = integer(payload, key, path, loose=loose, dialect=dialect)
    if number is None:
        dialect.refuse("integer", path, key, value)
    return number


def amount(
    payload: Mapping[str, Any],
    key: str,
    path: str,
    floats: bool = True,
    dialect: Dialect = PLATFORM,
) -> Decimal | None:
    """Return the amount at *key* as a finite :class:`~decimal.Decimal`, ``None`` when absent, ``null`` or ``""``.

    An amount is a :class:`~decimal.Decimal`, an integer, a float (by its shortest
    ``repr``, so ``4.75`` is exactly ``4.75``) or numeric text; never a boolean.

    :param floats: Accept floats (a platform that sends amounts as text may refuse them).
    """
    value = payload.get(key)
    if type(value) is Decimal and value.is_finite():
        return value
    if value is None or value == "":
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, str | int | Decimal | float)
        or (not floats and isinstance(value, float))
    ):
        dialect.refuse("amount", path, key, value)
    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        dialect.refuse("finite", path, key)


#: Money already built, by the exact spelling of its amount and its currency. Money is
#: frozen and holds only a Decimal and a str, so one instance can serve every payload
#: (and thread) with that price; only values that built without error are kept.
_MONEY_CACHE: dict[tuple[type, str, str], Money] = {}
_MONEY_CACHE_SIZE = 4096
_CACHED_TEXT = 40  # the longest amount text remembered

#: The same Money by the identity of the Decimal it was read from, with that Decimal
#: (so that its id is not reused while the entry lives) and the currency.
#: :func:`storelink.decode.decode_json` hands out one Decimal object per number text, so
#: the prices a page repeats are found without formatting the amount as text.
_MONEY_BY_ID: dict[int, tuple[object, str, Money]] = {}


def money(
    payload: Mapping[str, Any],
    key: str,
    currency: str,
    path: str,
    floats: bool = True,
    dialect: Dialect = PLATFORM,
) -> Money | None:
    """Return the amount at *key* (as :func:`amount` reads it) as :class:`~storelink.Money` in *currency*.

    ``None`` when the amount is absent, ``null`` or ``""``. Amounts of exactly
    :class:`~decimal.Decimal`, float, int or (short) str type are looked up in a bounded
    cache keyed by their type and ``str`` (which, unlike ``==``, tells ``1.0`` from
    ``1.00``), a Decimal first by its identity.
    """
    value = payload.get(key)
    if value is None:
        return None
    known = _MONEY_BY_ID.get(id(value))
    if known is not None and known[0] is value and known[1] == currency:
        return known[2]
    cls = type(value)
    if not (
        cls is Decimal
        or (cls is float and floats)
        or (cls is int and -(10**18) < value < 10**18)
        or (cls is str and len(value) <= _CACHED_TEXT)
    ):
        return _money(payload, key, currency, path, floats, dialect)
    cache_key = (cls, str(value), currency)
    cached = _MONEY_CACHE.get(cache_key)
    if cached is None:
        cached = _money(payload, key, currency, path, floats, dialect)
        if cached is None:
            return None
        if len(_MONEY_CACHE) >= _MONEY_CACHE_SIZE:
            _MONEY_CACHE.clear()  # a bounded cache; a race here only rebuilds entries
        _MONEY_CACHE[cache_key] = cached
    if cls is Decimal:
        if len(_MONEY_BY_ID) >= _MONEY_CACHE_SIZE:
            _MONEY_BY_ID.clear()
        _MONEY_BY_ID[id(value)] = (value, currency, cached)
    return cached


def _money(
    payload: Mapping[str, Any], key: str, currency: str, path: str, floats: bool, dialect: Dialect
) -> Money | None:
    number = amount(payload, key, path, floats=floats, dialect=dialect)
    return None if number is None else build(at(path, key), Money, dialect, amount=number, currency=currency)


# --------------------------------------------------------------------------- dates


def timestamp(
    payload: Mapping[str, Any],
    key: str,
    path: str,
    naive: Literal["utc", "keep", "refuse"] = "utc",
    dialect: Dialect = PLATFORM,
) -> datetime | None:
    """Return the ISO 8601 date and time at *key* (``2024-05-01T10:00:00.000Z``), ``None`` when absent or ``""``.

    :param naive: What a time without an offset is: in UTC (``utc``, as OCC and
        WooCommerce's ``*_gmt`` fields mean it), left naive (``keep``), or refused
        (``refuse``).
    """
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        dialect.refuse("text", path, key, value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        dialect.refuse("timestamp", path, key)
    if moment.tzinfo is not None or naive == "keep":
        return moment
    if naive == "refuse":
        dialect.refuse("zone", path, key)
    return moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- models


def build(path: str, model: Callable[..., T], dialect: Dialect = PLATFORM, /, **fields: Any) -> T:
    """Return ``model(**fields)``; a validator's ``ValueError`` or ``TypeError`` is the dialect's error at *path*.

    With a dialect whose ``field_paths`` is set (:data:`INPUT`), an attrs validator's
    refusal names the field (``at(path, field)``) and says ``is not valid: ...``.
    """
    try:
        return model(**fields)
    except (TypeError, ValueError) as exc:
        if dialect.field_paths and len(exc.args) > 1 and isinstance(exc.args[1], attrs.Attribute):
            raise dialect.error(f"is not valid: {exc.args[0]}", path=at(path, exc.args[1].name)) from None
        raise dialect.error(str(exc), path=path or dialect.root) from None


# --------------------------------------------------------------------------- one object at a time


class Object:
    """A JSON object and its path, with the readers above as methods (a strict reading).

    For mappings that read an object at a time (the plugin template's): the key alone
    names a field, and :meth:`objects` hands out the entries of a list with their
    paths. Text is text only, integers are integers only, and a field the method does
    not say is optional is required.

    :raises MappingError: *data* is not an object.
    """

    __slots__ = ("path", "payload")

    def __init__(self, data: object, path: str) -> None:
        self.payload: Mapping[str, Any] = expect_object(data, path)
        self.path = path

    def at(self, key: str | int) -> str:
        """Return the path of *key* in this object."""
        return at(self.path, key)

    def text(self, key: str) -> str:
        """Return the text at *key* (empty text included)."""
        return required_text(self.payload, key, self.path, numbers=False, empty=True)

    def optional_text(self, key: str) -> str | None:
        """Return the text at *key*, or ``None`` when it is absent or ``null``."""
        return text(self.payload, key, self.path, numbers=False)

    def integer(self, key: str) -> int:
        """Return the integer at *key* (a boolean is not one)."""
        return required_integer(self.payload, key, self.path)

    def flag(self, key: str, default: bool) -> bool:
        """Return the boolean at *key*, or *default* when it is absent or ``null``."""
        return flag(self.payload, key, self.path, default)

    def objects(self, key: str) -> list[Object]:
        """Return the objects of the list at *key* (an absent list is empty)."""
        where = self.at(key)
        return [Object(item, f"{where}[{i}]") for i, item in enumerate(items(self.payload, key, self.path))]

    def obj(self, key: str) -> Object:
        """Return the object at *key*."""
        return Object(self.payload.get(key), self.at(key))

    def model(self, model: Callable[..., T], **fields: Any) -> T:
        """Return ``model(**fields)``, a validator's refusal raised at this object's path (:func:`build`)."""
        return build(self.path, model, **fields)

    def money(self, key: str, currency: str | None = None) -> Money:
        """Return the amount at *key*: an ``{amount, currency}`` object, or an amount in *currency*."""
        if currency is None:
            entry = self.obj(key)
            return entry.money("amount", entry.text("currency"))
        found = money(self.payload, key, currency, self.path)
        if found is None:
            PLATFORM.refuse("required", self.path, key)
        return found

    def time(self, key: str) -> datetime | None:
        """Return the ISO 8601 date and time at *key* (``None`` when absent), naive kept naive."""
        return timestamp(self.payload, key, self.path, naive="keep")
