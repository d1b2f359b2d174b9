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

The app keeps sessions in a :class:`SessionRegistry`: :class:`ConnectSessions` keeps
them in one process's memory (tests, and hosts that embed the app in one process);
:class:`~storelink.connect.stored.StoredSessions` keeps them in the connection store,
so every process and machine on that store serves the same flow (``storelink serve``
uses it).

**CSRF**: every form carries a token that is an HMAC of the browser cookie and the
form's scope (the session id, or ``start``): a signed double-submit cookie. A form
posted without it, with another browser's token, or for another session is refused.
The HMAC key is derived from the vault's key ring when the app runs over a hub with
one (every process with the same ``STORELINK_KEYS`` issues and accepts the same
tokens), else it is random per process.

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
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from attrs import define, field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.connect.channels import Channel
from storelink.connect.failures import Failure
from storelink.models import Connection, StoreURL

if TYPE_CHECKING:
    from storelink.vault import KeyRing

__all__ = [
    "BROWSER_COOKIE",
    "SECURE_BROWSER_COOKIE",
    "SESSION_LIMIT",
    "SESSION_TTL",
    "Attempt",
    "ConnectSession",
    "ConnectSessions",
    "CsrfError",
    "CsrfTokens",
    "SecurityHeadersMiddleware",
    "SessionError",
    "SessionRegistry",
    "Work",
    "browser_cookie_name",
    "content_security_policy",
    "digest",
    "new_browser_id",
]

#: Seconds a connect session lives after it was created.
SESSION_TTL = 600.0
BROWSER_COOKIE = "storelink-browser"
#: Most live sessions a channel may have at once, by default.
SESSION_LIMIT = 10_000
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


def digest(value: str) -> str:
    """Return the sha256 (hex) a ticket, browser cookie or state is kept as."""
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


#: What checking a session's credentials ended with: the id of the connection made
#: (by this process or another), or why none was.
Attempt = str | Failure
#: A check of a session's credentials: log in, probe, store the connection.
Work = Callable[[], Coroutine[Any, Any, Connection | Failure]]


class SessionRegistry(Protocol):
    """Where the connect app keeps its sessions: the operations the pages and the API use.

    :attr:`shared` says whether other processes see the same sessions (``storelink
    serve --workers`` needs it).
    """

    shared: bool

    async def create(
        self,
        *,
        channel: Channel,
        redirect_uri: str,
        state: str,
        platforms: Iterable[str],
        platform: str | None = None,
    ) -> tuple[ConnectSession, str]:
        """Start a session and return it with its one-time ticket.

        :param redirect_uri: Already checked against the channel's registered URIs.
        :param platform: The platform already chosen, if any.
        :raises SessionError: ``busy``: the channel has too many live sessions.
        """
        ...

    async def open(self, session_id: str, ticket: str | None, browser: str) -> ConnectSession:
        """Use the link's *ticket* once and bind the session to *browser*.

        :raises SessionError: The ticket is missing or wrong, already used, or the
            session expired or is spent.
        """
        ...

    async def get(self, session_id: str, browser: str | None) -> ConnectSession:
        """Return the session for a later step, checking it belongs to *browser*.

        :raises SessionError: Unknown, expired, spent, not opened yet, or bound to
            another browser.
        """
        ...

    async def save(self, session: ConnectSession) -> None:
        """Record the session's platform and store URL, as a step changed them.

        :raises SessionError: It expired or was spent meanwhile.
        """
        ...

    async def attempt(self, session: ConnectSession, work: Work) -> Attempt:
        """Run *work* (check the credentials, store the connection) once for the session.

        A second call while one runs (a double click) waits for the same outcome
        instead of starting another check. A connection made spends the session.

        :return: The connection's id, or the failure to show.
        :raises SessionError: The session expired or is gone.
        """
        ...


