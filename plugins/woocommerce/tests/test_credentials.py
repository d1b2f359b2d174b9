"""The consumer key and secret: their shapes, and that they never leave in clear."""

from __future__ import annotations

import base64

import pytest

from storelink import CredentialsError, Secret
from storelink_woocommerce.auth import basic_credential
from storelink_woocommerce.credentials import CREDENTIAL_SCHEMA

KEY = "ck_" + "a1" * 20
SECRET = "cs_" + "b2" * 20


def test_a_well_formed_pair_parses_as_secrets() -> None:
    parsed = CREDENTIAL_SCHEMA.parse({"consumer_key": f"  {KEY} ", "consumer_secret": SECRET})
    assert isinstance(parsed["consumer_key"], Secret)
    assert isinstance(parsed["consumer_secret"], Secret)
    assert KEY not in repr(parsed)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"consumer_key": SECRET, "consumer_secret": SECRET}, "consumer_key", "swapped"),
        ({"consumer_key": KEY, "consumer_secret": KEY}, "consumer_secret", "swapped"),
        ({"consumer_key": KEY[:-1], "consumer_secret": SECRET}, "consumer_key", "40 hexadecimal"),
        ({"consumer_key": KEY, "consumer_secret": SECRET.upper()}, "consumer_secret", "40 hexadecimal"),
    ],
)
def test_malformed_values_are_refused_naming_the_field_without_echoing(
    values: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(CredentialsError, match=words) as caught:
        CREDENTIAL_SCHEMA.parse(values)
    assert caught.value.field == field
    assert KEY[3:] not in str(caught.value)
    assert SECRET[3:] not in str(caught.value)


def test_the_basic_credential_is_base64_of_key_colon_secret() -> None:
    credential = basic_credential(Secret(KEY), Secret(SECRET))
    assert isinstance(credential, Secret)
    assert base64.b64decode(credential.reveal()).decode() == f"{KEY}:{SECRET}"
    assert KEY not in repr(credential)
