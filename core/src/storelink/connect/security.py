"""Connect sessions, CSRF tokens and the security headers of the connect pages.

A **connect session** is what a channel starts (``POST /api/connect-sessions``). It
holds, server side, the channel, the registered redirect URI chosen, the channel's
opaque ``state`` and the merchant's progress. The link the channel sends the merchant
to carries a one-time **ticket** (``secrets.token_urlsafe(32)``; only its sha256 is
kept). The first browser that opens the link with the right ticket consumes it and the
session is bound to that browser's cookie; from then on every step must come from the
same browser. A session expires 10 minutes after it was created and is spent by the
first successful connection: a second use, an expired session, a wrong or missing
ticket and another browser are all refused. Tickets and cookie bindings are compared
with :func:`hmac.compare_digest`.

**CSRF**: every form carries a token that is an HMAC of the browser cookie and the
form's scope (the session id, or ``start``) under a per-process key: a signed
double-submit cookie. A form posted without it, with another browser's token, or for
another session is refused.

**Cookie**: ``__Host-storelink-browser`` (``Secure; HttpOnly; SameSite=Lax; Path=/``)
when the app is served over https. Browsers drop ``Secure`` cookies on plain
``http``, so on an http loopback development server the cookie is
``storelink-browser``, with the same flags but ``Secure``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from attrs import define, field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.connect.channels import Channel
from storelink.models import StoreURL

__all__ = [
    "BROWSER_COOKIE",
    "SECURE_BROWSER_COOKIE",
    "SESSION_TTL",
    "ConnectSession",
    "ConnectSessions",
    "CsrfError",
    "CsrfTokens",
    "SecurityHeadersMiddleware",
    "SessionError",
    "browser_cookie_name",
    "content_security_policy",
    "new_browser_id",
]

#: Seconds a connect session lives after it was created.
SESSION_TTL = 600.0
BROWSER_COOKIE = "storelink-browser"
SECURE_BROWSER_COOKIE = "__Host-storelink-browser"

Reason = Literal["missing", "unknown", "expired", "used", "other_browser", "busy"]

_MESSAGES: dict[Reason, str] = {
    "missing": "This page needs a connect link. Start again from the app that sent you here.",
    "unknown": "This connect link is not valid. Start again from the app that sent you here.",
    "expired": "This connect link has expired (links last 10 minutes). Start again from the app that sent you here.",
    "used": "This connect link has already been used. Start again from the app that sent you here.",
    "other_browser": (
        "This connect link was opened in another browser. Continue there, or start again from the app that "
        "sent you here."
    ),
    "busy": "Too many connections are being set up right now. Try again in a few minutes.",
}


class SessionError(Exception):
    """A connect session cannot be used; :attr:`reason` says why, ``str()`` tells the merchant.

    :param reason: ``missing``, ``unknown``, ``expired``, ``used``, ``other_browser`` or ``busy``.
    """

    def __init__(self, reason: Reason) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason: Reason = reason


class CsrfError(Exception):
    """A form came without the right CSRF token, or from another site."""

    def __init__(self) -> None:
        super().__init__(
            "This form was not sent from this page, or the page is too old. Go back, reload the page and try again."
        )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_browser_id() -> str:
    """Return a fresh random value for the browser cookie."""
    return secrets.token_urlsafe(32)


def browser_cookie_name(secure: bool) -> str:
    """Return the browser cookie's name: ``__Host-`` prefixed when served over https."""
    return SECURE_BROWSER_COOKIE if secure else BROWSER_COOKIE


@define(kw_only=True)
class ConnectSession:
    """One merchant's way through the connect flow, kept server side.

    :param id: Public id, in the page URLs (not enough on its own to use the session).
    :param channel: The channel that started it.
    :param redirect_uri: The registered URI the merchant returns to.
    :param state: The channel's opaque state, returned unchanged on success.
    :param platforms: The platform slugs offered, in display order.
    :param created_at: Wall-clock time of creation.
    :param expires_at: When it stops being usable.
    :param platform: The platform chosen, once chosen.
    :param store_url: The normalised store URL, once accepted.
    :param completed: The connection was made; the session is spent.
    :param pending: The check of the credentials while it runs (a second post of the
        form waits for it instead of starting another).
    """

    id: str
    channel: Channel
    redirect_uri: str
    state: str = field(repr=False)
    platforms: tuple[str, ...]
    created_at: float
    expires_at: float
    ticket_hash: str | None = field(default=None, repr=False)
    browser_hash: str | None = field(default=None, repr=False)
    platform: str | None = None
    store_url: StoreURL | None = None
    completed: bool = False
    pending: asyncio.Task[Any] | None = field(default=None, repr=False)


