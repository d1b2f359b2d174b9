"""The fake Template platform with its OAuth install: the approve screen and the token endpoint.

:class:`TemplateOAuthSimulator` is the fake API of :mod:`storelink_template.simulator`
plus the platform's side of the install (see :mod:`storelink_template.oauth` for the
plugin's side). The channel's app is registered on it with :attr:`client_id` and
:attr:`client_secret`:

- ``GET /oauth/authorize?response_type=code&client_id&redirect_uri&scope&state``
  ``[&code_challenge&code_challenge_method=S256]`` shows the approve screen; its form
  posts back to the same path. *Approve* answers ``302`` to ``redirect_uri`` with
  ``code``, ``state``, ``store`` (the store's origin) and ``signature`` (HMAC-SHA256 of
  the others, sorted and form-encoded, keyed with the client secret). *Deny* answers
  ``302`` to ``redirect_uri`` with ``error=access_denied`` and ``state`` (RFC 6749
  §4.1.2.1). An unknown client or a malformed redirect URI gets an error page and no
  redirect.
- ``POST /oauth/token`` (form: ``grant_type=authorization_code``, ``code``,
  ``redirect_uri``, ``client_id``, ``client_secret``, ``code_verifier``) exchanges a code
  once, within :attr:`code_ttl` seconds, for an API key holding the scopes granted:
  ``{"access_token", "token_type", "scope"}``. A wrong client answers ``401
  invalid_client``; an unknown, expired or used code, another redirect URI or a
  verifier that does not match the challenge ``400 invalid_grant``. A code used twice
  also revokes the key it gave (RFC 6749 §4.1.2).

:meth:`TemplateOAuthSimulator.approve` plays the merchant without a browser: it
returns the callback URL an approval of an authorization URL sends the browser to.
The contract suite's OAuth rules use it with :meth:`~TemplateOAuthSimulator.app_credentials`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from attrs import define, field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from storelink_template.oauth import AUTHORIZE_PATH, TOKEN_PATH, sign
from storelink_template.simulator import SCOPES, TemplateSimulator

__all__ = ["TemplateOAuthSimulator", "create"]


@define
class _Grant:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    expires_at: float
    key: str | None = None


@define
class TemplateOAuthSimulator(TemplateSimulator):
    """The fake platform, whose stores a channel's app is installed on through OAuth.

    Takes every parameter of :class:`~storelink_template.simulator.TemplateSimulator`, and:

    :param code_ttl: Seconds an authorization code can be exchanged, on ``clock``.
    :param granted: The scopes an approval grants (``None``: every scope asked for),
        to play a merchant who grants less.
    """

    code_ttl: float = 600.0
    granted: frozenset[str] | None = None
    client_id: str = field(factory=lambda: f"app-{secrets.token_hex(8)}")
    client_secret: str = field(factory=lambda: secrets.token_hex(24), repr=False)
    _codes: dict[str, _Grant] = field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.stats.setdefault("installs", 0)
        self.site.router.routes.extend(
            [
                Route(AUTHORIZE_PATH, self._authorize, methods=["GET", "POST"]),
                Route(TOKEN_PATH, self._token, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------------ the app, and the merchant

    def app_credentials(self) -> dict[str, str]:
        """Return the app's ``client_id`` and ``client_secret``, as the operator configures them."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def approve(self, authorization_url: str) -> str:
        """Approve the app at *authorization_url*; return the callback URL the browser is sent to.

        :raises ValueError: The platform would refuse the URL (unknown app, bad redirect URI, scope...).
        """
        parts = urlsplit(authorization_url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        problem = self._problem(query)
        if problem:
            raise ValueError(problem)
        return self._approved(query, f"{parts.scheme}://{parts.netloc}")

    # ------------------------------------------------------------------ the endpoints

    async def _authorize(self, request: Request) -> Response:
        if request.method == "POST":
            query = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        else:
            query = dict(request.query_params)
        problem = self._problem(query)
        if problem:
            return HTMLResponse(_page("The app cannot be installed", problem), status_code=400)
        if request.method == "GET":
            return HTMLResponse(_approve_page(query))
        if query.get("decision") != "approve":
            denied = {"error": "access_denied", **({"state": query["state"]} if "state" in query else {})}
            return RedirectResponse(_with_query(query["redirect_uri"], denied), status_code=302)
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return RedirectResponse(self._approved(query, origin), status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "Only grant_type=authorization_code is supported.")
        client_ok = hmac.compare_digest(form.get("client_id", ""), self.client_id) and hmac.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        )
        if not client_ok:
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        grant = self._codes.get(form.get("code", ""))
        if grant is None or grant.expires_at <= self.clock():
            return _oauth_error(400, "invalid_grant", "The authorization code is unknown or has expired.")
        if grant.key is not None:
            self.revoke_credentials({"api_key": grant.key})
            return _oauth_error(400, "invalid_grant", "The authorization code was already used.")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "The redirect_uri is not the one of the authorization.")
        verifier = form.get("code_verifier", "")
        if grant.challenge is not None and not hmac.compare_digest(_s256(verifier), grant.challenge):
            return _oauth_error(400, "invalid_grant", "The code_verifier does not match the code_challenge.")
        grant.key = self.issue_credentials(tuple(sorted(grant.scopes)))["api_key"]
        self.stats["installs"] += 1
        return JSONResponse(
            {"access_token": grant.key, "token_type": "bearer", "scope": " ".join(sorted(grant.scopes))},
            headers={"Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ inside

    def _problem(self, query: Mapping[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "The client_id is not the id of an app this platform knows."
        redirect = urlsplit(query.get("redirect_uri", ""))
        if redirect.scheme not in ("http", "https") or not redirect.netloc or redirect.fragment:
            return "The redirect_uri is missing or is not an absolute URL."
        if query.get("response_type") != "code":
            return "The response_type must be code."
        scopes = query.get("scope", "").split()
        if not scopes or any(scope not in SCOPES for scope in scopes):
            return f"The scope must list scopes of {', '.join(SCOPES)}, separated by spaces."
        if "code_challenge" in query and query.get("code_challenge_method") != "S256":
            return "The code_challenge_method must be S256."
        return None

    def _approved(self, query: Mapping[str, str], origin: str) -> str:
        asked = frozenset(query["scope"].split())
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            client_id=self.client_id,
            redirect_uri=query["redirect_uri"],
            scopes=asked if self.granted is None else asked & self.granted,
            challenge=query.get("code_challenge"),
            expires_at=self.clock() + self.code_ttl,
        )
        params = {"code": code, "store": origin}
        if "state" in query:
            params["state"] = query["state"]
        params["signature"] = sign(params, self.client_secret)
        return _with_query(query["redirect_uri"], params)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _with_query(url: str, params: Mapping[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _oauth_error(status: int, code: str, description: str) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _page(title: str, text: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><p>{html.escape(text)}</p>"


def _approve_page(query: Mapping[str, str]) -> str:
    hidden = "".join(
        f'<input type=hidden name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in query.items()
        if k != "decision"
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in query.get("scope", "").split())
    return (
        "<!doctype html><meta charset=utf-8><title>Install app</title>"
        f"<h1>Install this app?</h1><p>It asks for:</p><ul>{scopes}</ul>"
        f'<form method=post action="{AUTHORIZE_PATH}">{hidden}'
        "<button name=decision value=approve>Approve</button> "
        "<button name=decision value=deny>Deny</button></form>"
    )


def create(
    *,
    products: int = 1000,
    seed: int = 0,
    token_ttl: float = 300.0,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    **options: Any,
) -> TemplateOAuthSimulator:
    """Build a simulator (the ``storelink.simulators`` entry point).

    :param options: ``page_limit``, ``clock``, ``code_ttl`` and ``granted``, as
        :class:`TemplateOAuthSimulator` takes them.
    """
    return TemplateOAuthSimulator(
        products=products, seed=seed, token_ttl=token_ttl, fail_rate=fail_rate, latency=latency, **options
    )
