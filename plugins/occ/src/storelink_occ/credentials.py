"""What a merchant enters to connect an OCC store: the application key.

An OCC application key is a JSON Web Token issued when a server-side application is
registered in the admin console. The key is opaque to storelink: it is checked for its
shape only (three dot-separated segments, the first a JSON header naming an ``alg``)
and sent as is. OCC's own examples encode segments in standard base64 with padding as
well as in base64url, so both are accepted and nothing is re-encoded.

The key's ``exp`` claim, when it has one, is exposed by :func:`application_key_expires_at`
so a host can warn before the key stops working; it is never used to decide anything
else, since the signature cannot be checked here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from storelink import CredentialField, Credentials, CredentialSchema, CredentialsError, Secret

__all__ = [
    "APPLICATION_KEY",
    "CREDENTIAL_SCHEMA",
    "application_key_claims",
    "application_key_expires_at",
    "validate_application_key",
]

#: The credential field's name.
APPLICATION_KEY = "application_key"

_SEGMENT = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}")
_WHERE = "Settings > Web APIs > Registered Applications in the OCC admin console"


def validate_application_key(value: str) -> None:
    """Check that *value* has the shape of an OCC application key.

    :param value: The key as entered (surrounding whitespace already stripped).
    :raises CredentialsError: It is empty, has whitespace inside, or is not a JWT.
        The message never contains the value.
    """
    if not value:
        raise CredentialsError("The Application Key is empty.", field=APPLICATION_KEY)
    if any(ch.isspace() for ch in value):
        raise CredentialsError(
            f"The Application Key must not contain spaces or line breaks; copy it again from {_WHERE}.",
            field=APPLICATION_KEY,
        )
    segments = value.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise CredentialsError(
            "That is not an OCC Application Key: a key is three parts separated by dots and starts "
            f"with 'eyJ'. Copy it again from {_WHERE}.",
            field=APPLICATION_KEY,
        )
    header = _decode_json_segment(segments[0])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise CredentialsError(
            f"That is not an OCC Application Key: its first part is not a key header. Copy it again from {_WHERE}.",
            field=APPLICATION_KEY,
        )


def application_key_claims(key: str | Secret) -> Mapping[str, Any]:
    """Return the claims of *key*'s payload, or an empty mapping if it cannot be read.

    The signature is not verified: use the claims for diagnostics only.
    """
    text = key.reveal() if isinstance(key, Secret) else key
    segments = text.split(".")
    if len(segments) != 3:
        return {}
    claims = _decode_json_segment(segments[1])
    return claims if isinstance(claims, dict) else {}


def application_key_expires_at(credentials: Credentials | Secret | str) -> datetime | None:
    """Return when the application key expires, from its ``exp`` claim.

    :param credentials: The connection's credentials, or the key itself.
    :return: The aware UTC expiry, or ``None`` when the key carries no readable ``exp``
        (keys registered with no expiration have none).
    """
    key = credentials.secret(APPLICATION_KEY) if isinstance(credentials, Credentials) else credentials
    exp = application_key_claims(key).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _decode_json_segment(segment: str) -> Any:
    """Decode a JWT segment in standard or url-safe base64, padded or not; ``None`` if it fails."""
    body = segment.rstrip("=")
    if len(body) % 4 == 1:
        return None
    body = body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4)
    try:
        return json.loads(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None


CREDENTIAL_SCHEMA = CredentialSchema(
    fields=(
        CredentialField(
            name=APPLICATION_KEY,
            label="Application Key",
            secret=True,
            help=(
                f"In {_WHERE}, register a server-side application (or open yours), "
                "click 'Click to reveal' and copy the Application Key."
            ),
            example="eyJhbGciOiJSUzI1NiIs...",
            validator=validate_application_key,
        ),
    )
)
