"""Credential schemas, and the :class:`Secret` type that keeps values out of sight.

A platform declares what a merchant must enter as a :class:`CredentialSchema`. The
same schema renders the connect page, drives the CLI prompts (hidden input for
secrets) and exports as JSON Schema. Values marked secret are held in
:class:`Secret`, whose ``repr``, ``str`` and ``format`` are masked, which refuses to be
pickled, and whose value comes out only through :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn

from attrs import field, frozen

from storelink.errors import CredentialsError

__all__ = ["CredentialField", "CredentialSchema", "Credentials", "Secret", "live_secret_values"]

_FINGERPRINT_KEY = os.urandom(32)
_LIVE: weakref.WeakSet[Secret] = weakref.WeakSet()


class Secret:
    """A secret string: an application key, an access token, a password.

    ``repr`` shows ``Secret('***', fp=1a2b3c4d)``, where ``fp`` is a keyed,
    per-process fingerprint: enough to tell two secrets apart in a log, useless to
    recover or link the value. Equality is constant-time. Every live secret is known
    to the log scrubber (:mod:`storelink.redaction`).
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value
        if value:
            _LIVE.add(self)

    def reveal(self) -> str:
        """Return the clear value. Call it only where the value leaves the process."""
        return self._value

    @property
    def fingerprint(self) -> str:
        """A short keyed hash of the value, stable within this process."""
        return hmac.new(_FINGERPRINT_KEY, self._value.encode(), hashlib.sha256).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Secret('***', fp={self.fingerprint})"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store it through the vault")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def live_secret_values() -> list[str]:
    """Return the values of every live :class:`Secret`, longest first (for scrubbing)."""
    return sorted({s._value for s in list(_LIVE)}, key=len, reverse=True)


Validator = Callable[[str], None]


@frozen(kw_only=True)
class CredentialField:
    """One thing a merchant enters: a key, a client id, a password.

    :param name: Machine name, a Python identifier (``application_key``).
    :param label: What the form shows (``Application Key``).
    :param secret: Masked input, stored encrypted, never echoed.
    :param required: The form refuses to submit without it.
    :param help: Where the merchant finds it, in one or two sentences.
    :param example: A shape hint shown as placeholder (never a real value).
    :param validator: Raises :class:`CredentialsError` with a message that does not
        echo the value when the input has the wrong shape. Checks format only; the
        platform decides whether the value is accepted.
    :param multiline: Render as a text area.
    """

    name: str = field()
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    example: str = ""
    validator: Validator | None = field(default=None, eq=False, repr=False)
    multiline: bool = False

    @name.validator
    def _check_name(self, _attr: object, value: str) -> None:
        if not value.isidentifier():
            raise ValueError(f"credential field name {value!r} must be a Python identifier")


def _fields(value: Iterable[CredentialField]) -> tuple[CredentialField, ...]:
    return tuple(value)


@frozen(kw_only=True)
class CredentialSchema:
    """The fields a platform needs from a merchant, in form order."""

    fields: tuple[CredentialField, ...] = field(converter=_fields)

    @fields.validator
    def _check_unique(self, _attr: object, value: tuple[CredentialField, ...]) -> None:
        names = [f.name for f in value]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate credential field names in {names}")

    def __iter__(self) -> Iterator[CredentialField]:
        return iter(self.fields)

    def field_named(self, name: str) -> CredentialField:
        """Return the field called *name*; :class:`KeyError` if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def parse(self, values: Mapping[str, str | Secret | None]) -> Credentials:
        """Check *values* against the schema and return them as :class:`Credentials`.

        Surrounding whitespace is stripped (pasted keys often carry a newline).

        :raises CredentialsError: A required field is missing, a field is unknown, or a
            validator refused a value. ``.field`` names the field; the message never
            contains the value.
        """
        known = {f.name for f in self.fields}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CredentialsError(
                f"unknown credential field {unknown[0]!r}; expected one of {sorted(known)}", field=unknown[0]
            )
        parsed: dict[str, str | Secret] = {}
        for f in self.fields:
            raw = values.get(f.name)
            text = raw.reveal() if isinstance(raw, Secret) else (raw or "")
            text = text.strip()
            if not text:
                if f.required:
                    raise CredentialsError(f"{f.label} is required", field=f.name)
                continue
            if f.validator is not None:
                f.validator(text)
            parsed[f.name] = Secret(text) if f.secret else text
        return Credentials(parsed)

    def to_json_schema(self) -> dict[str, Any]:
        """Export the schema as a JSON Schema (draft 2020-12) object.

        Secret fields carry ``"writeOnly": true`` and ``"format": "password"``.
        """
        props: dict[str, Any] = {}
        for f in self.fields:
            prop: dict[str, Any] = {"type": "string", "title": f.label, "minLength": 1}
            if f.help:
                prop["description"] = f.help
            if f.example:
                prop["examples"] = [f.example]
            if f.secret:
                prop["writeOnly"] = True
                prop["format"] = "password"
            props[f.name] = prop
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": props,
            "required": [f.name for f in self.fields if f.required],
            "additionalProperties": False,
        }


class Credentials(Mapping[str, "str | Secret"]):
    """Parsed credential values by field name; secret fields are :class:`Secret`."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str | Secret]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> str | Secret:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def secret(self, name: str) -> Secret:
        """Return the secret field *name*.

        :raises CredentialsError: The field is missing or not secret.
        """
        value = self._values.get(name)
        if isinstance(value, Secret):
            return value
        raise CredentialsError(f"credential {name!r} is missing", field=name)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Credentials({shown})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Credentials cannot be pickled; store them through the vault")
