"""Models to and from JSON: what the CLI prints, what a draft file holds, what a checkpoint stores.

:func:`to_jsonable` turns any model into plain JSON values under its attrs field names;
:func:`encode_line` writes the same as one line of compact JSON (what ``storelink sync``
writes to its JSON Lines files), in a fraction of the time, and :func:`encode_lines` a
whole page of such lines in one call (what the sync writes at a time).
:func:`draft_from_jsonable` reads an :class:`~storelink.OrderDraft` from such values
and names the field at fault when they are malformed. :func:`cursor_to_str` and
:func:`cursor_from_str` give a page cursor an opaque, versioned text form for sync
checkpoints. :func:`payload_hash` is the order ledger's fingerprint of a draft.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import msgspec

from storelink.credentials import Secret
from storelink.errors import InputError
from storelink.models import (
    Address,
    Cursor,
    Customer,
    Money,
    OffsetCursor,
    Order,
    OrderDraft,
    OrderLine,
    OrderTotals,
    Payment,
    StoreURL,
    TokenCursor,
)
from storelink.payload import (
    INPUT,
    Dialect,
    amount,
    at,
    build,
    expect_list,
    expect_object,
    refuse_unknown,
    required_text,
    text,
    timestamp,
)

__all__ = [
    "cursor_from_str",
    "cursor_to_str",
    "draft_from_jsonable",
    "encode_line",
    "encode_lines",
    "order_from_jsonable",
    "payload_hash",
    "to_jsonable",
]

M = TypeVar("M")

# --------------------------------------------------------------------------- to JSON


def to_jsonable(model: object) -> dict[str, Any]:
    """Return *model* (an attrs instance) as a dict of JSON values, by field name.

    ``Decimal`` becomes a string (``"12.50"``, precision kept), ``datetime`` ISO 8601,
    an enum its value, a mapping a dict, a tuple or set a list, a
    :class:`~storelink.StoreURL` its origin and a :class:`~storelink.Secret` ``"***"``.
    Fields declared with ``repr=False`` (such as a credential field's validator) are
    left out, as they are from the model's ``repr``.

    :raises TypeError: *model* is not an attrs instance, or holds a value with no
        JSON form.
    """
    if not attrs.has(type(model)):
        raise TypeError(f"expected an attrs model, got {type(model).__name__}")
    result: dict[str, Any] = _jsonable(model, canonical=False)
    return result


def _jsonable(value: Any, *, canonical: bool) -> Any:
    if type(value) in _PLAIN:
        return value
    return _encoder(type(value))(value, canonical)


# JSON leaves, by exact type (a subclass such as a ``StrEnum`` goes through _encoder).
_PLAIN: frozenset[type] = frozenset({str, int, bool, float, type(None)})

_Encoder = Callable[[Any, bool], Any]


def _choose_encoder(cls: type) -> _Encoder:
    """Return the function that encodes values of exactly *cls*, chosen once per class.

    The checks run in this order, so a value that is, say, both an attrs model and
    a mapping is encoded as a model, whatever its class.
    """
    if cls is type(None) or issubclass(cls, str | bool | int | float):
        return _as_is
    if issubclass(cls, enum.Enum):
        return _enum
    if issubclass(cls, Decimal):
        return _decimal
    if issubclass(cls, datetime):
        return _datetime
    if issubclass(cls, Secret):
        return _secret
    if issubclass(cls, StoreURL):
        return _store_url
    if attrs.has(cls):
        return _model_encoder(cls)
    if issubclass(cls, Mapping):
        return _mapping
    if issubclass(cls, frozenset | set):
        return _set
    if issubclass(cls, tuple | list):
        return _sequence
    return _no_json_form


_encoder: Callable[[type], _Encoder] = functools.cache(_choose_encoder)


def _model_encoder(cls: type) -> _Encoder:
    # Fields declared repr=False are left out, as they are from the model's repr.
    names = tuple(a.name for a in attrs.fields(cls) if a.repr is not False)

    def encode(value: Any, canonical: bool) -> dict[str, Any]:
        result = {}
        for name in names:
            item = getattr(value, name)
            result[name] = item if type(item) in _PLAIN else _encoder(type(item))(item, canonical)
        return result

    return encode


def _as_is(value: Any, canonical: bool) -> Any:
    return value


def _enum(value: enum.Enum, canonical: bool) -> Any:
    return _jsonable(value.value, canonical=canonical)


def _decimal(value: Decimal, canonical: bool) -> str:
    # Canonical form: equal amounts ("12.5", "12.50") encode alike.
    return format(value.normalize(), "f") if canonical else str(value)


def _datetime(value: datetime, canonical: bool) -> str:
    return value.isoformat()


def _secret(value: Secret, canonical: bool) -> str:
    return "***"


def _store_url(value: StoreURL, canonical: bool) -> str:
    return value.url


def _mapping(value: Mapping[Any, Any], canonical: bool) -> dict[str, Any]:
    return {str(k): v if type(v) in _PLAIN else _encoder(type(v))(v, canonical) for k, v in value.items()}


def _set(value: frozenset[Any] | set[Any], canonical: bool) -> list[Any]:
    return sorted((_jsonable(v, canonical=canonical) for v in value), key=json.dumps)


def _sequence(value: tuple[Any, ...] | list[Any], canonical: bool) -> list[Any]:
    return [v if type(v) in _PLAIN else _encoder(type(v))(v, canonical) for v in value]


def _no_json_form(value: Any, canonical: bool) -> Any:
    raise TypeError(f"{type(value).__name__} has no JSON form")


# --------------------------------------------------------------------------- JSON Lines


def encode_line(model: object) -> bytes:
    """Return *model* as one line of compact JSON, ending in a newline, encoded in UTF-8.

    Byte for byte what ``json.dumps(to_jsonable(model), ensure_ascii=False,
    separators=(",", ":")).encode()`` and a newline give (non-ASCII text as it is, floats
    as Python writes them), encoded by msgspec: the tree is built once, with
    ``Decimal`` amounts left for the encoder to write as their ``str``.

    :raises TypeError: As :func:`to_jsonable`.
    :raises UnicodeEncodeError: A text holds a lone surrogate, which UTF-8 cannot encode.
    """
    if not attrs.has(type(model)):
        raise TypeError(f"expected an attrs model, got {type(model).__name__}")
    return _ENCODE(_line_encoder(type(model))(model)) + b"\n"


def encode_lines(models: Iterable[object]) -> bytes:
    """Return *models* as JSON lines, one per model: the bytes of :func:`encode_line` for each, joined.

    One call for a whole page (what ``storelink sync`` writes at a time): each line is
    encoded into one buffer as soon as its tree is built, so that no list of lines, and
    no page of trees, is ever held.

    :raises TypeError: As :func:`to_jsonable`, for any of *models*.
    :raises UnicodeEncodeError: As :func:`encode_line`.
    """
    buffer = bytearray()
    encoders: dict[type, _LineEncoder] = {}  # the models' classes, checked once each
    for model in models:
        encode = encoders.get(type(model))
        if encode is None:
            if not attrs.has(type(model)):
                raise TypeError(f"expected an attrs model, got {type(model).__name__}")
            encode = encoders[type(model)] = _line_encoder(type(model))
        _ENCODE_INTO(encode(model), buffer, -1)
        buffer += b"\n"
    return bytes(buffer)


_ENCODER = msgspec.json.Encoder()
_ENCODE = _ENCODER.encode
_ENCODE_INTO = _ENCODER.encode_into

# Leaves msgspec writes exactly as json.dumps (a Decimal as its str, which _decimal gives).
_LINE_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None), Decimal})

_LineEncoder = Callable[[Any], Any]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _choose_line_encoder(cls: type) -> _LineEncoder:
    """Return what makes a value of exactly *cls* ready for msgspec, as :func:`_choose_encoder` decides.

    Models, mappings and sequences are walked; texts become text; anything else (a
    float, a set, an enum) is written by ``json.dumps`` and embedded as it is, so that
    the bytes are the standard library's.
    """
    plain = _encoder(cls)
    if plain in (_decimal, _datetime, _secret, _store_url):
        return lambda value: plain(value, False)
    if plain is _mapping:
        return _line_mapping
    if plain is _sequence:
        return _line_sequence
    if plain not in (_as_is, _enum, _set, _no_json_form) and attrs.has(cls):
        return _line_model(cls)
    return lambda value: msgspec.Raw(_dumps(plain(value, False)))


_line_encoder: Callable[[type], _LineEncoder] = functools.cache(_choose_line_encoder)


def _line_model(cls: type) -> _LineEncoder:
    """Return the encoder of the model *cls*: its fields (but those declared ``repr=False``) in order.

    Generated, as attrs generates ``__init__``: one attribute read and one test per
    field, no loop or ``getattr`` per model (a product holds a dozen models). Names of
    the generated code start with ``_sl_``, so that no field name shadows them.
    """
    names = tuple(a.name for a in attrs.fields(cls) if a.repr is not False)
    reads = "".join(f"    _sl_{i} = _sl_value.{name}\n" for i, name in enumerate(names))
    items = ", ".join(
        f"{name!r}: _sl_{i} if type(_sl_{i}) in _sl_plain else _sl_encoder(type(_sl_{i}))(_sl_{i})"
        for i, name in enumerate(names)
    )
    source = f"def _sl_encode(_sl_value):\n{reads}    return {{{items}}}\n"
    namespace: dict[str, Any] = {"_sl_plain": _LINE_PLAIN, "_sl_encoder": _line_encoder}
    # Built from the model's own field names (identifiers), never from data.
    exec(compile(source, f"<storelink line encoder of {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    encode: _LineEncoder = namespace["_sl_encode"]
    return encode


def _line_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v if type(v) in _LINE_PLAIN else _line_encoder(type(v))(v) for k, v in value.items()}


def _line_sequence(value: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [v if type(v) in _LINE_PLAIN else _line_encoder(type(v))(v) for v in value]


def payload_hash(draft: OrderDraft) -> str:
    """Return the SHA-256 (hex) of *draft*'s canonical JSON.

    Canonical: keys sorted, no whitespace, amounts without trailing zeros. Two drafts
    that compare equal hash alike; the order ledger uses it to tell a replay of a
    reference from a different order under the same reference.
    """
    canonical = _jsonable(draft, canonical=True)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- drafts

_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


#: Refusals of a draft or a ledger's order: InputError, the document's own path named
#: ``draft`` or ``order``, a validator's refusal naming the field (the keys are the
#: models' field names).
_DRAFT = INPUT.rooted("draft")
_ORDER = INPUT.rooted("order")

#: Reads one JSON object: the object, its path (``""`` at the root) and the dialect.
_Read = Callable[[Mapping[str, Any], str, Dialect], M]


def _model(data: Mapping[str, Any], path: str, dialect: Dialect, model: Callable[..., M], **fields: Any) -> M:
    """Refuse the keys that are no field of *model*, then make it (:func:`storelink.payload.build`)."""
    refuse_unknown(data, path, *fields, dialect=dialect)
    return build(path, model, dialect, **fields)


def _text(
    data: Mapping[str, Any],
    key: str,
    path: str,
    dialect: Dialect,
    pattern: re.Pattern[str] | None = None,
    hint: str = "",
) -> str:
    value = required_text(data, key, path, numbers=False, dialect=dialect)
    if pattern is not None and not pattern.fullmatch(value):
        raise dialect.error(hint, path=at(path, key))
    return value


def _opt_text(data: Mapping[str, Any], key: str, path: str, dialect: Dialect) -> str | None:
    return text(data, key, path, numbers=False, empty=False, dialect=dialect)


def _opt_obj(data: Mapping[str, Any], key: str, path: str, dialect: Dialect, read: _Read[M]) -> M | None:
    value = data.get(key)
    return None if value is None else read(expect_object(value, path, key, dialect=dialect), at(path, key), dialect)


def _obj(data: Mapping[str, Any], key: str, path: str, dialect: Dialect, read: _Read[M]) -> M:
    value = _opt_obj(data, key, path, dialect, read)
    if value is None:
        dialect.refuse("required", path, key)
    return value


def _when(data: Mapping[str, Any], key: str, path: str, dialect: Dialect) -> datetime | None:
    _opt_text(data, key, path, dialect)  # text, and not empty
    return timestamp(data, key, path, naive="keep", dialect=dialect)


def _object_at(data: Mapping[str, Any], key: str, path: str, dialect: Dialect) -> dict[str, Any]:
    value = data.get(key)
    return {} if value is None else dict(expect_object(value, path, key, dialect=dialect))


def _money(data: Mapping[str, Any], path: str, dialect: Dialect) -> Money:
    number = amount(data, "amount", path, dialect=dialect)
    if number is None:
        dialect.refuse("required", path, "amount")
    currency = _text(data, "currency", path, dialect, _CURRENCY, "must be an ISO 4217 code in capitals, like USD")
    return _model(data, path, dialect, Money, amount=number, currency=currency)


def _line(data: Mapping[str, Any], path: str, dialect: Dialect) -> OrderLine:
    quantity = data.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise dialect.error("must be a positive integer", path=at(path, "quantity"))
    return _model(
        data,
        path,
        dialect,
        OrderLine,
        product_id=_text(data, "product_id", path, dialect),
        sku_id=_text(data, "sku_id", path, dialect),
        quantity=quantity,
        price=_opt_obj(data, "price", path, dialect, _money),
    )


def _address(data: Mapping[str, Any], path: str, dialect: Dialect) -> Address:
    return _model(
        data,
        path,
        dialect,
        Address,
        name=_text(data, "name", path, dialect),
        line1=_text(data, "line1", path, dialect),
        line2=_opt_text(data, "line2", path, dialect),
        city=_text(data, "city", path, dialect),
        region=_opt_text(data, "region", path, dialect),
        postal_code=_opt_text(data, "postal_code", path, dialect),
        country=_text(data, "country", path, dialect, _COUNTRY, "must be an ISO 3166 code of two capitals, like US"),
        email=_opt_text(data, "email", path, dialect),
        phone=_opt_text(data, "phone", path, dialect),
    )


def _payment(data: Mapping[str, Any], path: str, dialect: Dialect) -> Payment:
    return _model(
        data,
        path,
        dialect,
        Payment,
        type=_text(data, "type", path, dialect),
        po_number=_opt_text(data, "po_number", path, dialect),
        amount=_opt_obj(data, "amount", path, dialect, _money),
        extra=_object_at(data, "extra", path, dialect),
    )


def _customer(data: Mapping[str, Any], path: str, dialect: Dialect) -> Customer:
    return _model(
        data,
        path,
        dialect,
        Customer,
        id=_opt_text(data, "id", path, dialect),
        email=_opt_text(data, "email", path, dialect),
        name=_opt_text(data, "name", path, dialect),
    )


def _totals(data: Mapping[str, Any], path: str, dialect: Dialect) -> OrderTotals:
    return _model(
        data,
        path,
        dialect,
        OrderTotals,
        subtotal=_opt_obj(data, "subtotal", path, dialect, _money),
        shipping=_opt_obj(data, "shipping", path, dialect, _money),
        tax=_opt_obj(data, "tax", path, dialect, _money),
        total=_obj(data, "total", path, dialect, _money),
    )


def _lines(data: Mapping[str, Any], path: str, dialect: Dialect, *, required: bool = True) -> tuple[OrderLine, ...]:
    value = data.get("lines")
    if value is None and not required:
        return ()
    if value is None:
        dialect.refuse("required", path, "lines")
    lines = expect_list(value, path, "lines", dialect=dialect)
    where = at(path, "lines")
    if not lines and required:
        raise dialect.error("must hold at least one line", path=where)
    return tuple(
        _line(expect_object(item, where, i, dialect=dialect), at(where, i), dialect) for i, item in enumerate(lines)
    )


def draft_from_jsonable(data: object) -> OrderDraft:
    """Read an order draft from JSON values (as :func:`to_jsonable` writes them).

    Absent and ``null`` optional fields are the same; unknown fields are refused, so
    a misspelled key is not silently dropped.

    :param data: The parsed JSON document.
    :raises InputError: The draft is malformed; ``.path`` names the field at fault
        (``lines[0].quantity``) and the message says what is expected.
    """
    d = _DRAFT
    r = expect_object(data, "", dialect=d)
    reference = _text(
        r,
        "reference",
        "",
        d,
        _REFERENCE,
        "must be 1 to 128 letters, digits or . _ : - and start with a letter or digit",
    )
    return _model(
        r,
        "",
        d,
        OrderDraft,
        reference=reference,
        lines=_lines(r, "", d),
        shipping_address=_obj(r, "shipping_address", "", d, _address),
        billing_address=_opt_obj(r, "billing_address", "", d, _address),
        shipping_method_id=_text(r, "shipping_method_id", "", d),
        payment=_opt_obj(r, "payment", "", d, _payment),
        customer=_opt_obj(r, "customer", "", d, _customer),
        extra=_object_at(r, "extra", "", d),
    )


def order_from_jsonable(data: object) -> Order:
    """Read an :class:`~storelink.Order` from JSON values (as :func:`to_jsonable` writes them).

    The order ledger keeps each created order this way, to replay it.

    :raises InputError: The values are not an order; ``.path`` names the field.
    """
    d = _ORDER
    r = expect_object(data, "", dialect=d)
    return _model(
        r,
        "",
        d,
        Order,
        id=_text(r, "id", "", d),
        reference=_opt_text(r, "reference", "", d),
        state=_text(r, "state", "", d),
        lines=_lines(r, "", d, required=False),
        totals=_opt_obj(r, "totals", "", d, _totals),
        shipping_address=_opt_obj(r, "shipping_address", "", d, _address),
        created_at=_when(r, "created_at", "", d),
        updated_at=_when(r, "updated_at", "", d),
        extra=_object_at(r, "extra", "", d),
    )


# --------------------------------------------------------------------------- cursors

_CURSOR_VERSION = "c1."


def cursor_to_str(cursor: Cursor) -> str:
    """Return *cursor* as opaque, URL-safe text (a versioned form; see :func:`cursor_from_str`)."""
    if isinstance(cursor, TokenCursor):
        body: dict[str, Any] = {"t": cursor.token}
    else:
        body = {"o": cursor.offset, "l": cursor.limit}
    packed = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return _CURSOR_VERSION + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _plain_ints(*values: int) -> bool:
    return all(type(v) is int for v in values)


def cursor_from_str(text: str) -> Cursor:
    """Read a cursor written by :func:`cursor_to_str`.

    :raises InputError: *text* is not a cursor this version of storelink wrote
        (``.path`` is ``cursor``).
    """
    problem = InputError("is not a storelink page cursor", path="cursor")
    if not isinstance(text, str) or not text.startswith(_CURSOR_VERSION):
        raise problem
    encoded = text[len(_CURSOR_VERSION) :]
    try:
        packed = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        body = json.loads(packed)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problem from None
    try:
        match body:
            case {"t": str(token)} if len(body) == 1:
                return TokenCursor(token=token)
            case {"o": int(offset), "l": int(limit)} if len(body) == 2 and _plain_ints(offset, limit):
                return OffsetCursor(offset=offset, limit=limit)
    except (TypeError, ValueError):
        raise problem from None
    raise problem
