"""Requests to the GraphQL Admin API, and Shopify's errors as storelink errors.

Every query is ``POST /admin/api/{API_VERSION}/graphql.json`` with
``{"query", "variables", "operationName"}``, sent through the core's HTTP client
(``ctx.http``), which owns the token, retries, limits and the egress guard. HTTP error
statuses (401, 402, 404, 423, 429, 5xx) are mapped by the core, with the message that
:func:`describe_error` decodes from Shopify's ``{"errors": ...}`` body.

GraphQL reports most failures inside HTTP 200::

    {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
     "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": null,
                             "throttleStatus": {"maximumAvailable": 1000.0,
                                                "currentlyAvailable": 666, "restoreRate": 50.0}}}}

:func:`read_graphql` turns those into storelink errors (:func:`graphql_error`):
``THROTTLED`` becomes a :class:`~storelink.RetryableError` whose ``retry_after`` is the
time the bucket needs to refill to the query's requested cost (:func:`throttle_wait`),
so the core's retry loop waits exactly that long; ``ACCESS_DENIED`` (a missing scope)
becomes an :class:`~storelink.AuthorizationError` naming the capability;
``INTERNAL_SERVER_ERROR`` is retryable; anything else is a
:class:`~storelink.RejectedError` with Shopify's message and code.

Pacing: the ``throttleStatus`` of every answer (throttled ones included) is reported to
the core with ``ctx.http.report_budget`` (:func:`report_throttle_status`), and every
query is sent with its requested cost (:func:`requested_cost`), so the core holds a
query until the shop's bucket can pay for it instead of sending it to be throttled.
The reactive path stays for what pacing cannot see (other apps' clients of the same
bucket): a ``THROTTLED`` answer is still retried after :func:`throttle_wait`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from storelink import (
    AuthorizationError,
    ErrorDetail,
    MappingError,
    PlatformContext,
    PlatformError,
    RejectedError,
    RetryableError,
    Secret,
    StorelinkError,
)
from storelink.context import current_operation
from storelink.models import CAPABILITY_HOOKS
from storelink_shopify import PLATFORM, queries
from storelink_shopify.auth import AUDIENCE
from storelink_shopify.queries import OPERATIONS

__all__ = [
    "API_VERSION",
    "AUDIENCE",
    "GRAPHQL_PATH",
    "PLATFORM",
    "describe_error",
    "graphql",
    "graphql_error",
    "read_graphql",
    "report_throttle_status",
    "requested_cost",
    "throttle_wait",
]

#: The pinned Admin API version (Shopify supports each stable version for a year).
API_VERSION = "2026-10"

#: The one endpoint of the GraphQL Admin API.
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"

#: Bounds of a computed throttle wait, in seconds.
MIN_WAIT = 0.5
MAX_WAIT = 60.0

_RETRYABLE_CODES = frozenset({"THROTTLED", "INTERNAL_SERVER_ERROR"})
_SECRET_LIKE = re.compile(r"shp[a-z]{2}_[0-9A-Za-z]+")
_REQUEST_ID_HEADERS = ("x-request-id",)
_MAX_MESSAGE = 500
_OAUTH_CODE = re.compile(r"[a-z_]{1,64}")

#: Shopify's documented costs: an object 1 point, a connection 2 plus ``first`` nodes,
#: a mutation 10 (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits).
_OBJECT, _CONNECTION, _MUTATION = 1, 2, 10
#: The worst-case cost of one node of each operation's document, nested connections
#: included (the sizes are the ``first:`` its document writes, from :mod:`.queries`).
_NODE_COSTS: Mapping[str, int] = {
    "Products": _OBJECT + (_CONNECTION + queries.VARIANTS_PER_PRODUCT) + (_CONNECTION + queries.IMAGES_PER_PRODUCT),
    "VariantInventory": 2 * _OBJECT + (_CONNECTION + queries.LEVELS_PER_VARIANT),
    "VariantInventoryById": 2 * _OBJECT + (_CONNECTION + queries.LEVELS_PER_VARIANT),
    "DeliveryProfiles": _OBJECT
    + _CONNECTION
    + queries.LOCATION_GROUP_ZONES * (3 * _OBJECT + 2 * queries.METHODS_PER_ZONE),
    "Orders": 6 * _OBJECT + (_CONNECTION + queries.LINE_ITEMS_PER_ORDER),
    "Order": 6 * _OBJECT + (_CONNECTION + queries.LINE_ITEMS_PER_ORDER),
    "OrderCreate": 6 * _OBJECT + (_CONNECTION + queries.LINE_ITEMS_PER_ORDER),
}
#: Requested costs Shopify reported, by operation and page size. A query's requested
#: cost depends on its document and arguments only (the same for every shop), so what
#: one answer reported holds for every later query of that shape.
_REPORTED_COSTS: dict[tuple[str, int], float] = {}


async def graphql(
    ctx: PlatformContext,
    name: str,
    variables: Mapping[str, Any] | None = None,
    *,
    audience: str | None = AUDIENCE,
    bearer: Secret | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Run the named query of :data:`~storelink_shopify.queries.OPERATIONS` and return its ``data``.

    :param ctx: The connection's context.
    :param name: The operation name (``Products``).
    :param variables: The query's variables.
    :param audience: Whose token the core attaches; ``None`` with *bearer* to validate
        a token in ``authenticate``.
    :param reference: For ``orderCreate``: the order's reference. The request is then a
        write (``idempotent=False``): the core sends it again only when it provably
        never left, and a lost answer is an unknown outcome for the order ledger.
    :raises StorelinkError: The core's mapping of an HTTP error, or
        :func:`graphql_error` for errors inside a 200.
    :raises MappingError: The answer has no ``data`` object.
    """
    values: dict[str, Any] = dict(variables or {})
    body = {"query": OPERATIONS[name], "variables": values, "operationName": name}
    size = _size(name, values)

    def on_cost(cost: Mapping[str, Any], answered: bool) -> None:
        requested = _number(cost.get("requestedQueryCost"))
        # An answer refused before it ran (a missing scope) may report a token cost, not the query's.
        if answered and requested is not None and requested > 0 and math.isfinite(requested):
            _REPORTED_COSTS[(name, size)] = requested
        report_throttle_status(ctx, cost)

    data: dict[str, Any] = await ctx.http.read(
        "POST",
        GRAPHQL_PATH,
        reader=lambda response: read_graphql(response, on_cost=on_cost),
        audience=audience,
        bearer=bearer,
        json=body,
        headers={"Accept": "application/json"},
        idempotent=reference is None,
        reference=reference,
        cost=requested_cost(name, values),
    )
    return data


