"""The simulated shop's side of the OAuth install: the approve screen and the token endpoint.

``GET /admin/oauth/authorize?client_id&scope&redirect_uri&state`` shows a fake approve
screen for the simulator's one app (:attr:`OAuthApp.client_id`); its form posts back to
the same path. *Install* answers ``302`` to ``redirect_uri`` with ``code``, ``hmac``,
``host``, ``shop``, ``state`` and ``timestamp``, signed like Shopify signs them (HMAC-SHA256
of the other parameters, sorted, keyed with the app's client secret). *Cancel* leaves
the merchant on a "not installed" page and sends nothing back: Shopify documents no
redirect for a merchant who declines (inferred, see ``docs/shopify.md``).

``POST /admin/oauth/access_token`` with ``{"client_id", "client_secret", "code"}`` (JSON
or form) exchanges a code once for an offline token (``shpua_`` + 32 hex) that the
GraphQL endpoint accepts, answering ``{"access_token", "scope"}``; a wrong client
answers ``400 {"error": "invalid_client"}``, an unknown or used code ``400 {"error":
"invalid_request"}``.

:meth:`OAuthApp.approve` plays the merchant without a browser: it returns the callback
URL an approval of an authorization URL sends the browser to.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from attrs import frozen
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from storelink_shopify.oauth import AUTHORIZE_PATH, sign
from storelink_shopify.urls import ADMIN_HOST, SHOP_DOMAIN

__all__ = ["OAuthApp", "implied", "shop_of"]

_SCOPE_SHAPE = frozenset("abcdefghijklmnopqrstuvwxyz_")


def shop_of(origin: str) -> str:
    """Return the ``shop`` parameter for the shop served at *origin*.

    ``mystore.myshopify.com`` for a shop's own host; on loopback, where there is no
    myshopify.com name, the origin itself (``http://127.0.0.1:8123``).
    """
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if host.endswith(f".{SHOP_DOMAIN}"):
        return host
    return f"{parts.scheme}://{parts.netloc}"


def _host_parameter(shop: str) -> str:
    """Return Shopify's ``host``: base64 of the shop's admin address, without padding."""
    name = shop.removesuffix(f".{SHOP_DOMAIN}") if shop.endswith(f".{SHOP_DOMAIN}") else "simulator"
    return base64.b64encode(f"{ADMIN_HOST}/store/{name}".encode()).decode().rstrip("=")


def implied(scopes: Iterable[str]) -> frozenset[str]:
    """Return *scopes* with the ``read_`` scope each ``write_`` scope implies."""
    held = set(scopes)
    held |= {"read_" + s.removeprefix("write_") for s in held if s.startswith("write_")}
    return frozenset(held)


def _reported(scopes: Iterable[str]) -> str:
    """Return granted scopes as the token endpoint reports them: a read implied by a write is left out."""
    held = set(scopes)
    return ",".join(sorted(s for s in held if not (s.startswith("read_") and "write_" + s[5:] in held)))


@frozen(kw_only=True)
class _Grant:
    client_id: str
    scopes: frozenset[str]


class OAuthApp:
    """The channel's app as the simulated shop knows it, and the shop's OAuth screens.

    :param install: Installs the app with the given scopes and returns the new token.
    :param granted: The scopes an approval grants (``None``: every scope requested),
        to play a merchant or shop that grants less.
    :param clock: Wall clock, for the callback's ``timestamp``.
    """

    def __init__(
        self,
        *,
        install: Callable[[frozenset[str]], str],
        granted: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = secrets.token_hex(16)
        self.client_secret = f"shpss_{secrets.token_hex(16)}"
        self.granted = frozenset(granted) if granted is not None else None
        self._install = install
        self._clock = clock
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.exchanges = 0

    def app_credentials(self) -> dict[str, str]:
        """Return the app's ``client_id`` and ``client_secret``, as the operator configures them."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    # ------------------------------------------------------------------ the merchant, without a browser

    def approve(self, authorization_url: str) -> str:
        """Approve *authorization_url* and return the callback URL Shopify sends the browser to.

        :raises ValueError: The URL would be refused (unknown app, no redirect URI, bad scope).
        """
        parts = urlsplit(authorization_url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        problem = self._problem(query)
        if problem:
            raise ValueError(problem)
        return self._callback(query, f"{parts.scheme}://{parts.netloc}")

    # ------------------------------------------------------------------ the endpoints

    async def authorize(self, request: Request) -> Response:
        """``GET``: the approve screen; ``POST`` (its form): install, or cancel."""
        if request.method == "POST":
            query = {k: str(v) for k, v in (await request.form()).items()}
        else:
            query = dict(request.query_params)
        problem = self._problem(query)
        if problem:
            return HTMLResponse(_page("Oauth error invalid_request", problem), status_code=400)
        if request.method == "GET":
            return HTMLResponse(_approve_page(query))
        if query.get("decision") != "install":
            return HTMLResponse(_page("App not installed", "You did not install the app. You can close this page."))
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return RedirectResponse(self._callback(query, origin), status_code=302)

    async def access_token(self, request: Request) -> Response:
        """Exchange a code, once, for an offline access token."""
        raw = await request.body()
        body: object
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        else:
            body = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) | dict(request.query_params)
        if not isinstance(body, dict):
            return _oauth_error("invalid_request", "The request body is not a JSON object")
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return _oauth_error("invalid_client", "Client credentials are invalid")
        with self._lock:
            grant = self._codes.pop(str(body.get("code", "")), None)
        if grant is None or grant.client_id != self.client_id:
            return _oauth_error("invalid_request", "The authorization code was not found or was already used")
        token = self._install(implied(grant.scopes))
        with self._lock:
            self.exchanges += 1
        return JSONResponse({"access_token": token, "scope": _reported(grant.scopes)})

    # ------------------------------------------------------------------ inside

    def _problem(self, query: Mapping[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "The client_id is not the id of an app this shop knows."
        redirect = urlsplit(query.get("redirect_uri", ""))
        if redirect.scheme not in ("http", "https") or not redirect.netloc or redirect.fragment:
            return "The redirect_uri is missing or is not an absolute URL."
        scopes = [s for s in query.get("scope", "").split(",") if s]
        if not scopes or any(not set(s) <= _SCOPE_SHAPE or not s.startswith(("read_", "write_")) for s in scopes):
            return "The scope must list access scopes (read_products,write_orders...) separated by commas."
        return None

    def _callback(self, query: Mapping[str, str], origin: str) -> str:
        requested = frozenset(s for s in query["scope"].split(",") if s)
        scopes = requested if self.granted is None else requested & self.granted
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = _Grant(client_id=self.client_id, scopes=scopes)
        shop = shop_of(origin)
        params = {"code": code, "host": _host_parameter(shop), "shop": shop, "timestamp": str(int(self._clock()))}
        if "state" in query:
            params["state"] = query["state"]
        params["hmac"] = sign(params, self.client_secret)
        redirect = query["redirect_uri"]
        return f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}"


def _oauth_error(code: str, description: str) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=400)


def _page(title: str, text: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><p>{html.escape(text)}</p>"


def _approve_page(query: Mapping[str, str]) -> str:
    """Return the fake approve screen: the scopes asked for, and Install / Cancel."""
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in query["scope"].split(",") if s)
    kept = ("client_id", "scope", "redirect_uri", "state")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">' for name in kept if name in query
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Install app</title>"
        "<h1>Install app</h1><p>This app will be able to:</p>"
        f"<ul>{scopes}</ul>"
        f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
        '<button name="decision" value="install">Install</button> '
        '<button name="decision" value="cancel">Cancel</button></form>'
    )
