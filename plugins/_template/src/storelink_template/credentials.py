"""What a merchant enters to connect a Template store: one API key.

The schema renders the connect page, the CLI prompts and the JSON Schema export. Its
validator checks the key's shape only (so a pasted half key is caught before any
request), and its message never repeats the value.
"""

from __future__ import annotations

import re

from storelink import CredentialField, CredentialSchema, CredentialsError

__all__ = ["CREDENTIALS", "check_api_key"]

_API_KEY = re.compile(r"template_[0-9a-f]{32}")


def check_api_key(value: str) -> None:
    """Refuse a value that cannot be a Template API key.

    :raises CredentialsError: The value has the wrong shape.
    """
    if not _API_KEY.fullmatch(value):
        raise CredentialsError(
            "an API key is 'template_' followed by 32 hexadecimal characters; copy it again from the admin",
            field="api_key",
        )


CREDENTIALS = CredentialSchema(
    fields=(
        CredentialField(
            name="api_key",
            label="API key",
            secret=True,
            help="In the Template admin: Settings > API keys > Create key. Give it every scope storelink needs.",
            example="template_0123456789abcdef0123456789abcdef",
            validator=check_api_key,
        ),
    )
)
