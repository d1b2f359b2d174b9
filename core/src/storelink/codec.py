"""Models to and from JSON: what the CLI prints, what a draft file holds, what a checkpoint stores.

:func:`to_jsonable` turns any model into plain JSON values under its attrs field names;
:func:`encode_line` writes the same as one line of compact JSON (what ``storelink sync``
writes to its JSON Lines files), in a fraction of the time.
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
from collections.abc import Callable, Mapping, Sequence
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
    to_decimal,
)

__all__ = [
    "cursor_from_str",
    "cursor_to_str",
    "draft_from_jsonable",
    "encode_line",
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


_ENCODE = msgspec.json.Encoder().encode

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


class _Reader:
    """One JSON object being read at *path*; remembers which keys were read."""

    def __init__(self, data: object, path: str, *, root: str = "") -> None:
        if not isinstance(data, Mapping):
            raise InputError(f"must be an object, got {_kind(data)}", path=path or root)
        self.data: Mapping[str, Any] = data
        self.path = path
        self.root = root
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self.data.get(key)

    def text(self, key: str, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        value = self.opt_text(key, pattern=pattern, hint=hint)
        if value is None:
            raise InputError("is required", path=self.at(key))
        return value

    def opt_text(self, key: str, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InputError(f"must be a string, got {_kind(value)}", path=self.at(key))
        if not value:
            raise InputError("must not be empty", path=self.at(key))
        if pattern is not None and not pattern.fullmatch(value):
            raise InputError(hint, path=self.at(key))
        return value

    def obj(self, key: str, read: Callable[[_Reader], M]) -> M:
        value = self.opt_obj(key, read)
        if value is None:
            raise InputError("is required", path=self.at(key))
        return value

    def opt_obj(self, key: str, read: Callable[[_Reader], M]) -> M | None:
        value = self.raw(key)
        return None if value is None else read(_Reader(value, self.at(key)))

    def when(self, key: str) -> datetime | None:
        value = self.opt_text(key)
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InputError("must be an ISO 8601 date and time", path=self.at(key)) from None

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise InputError(f"must be an object, got {_kind(value)}", path=self.at(key))
        return dict(value)

    def build(self, cls: Callable[..., M], **kwargs: Any) -> M:
        """Refuse unknown keys, then make the model, naming the field its validators refuse."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise InputError("is not a known field", path=self.at(str(unknown[0])))
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            attribute = exc.args[1] if len(exc.args) > 1 else None
            if isinstance(attribute, attrs.Attribute):
                raise InputError(f"is not valid: {exc.args[0]}", path=self.at(attribute.name)) from None
            raise InputError(str(exc), path=self.path or self.root) from None


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _money(r: _Reader) -> Money:
    amount = r.raw("amount")
    if amount is None:
        raise InputError("is required", path=r.at("amount"))
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        raise InputError(f"must be a decimal string or a number, got {_kind(amount)}", path=r.at("amount"))
    try:
        amount = to_decimal(amount)
    except ValueError:
        raise InputError('must be a finite decimal amount, like "12.50"', path=r.at("amount")) from None
    currency = r.text("currency", pattern=_CURRENCY, hint="must be an ISO 4217 code in capitals, like USD")
    return r.build(Money, amount=amount, currency=currency)


def _line(r: _Reader) -> OrderLine:
    quantity = r.raw("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InputError("must be a positive integer", path=r.at("quantity"))
    return r.build(
        OrderLine,
        product_id=r.text("product_id"),
        sku_id=r.text("sku_id"),
        quantity=quantity,
        price=r.opt_obj("price", _money),
    )


def _address(r: _Reader) -> Address:
    return r.build(
        Address,
        name=r.text("name"),
        line1=r.text("line1"),
        line2=r.opt_text("line2"),
        city=r.text("city"),
        region=r.opt_text("region"),
        postal_code=r.opt_text("postal_code"),
        country=r.text("country", pattern=_COUNTRY, hint="must be an ISO 3166 code of two capitals, like US"),
        email=r.opt_text("email"),
        phone=r.opt_text("phone"),
    )


def _payment(r: _Reader) -> Payment:
    return r.build(
        Payment,
        type=r.text("type"),
        po_number=r.opt_text("po_number"),
        amount=r.opt_obj("amount", _money),
        extra=r.mapping("extra"),
    )


def _customer(r: _Reader) -> Customer:
    return r.build(Customer, id=r.opt_text("id"), email=r.opt_text("email"), name=r.opt_text("name"))


def _totals(r: _Reader) -> OrderTotals:
    return r.build(
        OrderTotals,
        subtotal=r.opt_obj("subtotal", _money),
        shipping=r.opt_obj("shipping", _money),
        tax=r.opt_obj("tax", _money),
        total=r.obj("total", _money),
    )


def _lines(r: _Reader, *, required: bool = True) -> tuple[OrderLine, ...]:
    value = r.raw("lines")
    path = r.at("lines")
    if value is None and not required:
        return ()
    if value is None:
        raise InputError("is required", path=path)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputError(f"must be an array, got {_kind(value)}", path=path)
    if not value and required:
        raise InputError("must hold at least one line", path=path)
    return tuple(_line(_Reader(item, f"{path}[{i}]")) for i, item in enumerate(value))


def draft_from_jsonable(data: object) -> OrderDraft:
    """Read an order draft from JSON values (as :func:`to_jsonable` writes them).

    Absent and ``null`` optional fields are the same; unknown fields are refused, so
    a misspelled key is not silently dropped.

    :param data: The parsed JSON document.
    :raises InputError: The draft is malformed; ``.path`` names the field at fault
        (``lines[0].quantity``) and the message says what is expected.
    """
    r = _Reader(data, "", root="draft")
    reference = r.text(
        "reference",
        pattern=_REFERENCE,
        hint="must be 1 to 128 letters, digits or . _ : - and start with a letter or digit",
    )
    return r.build(
        OrderDraft,
        reference=reference,
        lines=_lines(r),
        shipping_address=r.obj("shipping_address", _address),
        billing_address=r.opt_obj("billing_address", _address),
        shipping_method_id=r.text("shipping_method_id"),
        payment=r.opt_obj("payment", _payment),
        customer=r.opt_obj("customer", _customer),
        extra=r.mapping("extra"),
    )


def order_from_jsonable(data: object) -> Order:
    """Read an :class:`~storelink.Order` from JSON values (as :func:`to_jsonable` writes them).

    The order ledger keeps each created order this way, to replay it.

    :raises InputError: The values are not an order; ``.path`` names the field.
    """
    r = _Reader(data, "", root="order")
    return r.build(
        Order,
        id=r.text("id"),
        reference=r.opt_text("reference"),
        state=r.text("state"),
        lines=_lines(r, required=False),
        totals=r.opt_obj("totals", _totals),
        shipping_address=r.opt_obj("shipping_address", _address),
        created_at=r.when("created_at"),
        updated_at=r.when("updated_at"),
        extra=r.mapping("extra"),
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
