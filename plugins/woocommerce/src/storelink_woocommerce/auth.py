"""The key check: the one place the plugin handles the merchant's key and secret.

WooCommerce authenticates every request by itself: over HTTPS the consumer key and
secret go in an ``Authorization: Basic`` header (key as user name, secret as
password). There is no login and no token. The core's token machinery is still used,
so that its 401 flow and revocation apply: :func:`validate` turns the pair into the
Basic credential (``base64(key:secret)``, a :class:`~storelink.Secret`), checks it with
one cheap authenticated read, and hands it to the core as the "token" of the one
audience. The platform declares ``token_prefix="Basic "`` and the core writes the
header. The credential does not expire; the core checks it again every
:data:`KEY_RECHECK` seconds, and after any 401.

The check reads the store currency (``GET /wp-json/wc/v3/settings/general/
woocommerce_currency``), which every price needs: it is remembered for the connection
(:func:`storelink_woocommerce.api.remember_currency`), so it is read once.
"""

from __future__ import annotations

import base64

from storelink import AccessToken, PlatformContext, Secret
from storelink_woocommerce.credentials import CONSUMER_KEY, CONSUMER_SECRET

__all__ = ["KEY_RECHECK", "TOKEN_PREFIX", "basic_credential", "validate"]

#: What precedes the credential in the ``Authorization`` header.
TOKEN_PREFIX = "Basic "  # noqa: S105  # an HTTP auth scheme, not a secret

#: Seconds the core keeps a checked key before checking it again.
KEY_RECHECK = 3_600.0


def basic_credential(key: Secret, secret: Secret) -> Secret:
    """Return the HTTP Basic credential of *key* and *secret*: ``base64(key:secret)``.

    The clear values exist only inside this expression (no variable holds them).
    """
    return Secret(base64.b64encode(":".join(s.reveal() for s in (key, secret)).encode()).decode("ascii"))


async def validate(ctx: PlatformContext, audience: str) -> AccessToken:
    """Check the connection's key with one authenticated read and return it as *audience*'s token.

    :raises CredentialsError: The store refused the key (401 or 403: revoked, mistyped,
        its user deleted, or a key without read permission, which storelink cannot use);
        the core marks the connection revoked.
    :raises MappingError: The store answered without a currency.
    """
    from storelink_woocommerce import api  # kept out of platform_info's imports

    credential = basic_credential(ctx.credentials.secret(CONSUMER_KEY), ctx.credentials.secret(CONSUMER_SECRET))
    response = await ctx.http.request("GET", api.CURRENCY_PATH, audience=None, bearer=credential)
    api.remember_currency(ctx, api.currency_from_setting(api.body(response), "setting"))
    return AccessToken(value=credential, expires_in=KEY_RECHECK, audience=audience)
