"""The access-token field: its shape check, and messages that never repeat the value."""

from __future__ import annotations

import pytest

from storelink import CredentialsError
from storelink_shopify.credentials import CREDENTIAL_SCHEMA, missing_scopes

TOKEN = "shpat_" + "0123456789abcdef" * 2


def test_a_custom_app_token_is_accepted_and_kept_secret() -> None:
    credentials = CREDENTIAL_SCHEMA.parse({"access_token": f"  {TOKEN}\n"})
    assert credentials.secret("access_token").reveal() == TOKEN


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("shpss_" + "a" * 32, "API secret key"),
        ("0123456789abcdef" * 2, "API key"),
        ("shpat_0123", "32 hexadecimal"),
        ("Bearer " + TOKEN, "32 hexadecimal"),
    ],
)
def test_a_value_that_is_not_an_access_token_is_refused_without_echoing_it(value: str, hint: str) -> None:
    with pytest.raises(CredentialsError, match=hint) as refused:
        CREDENTIAL_SCHEMA.parse({"access_token": value})
    assert value not in str(refused.value)
    assert refused.value.field == "access_token"


def test_a_write_scope_counts_as_its_read_scope() -> None:
    assert missing_scopes(["write_orders"], ["read_orders", "read_shipping"]) == ["read_shipping"]
