"""The credentials of a Shopify connection, and of the channel's Shopify app.

A connection holds one secret, the shop's **offline Admin API access token**
(:data:`ACCESS_TOKEN`). It is obtained either way Shopify issues one, and both end as
the same stored credentials:

- the OAuth install (:mod:`storelink_shopify.oauth`): the merchant approves the
  channel's app and the code is exchanged for a token (``shpua_`` for an app installed
  through OAuth);
- a custom app created in the shop's admin (Settings > Apps and sales channels >
  Develop apps), whose token (``shpat_``) the merchant copies; the core's Python API
  (``Hub.connect``) still takes it.

Neither expires; each stops working when the app is uninstalled (or a custom app's
token is rotated). The token is checked here for its shape only (so a pasted half token
is caught before any request); the shop decides whether it is accepted.

:data:`APP_CREDENTIALS` is what the operator configures for the channel's app: its
client id and client secret from the Shopify Dev Dashboard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from storelink import Capability, CredentialField, CredentialSchema, CredentialsError

__all__ = [
    "ACCESS_TOKEN",
    "APP_CREDENTIALS",
    "CAPABILITY_SCOPES",
    "CREDENTIAL_SCHEMA",
    "SCOPES",
    "SHOP_PARAMETER",
    "missing_scopes",
    "validate_access_token",
]

#: The credential field's name.
ACCESS_TOKEN = "access_token"  # noqa: S105  # a field name, not a secret

#: The OAuth callback parameter that names the shop the app was approved for.
SHOP_PARAMETER = "shop"

#: The Admin API access scopes the plugin asks for (the OAuth install requests them).
SCOPES = ("read_products", "read_inventory", "read_orders", "write_orders", "read_shipping")

#: The scopes each capability needs (``check_access`` names the missing ones).
CAPABILITY_SCOPES: Mapping[Capability, tuple[str, ...]] = {
    Capability.PRODUCTS: ("read_products",),
    Capability.INVENTORY: ("read_products", "read_inventory"),
    Capability.ORDERS: ("read_orders",),
    Capability.SHIPPING_METHODS: ("read_shipping",),
    Capability.CREATE_ORDERS: ("write_orders", "read_shipping"),
}


def missing_scopes(granted: Iterable[str], needed: Iterable[str]) -> list[str]:
    """Return the scopes of *needed* that *granted* lacks, in order.

    A ``write_`` scope implies its ``read_`` scope, as Shopify grants them.
    """
    held = set(granted)
    held |= {"read_" + scope.removeprefix("write_") for scope in held if scope.startswith("write_")}
    return [scope for scope in needed if scope not in held]


# shpat_ (custom app created in the admin), shpua_ (app installed through OAuth) and the
# older shppa_ (private app) and shpca_ (custom app) prefixes, each followed by 32
# hexadecimal characters.
_TOKEN = re.compile(r"shp(?:at|ua|pa|ca)_[0-9a-fA-F]{32}")
_WHERE = "Settings > Apps and sales channels > Develop apps > your app > API credentials"


def validate_access_token(value: str) -> None:
    """Refuse a value that cannot be an Admin API access token.

    :param value: The token as entered (surrounding whitespace already stripped).
    :raises CredentialsError: It has the wrong shape; the message never repeats it.
    """
    if not value:
        raise CredentialsError("The Admin API access token is empty.", field=ACCESS_TOKEN)
    if value.startswith(("shpss_", "shpsk_")) or re.fullmatch(r"[0-9a-f]{32}", value):
        raise CredentialsError(
            "That looks like the app's API key or API secret key, not its Admin API access token. "
            f"Reveal the access token in {_WHERE}.",
            field=ACCESS_TOKEN,
        )
    if not _TOKEN.fullmatch(value):
        raise CredentialsError(
            "An Admin API access token is 'shpat_' followed by 32 hexadecimal characters; "
            f"copy it again from {_WHERE}.",
            field=ACCESS_TOKEN,
        )


CREDENTIAL_SCHEMA = CredentialSchema(
    fields=(
        CredentialField(
            name=ACCESS_TOKEN,
            label="Admin API access token",
            secret=True,
            help=(
                "Issued when the shop approves the app (OAuth install); or, for a custom app, "
                f"in {_WHERE}: install the app with the scopes {', '.join(SCOPES)}, "
                "then reveal the Admin API access token (shown once)."
            ),
            example="shpat_0123456789abcdef...",
            validator=validate_access_token,
        ),
    )
)

#: The channel's Shopify app, as the operator configures it (never shown to merchants).
APP_CREDENTIALS = CredentialSchema(
    fields=(
        CredentialField(
            name="client_id",
            label="Client ID",
            help="The app's client ID (once called its API key): Dev Dashboard > your app > Settings.",
        ),
        CredentialField(
            name="client_secret",
            label="Client secret",
            secret=True,
            help="The app's client secret: Dev Dashboard > your app > Settings.",
        ),
    )
)
