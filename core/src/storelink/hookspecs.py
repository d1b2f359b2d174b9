"""The contract between storelink and its plugins.

This module is the reference manual for plugin authors. There are two kinds of hooks:

**Platform hooks** are implemented by one platform plugin (entry-point group
``storelink.platforms``) and are only ever called on the plugin of the connection's
platform (plus cross-cutting plugins, for example wrappers). They are
``firstresult``: the first non-``None`` result wins. Hooks that talk to the platform
are ``async def``; the pure ones (``PURE_HOOKS``: ``platform_info``,
``normalize_store_url``, ``describe_error``, ``credentials_expire_at``,
``build_authorization_url``, ``verify_callback``,
``receive_credentials``) are plain functions.

**Event hooks** are called on every plugin (platforms and the cross-cutting plugins of
the ``storelink.plugins`` group). Their results are ignored; an exception raised by one
is logged and does not stop the operation that fired it. Each listener is called on
its own, so event hooks take no wrappers: a ``wrapper=True`` implementation of one is
refused at registration with a :class:`~storelink.errors.PluginError`.

Hooks receive keyword arguments only; an implementation may declare any subset of a
hook's parameters. Parameters are added over time, never changed or removed.

Platform hooks get a :class:`~storelink.context.PlatformContext`: the connection's
store URL, credentials and settings, an HTTP client (``ctx.http``) that already
applies the egress guard, timeouts, retries, per-store limits and the token for the
requested audience, and a logger whose output is scrubbed of secrets. A platform
plugin never builds its own HTTP client, retry loop or token cache.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from storelink.context import PlatformContext
    from storelink.credentials import Credentials, Secret
    from storelink.models import (
        AccessReport,
        AccessToken,
        Connection,
        ConnectionStatus,
        Cursor,
        ErrorDetail,
        InventoryLevel,
        Order,
        OrderDraft,
        Page,
        PlatformInfo,
        Product,
        ShippingMethod,
        StoreURL,
    )

PROJECT = "storelink"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hooks called only on the connection's platform plugin.
PLATFORM_HOOKS = (
    "platform_info",
    "normalize_store_url",
    "describe_error",
    "credentials_expire_at",
    "build_authorization_url",
    "verify_callback",
    "receive_credentials",
    "complete_authorization",
    "authenticate",
    "refresh_token",
    "check_access",
    "fetch_products",
    "fetch_orders",
    "get_order",
    "create_order",
    "find_order",
    "fetch_inventory",
    "fetch_shipping_methods",
)

#: Platform hooks that are plain functions (pure: no I/O); the others are ``async def``.
PURE_HOOKS = (
    "platform_info",
    "normalize_store_url",
    "describe_error",
    "credentials_expire_at",
    "build_authorization_url",
    "verify_callback",
    "receive_credentials",
)

#: Hooks called on every plugin; results ignored.
EVENT_HOOKS = ("connection_created", "connection_status_changed", "token_refreshed", "order_created")


# --------------------------------------------------------------------------- identity


@hookspec(firstresult=True)
def platform_info() -> PlatformInfo:  # type: ignore[empty-body]
    """Return what this platform is and what it needs from a merchant.

    Called once per process when the platform is loaded, and cached. It must be cheap
    and do no I/O. The slug must equal the plugin's entry-point name.

    :return: The platform's :class:`~storelink.PlatformInfo`: slug, title, credential
        schema, capabilities, setup guide, token audiences.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def normalize_store_url(raw: str, allow_loopback: bool) -> StoreURL:  # type: ignore[empty-body]
    """Turn what a merchant typed into the store's canonical origin.

    Pure: no network, no DNS. Accept what merchants paste (any case, surrounding
    whitespace, trailing slashes, admin paths) and return ``https://host[:port]``
    with the host lower case and IDNA-encoded. A self-hosted platform installed under
    a path of its host may keep that path (``StoreURL.path``, ``/shop``); request
    paths are then relative to it. It must be idempotent: normalising the result
    (``str(store_url)``) again returns it unchanged.

    :param raw: The text as entered.
    :param allow_loopback: ``True`` only under a development egress policy: then
        ``localhost``, ``127.0.0.1`` and ``[::1]`` are accepted, and keep ``http`` if
        given. Otherwise refuse IP literals and local names.
    :return: The :class:`~storelink.StoreURL`.
    :raises StoreURLError: With a message a merchant understands (which part is wrong
        and how to fix it). Never raise anything else.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode the platform's error body, so errors carry its message and code.

    Called by the core's HTTP layer for every error response before it raises: status
    300 or above (redirects are never followed, so a 3xx is an error too). Pure; must
    not read a streaming body that was not loaded, and must never return anything
    from an authentication endpoint's body that could be a secret.

    :param response: The error response (its body is loaded).
    :return: The platform's message, code and request id, or ``None`` if the body is
        not in the platform's error format.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def credentials_expire_at(credentials: Credentials) -> datetime | None:
    """Return when the credentials stop working, when they say so themselves.

    Optional and pure (no network). Called when a connection is created or
    reconnected; the result is stored as ``Connection.credentials_expire_at`` so a
    host can warn the merchant before the key expires. Read it for that warning only,
    never for a trust decision.

    :param credentials: The parsed credentials.
    :return: An aware datetime, or ``None`` when the credentials carry no expiry.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------- OAuth onboarding


