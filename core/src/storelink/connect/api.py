"""The JSON API for channels: start connect sessions, or connect stores from their own UI.

Every call is authenticated with ``Authorization: Bearer <channel API token>``; the
token names the channel. Errors are ``{"error": {"code", "message", "field"}}`` with
the codes of :mod:`storelink.connect.failures` and these of the API itself:
``unauthorized`` (401), ``invalid_request`` (400), ``invalid_redirect_uri`` (400),
``invalid_state`` (400), ``unknown_platform`` (400), ``oauth_platform`` (400: the
platform onboards through its authorization page, so start a connect session).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storelink.connect.channels import Channel
from storelink.connect.failures import Failure, describe_failure
from storelink.connect.forms import read_json
from storelink.connect.service import ConnectService
from storelink.errors import StoreURLError
from storelink.models import Connection

__all__ = ["MAX_STATE", "create_connect_session", "create_connection", "error_response"]

#: Longest channel ``state`` accepted, in characters.
MAX_STATE = 1024


def error_response(code: str, message: str, *, status: int, field: str | None = None) -> JSONResponse:
    """Return the API's error body."""
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def _failure_response(failure: Failure) -> JSONResponse:
    headers = {"retry-after": str(int(failure.retry_after))} if failure.retry_after is not None else None
    return JSONResponse({"error": failure.to_json()}, status_code=failure.status, headers=headers)


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _invalid(code: str, message: str, field: str) -> _Refused:
    return _Refused(error_response(code, message, status=400, field=field))


def _authenticated(request: Request) -> Channel:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    channel = None
    if scheme.lower() == "bearer" and token.strip():
        channel = _service(request).channel_for_token(token.strip())
    if channel is None:
        response = error_response("unauthorized", "send the channel's API token as a Bearer token", status=401)
        response.headers["www-authenticate"] = 'Bearer realm="storelink"'
        raise _Refused(response)
    return channel


def _service(request: Request) -> ConnectService:
    service: ConnectService = request.app.state.connect
    return service


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid("invalid_request", f"{name} must be a non-empty string", name)
    return value


def _optional(body: dict[str, Any], name: str) -> str | None:
    return None if body.get(name) is None else _required(body, name)


def _strings(body: dict[str, Any], name: str) -> dict[str, str]:
    value = body.get(name, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _invalid("invalid_request", f"{name} must be an object of strings", name)
    return value


def _platform(request: Request, channel: Channel, slug: str | None) -> str | None:
    if slug is not None and slug not in _service(request).require_onboarding().offered(channel):
        raise _invalid("unknown_platform", f"the channel does not offer platform {slug!r}", "platform")
    return slug


def _check_state(state: str) -> None:
    if len(state) > MAX_STATE or any(unicodedata.category(ch) == "Cc" for ch in state):
        message = f"state must be at most {MAX_STATE} characters, with no control characters"
        raise _invalid("invalid_state", message, "state")


async def create_connect_session(request: Request) -> Response:
    """``POST /api/connect-sessions``: start a connect session for the merchant's browser.

    Body: ``redirect_uri`` (byte-equal to one the channel registered), ``state`` (opaque,
    returned on success), optionally ``platform``. Answers 201 with ``id``, ``url`` (send
    the merchant's browser there; it works once) and ``expires_at``.
    """
    try:
        channel = _authenticated(request)
        body = await read_json(request)
        redirect_uri = channel.registered_redirect(body.get("redirect_uri"))
        if redirect_uri is None:
            raise _invalid(
                "invalid_redirect_uri", "redirect_uri must be one of the channel's registered URIs", "redirect_uri"
            )
        state = _required(body, "state")
        _check_state(state)
        slug = _platform(request, channel, _optional(body, "platform"))
    except _Refused as refused:
        return refused.response
    service = _service(request)
    offered = (slug,) if slug else tuple(service.require_onboarding().offered(channel))
    session, ticket = await service.sessions.create(
        channel=channel,
        redirect_uri=redirect_uri,
        state=state,
        platforms=offered,
        platform=offered[0] if len(offered) == 1 else None,
    )
    base = service.public_url or str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "id": session.id,
            "url": f"{base}/connect/{session.id}?ticket={ticket}",
            "expires_at": datetime.fromtimestamp(session.expires_at, UTC).isoformat(),
        },
        status_code=201,
    )


def _connection_json(connection: Connection) -> dict[str, object]:
    return {
        "id": connection.id,
        "platform": connection.platform,
        "store_url": str(connection.store_url),
        "status": connection.status.value,
        "label": connection.label,
        "created_at": connection.created_at.isoformat(),
    }


async def create_connection(request: Request) -> Response:
    """``POST /api/connections``: connect a store from the channel's own UI.

    Body: ``platform``, ``store_url``, ``credentials`` (field name → value), optionally
    ``settings`` and ``label``. The same checks as the pages: 201 with the connection,
    or an error naming the field at fault.
    """
    try:
        channel = _authenticated(request)
        body = await read_json(request)
        slug = _required(body, "platform")
        _platform(request, channel, slug)
        raw_url = _required(body, "store_url")
        credentials = _strings(body, "credentials")
        settings = _strings(body, "settings")
        label = _optional(body, "label")
    except _Refused as refused:
        return refused.response
    onboarding = _service(request).require_onboarding()
    platform = onboarding.platform(slug)
    if platform.info.oauth is not None:
        message = (
            f"{platform.info.title} stores are connected by the merchant approving the app on {platform.info.title}: "
            "start a connect session (POST /api/connect-sessions) and send the merchant to its url"
        )
        return error_response("oauth_platform", message, status=400, field="platform")
    try:
        store_url = onboarding.normalize(platform, raw_url)
    except StoreURLError as exc:
        return _failure_response(describe_failure(exc, platform.info, typed=raw_url))
    result = await onboarding.connect(platform, store_url, credentials, settings, label=label)
    if isinstance(result, Failure):
        return _failure_response(result)
    return JSONResponse({"connection": _connection_json(result)}, status_code=201)
