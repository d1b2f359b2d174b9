"""The connect app: a Starlette application serving the pages and the JSON API.

Routes::

    GET  POST /                               start page (development channel only)
    GET       /connected                      the development channel's redirect URI
    GET       /connect/{id}?ticket=...        open a connect session (once)
    GET  POST /connect/{id}/platform          choose the platform
    GET  POST /connect/{id}/store             enter the store URL
    GET  POST /connect/{id}/credentials       setup guide, credential form, submit
    POST      /api/connect-sessions           start a session (channel API token)
    POST      /api/connections                connect from the channel's own UI
    GET       /static/...                     CSS and the pending-state script
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from storelink import redaction
from storelink.connect import api, pages
from storelink.connect.backend import ConnectHub
from storelink.connect.channels import Channel
from storelink.connect.flow import DEFAULT_VALIDATE_TIMEOUT, Onboarding
from storelink.connect.forms import BodyError
from storelink.connect.security import (
    ConnectSessions,
    CsrfError,
    CsrfTokens,
    SecurityHeadersMiddleware,
    SessionError,
    content_security_policy,
)
from storelink.connect.service import ConnectService, NotReadyError
from storelink.errors import ConfigurationError, PluginError

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
    if isinstance(exc, BodyError):
        return _problem(request, str(exc), exc.status, "invalid_request")
    if isinstance(exc, CsrfError):
        return _problem(request, str(exc), 403, "csrf")
    if isinstance(exc, NotReadyError):
        return _problem(request, "The service is starting or stopping. Try again in a moment.", 503, "not_ready")
    log.error("a platform plugin failed", exc_info=exc)
    message = "This platform's plugin failed. The operator can find why in the server log."
    return _problem(request, message, 500, "plugin_error")


def create_app(
    *,
    hub: ConnectHub | None = None,
    hub_factory: Callable[[], Awaitable[OpenableHub]] | None = None,
    channels: Sequence[Channel] = (),
    public_url: str | None = None,
    sessions: ConnectSessions | None = None,
    csrf_key: bytes | None = None,
    validate_timeout: float = DEFAULT_VALIDATE_TIMEOUT,
) -> Starlette:
    """Return the connect app.

    Installs the log scrubber (:func:`storelink.redaction.install`): the app never logs
    what a merchant types into a secret field, and the scrubber is the second line.

    :param hub: An open hub the caller manages.
    :param hub_factory: Or: called at start-up for a hub, which the app enters with
        ``async with`` and closes at shutdown (``lambda: Hub.open(...)``).
    :param channels: The registered channels. With none, the app registers the local
        development channel (redirect URI ``{public_url}/connected``) and serves the
        start page at ``/``.
    :param public_url: Where the app is reachable (``https://connect.example.com``):
        the base of the links the API returns and of the development channel's URI.
        Required when *channels* is empty.
    :param sessions: The connect session store (tests pass one with a fake clock).
    :param csrf_key: The CSRF HMAC key; random per process by default.
    :param validate_timeout: Seconds a connection attempt may take.
    :raises ConfigurationError: Neither or both of *hub* and *hub_factory*; no
        *public_url* without channels; two channels with the same id.
    """
    if (hub is None) == (hub_factory is None):
        raise ConfigurationError("create_app needs exactly one of hub= and hub_factory=")
    redaction.install()
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
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if hub_factory is None:
            yield
            return
        async with await hub_factory() as opened:
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
        Route("/api/connect-sessions", api.create_connect_session, methods=["POST"]),
        Route("/api/connections", api.create_connection, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if development is not None:
        routes.insert(1, Route("/connected", pages.connected_page, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers=dict.fromkeys((SessionError, CsrfError, BodyError, NotReadyError, PluginError), _refused),
        lifespan=lifespan,
    )
    app.state.connect = service
    if hub is not None:
        service.onboarding = Onboarding(hub, validate_timeout=validate_timeout)
    return app
