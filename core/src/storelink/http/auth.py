"""httpx auth flows that put a secret into the ``Authorization`` header.

This module is where a :class:`~storelink.Secret` leaves the process: :func:`_authorize`
is the one ``reveal()`` of the HTTP layer (a test pins every call site in the source
tree). It writes ``Authorization: Bearer <value>`` onto the outgoing request, or the
header and prefix the platform declares (``PlatformInfo.token_header`` and
``token_prefix``), and nothing keeps the clear value afterwards.

- :class:`TokenAuth`: the access token of one audience, from the
  :class:`~storelink.http.tokens.TokenManager`, with the 401 flow: a 401 answered to the
  current token triggers one login and one resend; a 401 answered to an older token
  resends once with the current one. A second 401 is returned to the caller, which
  raises :class:`~storelink.AuthorizationError`.
- :class:`BearerAuth`: a fixed secret (an application key at login, the current token
  at refresh), for calls made with ``audience=None``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from storelink.credentials import Secret
from storelink.http.tokens import TokenManager

__all__ = ["BearerAuth", "TokenAuth"]


#: Where a secret goes by default: ``Authorization: Bearer <value>``.
DEFAULT_PLACEMENT = ("Authorization", "Bearer ")


def _authorize(request: httpx.Request, secret: Secret, placement: tuple[str, str]) -> None:
    # The HTTP layer's only reveal() (pinned by core/tests/http/test_secret_sites.py).
    # No local variable holds the clear value, so a crash reporter capturing frame
    # locals cannot pick it up.
    request.headers[placement[0]] = placement[1] + secret.reveal()


class _AsyncOnly(httpx.Auth):
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")


class BearerAuth(_AsyncOnly):
    """Send ``Authorization: Bearer`` (or the platform's token header) with a fixed secret.

    :param secret: The application key or token.
    :param placement: The header and the prefix of the value (:data:`DEFAULT_PLACEMENT`).
    """

    def __init__(self, secret: Secret, placement: tuple[str, str] = DEFAULT_PLACEMENT) -> None:
        self._secret = secret
        self._placement = placement

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach the secret and send the request once."""
        _authorize(request, self._secret, self._placement)
        yield request


class TokenAuth(_AsyncOnly):
    """Attach *audience*'s access token, renewing it on 401 at most once per request.

    No lock is held across a ``yield``: the manager takes its lock only while it
    decides or renews, and the request goes out after it has been released.

    :param tokens: The connection's token manager.
    :param audience: Which token to attach.
    :param placement: The header and the prefix of the value (:data:`DEFAULT_PLACEMENT`).
    """

    def __init__(self, tokens: TokenManager, audience: str, placement: tuple[str, str] = DEFAULT_PLACEMENT) -> None:
        self._tokens = tokens
        self._audience = audience
        self._placement = placement

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the current token; on 401, renew (or pick up the renewed one) and resend once."""
        token = await self._tokens.get(self._audience)
        _authorize(request, token.value, self._placement)
        response = yield request
        if response.status_code != 401:
            return
        # Free the connection and the store's slot before a login may need one. The body
        # is discarded: read it raw (never decompressed; the transport caps its size).
        response.headers.pop("content-encoding", None)
        await response.aread()
        token = await self._tokens.rejected(self._audience, token)
        _authorize(request, token.value, self._placement)
        yield request
