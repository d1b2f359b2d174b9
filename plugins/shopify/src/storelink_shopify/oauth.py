"""Shopify's OAuth install (authorization-code grant) for the channel's app.

The core owns the flow (state, the exact redirect URI, the browser binding; see
:mod:`storelink.onboarding`); this module holds Shopify's side of it::

    https://{shop}.myshopify.com/admin/oauth/authorize
        ?client_id=…&scope=read_products,…&redirect_uri=…&state=…
    ──▶ the merchant approves the app in the shop's admin
    ──▶ {redirect_uri}?code=…&hmac=…&host=…&shop={shop}.myshopify.com&state=…&timestamp=…
    ──▶ POST https://{shop}.myshopify.com/admin/oauth/access_token
            {"client_id", "client_secret", "code"}
    ◀── {"access_token": "shpua_…", "scope": "read_products,…"}

- :func:`authorization_url` asks for an **offline** token (no
  ``grant_options[]=per-user``): the channel works while no one is signed in.
- :func:`verify_callback` checks Shopify's signature of the callback: an HMAC-SHA256,
  keyed with the app's client secret, of every other query parameter sorted by name and
  written ``name=value`` joined with ``&``; and the ``shop`` parameter's shape.
- :func:`exchange` trades the single-use code for the token and refuses a grant that
  lacks a requested scope, naming it (:class:`~storelink.AuthorizationError`).

The token is **non-expiring**: the exchange does not send ``expiring=1``. Shopify's
expiring offline tokens (one hour, with a refresh token that rotates on every use) need
the rotated refresh token stored back with the connection, which the core's
``refresh_token`` hook cannot do (it renews an in-memory token only). See
``docs/shopify.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

from storelink import (
    AuthorizationError,
    ConfigurationError,
    Credentials,
    CredentialsError,
    PlatformContext,
    PlatformError,
    RejectedError,
    Secret,
    StoreURL,
)
from storelink.context import current_operation
from storelink_shopify.api import PLATFORM
from storelink_shopify.credentials import ACCESS_TOKEN, CAPABILITY_SCOPES, SHOP_PARAMETER, missing_scopes

__all__ = [
    "AUTHORIZE_PATH",
    "SHOP_PARAMETER",
    "TOKEN_PATH",
    "authorization_url",
    "callback_message",
    "exchange",
    "sign",
    "valid_shop",
    "verify_callback",
]

#: Where the merchant approves the app, on the shop's own host.
AUTHORIZE_PATH = "/admin/oauth/authorize"

#: Where the authorization code is exchanged for the access token.
TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105  # a path, not a secret

# Shopify's documented shape of the shop parameter: a myshopify.com host name.
_SHOP = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com")
# The simulator on loopback names itself by its origin (no myshopify.com name exists
# there); the core accepts such a store only under a loopback-allowing egress policy.
_LOOPBACK_SHOP = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[0-9A-Za-z_\-.~]{1,512}")
_START_AGAIN = "start the connection again"


def authorization_url(
    store_url: StoreURL, *, client_id: str, scopes: Iterable[str], state: str, redirect_uri: str
) -> str:
    """Return the URL where the merchant approves the app for an offline access token.

    :param store_url: The shop (``https://mystore.myshopify.com``).
    :param client_id: The app's client id.
    :param scopes: The access scopes requested (sent comma-separated).
    :param state: The core's state, sent unchanged.
    :param redirect_uri: Where Shopify sends the merchant back; it must be one of the
        app's allowed redirection URLs.
    """
    query = urlencode({"client_id": client_id, "scope": ",".join(scopes), "redirect_uri": redirect_uri, "state": state})
    return f"{store_url.origin}{AUTHORIZE_PATH}?{query}"


def _escape(text: str, *, key: bool) -> str:
    # Keep the signed message unambiguous: a '&' or '%' (or '=' in a name) inside a
    # decoded value is written percent-encoded, as Shopify's own libraries do.
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def callback_message(params: Iterable[tuple[str, str]]) -> str:
    """Return the text Shopify signs: every parameter but ``hmac``, sorted, ``name=value`` joined by ``&``."""
    pairs = sorted((k, v) for k, v in params if k != "hmac")
    return "&".join(f"{_escape(k, key=True)}={_escape(v, key=False)}" for k, v in pairs)


def sign(params: Mapping[str, str], secret: str) -> str:
    """Return the hex HMAC-SHA256 of :func:`callback_message` of *params*, keyed with *secret*."""
    message = callback_message(params.items())
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def valid_shop(value: str) -> bool:
    """Tell whether *value* has the shape of the ``shop`` parameter (``mystore.myshopify.com``)."""
    return bool(_SHOP.fullmatch(value) or _LOOPBACK_SHOP.fullmatch(value))


def verify_callback(query: str, client_secret: Secret) -> bool:
    """Tell whether the callback's raw *query* was signed by Shopify with the app's secret.

    Refused: no ``hmac`` or one that is not a hex SHA-256 digest, a parameter given
    twice, a ``shop`` that is not a shop's host name, or a signature that does not match
    (compared with :func:`hmac.compare_digest`).
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return False
    params = dict(pairs)
    if len(params) != len(pairs):
        return False
    given = params.get("hmac", "")
    if not _HEX_DIGEST.fullmatch(given) or not valid_shop(params.get(SHOP_PARAMETER, "")):
        return False
    return hmac.compare_digest(sign(params, client_secret.reveal()), given)


async def exchange(
    ctx: PlatformContext, params: Mapping[str, str], app_credentials: Credentials, *, scopes: Iterable[str]
) -> Credentials:
    """Exchange the callback's code for the shop's offline access token.

    :param ctx: A context on the shop, without credentials.
    :param params: The checked callback's parameters (``code``).
    :param app_credentials: The app's ``client_id`` and ``client_secret``.
    :param scopes: The scopes the app asked for; the grant must cover each.
    :return: ``{"access_token": Secret}``, the connection's credentials.
    :raises CredentialsError: No code, or Shopify refused it (expired, already used,
        for another app).
    :raises AuthorizationError: The grant lacks a requested scope (named, with the
        first capability it leaves out).
    :raises ConfigurationError: Shopify refused the app's client id or secret.
    :raises PlatformError: Shopify's answer has no token.
    """
    code = params.get("code", "")
    if not _CODE.fullmatch(code):
        raise CredentialsError(f"Shopify sent you back without a usable authorization code; {_START_AGAIN}")
    body = {
        "client_id": str(app_credentials["client_id"]),
        "client_secret": app_credentials.secret("client_secret").reveal(),
        "code": code,
    }
    try:
        response = await ctx.http.request(
            "POST",
            TOKEN_PATH,
            audience=None,
            json=body,
            headers={"Accept": "application/json"},
        )
    except RejectedError as exc:
        if exc.code == "invalid_client":
            raise ConfigurationError(
                "Shopify refused the app's client id or client secret; check the Shopify app credentials "
                "configured for this channel against the app's settings in the Dev Dashboard"
            ) from None
        said = f", {exc.code}" if exc.code else ""
        raise CredentialsError(
            f"Shopify did not accept the authorization code (HTTP {exc.status}{said}): it expired, was already "
            f"used or was issued to another app; {_START_AGAIN}"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    granted = answer.get("scope") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token or not isinstance(granted, str):
        raise PlatformError(
            "Shopify's answer to the code exchange has no access token and scope",
            platform=PLATFORM,
            operation=current_operation(),
            status=response.status_code,
        )
    missing = missing_scopes([s.strip() for s in granted.split(",") if s.strip()], scopes)
    if missing:
        lacking = [c for c, needed in CAPABILITY_SCOPES.items() if set(needed) & set(missing)]
        raise AuthorizationError(
            f"The shop granted the app less access than it asked for: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; {_START_AGAIN} and approve every access asked for",
            capability=lacking[0].value if lacking else None,
        )
    return Credentials({ACCESS_TOKEN: Secret(token)})
