"""The application-key schema: shape checks that never echo the key, and its expiry."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import CredentialsError, Secret
from storelink_occ.credentials import (
    APPLICATION_KEY,
    CREDENTIAL_SCHEMA,
    application_key_claims,
    application_key_expires_at,
    validate_application_key,
)


def segment(data: dict[str, object] | bytes, *, urlsafe: bool = True, padded: bool = False) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


def make_key(claims: dict[str, object], *, urlsafe: bool = True, padded: bool = False, alg: str = "RS256") -> str:
    header = segment({"alg": alg, "typ": "JWT", "kid": "CANARY-kid"}, urlsafe=urlsafe, padded=padded)
    payload = segment(claims, urlsafe=urlsafe, padded=padded)
    # bytes that encode to '+', '/' (standard) or '-', '_' (url-safe) and need padding
    signature = segment(b"\xfb\xff\xfe" * 11 + b"CANARY", urlsafe=urlsafe, padded=padded)
    return f"{header}.{payload}.{signature}"


CLAIMS = {"sub": "CANARY-app", "iss": "admin", "iat": 1409770191, "exp": 1412710741}


@pytest.mark.parametrize("urlsafe", [True, False])
@pytest.mark.parametrize("padded", [True, False])
def test_standard_and_urlsafe_base64_keys_are_accepted(urlsafe: bool, padded: bool) -> None:
    key = make_key(CLAIMS, urlsafe=urlsafe, padded=padded)
    validate_application_key(key)
    assert application_key_claims(key)["sub"] == "CANARY-app"


def test_the_documented_example_key_shape_is_accepted() -> None:
    """OCC's 15.5 example: HS256 header, standard base64 signature with '/' and '='."""
    key = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJleHAiOjE0MTI3MTA3NDEsInN1YiI6Iml1c2VyNDAwMTgiLCJpc3MiOiJhZG1pblVJIiwiaWF0IjoxNDEyNjI0MzQwfQ=="
        ".Zm9vYmFy/YmF6+cXV4="
    )
    validate_application_key(key)
    assert application_key_expires_at(key) == datetime(2014, 10, 7, 19, 39, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "is empty"),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0 .CANARYsig", "spaces or line breaks"),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIi\nOiJ4In0.CANARYsig", "spaces or line breaks"),
        ("CANARY-not-a-jwt", "three parts"),
        ("eyJhbGciOiJSUzI1NiJ9.CANARY", "three parts"),
        ("a.b.c.CANARY", "three parts"),
        ("eyJhbGciOiJSUzI1NiJ9..CANARY", "three parts"),
        ("eyJhbGciOiJSUzI1NiJ9.eyJ9!.CANARY", "three parts"),
        (f"{segment({'typ': 'JWT'})}.eyJzdWIiOiJ4In0.CANARY", "not a key header"),
        (f"{segment(b'[1, 2]')}.eyJzdWIiOiJ4In0.CANARY", "not a key header"),
        ("Q0FOQVJZ.eyJzdWIiOiJ4In0.CANARY", "not a key header"),
        ("eyJhbGciOiJSUzI1NiJ9x.eyJzdWIiOiJ4In0.CANARY", "not a key header"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(key: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as caught:
        validate_application_key(key)
    assert caught.value.field == APPLICATION_KEY
    assert "CANARY" not in str(caught.value)
    assert not key or key not in str(caught.value)


def test_the_schema_strips_surrounding_whitespace_and_keeps_the_key_secret() -> None:
    key = make_key(CLAIMS)
    credentials = CREDENTIAL_SCHEMA.parse({APPLICATION_KEY: f"  {key}\n"})
    secret = credentials[APPLICATION_KEY]
    assert isinstance(secret, Secret)
    assert secret.reveal() == key
    assert key not in repr(credentials)


def test_the_schema_describes_the_field_for_the_connect_page() -> None:
    field = CREDENTIAL_SCHEMA.field_named(APPLICATION_KEY)
    assert field.label == "Application Key"
    assert field.secret
    assert field.example == "eyJhbGciOiJSUzI1NiIs..."
    assert "Web APIs" in field.help
    schema = CREDENTIAL_SCHEMA.to_json_schema()
    assert schema["required"] == [APPLICATION_KEY]
    assert schema["properties"][APPLICATION_KEY]["writeOnly"] is True


def test_expiry_is_exposed_from_the_exp_claim() -> None:
    credentials = CREDENTIAL_SCHEMA.parse({APPLICATION_KEY: make_key(CLAIMS)})
    assert application_key_expires_at(credentials) == datetime.fromtimestamp(1412710741, tz=UTC)
    assert application_key_expires_at(Secret(make_key(CLAIMS))) == datetime.fromtimestamp(1412710741, tz=UTC)


@pytest.mark.parametrize(
    "claims",
    [{"sub": "app"}, {"exp": "tomorrow"}, {"exp": True}, {"exp": 10**20}],
)
def test_keys_without_a_usable_exp_have_no_expiry(claims: dict[str, object]) -> None:
    assert application_key_expires_at(make_key(claims)) is None


def test_an_opaque_payload_is_accepted_and_has_no_claims() -> None:
    key = f"{segment({'alg': 'RS256'})}.{segment(b'not json')}.c2ln"
    validate_application_key(key)
    assert application_key_claims(key) == {}
    assert application_key_expires_at(key) is None


@settings(max_examples=200, deadline=None)
@given(
    head=st.text(max_size=100) | st.from_regex(r"[A-Za-z0-9+/_=\-]{0,40}\.[A-Za-z0-9+/_=\-]{0,40}\.", fullmatch=True),
    tail=st.text(max_size=100),
)
def test_any_input_is_accepted_or_refused_with_a_credentials_error(head: str, tail: str) -> None:
    text = f"{head}CANARY{tail}"
    message = ""
    try:
        validate_application_key(text)
    except CredentialsError as exc:
        message = exc.message
    assert "CANARY" not in message
    application_key_expires_at(text)
