"""The access token: the one place the plugin handles the merchant's credential.

The credential is the shop's offline Admin API access token
(:data:`~storelink_shopify.credentials.ACCESS_TOKEN`), obtained by the OAuth install
(:mod:`storelink_shopify.oauth`) or copied from a custom app; both are the same stored
credentials, and everything after this point treats them alike.

The token is sent in ``X-Shopify-Access-Token``, never ``Authorization`` (Shopify's
Admin API ignores a bearer header and answers 401): the platform declares that header
in ``PlatformInfo.token_header``, and the core attaches the token there.
:func:`validate` checks the token with the cheapest query there is and hands it to the
core as the token of the one audience, so the core's token machinery (the 401 flow,
revocation) applies to it. The token does not expire (the plugin asks for a
non-expiring offline token); the core re-checks it every :data:`TOKEN_RECHECK` seconds.
"""

from __future__ import annotations

from storelink import AccessToken, MappingError, PlatformContext
from storelink_shopify.credentials import ACCESS_TOKEN

__all__ = ["AUDIENCE", "TOKEN_HEADER", "TOKEN_RECHECK", "validate"]

#: The token audience: one token (the app's access token) for every call.
AUDIENCE = "admin"

#: The header Shopify's Admin API reads the access token from (bare, no scheme).
TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105  # a header name, not a secret

#: Seconds the core keeps a validated token before checking it again.
TOKEN_RECHECK = 86_400.0


async def validate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Check the connection's access token with ``query Shop`` and return it as *audience*'s token.

    :raises CredentialsError: The shop refused the token (401: the app was uninstalled,
        or the token rotated or mistyped); the core marks the connection revoked.
    :raises MappingError: The shop answered without its name.
    """
    from storelink_shopify import api, mapping  # kept out of platform_info's imports

    token = ctx.credentials.secret(ACCESS_TOKEN)
    data = await api.graphql(ctx, "Shop", audience=None, bearer=token)
    shop = mapping.obj(data.get("shop"), "data.shop")
    if not isinstance(shop.get("name"), str):
        raise MappingError("expected the shop's name", path="data.shop.name")
    return AccessToken(value=token, expires_in=TOKEN_RECHECK, audience=audience)