class ConnectSessions:
    """The live connect sessions of one process (in memory).

    For one process only (tests, a host embedding the app in one process): another
    process does not see them. :class:`~storelink.connect.stored.StoredSessions` keeps
    them in the connection store instead.

    :param ttl: Seconds a session lives.
    :param clock: Wall clock (``time.time``); tests pass a fake.
    :param limit: Most sessions alive at once; creating one more fails with ``busy``.
    """

    #: Other processes do not see these sessions.
    shared = False

    def __init__(
        self, *, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.time, limit: int = SESSION_LIMIT
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.limit = limit
        self._sessions: dict[str, ConnectSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    async def create(
        self,
        *,
        channel: Channel,
        redirect_uri: str,
        state: str,
        platforms: Iterable[str],
        platform: str | None = None,
    ) -> tuple[ConnectSession, str]:
        """Start a session and return it with its one-time ticket.

        :param redirect_uri: Already checked against the channel's registered URIs.
        :param platform: The platform already chosen, if any.
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
            ticket_hash=digest(ticket),
            platform=platform,
        )
        self._sessions[session.id] = session
        return session, ticket

    async def open(self, session_id: str, ticket: str | None, browser: str) -> ConnectSession:
        """Use the link's *ticket* once and bind the session to *browser*.

        :raises SessionError: The ticket is missing or wrong, already used, or the
            session expired or is spent.
        """
        if not ticket:
            raise SessionError("missing")
        session = self._live(session_id)
        if session.ticket_hash is None:
            raise SessionError("used")
        if not hmac.compare_digest(session.ticket_hash, digest(ticket)):
            raise SessionError("unknown")
        session.ticket_hash = None
        session.browser_hash = digest(browser)
        return session

    async def get(self, session_id: str, browser: str | None) -> ConnectSession:
        """Return the session for a later step, checking it belongs to *browser*.

        :raises SessionError: Unknown, expired, spent, not opened yet, or bound to
            another browser.
        """
        session = self._live(session_id)
        if session.browser_hash is None:
            raise SessionError("missing")
        if not browser or not hmac.compare_digest(session.browser_hash, digest(browser)):
            raise SessionError("other_browser")
        return session

    async def save(self, session: ConnectSession) -> None:
        """Nothing to do: the steps changed the session held here."""
        self._live(session.id)

    async def attempt(self, session: ConnectSession, work: Work) -> Attempt:
        """Run *work* once for the session; a second call while it runs shares its outcome."""
        if session.pending is None:
            task: asyncio.Task[Connection | Failure] = asyncio.create_task(work())
            session.pending = task
            task.add_done_callback(lambda done: self._settle(session, done))
        result = await asyncio.shield(session.pending)
        return result.id if isinstance(result, Connection) else result

    def complete(self, session: ConnectSession) -> None:
        """Spend *session*: it made its connection and cannot be used again."""
        session.completed = True

    def _settle(self, session: ConnectSession, task: asyncio.Task[Connection | Failure]) -> None:
        session.pending = None
        if not task.cancelled() and task.exception() is None and isinstance(task.result(), Connection):
            self.complete(session)

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


#: The HKDF purpose of the CSRF key derived from a key ring.
_CSRF_PURPOSE = b"storelink connect csrf v1"


class CsrfTokens:
    """Signed double-submit CSRF tokens bound to the browser cookie.

    :param key: The HMAC key; a random one per process by default (then
        :attr:`shared` is false: another process refuses this one's tokens).
    :param previous: Older keys whose tokens are still accepted (a rotated key ring's).
    """

    def __init__(self, key: bytes | None = None, *, previous: Sequence[bytes] = ()) -> None:
        #: Whether other processes given the same key accept these tokens.
        self.shared = key is not None
        self._key = key or os.urandom(32)
        self._previous = tuple(previous)

    @classmethod
    def from_keyring(cls, ring: KeyRing) -> CsrfTokens:
        """Return tokens keyed from *ring*: every process with the same ring issues and accepts the same ones.

        The active key signs; the ring's other keys are still accepted, so rotating
        the ring does not refuse a form opened just before.
        """
        active = ring.derive(ring.active_id, _CSRF_PURPOSE)
        return cls(active, previous=[ring.derive(kid, _CSRF_PURPOSE) for kid in ring.ids if kid != ring.active_id])

    def issue(self, browser: str, scope: str) -> str:
        """Return the token the forms of *scope* carry for *browser*."""
        return self._mac(self._key, browser, scope)

    def check(self, browser: str | None, scope: str, token: object) -> bool:
        """Whether *token* is the one :meth:`issue` gives *browser* for *scope* (under any of the keys)."""
        if not browser or not isinstance(token, str) or not token:
            return False
        found = False
        for key in (self._key, *self._previous):
            found |= hmac.compare_digest(self._mac(key, browser, scope).encode(), token.encode())
        return found

    @staticmethod
    def _mac(key: bytes, browser: str, scope: str) -> str:
        mac = hmac.new(key, f"csrf\0{scope}\0{browser}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


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
