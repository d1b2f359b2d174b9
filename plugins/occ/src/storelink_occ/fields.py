"""Reading fields of OCC payloads, with the path of a field that does not fit.

Every reader takes the value and its path in the response (``items[3].listPrice``)
and raises :class:`~storelink.MappingError` naming that path when the value has the
wrong shape. OCC is loose with types (numbers as strings, booleans as ``"true"``), so
the readers accept those spellings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from storelink import MappingError, Money
from storelink.models import to_decimal

__all__ = [
    "amount",
    "build",
    "expect_list",
    "expect_object",
    "flag",
    "flag_at",
    "integer",
    "leftovers",
    "list_at",
    "money",
    "money_at",
    "record_id",
    "text",
    "text_at",
    "timestamp",
]

T = TypeVar("T")


def build(path: str, model: Callable[..., T], **fields: Any) -> T:
    """Construct *model*, reporting a validator's refusal as a :class:`MappingError`."""
    try:
        return model(**fields)
    except (TypeError, ValueError) as exc:
        raise MappingError(str(exc), path=path) from None


def expect_object(value: Any, path: str) -> Mapping[str, Any]:
    """Return *value* if it is a JSON object."""
    if not isinstance(value, dict):
        raise MappingError(f"expected an object, got {type(value).__name__}", path=path)
    return value


def expect_list(value: Any, path: str) -> list[Any]:
    """Return *value* if it is a JSON list; ``null`` is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"expected a list, got {type(value).__name__}", path=path)
    return value


def record_id(payload: Mapping[str, Any], path: str) -> str:
    """Return the record's ``repositoryId`` (or ``id``), which it must have."""
    value = payload.get("repositoryId") or payload.get("id")
    if type(value) is str and value:
        return value  # the common case, without formatting the path
    value = text(value, f"{path}.id")
    if not value:
        raise MappingError("missing id", path=f"{path}.id")
    return value


def text(value: Any, path: str) -> str | None:
    """Return *value* as text (numbers are accepted as OCC ids often are), or ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise MappingError(f"expected text, got {type(value).__name__}", path=path)


def flag(value: Any, path: str, default: bool = True) -> bool:
    """Return *value* as a boolean (``"true"``/``"false"`` accepted), *default* if ``null``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MappingError(f"expected true or false, got {type(value).__name__}", path=path)


def amount(value: Any, path: str) -> Decimal | None:
    """Return *value* (a number or numeric string) as a :class:`~decimal.Decimal`, or ``None``."""
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        raise MappingError(f"expected an amount, got {type(value).__name__}", path=path) from None


def money(value: Any, currency: str, path: str) -> Money | None:
    """Return *value* as :class:`~storelink.Money` in *currency*, or ``None``."""
    number = amount(value, path)
    return None if number is None else build(path, Money, amount=number, currency=currency)


def integer(value: Any, path: str) -> int | None:
    """Return *value* as a whole number (OCC sends stock levels as numbers or strings)."""
    number = amount(value, path)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise MappingError(f"expected a whole number, got {number}", path=path)
    return int(number)


def timestamp(value: Any, path: str) -> datetime | None:
    """Parse OCC's ISO timestamps (``2024-05-01T10:00:00.000Z``); naive ones are UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"expected an ISO date, got {type(value).__name__}", path=path)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError("expected an ISO date", path=path) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def leftovers(payload: Mapping[str, Any], *used: str) -> dict[str, Any]:
    """Return the fields of *payload* a mapping did not read, for ``extra``, in payload order."""
    rest = dict(payload)  # copying and dropping the few used keys beats filtering every key
    for key in used:
        rest.pop(key, None)
    return rest


# --------------------------------------------------------------------------- by key
#
# The readers below take the payload and a key instead of a value and its path. They
# return straight away for the well-typed common case and format the path
# (``{path}.{key}``) only when they hand a value to the reader above, so a payload
# that does not fit fails exactly as it would there.


def text_at(payload: Mapping[str, Any], key: str, path: str) -> str | None:
    """Return ``payload[key]`` as :func:`text` does (``None`` if absent)."""
    value = payload.get(key)
    if value is None or type(value) is str:
        return value
    return text(value, f"{path}.{key}")


def flag_at(payload: Mapping[str, Any], key: str, path: str, default: bool = True) -> bool:
    """Return ``payload[key]`` as :func:`flag` does (*default* if absent)."""
    value = payload.get(key)
    if value is None:
        return default
    if value is True or value is False:
        return value
    return flag(value, f"{path}.{key}", default)


def list_at(payload: Mapping[str, Any], key: str, path: str) -> list[Any]:
    """Return ``payload[key]`` as :func:`expect_list` does (empty if absent)."""
    value = payload.get(key)
    if value is None:
        return []
    if type(value) is list:
        return value
    return expect_list(value, f"{path}.{key}")


#: Money already built, by the exact spelling of its amount and its currency. Money is
#: frozen and holds only a Decimal and a str, so one instance can serve every payload
#: (and thread) with that price; only values that built without error are kept.
_MONEY_CACHE: dict[tuple[type, str, str], Money] = {}
_MONEY_CACHE_SIZE = 4096
_CACHED_NUMBERS = (Decimal, float, int)


def money_at(payload: Mapping[str, Any], key: str, currency: str, path: str) -> Money | None:
    """Return ``payload[key]`` as :func:`money` does (``None`` if absent).

    Numbers of exactly :class:`~decimal.Decimal`, float or int type are looked up in a
    cache keyed by their type and ``str`` (which, unlike ``==``, tells ``1.0`` from
    ``1.00`` and ``0.0`` from ``-0.0``); anything else takes :func:`money` every time.
    """
    value = payload.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind not in _CACHED_NUMBERS or (kind is int and not -(10**18) < value < 10**18):
        return money(value, currency, f"{path}.{key}")
    cache_key = (kind, str(value), currency)
    cached = _MONEY_CACHE.get(cache_key)
    if cached is None:
        cached = money(value, currency, f"{path}.{key}")
        if cached is not None:
            if len(_MONEY_CACHE) >= _MONEY_CACHE_SIZE:
                _MONEY_CACHE.clear()  # a bounded cache; a race here only rebuilds entries
            _MONEY_CACHE[cache_key] = cached
    return cached
