"""Credential schemas and the Secret type."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import CredentialField, CredentialSchema, CredentialsError, Secret
from storelink.credentials import live_secret_values

CANARY = "CANARY-credentials-3f1c"


def test_secret_is_masked_everywhere_it_could_be_printed() -> None:
    secret = Secret(CANARY)
    rendered = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s" % secret,  # noqa: UP031  # the printf path must be masked too
        json.dumps([secret], default=str),
    ]
    assert all(CANARY not in text for text in rendered)
    assert secret.reveal() == CANARY


def test_secret_refuses_pickling_and_has_no_dict() -> None:
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(Secret(CANARY))
    with pytest.raises(TypeError):
        vars(Secret(CANARY))
    with pytest.raises(TypeError):
        json.dumps(Secret(CANARY))


def test_copies_of_a_secret_are_the_secret() -> None:
    secret = Secret(CANARY)
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"k": secret})["k"] is secret


@given(st.text(min_size=1), st.text(min_size=1))
def test_secret_equality_follows_the_value(a: str, b: str) -> None:
    assert (Secret(a) == Secret(b)) == (a == b)
    assert Secret(a) == Secret(a)


def test_fingerprints_tell_secrets_apart_without_showing_them() -> None:
    a, b = Secret("alpha-value"), Secret("beta-value")
    assert a.fingerprint != b.fingerprint
    assert len(a.fingerprint) == 8
    assert "alpha" not in repr(a)


def test_live_secrets_are_known_to_the_scrubber_and_forgotten_when_gone() -> None:
    secret = Secret("CANARY-live-9d2e")
    assert "CANARY-live-9d2e" in live_secret_values()
    del secret
    import gc

    gc.collect()
    assert "CANARY-live-9d2e" not in live_secret_values()


def _no_spaces(value: str) -> None:
    if " " in value:
        raise CredentialsError("the key must not contain spaces", field="key")


SCHEMA = CredentialSchema(
    fields=[
        CredentialField(name="key", label="API Key", secret=True, help="Settings > API", validator=_no_spaces),
        CredentialField(name="site", label="Site", required=False),
    ]
)


def test_parse_strips_whitespace_and_wraps_secrets() -> None:
    creds = SCHEMA.parse({"key": f"  {CANARY}\n", "site": " us "})
    assert creds.secret("key").reveal() == CANARY
    assert creds["site"] == "us"
    assert CANARY not in repr(creds)


def test_parse_names_the_missing_field() -> None:
    with pytest.raises(CredentialsError, match="API Key is required") as info:
        SCHEMA.parse({"key": "   "})
    assert info.value.field == "key"


def test_parse_refuses_unknown_fields() -> None:
    with pytest.raises(CredentialsError, match="unknown credential field 'token'"):
        SCHEMA.parse({"key": "x", "token": "y"})


def test_validator_errors_never_echo_the_value() -> None:
    with pytest.raises(CredentialsError) as info:
        SCHEMA.parse({"key": "CANARY with spaces"})
    assert "CANARY" not in str(info.value)


def test_parse_accepts_secret_inputs() -> None:
    assert SCHEMA.parse({"key": Secret(CANARY)}).secret("key") == Secret(CANARY)


def test_json_schema_export_marks_secrets_write_only() -> None:
    schema = SCHEMA.to_json_schema()
    assert schema["required"] == ["key"]
    assert schema["properties"]["key"]["writeOnly"] is True
    assert schema["properties"]["key"]["format"] == "password"
    assert "writeOnly" not in schema["properties"]["site"]
    assert schema["additionalProperties"] is False


def test_schema_refuses_duplicate_or_bad_field_names() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        CredentialSchema(fields=[CredentialField(name="a", label="A"), CredentialField(name="a", label="B")])
    with pytest.raises(ValueError, match="identifier"):
        CredentialField(name="not valid", label="X")


def test_credentials_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(SCHEMA.parse({"key": CANARY}))
