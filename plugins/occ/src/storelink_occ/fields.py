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
    "integer",
    "leftovers",
    "money",
    "record_id",
    "text",
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
    value = text(payload.get("repositoryId") or payload.get("id"), f"{path}.id")
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
    """Return the fields of *payload* a mapping did not read, for ``extra``."""
    skip = set(used)
    return {k: v for k, v in payload.items() if k not in skip}
