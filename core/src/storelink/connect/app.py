"""The connect app: a Starlette application serving the pages and the JSON API.

Routes::

    GET  POST /                               start page (development channel only)
    GET       /connected                      the development channel's redirect URI
    GET       /connect/{id}?ticket=...        open a connect session (once)
    GET  POST /connect/{id}/platform          choose the platform
    GET  POST /connect/{id}/store             enter the store URL
    GET  POST /connect/{id}/credentials       setup guide, credential form, submit
    GET  POST /connect/{id}/authorize         OAuth platforms: approve, go to the platform
    GET       /oauth/callback                 OAuth platforms: the platform sends the merchant back
         POST /connect/{id}/approve           approval flows: go to the store to approve
         POST /oauth/deliver/{platform}       approval flows: the platform POSTs the credentials
    GET       /oauth/return/{platform}        approval flows: the platform sends the merchant back
    POST      /api/connect-sessions           start a session (channel API token)
    POST      /api/connections                connect from the channel's own UI
    GET       /static/...                     CSS and the pending-state script
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from storelink.connect import api, approval, pages
from storelink.connect.backend import ConnectHub
from storelink.connect.channels import Channel
from storelink.connect.failures import callback_failure
from storelink.connect.flow import DEFAULT_VALIDATE_TIMEOUT, Onboarding
from storelink.connect.forms import BodyError
from storelink.connect.security import (
    ConnectSessions,
    CsrfError,
    CsrfTokens,
    SecurityHeadersMiddleware,
    SessionError,
    SessionRegistry,
    content_security_policy,
)
from storelink.connect.service import DELIVERY_PATH, RETURN_PATH, ConnectService, NotReadyError
from storelink.connect.stored import StoredAuthorizations, StoredSessions
from storelink.credentials import Secret
from storelink.errors import ConfigurationError, PluginError
from storelink.onboarding import (
    CALLBACK_PATH,
    AuthorizationRegistry,
    AuthorizationStates,
    CallbackError,
    LocalAuthorizations,
)
from storelink.store import ConnectionStore
from storelink.vault import Vault

__all__ = ["OpenableHub", "create_app"]

STATIC = Path(__file__).with_name("static")
log = logging.getLogger("storelink.connect")

_SESSION_STATUS = {"missing": 400, "unknown": 404, "expired": 410, "used": 410, "other_browser": 403, "busy": 503}


class OpenableHub(ConnectHub, AbstractAsyncContextManager[Any], Protocol):
    """A hub the app opens at start-up and closes at shutdown (``async with``)."""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(str(request.scope.get("root_path", "")) + "/api/")


def _problem(request: Request, message: str, status: int, code: str) -> Response:
    if _is_api(request):
        return api.error_response(code, message, status=status)
    service: ConnectService = request.app.state.connect
    return service.templates.TemplateResponse(
        request,
        "problem.html",
        {"channel": None, "message": message, "status": status},
        status_code=status,
        headers={"content-security-policy": content_security_policy()},
    )


async def _refused(request: Request, exc: Exception) -> Response:
    """Answer the errors a step may raise, as a page or, under ``/api/``, as JSON."""
    if isinstance(exc, SessionError):
        return _problem(request, str(exc), _SESSION_STATUS[exc.reason], f"session_{exc.reason}")
    if isinstance(exc, CallbackError):
        failure = callback_failure(exc)
        return _problem(request, failure.message, failure.status, failure.code)
    if isinstance(exc, BodyError):
        return _problem(request, str(exc), exc.status, "invalid_request")
    if isinstance(exc, CsrfError):
        return _problem(request, str(exc), 403, "csrf")
    if isinstance(exc, NotReadyError):
        return _problem(request, "The service is starting or stopping. Try again in a moment.", 503, "not_ready")
    log.error("a platform plugin failed", exc_info=exc)
    message = "This platform's plugin failed. The operator can find why in the server log."
    return _problem(request, message, 500, "plugin_error")


def _store_and_vault(hub: object) -> tuple[ConnectionStore, Vault] | None:
    """Return the hub's connection store and vault, if it has them (a :class:`~storelink.hub.Hub` does)."""
    store = getattr(hub, "store", None)
    vault = getattr(hub, "vault", None)
    if store is None or not isinstance(vault, Vault):
        return None
    return store, vault


