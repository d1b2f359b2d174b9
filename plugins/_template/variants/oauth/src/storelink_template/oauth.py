"""The Template platform's OAuth install (authorization-code grant, with PKCE).

The core owns the flow (state, PKCE pair, the exact redirect URI, the browser binding;
see :mod:`storelink.onboarding`); this module holds the platform's side of it::

    {store}/oauth/authorize?response_type=code&client_id=…&redirect_uri=…
        &scope=products orders …&state=…&code_challenge=…&code_challenge_method=S256
    ──▶ the merchant approves the app in the store's admin
    ──▶ {redirect_uri}?code=…&state=…&store={store}&signature=…
        (declined: {redirect_uri}?error=access_denied&state=…)
    ──▶ POST {store}/oauth/token   grant_type=authorization_code, code, redirect_uri,
                                    client_id, client_secret, code_verifier
    ◀── {"access_token": "template_…", "token_type": "bearer", "scope": "products …"}

- :func:`authorization_url` builds the first URL from the core's arguments only.
- :func:`verify_callback` checks the platform's ``signature``: an HMAC-SHA256, keyed
  with the app's client secret, of every other parameter, sorted by name and
  form-encoded (:func:`callback_message`).
- :func:`exchange` trades the single-use code for the store's API key. A refused code
  is a :class:`~storelink.CredentialsError` (the merchant starts again); a refused
  client id or secret is a :class:`~storelink.ConfigurationError` (the operator fixes
  the app credentials).

Replace each piece with what your platform documents: its paths, parameter names,
scope separator, signature (if it signs callbacks at all; if not, delete
``verify_callback`` from ``plugin.py``) and token response.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

from storelink import (
    ConfigurationError,
    Credentials,
    CredentialsError,
    PlatformContext,
    RejectedError,
    Secret,
    StoreURL,
)

from storelink_template import mapping

__all__ = [
    "AUTHORIZE_PATH",
    "SIGNATURE_PARAMETER",
    "TOKEN_PATH",
    "authorization_url",
    "callback_message",
    "exchange",
    "sign",
    "verify_callback",
]

#: Where the merchant approves the app, on the store's own host.
AUTHORIZE_PATH = "/oauth/authorize"

#: Where the authorization code is exchanged for the store's API key.
TOKEN_PATH = "/oauth/token"  # noqa: S105  # a path, not a secret

#: The callback parameter that carries the platform's signature.
SIGNATURE_PARAMETER = "signature"

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[0-9A-Za-z_\-.~]{1,512}")
_START_AGAIN = "start the connection again"


def authorization_url(
    store_url: StoreURL,
    *,
    client_id: str,
    scopes: Iterable[str],
    state: str,
    redirect_uri: str,
    code_challenge: str | None,
) -> str:
    """Return the URL where the merchant approves the app for *store_url*.

    :param scopes: The scopes asked for, sent space-separated (RFC 6749 §3.3).
    :param code_challenge: The PKCE S256 challenge, sent with ``code_challenge_method=S256``.
    """
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
    }
    if code_challenge is not None:
        query |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return f"{store_url.origin}{AUTHORIZE_PATH}?{urlencode(query)}"


def callback_message(params: Iterable[tuple[str, str]]) -> str:
    """Return the text the platform signs: every parameter but the signature, sorted, form-encoded."""
    return urlencode(sorted((k, v) for k, v in params if k != SIGNATURE_PARAMETER))


def sign(params: Mapping[str, str], secret: str) -> str:
    """Return the hex HMAC-SHA256 of :func:`callback_message` of *params*, keyed with *secret*."""
    return hmac.new(secret.encode(), callback_message(params.items()).encode(), hashlib.sha256).hexdigest()


def verify_callback(query: str, client_secret: Secret) -> bool:
    """Tell whether the callback's raw *query* was signed by the platform with the app's secret.

    Refused: a query that does not parse, repeats a name, or has no signature, or one
    that does not match (compared with :func:`hmac.compare_digest`).
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return False
    params = dict(pairs)
    if len(params) != len(pairs):
        return False
    given = params.get(SIGNATURE_PARAMETER, "")
    if not _HEX_DIGEST.fullmatch(given):
        return False
    return hmac.compare_digest(sign(params, client_secret.reveal()), given)


async def exchange(
    ctx: PlatformContext,
    params: Mapping[str, str],
    app_credentials: Credentials,
    *,
    redirect_uri: str,
    code_verifier: Secret | None,
) -> Credentials:
    """Exchange the callback's code for the store's API key.

    :param ctx: A context on the store, without credentials.
    :param params: The checked callback's parameters (``code``).
    :param app_credentials: The app's ``client_id`` and ``client_secret``.
    :param redirect_uri: The redirect URI sent in the authorization URL, exactly.
    :param code_verifier: The PKCE verifier of this authorization.
    :return: ``{"api_key": Secret}``, the connection's credentials.
    :raises CredentialsError: No code, or the platform refused it (expired, used, for
        another redirect URI or verifier).
    :raises ConfigurationError: The platform refused the app's client id or secret.
    """
    code = params.get("code", "")
    if not _CODE.fullmatch(code):
        raise CredentialsError(f"Template sent you back without a usable authorization code; {_START_AGAIN}")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": str(app_credentials["client_id"]),
        "client_secret": app_credentials.secret("client_secret").reveal(),
    }
    if code_verifier is not None:
        form["code_verifier"] = code_verifier.reveal()
    try:
        response = await ctx.http.request(
            "POST", TOKEN_PATH, operation="complete_authorization", audience=None, data=form
        )
    except CredentialsError:
        # RFC 6749 §5.2: 401 invalid_client. The app is misconfigured, not the merchant's store.
        raise ConfigurationError(
            "Template refused the app's client id or client secret; check the Template app credentials "
            "configured for this channel against the app's page in the partner dashboard"
        ) from None
    except RejectedError as exc:
        said = f", {exc.code}" if exc.code else ""
        raise CredentialsError(
            f"Template did not accept the authorization code (HTTP {exc.status}{said}): it expired, was already "
            f"used or belongs to another sign-in; {_START_AGAIN}"
        ) from None
    body = mapping.decode(response, "token")
    return Credentials({"api_key": Secret(body.text("access_token"))})
