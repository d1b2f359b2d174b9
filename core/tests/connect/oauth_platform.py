"""A platform that onboards with OAuth, and a fake of its authorization server and API.

Defined here, in the tests, so the core's OAuth machinery is exercised without any
real platform: the plugin builds an authorization URL on the store's origin, signs
nothing itself but checks the callback's HMAC (``hmac`` over the other parameters,
sorted, with the app secret), and exchanges the code at ``/oauth/token`` with the
PKCE verifier. The fake server plays the merchant's side too: :meth:`OAuthShop.approve`
answers an authorization URL with the redirect the platform would send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from storelink import (
    AccessReport,
    AccessToken,
    Capability,
    CapabilityCheck,
    CredentialField,
    Credentials,
    CredentialSchema,
    OAuthFlow,
    PlatformContext,
    PlatformInfo,
    Secret,
    StoreURL,
    StoreURLError,
    hookimpl,
)

ORIGIN = "https://acme.example.com"
OTHER_ORIGIN = "https://other.example.com"
CLIENT_ID = "client-id-for-tests"
CLIENT_SECRET = f"client-secret-CANARY-{secrets.token_hex(8)}"
SCOPES = ("read_things", "write_orders")


def sign(params: Mapping[str, str], secret: str) -> str:
    """Return the callback's HMAC: over the parameters but ``hmac``, sorted, as a query."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class OAuthPlatform:
    """The plugin: store address normaliser, authorization URL, callback check, code exchange."""

    def __init__(self, *, pkce: bool = True, slug: str = "oauthy", state_in_url: bool = True) -> None:
        self.pkce = pkce
        self.slug = slug
        self.state_in_url = state_in_url

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug=self.slug,
            title="OAuthy",
            credential_schema=CredentialSchema(
                fields=(CredentialField(name="access_token", label="Access token", secret=True),)
            ),
            capabilities=frozenset({Capability.PRODUCTS}),
            setup_guide=("Approve the app in your OAuthy admin.",),
            store_url_example="https://acme.example.com",
            oauth=OAuthFlow(scopes=SCOPES, pkce=self.pkce, store_parameter="store"),
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        text = raw.strip().lower().rstrip("/")
        if "://" not in text:
            text = f"https://{text}"
        parts = urlsplit(text)
        host = parts.hostname or ""
        if allow_loopback and host == "127.0.0.1":
            return StoreURL(origin=f"http://{parts.netloc}")
        if not host.endswith(".example.com"):
            raise StoreURLError(f"{raw.strip()!r} is not an OAuthy store: it ends in .example.com")
        return StoreURL(origin=f"https://{host}")

    @hookimpl
    def build_authorization_url(
        self,
        store_url: StoreURL,
        client_id: str,
        scopes: tuple[str, ...],
        state: str,
        redirect_uri: str,
        code_challenge: str | None,
    ) -> str:
        query = {"client_id": client_id, "scope": ",".join(scopes), "redirect_uri": redirect_uri}
        if self.state_in_url:
            query["state"] = state
        if code_challenge is not None:
            query |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{store_url.origin}/oauth/authorize?{urlencode(query)}"

    @hookimpl
    def verify_callback(self, query: str, params: Mapping[str, str], app_credentials: Credentials) -> bool:
        expected = sign(params, app_credentials.secret("client_secret").reveal())
        return hmac.compare_digest(expected, params.get("hmac", ""))

    @hookimpl
    async def complete_authorization(
        self,
        ctx: PlatformContext,
        params: Mapping[str, str],
        app_credentials: Credentials,
        redirect_uri: str,
        code_verifier: Secret | None,
    ) -> Credentials:
        data = {
            "client_id": str(app_credentials["client_id"]),
            "client_secret": app_credentials.secret("client_secret").reveal(),
            "code": params.get("code", ""),
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            data["code_verifier"] = code_verifier.reveal()
        response = await ctx.http.request(
            "POST", "/oauth/token", operation="complete_authorization", audience=None, data=data
        )
        return Credentials({"access_token": Secret(response.json()["access_token"])})

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        return AccessToken(value=ctx.credentials.secret("access_token"), expires_in=86_400, audience=audience)

    @hookimpl
    async def check_access(self, ctx: PlatformContext) -> AccessReport:
        await ctx.http.request("GET", "/api/me", operation="check_access", audience="default")
        return AccessReport(checks=(CapabilityCheck(capability=Capability.PRODUCTS, ok=True),))


class OAuthShop:
    """The platform's side: the approve screen, the token endpoint, the API."""

    def __init__(self, origin: str = ORIGIN, *, client_secret: str = CLIENT_SECRET) -> None:
        self.origin = origin
        self.client_secret = client_secret
        self.codes: dict[str, dict[str, str]] = {}
        self.tokens: set[str] = set()
        self.exchanges: list[dict[str, str]] = []

    def approve(self, authorization_url: str, *, store: str | None = None, tamper: bool = False) -> str:
        """Return the callback URL the platform sends the merchant to after approving."""
        query = dict(parse_qsl(urlsplit(authorization_url).query))
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        params = {"code": code, "state": query.get("state", ""), "store": store or urlsplit(self.origin).netloc}
        params["hmac"] = sign(params, self.client_secret)
        if tamper:
            params["code"] = code + "x"
            self.codes[code + "x"] = query
        return f"{query['redirect_uri']}?{urlencode(params)}"

    def decline(self, authorization_url: str) -> str:
        """Return the callback URL when the merchant declines."""
        query = dict(parse_qsl(urlsplit(authorization_url).query))
        params = {"error": "access_denied", "state": query.get("state", "")}
        return f"{query['redirect_uri']}?{urlencode(params)}"

    @property
    def asgi(self) -> Any:
        """:meth:`handle` as an ASGI app (for a store on loopback)."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await self._serve(scope, receive, send)

        return app

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        request = httpx.Request(
            scope["method"],
            f"{self.origin}{scope['path']}" + (f"?{query}" if query else ""),
            headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
            content=body,
        )
        response = self.handle(request)
        headers = [(k.encode(), v.encode()) for k, v in response.headers.items() if k != "content-length"]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/authorize" and request.method == "GET":
            return httpx.Response(200, html=_approve_page(str(request.url)))
        if request.url.path == "/oauth/answer" and request.method == "POST":
            form = dict(parse_qsl(request.content.decode()))
            asked = form.get("authorization_url", "")
            callback = self.decline(asked) if form.get("answer") == "decline" else self.approve(asked)
            return httpx.Response(302, headers={"location": callback})
        if request.url.path == "/oauth/token" and request.method == "POST":
            form = dict(parse_qsl(request.content.decode()))
            self.exchanges.append(form)
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or form.get("client_secret") != self.client_secret:
                return httpx.Response(401, json={"error": "invalid_grant"})
            if form.get("redirect_uri") != asked["redirect_uri"] or form.get("client_id") != asked["client_id"]:
                return httpx.Response(401, json={"error": "invalid_grant"})
            if "code_challenge" in asked:
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != asked["code_challenge"]:
                    return httpx.Response(401, json={"error": "invalid_grant"})
            token = f"token-CANARY-{secrets.token_hex(8)}"
            self.tokens.add(token)
            return httpx.Response(200, content=json.dumps({"access_token": token, "scope": asked["scope"]}))
        if request.url.path == "/api/me":
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self.tokens:
                return httpx.Response(401, json={"error": "unauthorized"})
            return httpx.Response(200, json={"store": self.origin})
        return httpx.Response(404)


def _approve_page(authorization_url: str) -> str:
    """The platform's approve screen: Approve or Decline the app's access."""
    value = authorization_url.replace("&", "&amp;").replace('"', "&quot;")
    return (
        "<!doctype html><title>OAuthy</title><h1>Install the app?</h1>"
        '<form method="post" action="/oauth/answer">'
        f'<input type="hidden" name="authorization_url" value="{value}">'
        '<button name="answer" value="approve">Approve</button>'
        '<button name="answer" value="decline">Decline</button></form>'
    )