def create_app(
    *,
    hub: ConnectHub | None = None,
    hub_factory: Callable[[], Awaitable[OpenableHub]] | None = None,
    channels: Sequence[Channel] = (),
    public_url: str | None = None,
    sessions: SessionRegistry | None = None,
    csrf_key: bytes | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
    apps: Mapping[str, Mapping[str, str | Secret]] | None = None,
    authorizations: AuthorizationRegistry | AuthorizationStates | None = None,
    require_shared: bool = False,
) -> Starlette:
    """Return the connect app.

    The app never logs what a merchant types into a secret field. It leaves the
    process's logging alone: a host that wants the log scrubber as a second line calls
    :func:`storelink.redaction.install` (``storelink serve`` does).

    Over a hub with a connection store and a vault (a :class:`~storelink.hub.Hub`), the
    app keeps its connect sessions and OAuth states in that store
    (:class:`~storelink.connect.stored.StoredSessions`,
    :class:`~storelink.connect.stored.StoredAuthorizations`) and derives its CSRF key
    from the key ring, so every process on the same store and keys serves the same
    flows. Over a hub without them it keeps them in this process's memory.

    :param hub: An open hub the caller manages.
    :param hub_factory: Or: called at start-up for a hub, which the app enters with
        ``async with`` and closes at shutdown (``lambda: Hub.open(...)``).
    :param channels: The registered channels. With none, the app registers the local
        development channel (redirect URI ``{public_url}/connected``) and serves the
        start page at ``/``.
    :param public_url: Where the app is reachable (``https://connect.example.com``):
        the base of the links the API returns and of the development channel's URI.
        Required when *channels* is empty.
    :param sessions: Where connect sessions live (tests pass
        :class:`~storelink.connect.ConnectSessions` with a fake clock). Default: the
        hub's store, else this process's memory.
    :param csrf_key: The CSRF HMAC key. Default: derived from the hub's key ring, else
        random per process.
    :param validate_timeout: Seconds a connection attempt may take.
    :param apps: The deployment's app credentials on OAuth platforms, by slug, for
        channels that configure none (the development channel included); secret fields
        as :class:`~storelink.Secret` (:func:`storelink.onboarding.parse_app_values`).
    :param authorizations: Where OAuth states live (tests pass an
        :class:`~storelink.onboarding.AuthorizationStates` with a fake clock). Default:
        the hub's store, else this process's memory.
    :param require_shared: Refuse to start unless sessions, states and the CSRF key are
        shared with other processes (``storelink serve --workers`` sets it).
    :raises ConfigurationError: Neither or both of *hub* and *hub_factory*; no
        *public_url* without channels; two channels with the same id; with
        *require_shared*, a hub without a store to share them through (raised at
        start-up with *hub_factory*).
    """
    if (hub is None) == (hub_factory is None):
        raise ConfigurationError("create_app needs exactly one of hub= and hub_factory=")
    ids = [c.id for c in channels]
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"duplicate channel ids in {ids}")
    development = None
    if not channels:
        if public_url is None:
            raise ConfigurationError("without channels, create_app needs public_url= for the development channel")
        development = Channel.development(public_url)
    service = ConnectService(
        channels=channels,
        development=development,
        sessions=sessions if sessions is not None else ConnectSessions(),
        csrf=CsrfTokens(csrf_key),
        public_url=public_url,
        authorizations=LocalAuthorizations(authorizations)
        if isinstance(authorizations, AuthorizationStates)
        else authorizations,
        apps=apps,
    )

    def attach(opened: ConnectHub) -> None:
        """Keep what the caller did not give in the hub's store and key ring, if it has them."""
        parts = _store_and_vault(opened)
        if parts is not None:
            store, vault = parts
            if sessions is None:
                service.sessions = StoredSessions(store, channels=service.every_channel())
            if authorizations is None:
                service.authorizations = StoredAuthorizations(store, vault)
            if csrf_key is None:
                service.csrf = CsrfTokens.from_keyring(vault.keyring)
        if require_shared and not service.shared:
            raise ConfigurationError(
                "this connect app keeps its sessions in one process's memory, so several processes cannot serve it: "
                "run it over a hub with a connection store (storelink.hub.Hub), or with one worker"
            )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if hub_factory is None:
            yield
            return
        async with await hub_factory() as opened:
            attach(opened)
            service.onboarding = Onboarding(opened, validate_timeout=validate_timeout)
            try:
                yield
            finally:
                service.onboarding = None

    page_methods = ["GET", "POST"]
    routes = [
        Route("/", pages.start_page, methods=page_methods),
        Route("/connect/{session_id}", pages.open_session, methods=["GET"]),
        Route("/connect/{session_id}/platform", pages.platform_page, methods=page_methods),
        Route("/connect/{session_id}/store", pages.store_page, methods=page_methods),
        Route("/connect/{session_id}/credentials", pages.credentials_page, methods=page_methods),
        Route("/connect/{session_id}/authorize", pages.authorize_page, methods=page_methods),
        Route(CALLBACK_PATH, pages.oauth_callback, methods=["GET"]),
        Route("/connect/{session_id}/approve", approval.approve_page, methods=page_methods),
        Route(DELIVERY_PATH + "/{platform}", approval.approval_delivery, methods=["POST"]),
        Route(RETURN_PATH + "/{platform}", approval.approval_return, methods=["GET"]),
        Route("/api/connect-sessions", api.create_connect_session, methods=["POST"]),
        Route("/api/connections", api.create_connection, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if development is not None:
        routes.insert(1, Route("/connected", pages.connected_page, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers=dict.fromkeys(
            (SessionError, CallbackError, CsrfError, BodyError, NotReadyError, PluginError), _refused
        ),
        lifespan=lifespan,
    )
    app.state.connect = service
    if hub is not None:
        attach(hub)
        service.onboarding = Onboarding(hub, validate_timeout=validate_timeout)
    return app
