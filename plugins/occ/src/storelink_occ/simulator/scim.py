"""The SCIM filters OCC accepts in ``q`` with ``queryFormat=SCIM``, for the simulator.

Supported: ``attr op value`` with ``eq ne co sw ew gt ge lt le``, ``attr pr``, ``and``,
``or``, ``not``, parentheses, dotted attribute paths, and values that are quoted
strings (with backslash escapes), numbers, ``true``, ``false`` or ``null``. Strings
that are both ISO timestamps compare as instants. Keywords are case-insensitive;
``and`` binds tighter than ``or``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["Predicate", "ScimError", "parse_filter"]

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<paren>[()])|(?P<number>-?\d+(?:\.\d+)?)(?![\w.])|(?P<word>[A-Za-z_][\w.:]*))'
)
_OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})


class ScimError(ValueError):
    """The filter is not valid SCIM; the message says where."""


def parse_filter(text: str) -> Predicate:
    """Compile the SCIM filter *text* into a predicate over a JSON object.

    :raises ScimError: It is not a filter this module understands.
    """
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise ScimError(f"unexpected {tokens[parser.position][1]!r}")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise ScimError(f"cannot read the filter at character {position}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    if not tokens:
        raise ScimError("the filter is empty")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ScimError(f"the filter ends where {what} was expected")
        self.position += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def expression(self) -> Predicate:
        terms = [self._conjunction()]
        while self._keyword("or"):
            terms.append(self._conjunction())
        return terms[0] if len(terms) == 1 else (lambda obj: any(t(obj) for t in terms))

    def _conjunction(self) -> Predicate:
        factors = [self._factor()]
        while self._keyword("and"):
            factors.append(self._factor())
        return factors[0] if len(factors) == 1 else (lambda obj: all(f(obj) for f in factors))

    def _factor(self) -> Predicate:
        if self._keyword("not"):
            inner = self._factor()
            return lambda obj: not inner(obj)
        kind, value = self._next("an attribute")
        if kind == "paren" and value == "(":
            inner = self.expression()
            if self._next("')'") != ("paren", ")"):
                raise ScimError("a '(' is not closed")
            return inner
        if kind != "word":
            raise ScimError(f"expected an attribute, got {value!r}")
        path = value.split(".")
        op_kind, op = self._next("an operator")
        op = op.lower()
        if op_kind != "word" or (op not in _OPERATORS and op != "pr"):
            raise ScimError(f"unknown operator {op!r}")
        if op == "pr":
            return lambda obj: _lookup(obj, path) is not None
        literal = self._literal()
        return lambda obj: _compare(_lookup(obj, path), op, literal)

    def _literal(self) -> Any:
        kind, value = self._next("a value")
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise ScimError(f"expected a value, got {value!r}")


def _lookup(obj: Any, path: list[str]) -> Any:
    """Return the value at *path*; a missing attribute is ``null``, as in SCIM."""
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_TEXT_MATCHES: Mapping[str, Callable[[str, str], bool]] = {
    "co": lambda actual, expected: expected in actual,
    "sw": str.startswith,
    "ew": str.endswith,
}


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op in _TEXT_MATCHES:
        return isinstance(actual, str) and isinstance(expected, str) and _TEXT_MATCHES[op](actual, expected)
    left, right = _instant(actual), _instant(expected)
    if left is not None and right is not None and (left.tzinfo is None) == (right.tzinfo is None):
        actual, expected = left, right
    try:
        return bool(_COMPARISONS[op](actual, expected))
    except TypeError:  # ordering values of different kinds: no match, as in OCC
        return False