class ConnectSessions:
    """The live connect sessions of one process (in memory).

    :param ttl: Seconds a session lives.
    :param clock: Wall clock (``time.time``); tests pass a fake.
    :param limit: Most sessions alive at once; creating one more fails with ``busy``.
    """

    def __init__(
        self, *, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.time, limit: int = 10_000
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.limit = limit
        self._sessions: dict[str, ConnectSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(
        self,
        *,
        channel: Channel,
        redirect_uri: str,
        state: str,
        platforms: Iterable[str],
    ) -> tuple[ConnectSession, str]:
        """Start a session and return it with its one-time ticket.

        :param redirect_uri: Already checked against the channel's registered URIs.
        :raises SessionError: ``busy``: too many sessions are alive.
        """
        self._purge()
        if len(self._sessions) >= self.limit:
            raise SessionError("busy")
        now = self.clock()
        ticket = secrets.token_urlsafe(32)
        session = ConnectSession(
            id=secrets.token_urlsafe(16),
            channel=channel,
            redirect_uri=redirect_uri,
            state=state,
            platforms=tuple(platforms),
            created_at=now,
            expires_at=now + self.ttl,
            ticket_hash=_digest(ticket),
        )
        self._sessions[session.id] = session
        return session, ticket

    def open(self, session_id: str, ticket: str | None, browser: str) -> ConnectSession:
        """Use the link's *ticket* once and bind the session to *browser*.

        :raises SessionError: The ticket is missing or wrong, already used, or the
            session expired or is spent.
        """
        if not ticket:
            raise SessionError("missing")
        session = self._live(session_id)
        if session.ticket_hash is None:
            raise SessionError("used")
        if not hmac.compare_digest(session.ticket_hash, _digest(ticket)):
            raise SessionError("unknown")
        session.ticket_hash = None
        session.browser_hash = _digest(browser)
        return session

    def get(self, session_id: str, browser: str | None) -> ConnectSession:
        """Return the session for a later step, checking it belongs to *browser*.

        :raises SessionError: Unknown, expired, spent, not opened yet, or bound to
            another browser.
        """
        session = self._live(session_id)
        if session.browser_hash is None:
            raise SessionError("missing")
        if not browser or not hmac.compare_digest(session.browser_hash, _digest(browser)):
            raise SessionError("other_browser")
        return session

    def complete(self, session: ConnectSession) -> None:
        """Spend *session*: it made its connection and cannot be used again."""
        session.completed = True

    def _live(self, session_id: str) -> ConnectSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionError("unknown")
        if self.clock() >= session.expires_at:
            raise SessionError("expired")
        if session.completed:
            raise SessionError("used")
        return session

    def _purge(self) -> None:
        now = self.clock()
        for sid in [sid for sid, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[sid]


class CsrfTokens:
    """Signed double-submit CSRF tokens bound to the browser cookie.

    :param key: The HMAC key; a random one per process by default.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def issue(self, browser: str, scope: str) -> str:
        """Return the token the forms of *scope* carry for *browser*."""
        mac = hmac.new(self._key, f"csrf\0{scope}\0{browser}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def check(self, browser: str | None, scope: str, token: object) -> bool:
        """Whether *token* is the one :meth:`issue` gives *browser* for *scope*."""
        if not browser or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.issue(browser, scope).encode(), token.encode())


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    """Return the pages' Content-Security-Policy.

    Nothing is allowed but same-origin styles, scripts and images. *form_targets* are
    origins a form may end up on: browsers apply ``form-action`` to the redirect after
    a form is posted, so the credentials form lists the channel's redirect origin.
    """
    form_action = " ".join(["'self'", *dict.fromkeys(form_targets)])
    return (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeadersMiddleware:
    """Add the security headers to every response that does not set them itself.

    ``Referrer-Policy: no-referrer`` (no page URL leaks to another site), the strict
    CSP, ``X-Frame-Options: DENY`` (with ``frame-ancestors 'none'``),
    ``X-Content-Type-Options: nosniff``, ``Cross-Origin-Opener-Policy: same-origin``,
    ``Cache-Control: no-store`` outside ``/static``, and HSTS when served over https.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = [
            (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", content_security_policy().encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if not str(scope.get("path", "")).startswith("/static/"):
            defaults.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            defaults.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in defaults if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