@hookspec(firstresult=True)
def build_authorization_url(  # type: ignore[empty-body]
    store_url: StoreURL,
    client_id: str,
    scopes: tuple[str, ...],
    state: str,
    redirect_uri: str,
    code_challenge: str | None,
    callback_url: str | None,
) -> str:
    """Return the URL that asks the merchant to approve the channel's app for *store_url*.

    Required of a platform that declares ``PlatformInfo.oauth`` or
    ``PlatformInfo.approval``. Pure: no network.
    The merchant's browser is redirected there. Put every argument in it the way the
    platform expects; the core made *state* (random, single use, bound to the
    browser) and *redirect_uri* (the exact registered callback) and checks both when
    the merchant comes back. The URL must be absolute ``https`` (``http`` only on a
    loopback host), without userinfo or fragment, and must carry *state* (in the
    ``state`` parameter, or ``approval.state_parameter`` for an approval flow).

    For an approval flow, *client_id* is the channel's name (what the merchant is
    asked to approve), *redirect_uri* is where the browser comes back and
    *callback_url* is where the platform POSTs the credentials.

    :param store_url: The normalised store the merchant entered.
    :param client_id: The channel's app client id on this platform.
    :param scopes: ``PlatformInfo.oauth.scopes``.
    :param state: The core's state; send it unchanged.
    :param redirect_uri: Where the platform sends the merchant back, exactly.
    :param code_challenge: The PKCE S256 challenge when ``oauth.pkce`` is declared,
        else ``None`` (send ``code_challenge_method=S256`` with it).
    :param callback_url: For an approval flow, the exact URL the platform must POST
        the credentials to; ``None`` for OAuth.
    :return: The authorization URL.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 *callback_url*.
    """


