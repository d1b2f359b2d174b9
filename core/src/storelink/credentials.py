"""Credential schemas, and the :class:`Secret` type that keeps values out of sight.

A platform declares what a merchant must enter as a :class:`CredentialSchema`. The
same schema renders the connect page, drives the CLI prompts (hidden input for
secrets) and exports as JSON Schema. Values marked secret are held in
:class:`Secret`, whose ``repr``, ``str`` and ``format`` are masked, which refuses to be
pickled, and whose value comes out only through :meth:`Secret.reveal`.

A platform's non-secret per-connection settings are a :class:`SettingsSchema`: the
same fields, plus the plugin's attrs class that gives each setting its type and
default. The core checks them once at onboarding (:meth:`CredentialSchema.check_settings`,
the one place a refused setting becomes a :class:`~storelink.ConfigurationError`) and
parses them once per connection; hooks read the typed value from
``ctx.typed_settings(SCHEMA)``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, NoReturn, TypeVar

import attrs
from attrs import field, frozen

from storelink.errors import ConfigurationError, CredentialsError, StorelinkError

__all__ = [
    "ApprovalFlow",
    "CredentialField",
    "CredentialSchema",
    "Credentials",
    "OAuthFlow",
    "Secret",
    "SettingsSchema",
    "live_secret_values",
]

S = TypeVar("S")

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

    def check_settings(self, values: Mapping[str, str]) -> dict[str, str]:
        """Check *values* as a connection's settings; return the ones set, stripped.

        The one translation of a refused setting: the validators raise
        :class:`CredentialsError` (they are shared with credentials), which becomes a
        :class:`~storelink.ConfigurationError` here, naming the setting.

        :raises ConfigurationError: A setting is unknown, missing or refused by its
            validator; ``.field`` names it.
        :raises CredentialsError: The schema declares a setting secret (a plugin bug:
            secrets are credentials, stored sealed).
        """
        try:
            parsed = self.parse(values)
        except CredentialsError as exc:
            known = [f.name for f in self.fields]
            if exc.field not in known:
                raise ConfigurationError(
                    f"unknown setting {exc.field!r}; expected one of {known}", field=exc.field
                ) from None
            raise ConfigurationError(f"setting {exc.field!r}: {exc.message}", field=exc.field) from None
        chosen: dict[str, str] = {}
        for name, value in parsed.items():
            if isinstance(value, Secret):
                raise CredentialsError(f"setting {name!r} is declared secret; it must be a credential", field=name)
            chosen[name] = value
        return chosen

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


@frozen(kw_only=True)
class SettingsSchema(CredentialSchema, Generic[S]):
    """A platform's per-connection settings: the fields to ask for, and their typed model.

    Declared as ``PlatformInfo.settings_schema``. The fields render the connect page,
    the CLI prompts and the JSON Schema, as credential fields do (never secret). The
    *model* is the plugin's attrs class: one attribute per field, by the field's name
    (or by the attribute's ``alias``), whose default applies when the setting is not
    set and whose converter gives it its type. Hooks get an instance, parsed once per
    connection, from ``ctx.typed_settings(SCHEMA)``::

        @frozen(kw_only=True)
        class AcmeSettings:
            site: str | None = None
            page_size: int = field(default=100, converter=int)

        SETTINGS = SettingsSchema(model=AcmeSettings, fields=(
            CredentialField(name="site", label="Site", required=False),
            CredentialField(name="page_size", label="Page size", required=False, validator=digits),
        ))

    :param model: The attrs class a connection's settings are parsed into.
    """

    model: type[S] = field(repr=False)  # a class has no JSON form: the exports show its defaults instead

    @model.validator
    def _check_model(self, _attr: object, value: type[S]) -> None:
        if not (isinstance(value, type) and attrs.has(value)):
            raise TypeError(f"a settings model must be an attrs class, got {value!r}")
        names = {a.alias for a in attrs.fields(value) if a.init}
        missing = [f.name for f in self.fields if f.name not in names]
        if missing:
            raise ValueError(f"{value.__name__} has no attribute (or alias) for the settings {missing}")
        secret = [f.name for f in self.fields if f.secret]
        if secret:
            raise ValueError(f"settings are never secret; make {secret} credentials")

    def load(self, values: Mapping[str, str]) -> S:
        """Check *values* (:meth:`check_settings`) and return them as the typed model.

        :raises ConfigurationError: A setting is unknown, missing or refused, or the
            model refused the values (its converters and validators).
        """
        checked = self.check_settings(values)
        try:
            return self.model(**checked)
        except StorelinkError as exc:
            raise ConfigurationError(f"the settings are not valid: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"the settings are not valid ({type(exc).__name__}: {exc})") from None

    def to_json_schema(self) -> dict[str, Any]:
        """Export as :meth:`CredentialSchema.to_json_schema`, with each setting's default."""
        exported = super().to_json_schema()
        model: type[Any] = self.model  # an attrs class, checked at construction
        for a in attrs.fields(model):
            prop = exported["properties"].get(a.alias)
            if prop is not None and isinstance(a.default, str | int | float | bool):
                prop["default"] = a.default
        return exported


def _default_app_credentials() -> CredentialSchema:
    return CredentialSchema(
        fields=(
            CredentialField(name="client_id", label="Client ID", help="The app's client id (API key)."),
            CredentialField(name="client_secret", label="Client secret", secret=True, help="The app's client secret."),
        )
    )


def _scopes(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError("scopes must be a sequence of scope names, not one string")
    return tuple(value)


@frozen(kw_only=True)
class OAuthFlow:
    """A platform's OAuth authorization-code onboarding, as it declares it.

    Declared as ``PlatformInfo.oauth``. The merchant enters the store address, is sent
    to the platform to approve the channel's app, and comes back with a code that the
    plugin exchanges for the credentials to store. The core owns the state (random,
    single use, bound to the browser, ten minutes), PKCE, the exact redirect URI and
    the checks of the callback; the plugin builds the authorization URL
    (``build_authorization_url``), verifies the callback (``verify_callback``) and
    exchanges the code (``complete_authorization``).

    :param scopes: The permissions requested, in the platform's spelling.
    :param pkce: The platform supports PKCE: the core sends an S256 code challenge and
        hands the verifier to the code exchange.
    :param app_credentials: What the operator configures for the channel's app on this
        platform (never shown to merchants). It must have a non-secret ``client_id``;
        secret fields (the client secret) are held as :class:`Secret`.
    :param store_parameter: The callback query parameter that names the store the
        merchant approved the app for (``shop``), or ``None`` when the callback does
        not say. The core normalises it with the platform's normaliser and refuses a
        callback for another store than the one entered.
    """

    scopes: tuple[str, ...] = field(converter=_scopes)
    pkce: bool = False
    app_credentials: CredentialSchema = field(factory=_default_app_credentials)
    store_parameter: str | None = None

    @scopes.validator
    def _check_scopes(self, _attr: object, value: tuple[str, ...]) -> None:
        for scope in value:
            if not isinstance(scope, str) or not scope or any(ch.isspace() for ch in scope):
                raise ValueError(f"scope {scope!r} must be a non-empty string without spaces")

    @app_credentials.validator
    def _check_app(self, _attr: object, value: CredentialSchema) -> None:
        try:
            client_id = value.field_named("client_id")
        except KeyError:
            raise ValueError("app_credentials must have a 'client_id' field") from None
        if client_id.secret:
            raise ValueError("the app's client_id is sent in the authorization URL; it cannot be secret")


def _pairs(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(said)) for name, said in value)


@frozen(kw_only=True)
class ApprovalFlow:
    """A platform's key-approval onboarding: the credentials arrive by a server-to-server POST.

    Declared as ``PlatformInfo.approval``, beside the typed form of
    ``credential_schema`` (the connect page offers both). The merchant is sent to the
    platform to approve the channel; the platform then POSTs the new credentials to
    the deployment's delivery URL and sends the browser back to its return URL. The
    core owns the state (random, single use, ten minutes, the browser's return bound
    to the browser that started it), the two URLs, the size and type of the POST, and
    sealing what it brings; the plugin builds the approval URL
    (``build_authorization_url``, with ``callback_url``) and reads the POST
    (``receive_credentials``).

    :param scopes: The permissions requested, in the platform's spelling.
    :param state_parameter: The query parameter of the approval URL, and of the
        browser's return, that carries the core's state (``user_id``).
    :param declined: ``(name, value)`` pairs of the return's query that mean the
        merchant declined (``("success", "0")``).
    """

    scopes: tuple[str, ...] = field(converter=_scopes)
    state_parameter: str = field(default="state")
    declined: tuple[tuple[str, str], ...] = field(default=(("error", "access_denied"),), converter=_pairs)

    @state_parameter.validator
    def _check_state_parameter(self, _attr: object, value: str) -> None:
        if not value or not all(ch.isalnum() or ch in "_-" for ch in value):
            raise ValueError(f"state_parameter {value!r} must be a non-empty query parameter name")


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
