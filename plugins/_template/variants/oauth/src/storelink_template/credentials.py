"""How a Template store is connected: an OAuth install, and the API key it yields.

The merchant never types a key. They enter the store's address, approve the channel's
app on the Template admin, and the code the platform sends back is exchanged for the
store's API key (see :mod:`storelink_template.oauth`). That key is what is stored,
sealed, as the connection's credentials (:data:`CREDENTIALS`); the hooks log in with it
exactly as with a pasted key.

:data:`OAUTH_FLOW` declares the install to the core: the scopes asked for, PKCE, the
app credentials the operator configures (the channel's client id and secret on the
platform) and the callback parameter that names the store.
"""

from __future__ import annotations

import re

from storelink import CredentialField, CredentialSchema, CredentialsError, OAuthFlow

__all__ = ["APP_CREDENTIALS", "CREDENTIALS", "OAUTH_FLOW", "SCOPES", "STORE_PARAMETER", "check_api_key"]

#: The scopes the app asks for: one per capability.
SCOPES = ("products", "orders", "create_orders", "inventory", "shipping_methods")

#: The callback parameter in which the platform names the store the app was approved for.
STORE_PARAMETER = "store"

_API_KEY = re.compile(r"template_[0-9a-f]{32}")


def check_api_key(value: str) -> None:
    """Refuse a value that cannot be a Template API key.

    :raises CredentialsError: The value has the wrong shape.
    """
    if not _API_KEY.fullmatch(value):
        raise CredentialsError(
            "an API key is 'template_' followed by 32 hexadecimal characters; connect the store again",
            field="api_key",
        )


CREDENTIALS = CredentialSchema(
    fields=(
        CredentialField(
            name="api_key",
            label="API key",
            secret=True,
            help="Issued to the app when the merchant approves it; connect the store again to get a new one.",
            example="template_0123456789abcdef0123456789abcdef",
            validator=check_api_key,
        ),
    )
)

APP_CREDENTIALS = CredentialSchema(
    fields=(
        CredentialField(
            name="client_id",
            label="Client ID",
            help="In the Template partner dashboard: Apps > your app > Client ID.",
        ),
        CredentialField(
            name="client_secret",
            label="Client secret",
            secret=True,
            help="In the same page: Client secret. Keep it out of files; give it through the environment.",
        ),
    )
)

OAUTH_FLOW = OAuthFlow(scopes=SCOPES, pkce=True, app_credentials=APP_CREDENTIALS, store_parameter=STORE_PARAMETER)
