"""Login and refresh: turning the application key into access tokens.

OCC exchanges the application key for a short-lived access token (5 minutes for
application keys) on one login endpoint per API surface:

- ``admin``: ``POST /ccadmin/v1/login`` on the store URL, for every read;
- ``agent``: ``POST /ccappagent/v1/login`` on the storefront host, for creating orders.

Both take the form body ``grant_type=client_credentials`` with the key as
``Authorization: Bearer``. ``POST /ccadmin/v1/refresh`` with the current admin token
returns a new one. The core decides when to call these and caches the tokens; this
module only performs the exchanges.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storelink import (
    AccessToken,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    PlatformContext,
    RejectedError,
    Secret,
)
from storelink_occ import api
from storelink_occ.credentials import APPLICATION_KEY
from storelink_occ.settings import SETTINGS_SCHEMA

__all__ = ["AUDIENCES", "DEFAULT_LIFETIME", "MAX_LIFETIME", "login", "refresh", "token_from_response"]

#: The token audiences, the first being the default: reads, then order creation.
AUDIENCES = ("admin", "agent")

#: The lifetime of an application key's token when the response does not say (seconds).
DEFAULT_LIFETIME = 300.0
#: The longest lifetime believed (a day); outside 1 s to this, :data:`DEFAULT_LIFETIME` applies.
MAX_LIFETIME = 86_400

LOGIN_PATHS = {"admin": "/ccadmin/v1/login", "agent": "/ccappagent/v1/login"}
REFRESH_PATH = "/ccadmin/v1/refresh"


async def login(ctx: PlatformContext, audience: str) -> AccessToken:
    """Log in to the *audience* surface with the application key.

    :raises CredentialsError: The store refused the key (401 or 403), or answered
        without an access token.
    :raises ConfigurationError: The storefront host has no agent login endpoint.
    :raises RetryableError: The store could not be reached or answered 5xx.
    """
    path = LOGIN_PATHS.get(audience)
    if path is None:
        raise ConfigurationError(f"OCC has no token audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    base_url = ctx.typed_settings(SETTINGS_SCHEMA).agent_base_url if audience == "agent" else None
    try:
        body = await api.call(
            ctx,
            "POST",
            path,
            audience=None,
            bearer=ctx.credentials.secret(APPLICATION_KEY),
            data={"grant_type": "client_credentials"},
            base_url=base_url,
        )
    except NotFoundError as exc:
        if audience != "agent":
            raise
        raise ConfigurationError(
            f"{base_url or ctx.store_url.origin} has no {path}: set the 'Storefront URL' setting "
            "to the host that serves your storefront"
        ) from exc
    return token_from_response(body, audience=audience)


async def refresh(ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
    """Renew an admin *token* with ``POST /ccadmin/v1/refresh``.

    :return: The new token, or ``None`` (log in again) for an agent token, whose
        surface documents no refresh, and when the store refuses the refresh.
    """
    if token.audience != "admin":
        return None
    try:
        body = await api.call(ctx, "POST", REFRESH_PATH, audience=None, bearer=token.value, json={})
        return token_from_response(body, audience=token.audience)
    except (CredentialsError, RejectedError):
        return None  # an expired or refused token: the core logs in again with the key


def token_from_response(body: Any, *, audience: str) -> AccessToken:
    """Return the token of a login or refresh response.

    ``expires_in`` is optional (older OCC versions omit it); :data:`DEFAULT_LIFETIME`
    applies then, and when it is outside 1 s to :data:`MAX_LIFETIME`.

    :raises CredentialsError: The body has no access token.
    """
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise CredentialsError(
            "The store answered the login without an access token; check that the key is an "
            "Application Key of this store.",
            field=APPLICATION_KEY,
        )
    lifetime = body.get("expires_in")
    if isinstance(lifetime, str) and lifetime.strip().isdigit() and len(lifetime.strip()) <= 9:
        lifetime = int(lifetime)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | Decimal) or not 1 <= lifetime <= MAX_LIFETIME:
        lifetime = DEFAULT_LIFETIME  # absent, or not believable (1E+400 would never be refreshed)
    token_type = body.get("token_type")
    return AccessToken(
        value=Secret(value),
        expires_in=float(lifetime),
        audience=audience,
        token_type=token_type.lower() if isinstance(token_type, str) and token_type else "bearer",
    )
