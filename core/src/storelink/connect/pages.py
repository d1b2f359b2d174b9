"""The server-rendered pages of the connect flow.

Every step is a GET that renders a form and a POST that checks it and redirects
(303) to the next step, so the flow works without JavaScript and a reload never
re-submits. The steps of a session live under ``/connect/{id}``:

``platform`` (skipped when only one is offered) → ``store`` → ``credentials`` → the
channel's registered redirect URI. Every POST carries the CSRF token of the session
and the browser cookie the session is bound to.

A platform that declares an approval flow keeps the ``credentials`` step and offers
"approve in your store" on it too (:mod:`storelink.connect.approval`).

For a platform that declares an OAuth flow the ``credentials`` step is ``authorize``:
it shows what the channel asks for, and its POST redirects (303) to the platform's
authorization URL with a state of :mod:`storelink.onboarding`. The platform sends the
merchant back to ``/oauth/callback``; once the callback is checked and the plugin
exchanged the code, the credentials are validated and stored like typed ones and the
browser goes to the channel, or the authorize step comes back with the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from storelink.connect.channels import redirect_location
from storelink.connect.failures import STORE_URL_FIELD, Failure, describe_failure, not_configured, refused_message
from storelink.connect.forms import FieldView, read_form, schema_fields, values_with_prefix
from storelink.connect.security import (
    ConnectSession,
    CsrfError,
    browser_cookie_name,
    content_security_policy,
    new_browser_id,
)
from storelink.connect.service import ConnectService
from storelink.errors import ConfigurationError, StoreURLError
from storelink.onboarding import CallbackError, PendingAuthorization, read_callback
from storelink.plugins import Platform
from storelink.redaction import safe_to_echo

__all__ = [
    "authorize_page",
    "connected_page",
    "credential_targets",
    "credentials_page",
    "oauth_callback",
    "open_session",
    "platform_page",
    "start_page",
    "store_page",
]

_START_SCOPE = "start"
_STEPS = ("platform", "store", "credentials")
_STEP_TITLES = {"platform": "Platform", "store": "Store address", "credentials": "Key"}
_OAUTH_TITLES = {**_STEP_TITLES, "credentials": "Approve"}

log = logging.getLogger("storelink.connect")


def _service(request: Request) -> ConnectService:
    service: ConnectService = request.app.state.connect
    return service


def _browser(request: Request) -> str | None:
    return request.cookies.get(browser_cookie_name(request.url.scheme == "https"))


def _path(request: Request, path: str) -> str:
    return str(request.scope.get("root_path", "")) + path


def _see_other(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(_path(request, path), status_code=303)


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
) -> Response:
    """Render *template* for the request's browser, giving it a cookie if it has none."""
    service = _service(request)
    browser = _browser(request)
    fresh = browser is None
    if browser is None:
        browser = new_browser_id()
    scope = context.get("session_id") or _START_SCOPE
    response = service.templates.TemplateResponse(
        request,
        template,
        {**context, "csrf_token": service.csrf.issue(browser, str(scope))},
        status_code=status,
        headers={"content-security-policy": content_security_policy(form_targets)},
    )
    if fresh:
        _set_browser_cookie(request, response, browser)
    return response