@hookspec(firstresult=True)
def verify_callback(query: str, params: Mapping[str, str], app_credentials: Credentials) -> bool:  # type: ignore[empty-body]
    """Check the callback the way the platform requires, for example an HMAC of its query.

    Optional and pure. Called on every callback whose state the core accepted, before
    the code is exchanged. Without an implementation only the core's checks apply
    (state, browser, expiry, store). Compare signatures with
    :func:`hmac.compare_digest`.

    :param query: The callback's raw query string, exactly as it arrived.
    :param params: The same query, decoded (the core refuses repeated names).
    :param app_credentials: The channel's app credentials (the client secret is a
        :class:`~storelink.Secret`).
    :return: ``True`` when the callback is authentic; ``False`` refuses it.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def receive_credentials(body: Mapping[str, object], headers: Mapping[str, str]) -> tuple[str, Credentials]:  # type: ignore[empty-body]
    """Read the credentials an approval flow's platform POSTed, and the state they belong to.

    Required of a platform that declares ``PlatformInfo.approval``. Pure: no network.
    The core accepted the POST first (JSON object, bounded size) and afterwards
    accepts the state only once, unexpired; it parses the credentials with
    ``credential_schema``, seals them at once in the pending authorization, and
    validates them (login, capability probe) when the merchant's browser returns.
    Never log the body.

    :param body: The POSTed JSON object.
    :param headers: The request's headers, lower-case names.
    :return: The state the platform echoed (as it was sent in the approval URL), and
        the credentials, secret fields as :class:`~storelink.Secret`.
    :raises CredentialsError: The body is not the platform's delivery; the message
        must not repeat a value.

    .. versionadded:: 0.2
    """


@hookspec(firstresult=True)
async def complete_authorization(  # type: ignore[empty-body]
    ctx: PlatformContext,
    params: Mapping[str, str],
    app_credentials: Credentials,
    redirect_uri: str,
    code_verifier: Secret | None,
) -> Credentials:
    """Exchange the callback's authorization code for the credentials to store.

    Required of a platform that declares ``PlatformInfo.oauth``. Called once per
    accepted callback (state, browser, store and :func:`verify_callback` checked).
    ``ctx.credentials`` is empty; make the request with
    ``ctx.http.request(..., audience=None)``. Return credentials that fit
    ``PlatformInfo.credential_schema``; the core then validates them (login and
    capability probe) and stores them sealed, like typed ones.

    :param ctx: A context on the store, without credentials.
    :param params: The callback's decoded query (``code`` and the rest).
    :param app_credentials: The channel's app credentials.
    :param redirect_uri: The redirect URI sent in the authorization URL, exactly.
    :param code_verifier: The PKCE verifier when ``oauth.pkce`` is declared, else ``None``.
    :return: The credentials, secret fields as :class:`~storelink.Secret`.
    :raises CredentialsError: The platform refused the code (expired, used, or for
        another app).
    :raises RetryableError: The platform could not be reached.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------- auth


@hookspec(firstresult=True)
async def authenticate(ctx: PlatformContext, audience: str) -> AccessToken:  # type: ignore[empty-body]
    """Exchange the connection's credentials for an access token.

    Called by the core's token machinery when no valid token is held for *audience*:
    on first use, when the token is near expiry and ``refresh_token`` gave nothing, and
    once after the platform answered 401. Never call it yourself. Make the request
    with ``ctx.http.request(..., audience=None, bearer=...)`` so that no token is
    attached and the credential is placed in the header by the core.

    :param ctx: The connection's context.
    :param audience: Which token: one of ``PlatformInfo.audiences`` (OCC: ``admin``
        for reads, ``agent`` for order creation).
    :return: The token and its lifetime in seconds.
    :raises CredentialsError: The platform rejected the credentials (the core marks the
        connection revoked).
    :raises RetryableError: The platform could not be reached or answered 5xx.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def refresh_token(ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
    """Renew *token* before it expires, if the platform supports that.

    Optional. Called shortly before expiry (at lifetime minus max(30 s, 20 %)).
    Return ``None`` to have the core call :func:`authenticate` instead; do that too
    when the platform refuses the refresh.

    :param ctx: The connection's context.
    :param token: The current, still valid token.
    :return: A new token, or ``None``.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def check_access(ctx: PlatformContext) -> AccessReport:  # type: ignore[empty-body]
    """Probe each capability with one cheap request and report what is denied.

    Called when a connection is created or checked, after a successful
    :func:`authenticate`. A denied capability is a result, not an exception.

    :param ctx: The connection's context.
    :return: One :class:`~storelink.CapabilityCheck` per capability the platform has.
    :raises RetryableError: The platform could not be reached.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------- reads


@hookspec(firstresult=True)
async def fetch_products(ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:  # type: ignore[empty-body]
    """Return one page of the store's products, starting at *cursor*.

    The core owns the loop, retries and concurrency; do not loop here. ``cursor`` is
    ``None`` for the first page; return ``Page.next`` as ``None`` on the last one.
    With an :class:`~storelink.OffsetCursor` and ``Page.total`` the core may fetch the
    remaining pages in parallel.

    :param ctx: The connection's context.
    :param cursor: Where to start, as returned by the previous page.
    :return: The page of products, with their variants.
    :raises PlatformError: The platform answered with an error the core cannot retry.
    :raises MappingError: A product did not fit the model.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def fetch_orders(  # type: ignore[empty-body]
    ctx: PlatformContext, cursor: Cursor | None, since: datetime | None
) -> Page[Order]:
    """Return one page of orders changed at or after *since*, oldest first.

    :param ctx: The connection's context.
    :param cursor: Where to start, as returned by the previous page.
    :param since: Only orders created or modified at or after this aware datetime;
        ``None`` for all.
    :return: The page of orders.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def get_order(ctx: PlatformContext, order_id: str) -> Order:  # type: ignore[empty-body]
    """Return one order by its platform id.

    :param ctx: The connection's context.
    :param order_id: The platform's order id.
    :raises NotFoundError: There is no such order.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def fetch_inventory(  # type: ignore[empty-body]
    ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
) -> Page[InventoryLevel]:
    """Return one page of stock levels, per SKU and location.

    :param ctx: The connection's context.
    :param cursor: Where to start, as returned by the previous page.
    :param sku_ids: Only these SKUs; ``None`` for all.
    :return: The page of inventory levels.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def fetch_shipping_methods(ctx: PlatformContext) -> list[ShippingMethod]:  # type: ignore[empty-body]
    """Return every shipping method of the store, enabled or not, with its rates.

    :param ctx: The connection's context.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------- orders


