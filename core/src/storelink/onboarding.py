"""OAuth authorization-code onboarding: the part the core owns, for every platform.

A platform that declares ``PlatformInfo.oauth`` (an :class:`~storelink.OAuthFlow`)
onboards a merchant like this::

    store step ──▶ begin: state (+ PKCE) ──▶ platform's authorization URL
    callback ──▶ claim the state ──▶ check the callback ──▶ complete_authorization
             ──▶ the same validation and capability probe as typed credentials ──▶ stored

The core owns everything that must not differ between platforms:

- **state**: ``secrets.token_urlsafe(32)``, only its sha256 kept, single use, bound to
  the browser that started it (its cookie, compared with :func:`hmac.compare_digest`),
  and expiring after :data:`STATE_TTL` seconds;
- **PKCE** (RFC 7636, ``S256``) when the platform declares it: the verifier is sent
  only in the code exchange (a shared registry stores it sealed by the vault, bound
  to the state's hash);
- **the redirect URI**: one exact string per deployment, never taken from a request;
- **the callback checks**, in order: a known, live, unused state from the same
  browser; the merchant declined (``error=access_denied``) or the platform failed;
  the store the callback names is the one entered; the platform's own verification
  (``verify_callback``, for example an HMAC of the query with the app secret).

A platform may instead declare ``PlatformInfo.approval`` (an
:class:`~storelink.credentials.ApprovalFlow`), where the credentials do not come back
with the browser but are POSTed by the platform, server to server::

    store step ──▶ begin: state ──▶ platform's approval URL (state, return and delivery URLs)
    platform ──POST──▶ delivery URL ──▶ receive_credentials ──▶ deliver: sealed in the pending row
    browser ──▶ return URL ──▶ collect (same browser; waits until delivered) ──▶ validation ──▶ stored

The state is the only thing that ties the POST to the authorization, so it is
accepted once (:meth:`AuthorizationStates.deliver`), before it expires, and gives the
POST no other power: the credentials are validated against the store the merchant
entered, and only the browser that began the authorization can collect them.

Authorizations under way live in an :class:`AuthorizationRegistry`:
:class:`AuthorizationStates` keeps them in one process's memory (the CLI, tests;
:class:`LocalAuthorizations` puts it behind the registry's interface), and
:class:`~storelink.connect.stored.StoredAuthorizations` keeps them in the connection
store, so a callback may reach another process than the one that began it.

The plugin builds the authorization URL (``build_authorization_url``), verifies the
callback and exchanges the code (``complete_authorization``). Each refusal is a
:class:`CallbackError` whose :attr:`~CallbackError.reason` is a stable code and whose
message a merchant can act on.

App credentials (the channel's client id and secret on a platform) are configured by
the operator (:func:`parse_app_values`, :func:`app_credentials`); secret fields come from
the environment or a file, never from a configuration file's text, and are held as
:class:`~storelink.Secret`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self
from urllib.parse import parse_qsl, urlsplit

from attrs import Factory, define, field

from storelink.credentials import Credentials, OAuthFlow, Secret
from storelink.errors import ConfigurationError, CredentialsError, PluginError, StoreURLError
from storelink.models import PlatformInfo, StoreURL
from storelink.plugins import Platform

__all__ = [
    "CALLBACK_PATH",
    "DELIVERY_LIMIT",
    "STATE_LIMIT",
    "STATE_TTL",
    "AuthorizationRegistry",
    "AuthorizationStates",
    "CallbackError",
    "LocalAuthorizations",
    "LoopbackListener",
    "PendingAuthorization",
    "app_credentials",
    "check_callback",
    "code_challenge",
    "is_declined",
    "parse_app_values",
    "read_callback",
    "read_delivery",
]

#: Seconds a started authorization may take before its state expires.
STATE_TTL = 600.0

#: Most authorizations under way at once, by default.
STATE_LIMIT = 10_000

#: The path of the callback route, under the deployment's public URL.
CALLBACK_PATH = "/oauth/callback"

#: Most bytes an approval flow's credentials POST may have.
DELIVERY_LIMIT = 16 * 1024

Reason = Literal[
    "state_missing",
    "state_unknown",
    "state_expired",
    "state_used",
    "other_browser",
    "declined",
    "authorization_failed",
    "wrong_store",
    "callback_unverified",
    "invalid_callback",
    "invalid_delivery",
    "busy",
]

_START_AGAIN = "Start again from the app that sent you here."

_STATE_MESSAGES: dict[str, str] = {
    "state_missing": f"This page was opened without the sign-in it belongs to. {_START_AGAIN}",
    "state_unknown": f"This sign-in is not one we started. {_START_AGAIN}",
    "state_expired": f"This sign-in took too long (it must finish within 10 minutes). {_START_AGAIN}",
    "state_used": f"This sign-in has already been used. {_START_AGAIN}",
    "other_browser": "This sign-in was started in another browser. Finish it there, or start again here.",
    "busy": "Too many connections are being set up right now. Try again in a few minutes.",
}

_ERROR_CODE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_MAX_QUERY = 8 * 1024
_MAX_PARAMS = 50


class CallbackError(CredentialsError):
    """An OAuth callback was refused; :attr:`reason` says why, the message tells the merchant.

    :param reason: A stable code (``state_expired``, ``declined``, ``wrong_store``...),
        listed in ``docs/connect.md``.
    """

    action = "start the connection again"

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_challenge(verifier: Secret) -> str:
    """Return the PKCE ``S256`` challenge of *verifier*: base64url(sha256), unpadded."""
    digest = hashlib.sha256(verifier.reveal().encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@define(kw_only=True)
class PendingAuthorization:
    """A started authorization, kept server side until its callback arrives.

    :param platform: The platform slug.
    :param store_url: The store the merchant entered.
    :param redirect_uri: The exact redirect URI sent in the authorization URL.
    :param authorization_url: Where the merchant's browser is sent (it carries the state).
    :param code_verifier: The PKCE verifier, when the platform uses PKCE.
    :param expires_at: When the state stops being accepted.
    :param owner: What started it (a connect session id), or ``None``.
    :param authorization_origin: The origin of *authorization_url* (where the
        authorize form may lead). An authorization claimed from a shared registry
        has only this: its URL carries the state, which is stored only as a hash, so
        its ``authorization_url`` is empty.
    """

    platform: str
    store_url: StoreURL
    redirect_uri: str
    authorization_url: str = field(repr=False)
    authorization_origin: str = field(default=Factory(lambda self: _origin(self.authorization_url), takes_self=True))
    code_verifier: Secret | None = field(default=None, repr=False)
    expires_at: float
    owner: str | None = None
    browser_hash: str | None = field(default=None, repr=False)
    used: bool = False
    #: What an approval flow's platform POSTed, once it has (never shown in a repr).
    credentials: Credentials | None = field(default=None, repr=False)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _check_authorization_url(url: object, state: str, platform: Platform, parameter: str = "state") -> str:
    hook = "build_authorization_url"
    if not isinstance(url, str):
        raise PluginError(f"returned {type(url).__name__}, expected str", plugin=platform.slug, hook=hook)
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise PluginError("must return an absolute https URL", plugin=platform.slug, hook=hook)
    if not parts.hostname or "@" in parts.netloc or parts.fragment or any(ch in url for ch in "\r\n\t #"):
        raise PluginError(
            "must return a URL with a host and no userinfo, fragment or spaces", plugin=platform.slug, hook=hook
        )
    if (parameter, state) not in parse_qsl(parts.query, keep_blank_values=True):
        raise PluginError(
            f"must put the state it was given in the URL's query (as {parameter!r})", plugin=platform.slug, hook=hook
        )
    return url


def prepare_authorization(
    platform: Platform,
    store_url: StoreURL,
    *,
    client_id: str,
    redirect_uri: str,
    browser: str | None,
    owner: str | None,
    expires_at: float,
    callback_url: str | None = None,
) -> tuple[str, PendingAuthorization]:
    """Make a state (and a PKCE pair if declared) and the platform's authorization URL.

    Every registry begins an authorization this way, then keeps it by the state's hash.

    :param callback_url: For an approval flow, where the platform POSTs the
        credentials (required then); ``None`` for OAuth.
    :return: The state's sha256 and the authorization.
    :raises PluginError: The platform declares no OAuth or approval flow, or its URL
        is unusable.
    """
    state = secrets.token_urlsafe(32)
    verifier = None
    parameter = "state"
    if platform.info.oauth is None and platform.info.approval is not None:
        if callback_url is None:
            raise PluginError("an approval flow needs a callback_url", plugin=platform.slug, hook="platform_info")
        scopes, parameter = platform.info.approval.scopes, platform.info.approval.state_parameter
    else:
        flow = _flow(platform.info)
        scopes, callback_url = flow.scopes, None
        verifier = Secret(secrets.token_urlsafe(48)) if flow.pkce else None
    url = platform.build_authorization_url(
        store_url,
        client_id=client_id,
        scopes=scopes,
        state=state,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge(verifier) if verifier is not None else None,
        callback_url=callback_url,
    )
    pending = PendingAuthorization(
        platform=platform.slug,
        store_url=store_url,
        redirect_uri=redirect_uri,
        authorization_url=_check_authorization_url(url, state, platform, parameter),
        code_verifier=verifier,
        expires_at=expires_at,
        owner=owner,
        browser_hash=_digest(browser) if browser is not None else None,
    )
    return _digest(state), pending


def check_claim(
    state: str | None, pending: PendingAuthorization | None, browser: str | None, now: float
) -> PendingAuthorization:
    """Check that the authorization found for *state* may be claimed by *browser* at *now*.

    :raises CallbackError: ``state_missing``, ``state_unknown``, ``state_expired``,
        ``state_used`` or ``other_browser``.
    """
    if not state:
        raise _state_error("state_missing")
    if pending is None:
        raise _state_error("state_unknown")
    if now >= pending.expires_at:
        raise _state_error("state_expired")
    if pending.used:
        raise _state_error("state_used")
    if pending.browser_hash is not None and (
        not browser or not hmac.compare_digest(pending.browser_hash, _digest(browser))
    ):
        raise _state_error("other_browser")
    return pending


def check_delivery(platform: str, pending: PendingAuthorization | None, now: float) -> PendingAuthorization:
    """Check that an approval flow's POST for *platform* may deliver to *pending* at *now*.

    :raises CallbackError: ``state_unknown`` (also for another platform's state),
        ``state_expired`` or ``state_used`` (spent, or delivered already: a state
        takes one POST).
    """
    if pending is None or pending.platform != platform:
        raise _state_error("state_unknown")
    if now >= pending.expires_at:
        raise _state_error("state_expired")
    if pending.used or pending.credentials is not None:
        raise _state_error("state_used")
    return pending


def state_hash(state: str) -> str:
    """Return the sha256 an authorization's state is kept as."""
    return _digest(state)


def state_error(reason: Reason) -> CallbackError:
    """Return the refusal of a state (``state_used``...) or of a new authorization (``busy``), with its message."""
    return _state_error(reason)


class AuthorizationRegistry(Protocol):
    """Where the connect app keeps the authorizations under way.

    :attr:`shared` says whether other processes see the same ones.
    """

    shared: bool

    async def begin(
        self,
        platform: Platform,
        store_url: StoreURL,
        *,
        client_id: str,
        redirect_uri: str,
        browser: str | None,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> PendingAuthorization:
        """Start an authorization (as :meth:`AuthorizationStates.begin`) and keep it."""
        ...

    async def claim(self, state: str | None, browser: str | None) -> PendingAuthorization:
        """Spend *state* and return its authorization (as :meth:`AuthorizationStates.claim`)."""
        ...

    async def deliver(self, platform: str, state: str, credentials: Credentials) -> None:
        """Keep an approval flow's POSTed *credentials* for *state* (as :meth:`AuthorizationStates.deliver`)."""
        ...

    async def collect(self, state: str | None, browser: str | None) -> PendingAuthorization | None:
        """Spend *state* once its credentials arrived (as :meth:`AuthorizationStates.collect`)."""
        ...


class AuthorizationStates:
    """The started authorizations of one process (in memory), by the sha256 of their state.

    :param ttl: Seconds a state lives.
    :param clock: Wall clock (``time.time``); tests pass a fake.
    :param limit: Most live states at once; beginning one more fails with ``busy``.
    """

    def __init__(
        self, *, ttl: float = STATE_TTL, clock: Callable[[], float] = time.time, limit: int = STATE_LIMIT
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.limit = limit
        self._pending: dict[str, PendingAuthorization] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def begin(
        self,
        platform: Platform,
        store_url: StoreURL,
        *,
        client_id: str,
        redirect_uri: str,
        browser: str | None,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> PendingAuthorization:
        """Make a state (and a PKCE pair if declared) and the platform's authorization URL.

        A new authorization of the same *owner* replaces its earlier ones: only the
        newest link the merchant was sent to works.

        :param browser: The browser cookie the callback must come with; ``None`` when
            there is no browser to bind (the CLI's loopback listener).
        :param callback_url: For an approval flow, where the platform POSTs the credentials.
        :raises PluginError: The platform declares no OAuth or approval flow, or its URL
            is unusable.
        :raises CallbackError: ``busy``: too many authorizations are under way.
        """
        if platform.info.approval is None:
            _flow(platform.info)
        self._purge()
        if owner is not None:
            for key in [k for k, p in self._pending.items() if p.owner == owner]:
                del self._pending[key]
        if len(self._pending) >= self.limit:
            raise state_error("busy")
        key, pending = prepare_authorization(
            platform,
            store_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            browser=browser,
            owner=owner,
            expires_at=self.clock() + self.ttl,
            callback_url=callback_url,
        )
        self._pending[key] = pending
        return pending

    def claim(self, state: str | None, browser: str | None) -> PendingAuthorization:
        """Spend *state* and return its authorization.

        :raises CallbackError: ``state_missing``, ``state_unknown``, ``state_expired``,
            ``state_used`` or ``other_browser``.
        """
        found = self._pending.get(_digest(state)) if state else None
        pending = check_claim(state, found, browser, self.clock())
        pending.used = True
        return pending

    def deliver(self, platform: str, state: str, credentials: Credentials) -> None:
        """Keep the *credentials* an approval flow's platform POSTed for *state*.

        A state takes one delivery; nothing is spent until the browser collects it.

        :raises CallbackError: ``state_unknown``, ``state_expired`` or ``state_used``.
        """
        found = self._pending.get(_digest(state)) if state else None
        check_delivery(platform, found, self.clock()).credentials = credentials

    def collect(self, state: str | None, browser: str | None) -> PendingAuthorization | None:
        """Spend *state* and return its authorization once its credentials arrived.

        :return: ``None`` while the platform has not POSTed them yet (nothing spent).
        :raises CallbackError: As :meth:`claim`.
        """
        found = self._pending.get(_digest(state)) if state else None
        pending = check_claim(state, found, browser, self.clock())
        if pending.credentials is None:
            return None
        pending.used = True
        return pending

    def _purge(self) -> None:
        now = self.clock()
        for key in [k for k, p in self._pending.items() if now >= p.expires_at]:
            del self._pending[key]


class LocalAuthorizations:
    """An :class:`AuthorizationStates` of one process behind the :class:`AuthorizationRegistry` interface.

    :param states: The in-memory states; fresh ones by default.
    """

    #: Other processes do not see these authorizations.
    shared = False

    def __init__(self, states: AuthorizationStates | None = None) -> None:
        self.states = states if states is not None else AuthorizationStates()

    async def begin(
        self,
        platform: Platform,
        store_url: StoreURL,
        *,
        client_id: str,
        redirect_uri: str,
        browser: str | None,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> PendingAuthorization:
        """Start an authorization in memory (see :meth:`AuthorizationStates.begin`)."""
        return self.states.begin(
            platform,
            store_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            browser=browser,
            owner=owner,
            callback_url=callback_url,
        )

    async def claim(self, state: str | None, browser: str | None) -> PendingAuthorization:
        """Spend *state* (see :meth:`AuthorizationStates.claim`)."""
        return self.states.claim(state, browser)

    async def deliver(self, platform: str, state: str, credentials: Credentials) -> None:
        """Keep POSTed credentials (see :meth:`AuthorizationStates.deliver`)."""
        self.states.deliver(platform, state, credentials)

    async def collect(self, state: str | None, browser: str | None) -> PendingAuthorization | None:
        """Spend *state* once delivered (see :meth:`AuthorizationStates.collect`)."""
        return self.states.collect(state, browser)


def _state_error(reason: Reason) -> CallbackError:
    return CallbackError(reason, _STATE_MESSAGES[reason])


def _flow(info: PlatformInfo) -> OAuthFlow:
    if info.oauth is None:
        raise PluginError("declares no OAuth flow (PlatformInfo.oauth)", plugin=info.slug, hook="platform_info")
    return info.oauth


def read_callback(query: str) -> dict[str, str]:
    """Decode a callback's query string, refusing one that is too long or repeats a name.

    :raises CallbackError: ``invalid_callback``.
    """
    invalid = CallbackError(
        "invalid_callback", f"The platform sent you back with an address we cannot read. {_START_AGAIN}"
    )
    if len(query) > _MAX_QUERY:
        raise invalid
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=_MAX_PARAMS)
    except ValueError:
        raise invalid from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise invalid
        params[name] = value
    return params


def read_delivery(body: bytes, content_type: str | None) -> dict[str, object]:
    """Decode an approval flow's POST: a JSON object of at most :data:`DELIVERY_LIMIT` bytes.

    :raises CallbackError: ``invalid_delivery``, saying what was wrong (never what was sent).
    """

    def refused(problem: str) -> CallbackError:
        return CallbackError("invalid_delivery", f"The credentials could not be received: {problem}.")

    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise refused("send them as application/json")
    if len(body) > DELIVERY_LIMIT:
        raise refused(f"the body is over {DELIVERY_LIMIT} bytes")
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        raise refused("the body is not JSON") from None
    if not isinstance(decoded, dict):
        raise refused("the body is not a JSON object")
    return decoded


def is_declined(info: PlatformInfo, params: Mapping[str, str]) -> bool:
    """Whether the browser's return of *info*'s approval flow says the merchant declined."""
    flow = info.approval
    return flow is not None and any(params.get(name) == value for name, value in flow.declined)


def check_callback(
    platform: Platform,
    pending: PendingAuthorization,
    *,
    query: str,
    params: Mapping[str, str],
    app: Credentials,
    allow_loopback: bool,
    channel_name: str = "the app",
) -> None:
    """Check a callback whose state was claimed: declined, failed, wrong store, authentic.

    :param query: The raw query string, for ``verify_callback``.
    :param params: The same, decoded by :func:`read_callback`.
    :param app: The channel's app credentials.
    :param allow_loopback: As the hub's egress policy (for the store the callback names).
    :param channel_name: The channel, as the merchant knows it.
    :raises CallbackError: ``declined``, ``authorization_failed``, ``wrong_store``,
        ``callback_unverified`` or ``invalid_callback``.
    """
    info = platform.info
    flow = _flow(info)
    error = params.get("error")
    if error is not None:
        if error == "access_denied":
            raise CallbackError(
                "declined",
                f"You did not give {channel_name} access to your {info.title} store, so it is not connected. "
                f"To connect it, start again and approve the access {channel_name} asks for.",
            )
        said = f" ({error})" if error and set(error) <= _ERROR_CODE and len(error) <= 64 else ""
        raise CallbackError(
            "authorization_failed", f"{info.title} did not complete the sign-in{said}. Try again in a minute."
        )
    if flow.store_parameter is not None:
        named = params.get(flow.store_parameter)
        if not named:
            raise CallbackError(
                "invalid_callback", f"{info.title} sent you back without naming your store. {_START_AGAIN}"
            )
        try:
            other = platform.normalize_store_url(named, allow_loopback=allow_loopback)
        except StoreURLError:
            other = None
        if other is None or other.origin != pending.store_url.origin:
            where = f" for {other.origin}" if other is not None else " for another store"
            raise CallbackError(
                "wrong_store",
                f"You approved {channel_name}{where}, but you were connecting {pending.store_url.origin}. "
                f"Start again, and sign in to {pending.store_url.origin} when {info.title} asks.",
            )
    if not platform.verify_callback(query, params, app):
        raise CallbackError(
            "callback_unverified",
            f"We could not verify that this answer came from {info.title}. {_START_AGAIN}",
        )


# --------------------------------------------------------------------------- app credentials

AppValues = Mapping[str, "str | Secret"]


def parse_app_values(table: object, *, where: str) -> dict[str, dict[str, str | Secret]]:
    """Read app credentials by platform from a TOML table (``[apps.<platform>]``).

    A value is a string written in the file (non-secret fields only, such as the
    client id), ``{ env = "NAME" }`` (read from the environment now) or
    ``{ file = "PATH" }`` (read from a file now). Values read from the environment or
    a file are held as :class:`~storelink.Secret`.

    :param where: The table's place, for messages (``channels.toml: channel 1``).
    :raises ConfigurationError: A malformed table, an unset variable or an unreadable file.
    """
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: 'apps' must be a table of platforms ([apps.PLATFORM])")
    apps: dict[str, dict[str, str | Secret]] = {}
    for slug, values in table.items():
        if not isinstance(values, dict):
            raise ConfigurationError(f"{where}: apps.{slug} must be a table of NAME = value")
        parsed: dict[str, str | Secret] = {}
        for name, value in values.items():
            parsed[name] = _app_value(value, f"{where}: apps.{slug}.{name}")
        apps[slug] = parsed
    return apps


def _app_value(value: object, where: str) -> str | Secret:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
        text = os.environ.get(value["env"])
        if not text:
            raise ConfigurationError(f"{where}: the environment variable {value['env']} is not set")
        return Secret(text.strip())
    if isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str):
        path = Path(value["file"]).expanduser()
        try:
            return Secret(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    raise ConfigurationError(f'{where}: expected a string, {{ env = "NAME" }} or {{ file = "PATH" }}')


def app_credentials(info: PlatformInfo, values: AppValues | None, *, owner: str) -> Credentials:
    """Return the app credentials *owner* configured for *info*'s platform, checked.

    :param values: The configured values by field name, or ``None`` if there are none.
    :param owner: Whose configuration it is, for messages (``channel 'acme'``).
    :raises ConfigurationError: None configured, a field missing or malformed, or a
        secret field written in a file's text instead of taken from the environment.
    """
    flow = _flow(info)
    if not values:
        names = ", ".join(f.name for f in flow.app_credentials)
        raise ConfigurationError(f"{owner} has no app credentials for {info.slug} (configure {names})")
    for f in flow.app_credentials:
        if f.secret and isinstance(values.get(f.name), str):
            raise ConfigurationError(
                f'{owner}: the {info.slug} app\'s {f.name} is secret; give it as {{ env = "NAME" }} or '
                '{ file = "PATH" }, never as text in a file'
            )
    try:
        return flow.app_credentials.parse(values)
    except CredentialsError as exc:
        raise ConfigurationError(f"{owner}: the {info.slug} app credentials: {exc.message}") from None


# --------------------------------------------------------------------------- loopback callback

_DONE_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>storelink</title>"
    b"<p>Done. You can close this window and go back to the terminal.</p>"
)


class LoopbackListener:
    """Receive one OAuth callback on ``127.0.0.1``, for a command-line onboarding (RFC 8252 §7.3).

    Use as ``async with LoopbackListener() as listener``; send the platform
    :attr:`redirect_uri`, then ``await listener.wait()`` for the callback's raw
    query (bound it with :func:`asyncio.timeout`). Requests for other paths get a 404
    and are otherwise ignored.

    :param port: The TCP port; ``0`` picks a free one.
    :param path: The callback's path.
    """

    def __init__(self, port: int = 0, *, path: str = CALLBACK_PATH) -> None:
        self.port = port
        self.path = path
        self._server: asyncio.Server | None = None
        self._query: asyncio.Future[str] | None = None

    @property
    def redirect_uri(self) -> str:
        """The exact redirect URI this listener answers."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> Self:
        self._query = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait(self) -> str:
        """Return the raw query of the first request to :attr:`path`, once it arrives."""
        assert self._query is not None, "use the listener as an async context manager"  # noqa: S101
        return await asyncio.shield(self._query)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = rest.rpartition(" ")[0] or rest
        path, _, query = target.partition("?")
        found = method == "GET" and path == self.path
        if found and self._query is not None and not self._query.done():
            self._query.set_result(query)
        status, body = (b"200 OK", _DONE_PAGE) if found else (b"404 Not Found", b"not found")
        headers = (
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/html; charset=utf-8\r\n"
            b"referrer-policy: no-referrer\r\ncache-control: no-store\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(headers + body)
            await writer.drain()
        writer.close()
