"""The connect pages of an approval flow: credentials POSTed by the platform, server to server.

A platform that declares ``PlatformInfo.approval`` keeps its key form, and its
credentials step offers a second way: "approve in your store". Three routes make it::

    POST /connect/{id}/approve         (CSRF) begin a state; 303 to the platform's approval URL
    POST /oauth/deliver/{platform}     the platform POSTs the credentials (JSON), server to server
    GET  /oauth/return/{platform}      the platform sends the browser back

The delivery route is exempt from CSRF (no browser posts it) and accepts a JSON
object of at most :data:`~storelink.onboarding.DELIVERY_LIMIT` bytes whose state is
known, unexpired and unused, once; what it brings is sealed at once in the state's row.
The return route claims the state for the browser that began it: when the credentials
have arrived they are validated like typed ones and the browser goes to the channel;
before that it shows a waiting page that reloads itself until they do, or until the
state expires (the problem page then says it took too long).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from storelink.connect import pages
from storelink.connect.api import error_response
from storelink.connect.channels import redirect_location
from storelink.connect.failures import Failure, callback_failure, describe_failure, not_configured
from storelink.connect.security import ConnectSession, content_security_policy
from storelink.errors import ConfigurationError, CredentialsError, PluginError
from storelink.onboarding import (
    DELIVERY_LIMIT,
    CallbackError,
    PendingAuthorization,
    is_declined,
    read_callback,
    read_delivery,
)
from storelink.plugins import Platform

__all__ = ["WAIT_SECONDS", "approval_delivery", "approval_return", "approve_page"]

#: Seconds between two reloads of the waiting page.
WAIT_SECONDS = 2

log = logging.getLogger("storelink.connect")


def _approval_platform(request: Request) -> Platform | None:
    try:
        platform = pages._platform(request, request.path_params["platform"])
    except PluginError:
        return None
    return platform if platform.info.approval is not None else None


def _credentials_form(
    request: Request, session: ConnectSession, platform: Platform, failure: Failure, status: int = 422
) -> Response:
    context = pages._credential_context(session, platform, failure)
    targets = pages.credential_targets(session, platform)
    return pages._render(request, "credentials.html", context, status=max(status, failure.status), form_targets=targets)


async def approve_page(request: Request) -> Response:
    """``POST /connect/{id}/approve``: start an approval (CSRF-checked); 303 to the platform.

    A platform without an approval flow, or a GET, goes to the credentials step.
    """
    session = await pages._session(request)
    if session.platform is None or session.store_url is None:
        return pages._see_other(request, pages._next_step(session))
    platform = pages._platform(request, session.platform)
    if platform.info.approval is None or request.method != "POST":
        return pages._see_other(request, f"/connect/{session.id}/credentials")
    await pages._posted(request, session.id)
    service = pages._service(request)
    try:
        return_url, delivery_url = service.approval_uris(platform)
    except ConfigurationError as exc:
        log.error("cannot start an approval on %s: %s", platform.slug, exc.message)
        return _credentials_form(request, session, platform, not_configured(platform.info))
    try:
        pending = await service.authorizations.begin(
            platform,
            session.store_url,
            client_id=session.channel.name,
            redirect_uri=return_url,
            browser=pages._browser(request),
            owner=session.id,
            callback_url=delivery_url,
        )
    except CallbackError as exc:
        return _credentials_form(request, session, platform, describe_failure(exc, platform.info))
    return RedirectResponse(pending.authorization_url, status_code=303)


async def _read_body(request: Request) -> bytes:
    """Read at most one byte more than the delivery limit (the rest is never buffered)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > DELIVERY_LIMIT:
            break
    return body


async def approval_delivery(request: Request) -> Response:
    """``POST /oauth/deliver/{platform}``: keep the credentials the platform POSTed, sealed.

    Answers JSON: 200 ``{"received": true}``; 404 for a platform without an approval
    flow; 400 ``invalid_delivery`` (not JSON, too big, not the platform's delivery, or
    credentials that do not fit its schema), ``state_unknown``; 410 ``state_expired``,
    ``state_used`` (a state takes one delivery). Nothing of the body is logged.
    """
    platform = _approval_platform(request)
    if platform is None:
        return error_response("not_found", "No approval flow is served here.", status=404)
    try:
        body = read_delivery(await _read_body(request), request.headers.get("content-type"))
        try:
            state, received = platform.receive_credentials(body, dict(request.headers))
            credentials = platform.info.credential_schema.parse(received)
        except CallbackError:
            raise
        except CredentialsError as exc:
            raise CallbackError("invalid_delivery", f"The credentials could not be received: {exc.message}") from None
        await pages._service(request).authorizations.deliver(platform.slug, state, credentials)
    except CallbackError as exc:
        failure = callback_failure(exc)
        log.info("an approval delivery for %s was refused: %s", platform.slug, failure.code)
        return error_response(failure.code, failure.message, status=failure.status)
    log.info("an approval delivery for %s was received", platform.slug)
    return JSONResponse({"received": True})


def _waiting(request: Request, platform: Platform) -> Response:
    service = pages._service(request)
    context = {"channel": None, "platform": platform.info, "seconds": WAIT_SECONDS}
    return service.templates.TemplateResponse(
        request,
        "approve_wait.html",
        context,
        status_code=202,
        headers={"content-security-policy": content_security_policy(), "cache-control": "no-store"},
    )


async def approval_return(request: Request) -> Response:
    """``GET /oauth/return/{platform}``: the browser comes back from the platform.

    Declined: the state is spent and the credentials step comes back with the
    message. Approved, credentials not arrived yet: the waiting page (202), which
    reloads itself. Arrived: the credentials are validated and stored like typed
    ones and the browser goes to the channel, or the credentials step shows why not.

    :raises CallbackError: The state is missing, unknown, expired (the merchant is told
        it took too long), used or from another browser.
    """
    platform = _approval_platform(request)
    if platform is None:
        raise CallbackError("state_unknown", "This page does not belong to a connection we started.")
    flow = platform.info.approval
    assert flow is not None  # noqa: S101  # _approval_platform checked
    params = read_callback(request.url.query)
    state = params.get(flow.state_parameter)
    service = pages._service(request)
    browser = pages._browser(request)
    if is_declined(platform.info, params):
        pending = await service.authorizations.claim(state, browser)
        session = await _owner(request, pending)
        channel = session.channel.name
        declined = CallbackError(
            "declined",
            f"You did not give {channel} access to your {platform.info.title} store, so it is not connected. "
            f"To connect it, approve the access {channel} asks for, or paste a key below.",
        )
        return _credentials_form(request, session, platform, describe_failure(declined, platform.info))
    collected = await service.authorizations.collect(state, browser)
    if collected is None:
        return _waiting(request, platform)
    if collected.platform != platform.slug:
        raise CallbackError("state_unknown", "This page does not belong to a connection we started.")
    session = await _owner(request, collected)
    onboarding = service.require_onboarding()
    result = await service.sessions.attempt(session, lambda: onboarding.connect_delivered(platform, collected))
    if isinstance(result, str):
        location = redirect_location(session.redirect_uri, connection_id=result, state=session.state)
        return RedirectResponse(location, status_code=303)
    return _credentials_form(request, session, platform, result)


async def _owner(request: Request, pending: PendingAuthorization) -> ConnectSession:
    if pending.owner is None:
        raise CallbackError("state_unknown", "This sign-in was not started on this page.")
    return await pages._service(request).sessions.get(pending.owner, pages._browser(request))