@hookspec(firstresult=True)
async def create_order(ctx: PlatformContext, draft: OrderDraft) -> Order:  # type: ignore[empty-body]
    """Create *draft* as an order in the store, carrying ``draft.reference`` in it.

    The reference must travel inside the created order so that :func:`find_order`
    can find it. Called once per reference by the core's order ledger; the core
    reconciles unknown outcomes with :func:`find_order` and never re-sends blindly.
    Make the request with ``ctx.http.request(..., idempotent=False)``: the core then
    retries only when the request provably never left.

    :param ctx: The connection's context.
    :param draft: The order to create.
    :return: The created order.
    :raises RejectedError: The platform refused the order (bad SKU, address...).
    :raises OrderOutcomeUnknown: Raised by the core's HTTP layer when the response was
        lost; let it propagate.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
async def find_order(ctx: PlatformContext, reference: str) -> Order | None:
    """Find the order that :func:`create_order` made for *reference*.

    Used to reconcile an order whose creation outcome is unknown.

    :param ctx: The connection's context.
    :param reference: The draft's reference.
    :return: The order, or ``None`` if the store has none with that reference.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------- events


@hookspec
def connection_created(connection: Connection) -> None:
    """React to a connection that was validated and stored.

    :param connection: The new connection.

    .. versionadded:: 0.1
    """


@hookspec
def connection_status_changed(
    connection: Connection, old: ConnectionStatus, new: ConnectionStatus, reason: str | None
) -> None:
    """React to a connection's status change (for example ``active`` to ``revoked``).

    :param connection: The connection, with its new status.
    :param old: The previous status.
    :param new: The new status.
    :param reason: Why, in words (never a secret).

    .. versionadded:: 0.1
    """


@hookspec
def token_refreshed(connection_id: str, platform: str, audience: str, expires_in: float, renewed: bool) -> None:
    """React to the core obtaining a new access token for a connection.

    :param connection_id: The connection.
    :param platform: Its platform slug.
    :param audience: Which token.
    :param expires_in: The new token's lifetime in seconds.
    :param renewed: ``True`` if it came from ``refresh_token``, ``False`` from ``authenticate``.

    .. versionadded:: 0.1
    """


@hookspec
def order_created(connection: Connection, order: Order, replayed: bool) -> None:
    """React to ``create_order`` returning an order for a connection.

    :param connection: The connection.
    :param order: The order.
    :param replayed: ``True`` when the reference had been submitted before and the
        stored outcome was returned instead of creating another order.

    .. versionadded:: 0.1
    """