def _size(name: str, variables: Mapping[str, Any]) -> int:
    """Return how many nodes the query asks for: ``first``, or the number of ``ids``."""
    if name == "VariantInventoryById":
        ids = variables.get("ids")
        return len(ids) if isinstance(ids, list) else 0
    first = variables.get("first")
    return first if isinstance(first, int) and not isinstance(first, bool) else 0


def requested_cost(name: str, variables: Mapping[str, Any]) -> float:
    """Return the points the named query will be charged up front (its requested cost).

    What Shopify reported for a query of the same operation and size, once one was
    answered; before that, the worst case by Shopify's documented rules (an object 1,
    a connection 2 plus its ``first`` nodes, a mutation 10) over the document's
    selection.
    """
    size = _size(name, variables)
    reported = _REPORTED_COSTS.get((name, size))
    if reported is not None:
        return reported
    node = _NODE_COSTS.get(name, _OBJECT)
    if name == "OrderCreate":
        return float(_MUTATION + node)
    if size:
        return float(_CONNECTION + size * node)
    return float(_OBJECT + node)


def report_throttle_status(ctx: PlatformContext, cost: Mapping[str, Any]) -> bool:
    """Report ``cost.throttleStatus`` to the core as the shop's request budget; return whether it did.

    ``currentlyAvailable`` is reported one point lower (it may be rounded up).
    Nothing is reported when a number is missing or unusable (the core then keeps
    the budget it had).
    """
    status = cost.get("throttleStatus")
    if not isinstance(status, dict):
        return False
    capacity, available, rate = (
        _number(status.get("maximumAvailable")),
        _number(status.get("currentlyAvailable")),
        _number(status.get("restoreRate")),
    )
    if capacity is None or available is None or rate is None or capacity <= 0 or rate <= 0:
        return False
    if not all(math.isfinite(v) for v in (capacity, available, rate)):
        return False
    # currentlyAvailable may be rounded to a whole point: keep one in hand.
    ctx.http.report_budget(capacity=capacity, available=max(available - 1, 0.0), restore_rate=rate)
    return True


