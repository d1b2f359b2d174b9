"""Deep validation of the models a plugin returns.

The models' validators guard their invariants when an object is built, but a field
without a validator takes whatever it is given (``Product(title=None)`` builds), and a
validator does not look inside what an older object holds. :func:`model_problems`
re-runs every validator and checks every field against its annotation, all the way
down, and returns one line per problem with its path (``variants[0].price.amount:
expected Decimal, got float``).
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import attrs

__all__ = ["model_problems"]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(kind: Any) -> str:
    if kind is type(None):
        return "None"
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def _value_problems(value: Any, kind: Any, path: str) -> list[str]:
    origin = typing.get_origin(kind)
    if kind is Any:
        return []
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        for option in options:
            if not _value_problems(value, option, path):
                return []
        wanted = " or ".join(_describe(o) for o in options)
        return [f"{path}: expected {wanted}, got {type(value).__name__} {value!r:.60}"]
    if origin is tuple:
        if not isinstance(value, tuple):
            return [f"{path}: expected a tuple, got {type(value).__name__}"]
        item = typing.get_args(kind)[0]
        return [p for i, v in enumerate(value) for p in _value_problems(v, item, f"{path}[{i}]")]
    if origin is frozenset:
        if not isinstance(value, frozenset):
            return [f"{path}: expected a frozenset, got {type(value).__name__}"]
        item = typing.get_args(kind)[0]
        return [p for v in value for p in _value_problems(v, item, f"{path}[{v!r}]")]
    if origin is Mapping or kind is Mapping:
        if not isinstance(value, Mapping):
            return [f"{path}: expected a mapping, got {type(value).__name__}"]
        args = typing.get_args(kind)
        value_kind = args[1] if args else Any
        return [p for k, v in value.items() for p in _value_problems(v, value_kind, f"{path}[{k!r}]")]
    if isinstance(kind, type) and attrs.has(kind):
        if not isinstance(value, kind):
            return [f"{path}: expected {kind.__name__}, got {type(value).__name__} {value!r:.60}"]
        return model_problems(value, path)
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is datetime:
        ok = isinstance(value, datetime) and value.utcoffset() is not None
        if isinstance(value, datetime) and not ok:
            return [f"{path}: the datetime {value.isoformat()} is naive; give it a timezone (UTC if unknown)"]
    elif (isinstance(kind, type) and issubclass(kind, enum.Enum)) or isinstance(kind, type):
        ok = isinstance(value, kind)
    else:
        ok = True  # a type variable (Page[T]): checked by the caller
    return [] if ok else [f"{path}: expected {_describe(kind)}, got {type(value).__name__} {value!r:.60}"]


def model_problems(obj: object, path: str = "") -> list[str]:
    """Return what is wrong with the model *obj*, one line per problem; empty when it is valid.

    :param obj: An instance of a storelink model (any attrs class of :mod:`storelink.models`).
    :param path: Where *obj* sits, prefixed to each problem (``items[3]``).
    """
    cls = type(obj)
    if not attrs.has(cls):
        return [f"{path or 'value'}: expected a storelink model, got {cls.__name__}"]
    prefix = f"{path}." if path else ""
    try:
        attrs.validate(obj)  # type: ignore[arg-type]  # attrs.has() checked it is an attrs instance
    except (TypeError, ValueError) as exc:
        return [f"{path or cls.__name__}: {exc}"]
    hints = _hints(cls)
    problems = []
    for attribute in attrs.fields(cls):
        problems += _value_problems(getattr(obj, attribute.name), hints[attribute.name], prefix + attribute.name)
    return problems