def _set_browser_cookie(request: Request, response: Response, browser: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(browser_cookie_name(secure), browser, path="/", secure=secure, httponly=True, samesite="lax")


async def _posted(request: Request, scope: str) -> tuple[dict[str, str], str]:
    """Read a posted form, check its CSRF token for *scope*; return it and the browser id.

    Browsers send ``Sec-Fetch-Site``; a form posted from another site is refused even
    before the token is looked at.

    :raises CsrfError: The token is missing, wrong, or the post came from another site.
    """
    form = await read_form(request)
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfError
    browser = _browser(request)
    if browser is None or not _service(request).csrf.check(browser, scope, form.get("csrf_token")):
        raise CsrfError
    return form, browser


def _steps(session: ConnectSession, current: str, *, oauth: bool = False, prefix: str = "") -> list[dict[str, object]]:
    shown = _STEPS if len(session.platforms) > 1 else _STEPS[1:]
    reached = {"platform": True, "store": session.platform is not None, "credentials": session.store_url is not None}
    titles = _OAUTH_TITLES if oauth else _STEP_TITLES
    return [
        {
            "title": titles[step],
            "current": step == current,
            "done": _STEPS.index(step) < _STEPS.index(current),
            "href": prefix + step if reached[step] and step != current else None,
        }
        for step in shown
    ]


def _next_step(session: ConnectSession) -> str:
    if session.platform is None:
        return f"/connect/{session.id}/platform"
    if session.store_url is None:
        return f"/connect/{session.id}/store"
    return f"/connect/{session.id}/credentials"


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


# --------------------------------------------------------------------------- start page


async def start_page(request: Request) -> Response:
    """``GET /``: list the platforms; ``POST /``: start a development session for one.

    Served only with the local development channel; with configured channels the
    page says to start from the channel.
    """
    service = _service(request)
    channel = service.development
    onboarding = service.require_onboarding()
    if channel is None:
        return _render(request, "start.html", {"channel": None, "offers": []})
    if request.method == "POST":
        form, browser = await _posted(request, _START_SCOPE)
        slug = form.get("platform", "")
        offered = onboarding.offered(channel)
        if slug not in offered:
            context = {"channel": channel, "offers": onboarding.offers(offered), "error": "Choose a platform."}
            return _render(request, "start.html", context, status=422)
        session, ticket = await service.sessions.create(
            channel=channel,
            redirect_uri=channel.redirect_uris[0],
            state=service.new_dev_state(),
            platforms=(slug,),
            platform=slug,
        )
        session = await service.sessions.open(session.id, ticket, browser)
        return _see_other(request, _next_step(session))
    return _render(
        request, "start.html", {"channel": channel, "offers": onboarding.offers(onboarding.offered(channel))}
    )


async def connected_page(request: Request) -> Response:
    """``GET /connected``: the development channel's redirect URI; shows what it received."""
    query = request.query_params
    context = {
        "channel": None,
        "connection_id": query.get("connection_id"),
        "state": query.get("state"),
    }
    return _render(request, "connected.html", context)


# --------------------------------------------------------------------------- session steps


async def open_session(request: Request) -> Response:
    """``GET /connect/{id}?ticket=...``: spend the link's ticket, bind the browser, go on.

    Without a ticket, a browser already bound to the session is sent to its step. A
    ``HEAD`` (a link preview) spends nothing.
    """
    if request.method == "HEAD":
        return Response(status_code=204)
    service = _service(request)
    session_id = request.path_params["session_id"]
    ticket = request.query_params.get("ticket")
    if not ticket:
        session = await service.sessions.get(session_id, _browser(request))
        return _see_other(request, _next_step(session))
    browser = _browser(request)
    fresh = browser is None
    if browser is None:
        browser = new_browser_id()
    session = await service.sessions.open(session_id, ticket, browser)
    response = _see_other(request, _next_step(session))
    if fresh:
        _set_browser_cookie(request, response, browser)
    return response


async def _session(request: Request) -> ConnectSession:
    return await _service(request).sessions.get(request.path_params["session_id"], _browser(request))


def _base(session: ConnectSession, step: str) -> dict[str, Any]:
    return {"channel": session.channel, "session_id": session.id, "steps": _steps(session, step)}


async def platform_page(request: Request) -> Response:
    """``/connect/{id}/platform``: choose the platform."""
    session = await _session(request)
    onboarding = _service(request).require_onboarding()
    error = None
    if request.method == "POST":
        form, _ = await _posted(request, session.id)
        slug = form.get("platform", "")
        if slug in session.platforms:
            if slug != session.platform:
                session.platform, session.store_url = slug, None
                await _service(request).sessions.save(session)
            return _see_other(request, _next_step(session))
        error = "Choose your store's platform."
    context = {
        **_base(session, "platform"),
        "offers": onboarding.offers(list(session.platforms)),
        "chosen": session.platform,
        "error": error,
    }
    return _render(request, "platform.html", context, status=422 if error else 200)


def _platform(request: Request, slug: str) -> Platform:
    return _service(request).require_onboarding().platform(slug)


async def store_page(request: Request) -> Response:
    """``/connect/{id}/store``: enter the store URL; it is normalised and shown back."""
    session = await _session(request)
    if session.platform is None:
        return _see_other(request, _next_step(session))
    platform = _platform(request, session.platform)
    typed = str(session.store_url or "")
    error = None
    if request.method == "POST":
        form, _ = await _posted(request, session.id)
        typed = form.get(STORE_URL_FIELD, "")
        try:
            session.store_url = _service(request).require_onboarding().normalize(platform, typed)
        except StoreURLError as exc:
            # Shown back to fix, without what the merchant may have pasted with it
            # (user:password@, ?key=..., #token=...), in the field and in the message.
            error = refused_message(exc, typed)
            typed = safe_to_echo(typed)
        else:
            await _service(request).sessions.save(session)
            return _see_other(request, _next_step(session))
    context = {
        **_base(session, "store"),
        "steps": _steps(session, "store", oauth=platform.info.oauth is not None),
        "platform": platform.info,
        "store_url": typed,
        "error": error,
        "can_change_platform": len(session.platforms) > 1,
    }
    return _render(request, "store.html", context, status=422 if error else 200)


def _credential_context(
    session: ConnectSession,
    platform: Platform,
    failure: Failure | None = None,
    credentials: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    info = platform.info
    fields: list[FieldView] = schema_fields(
        info.credential_schema, prefix="credential", values=credentials, failure=failure, focus=True
    )
    setting_fields = schema_fields(info.settings_schema, prefix="setting", values=settings, failure=failure)
    return {
        **_base(session, "credentials"),
        "platform": info,
        "store_url": str(session.store_url),
        "fields": fields,
        "settings": setting_fields,
        "failure": failure,
        "failure_at_field": any(f.error for f in (*fields, *setting_fields)),
        "approve_action": "approve" if info.approval is not None else None,
        "store_url_error": failure is not None and failure.field == STORE_URL_FIELD,
    }


def credential_targets(session: ConnectSession, platform: Platform) -> tuple[str, ...]:
    """Where the credentials step's forms may lead: the channel, and the store for an approval flow."""
    targets = [_origin(session.redirect_uri)]
    if session.store_url is not None and platform.info.approval is not None:
        targets.append(session.store_url.origin)
    return tuple(targets)


async def credentials_page(request: Request) -> Response:
    """``/connect/{id}/credentials``: the setup guide and the credential form.

    A POST checks the credentials at once. On success the session is spent and the
    browser goes to the channel's registered URI with the connection id and the
    channel's state; on failure the form comes back with the message, the store URL
    kept and every secret field empty. Two posts of the same form while the check
    runs (a double click) share one check and one result, even when they reach two
    processes (:meth:`~storelink.connect.security.SessionRegistry.attempt`).
    """
    session = await _session(request)
    if session.platform is None or session.store_url is None:
        return _see_other(request, _next_step(session))
    platform = _platform(request, session.platform)
    if platform.info.oauth is not None:
        return _see_other(request, f"/connect/{session.id}/authorize")
    targets = credential_targets(session, platform)
    if request.method == "GET":
        context = _credential_context(session, platform)
        return _render(request, "credentials.html", context, form_targets=targets)
    form, _ = await _posted(request, session.id)
    credentials = values_with_prefix(form, "credential")
    settings = values_with_prefix(form, "setting")
    onboarding = _service(request).require_onboarding()
    store_url = session.store_url
    result = await _service(request).sessions.attempt(
        session, lambda: onboarding.connect(platform, store_url, credentials, settings)
    )
    if isinstance(result, str):
        location = redirect_location(session.redirect_uri, connection_id=result, state=session.state)
        return RedirectResponse(location, status_code=303)
    context = _credential_context(session, platform, result, credentials, settings)
    return _render(request, "credentials.html", context, status=422, form_targets=targets)


# --------------------------------------------------------------------------- OAuth


async def _begin(request: Request, session: ConnectSession, platform: Platform) -> PendingAuthorization | Failure:
    """Start an authorization for the session's store, bound to this browser."""
    service = _service(request)
    assert session.store_url is not None  # noqa: S101  # the callers checked
    try:
        app = service.app_credentials(session.channel, platform)
        redirect_uri = service.callback_uri()
    except ConfigurationError as exc:
        log.error("cannot start an authorization on %s: %s", platform.slug, exc.message)
        return not_configured(platform.info)
    try:
        return await service.authorizations.begin(
            platform,
            session.store_url,
            client_id=str(app["client_id"]),
            redirect_uri=redirect_uri,
            browser=_browser(request),
            owner=session.id,
        )
    except CallbackError as exc:
        return describe_failure(exc, platform.info)


def _authorize_context(
    request: Request, session: ConnectSession, platform: Platform, failure: Failure | None
) -> dict[str, Any]:
    oauth = platform.info.oauth
    base = _path(request, f"/connect/{session.id}/")
    return {
        "channel": session.channel,
        "session_id": session.id,
        "steps": _steps(session, "credentials", oauth=True, prefix=base),
        "platform": platform.info,
        "store_url": str(session.store_url),
        "scopes": oauth.scopes if oauth is not None else (),
        "failure": failure,
        "action": base + "authorize",
        "change_store": base + "store",
    }


def _authorize_form(
    request: Request,
    session: ConnectSession,
    platform: Platform,
    pending: PendingAuthorization | Failure,
    *,
    failure: Failure | None = None,
    status: int = 200,
) -> Response:
    """Render the authorize step; its form may end up on the platform's authorization origin."""
    targets: tuple[str, ...] = ()
    if isinstance(pending, Failure):
        failure, status = pending, max(status, pending.status)
    else:
        targets = (pending.authorization_origin,)
    context = _authorize_context(request, session, platform, failure)
    return _render(request, "authorize.html", context, status=status, form_targets=targets)


async def authorize_page(request: Request) -> Response:
    """``/connect/{id}/authorize``: what the channel asks for; the POST goes to the platform.

    The GET shows the store and the scopes requested. The POST (CSRF-checked) starts
    an authorization (state, PKCE) and redirects (303) to the platform's
    authorization URL. A platform without an OAuth flow goes to the credentials step.
    """
    session = await _session(request)
    if session.platform is None or session.store_url is None:
        return _see_other(request, _next_step(session))
    platform = _platform(request, session.platform)
    if platform.info.oauth is None:
        return _see_other(request, f"/connect/{session.id}/credentials")
    if request.method == "POST":
        await _posted(request, session.id)
    pending = await _begin(request, session, platform)
    if request.method == "POST" and isinstance(pending, PendingAuthorization):
        return RedirectResponse(pending.authorization_url, status_code=303)
    return _authorize_form(request, session, platform, pending)


async def oauth_callback(request: Request) -> Response:
    """``GET /oauth/callback``: where the platform sends the merchant back.

    The state is claimed (it must be known, live, unused and from this browser), the
    callback checked and the code exchanged; then the credentials are validated and
    stored as on the credentials step, and the browser goes to the channel. A failure
    after the state was accepted shows the authorize step again with its message.

    :raises CallbackError: The state is missing, unknown, expired, used, from another
        browser, or the query cannot be read (answered with the problem page).
    """
    service = _service(request)
    query = request.url.query
    params = read_callback(query)
    browser = _browser(request)
    pending = await service.authorizations.claim(params.get("state"), browser)
    if pending.owner is None:
        raise CallbackError("state_unknown", "This sign-in was not started on this page.")
    session = await service.sessions.get(pending.owner, browser)
    platform = _platform(request, pending.platform)
    try:
        app = service.app_credentials(session.channel, platform)
    except ConfigurationError as exc:
        log.error("cannot finish an authorization on %s: %s", platform.slug, exc.message)
        return _authorize_form(request, session, platform, not_configured(platform.info))
    onboarding = service.require_onboarding()
    result = await service.sessions.attempt(
        session,
        lambda: onboarding.complete(
            platform, pending, query=query, params=params, app=app, channel_name=session.channel.name
        ),
    )
    if isinstance(result, str):
        location = redirect_location(session.redirect_uri, connection_id=result, state=session.state)
        return RedirectResponse(location, status_code=303)
    return _authorize_form(request, session, platform, pending, failure=result, status=422)