def read_graphql(
    response: httpx.Response, *, on_cost: Callable[[Mapping[str, Any], bool], None] | None = None
) -> dict[str, Any]:
    """Decode a GraphQL answer and return its ``data``, raising for its ``errors``.

    Errors are named after the operation the core is running
    (:func:`storelink.context.current_operation`).

    :param on_cost: Called first, whenever the answer has ``extensions.cost`` (a throttled
        answer too), with it and whether the answer has no ``errors``.

    :raises ValueError: The body starts as JSON but does not parse (cut off): the core
        reads it again.
    :raises PlatformError: The body is not JSON (a wrong host answers with HTML).
    :raises StorelinkError: The answer carries ``errors`` (see :func:`graphql_error`).
    :raises MappingError: There is no ``data`` object.
    """
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        if response.content.lstrip()[:1] in (b"{", b"["):
            raise  # JSON cut off on the way: the core reads it again
        raise PlatformError(
            "the shop answered with something that is not JSON; check the shop address",
            platform=PLATFORM,
            operation=current_operation(),
            status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise MappingError("expected a GraphQL response object", path="$")
    extensions = body.get("extensions")
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    errors = body.get("errors")
    if on_cost is not None and isinstance(cost, dict):
        on_cost(cost, not errors)
    if errors:
        raise graphql_error(
            errors,
            extensions if isinstance(extensions, dict) else {},
            request_id=response.headers.get("x-request-id"),
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise MappingError("expected a 'data' object in the GraphQL response", path="data")
    return data


def graphql_error(errors: Any, extensions: Mapping[str, Any], *, request_id: str | None = None) -> StorelinkError:
    """Return the storelink error for a GraphQL ``errors`` list answered with HTTP 200.

    :param errors: The response's ``errors`` (a list of ``{message, extensions: {code}}``;
        a bare string is accepted too).
    :param extensions: The response's top-level ``extensions`` (with ``cost``).

    The error names the operation the core is running; an ``ACCESS_DENIED`` names the
    capability the core gives that operation (:data:`storelink.CAPABILITY_HOOKS`).
    GraphQL codes are classified here, not by :func:`storelink.http.error_for`: the
    answer's HTTP status is 200, and the error keeps it.
    """
    operation = current_operation()
    entries = errors if isinstance(errors, list) else [{"message": errors}]
    messages: list[str] = []
    codes: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        message = entry.get("message")
        if isinstance(message, str) and message.strip():
            messages.append(message.strip())
        inner = entry.get("extensions")
        code = inner.get("code") if isinstance(inner, dict) else None
        if isinstance(code, str) and code:
            codes.append(code)
    text = _SECRET_LIKE.sub("***", "; ".join(messages) or "the shop reported an error")[:_MAX_MESSAGE]
    code = next((c for c in codes if c in _RETRYABLE_CODES), codes[0] if codes else None)
    fields: dict[str, Any] = {
        "platform": PLATFORM,
        "operation": operation,
        "status": 200,
        "code": code,
        "request_id": request_id,
    }
    if code == "THROTTLED":
        cost = extensions.get("cost")
        wait = throttle_wait(cost) if isinstance(cost, dict) else None
        return RetryableError(text, retry_after=wait, **fields)
    if code == "INTERNAL_SERVER_ERROR":
        return RetryableError(text, **fields)
    if code == "ACCESS_DENIED":
        capability = next((c.value for c, hooks in CAPABILITY_HOOKS.items() if operation in hooks), None)
        return AuthorizationError(
            f"The shop refused {operation}: {text} (grant the app the scope it names)", capability=capability
        )
    return RejectedError(text, **fields)


def throttle_wait(cost: Mapping[str, Any]) -> float | None:
    """Return the seconds until the bucket holds the query's requested cost, or ``None``.

    ``(requestedQueryCost - currentlyAvailable) / restoreRate``, rounded up to a tenth
    and kept between :data:`MIN_WAIT` and :data:`MAX_WAIT`. ``None`` when the cost
    extension lacks the numbers (the core then backs off on its own).
    """
    status = cost.get("throttleStatus")
    if not isinstance(status, dict):
        return None
    requested, available, rate = (
        _number(cost.get("requestedQueryCost")),
        _number(status.get("currentlyAvailable")),
        _number(status.get("restoreRate")),
    )
    if requested is None or available is None or rate is None or rate <= 0:
        return None
    wait = math.ceil(max(requested - available, 0.0) / rate * 10) / 10
    return min(max(wait, MIN_WAIT), MAX_WAIT)


def describe_error(response: httpx.Response) -> ErrorDetail | None:
    """Decode Shopify's HTTP error body.

    The Admin API answers ``{"errors": "..."}``, ``{"errors": [{"message"}]}`` or
    ``{"errors": {"field": "..."}}``; the OAuth token endpoint answers
    ``{"error": "invalid_request", "error_description": "..."}``, whose ``error`` becomes
    the detail's code.
    """
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    request_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS if response.headers.get(h)), None)
    if isinstance(body, dict) and isinstance(body.get("error"), str) and "errors" not in body:
        code = body["error"] if _OAUTH_CODE.fullmatch(body["error"]) else None
        described = body.get("error_description")
        text = described if isinstance(described, str) and described.strip() else None
        cleaned = _SECRET_LIKE.sub("***", text.strip())[:_MAX_MESSAGE] if text else None
        return ErrorDetail(message=cleaned or code, code=code, request_id=request_id)
    if not isinstance(body, dict) or "errors" not in body:
        return None
    errors = body["errors"]
    if isinstance(errors, str):
        message: str | None = errors
    elif isinstance(errors, list):
        message = "; ".join(e["message"] for e in errors if isinstance(e, dict) and isinstance(e.get("message"), str))
    elif isinstance(errors, dict):
        message = "; ".join(f"{k}: {v}" for k, v in errors.items() if isinstance(v, str))
    else:
        message = None
    cleaned = _SECRET_LIKE.sub("***", message.strip())[:_MAX_MESSAGE] if message else None
    return ErrorDetail(message=cleaned or None, request_id=request_id)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)
