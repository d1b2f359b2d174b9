"""The HTTP layer every platform shares: egress guard, tokens, retries, errors.

Platform plugins never build an HTTP client: they call ``ctx.http.request(...)``, and
the :class:`ConnectionRuntime` behind it applies, for every call, the
:class:`EgressPolicy` (down to the address dialled), timeouts and an overall
deadline, the per-store concurrency limit, the access token of the requested audience
(proactive refresh, single flight, the 401 flow, revocation), the retry policy and
budget, the response-size cap, the mapping of failures to storelink errors, and log
scrubbing (:mod:`storelink.redaction`).

Modules, one seam each: :mod:`~storelink.http.egress` (which URLs and addresses),
:mod:`~storelink.http.transport` (dial the checked address), :mod:`~storelink.http.tokens`
(when to renew, what a rejection means), :mod:`~storelink.http.auth` (the
``Authorization`` header), :mod:`~storelink.http.retry` (what to resend),
:mod:`~storelink.http.faults` (failures to errors), :mod:`~storelink.http.runtime`
(all of it for one connection).

A plugin whose platform reports errors inside a successful response raises
:func:`error_for` from its reader: the error an error response of that status gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storelink._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from storelink.context import TOKEN_OPERATIONS, current_operation
    from storelink.http.auth import BearerAuth, TokenAuth
    from storelink.http.clock import Clock, SystemClock
    from storelink.http.config import HttpConfig, RetryConfig
    from storelink.http.egress import EgressPolicy, Resolver, StaticResolver, SystemResolver
    from storelink.http.faults import error_for
    from storelink.http.retry import RetryBudget, is_retryable, parse_retry_after
    from storelink.http.runtime import ConnectionRuntime
    from storelink.http.tokens import RuntimeStats, TokenManager
    from storelink.http.transport import EgressTransport, GuardedBackend

#: Where each export is defined. It is imported on first use, so that importing one
#: module of the layer (``storelink.http.egress``) or one name (``TOKEN_OPERATIONS``)
#: does not import the runtime, the token manager, auth, the egress guard and faults:
#: ``storelink platforms`` loads every plugin and needs none of them.
_LAZY = {
    "TOKEN_OPERATIONS": "storelink.context",
    "BearerAuth": "storelink.http.auth",
    "Clock": "storelink.http.clock",
    "ConnectionRuntime": "storelink.http.runtime",
    "EgressPolicy": "storelink.http.egress",
    "EgressTransport": "storelink.http.transport",
    "GuardedBackend": "storelink.http.transport",
    "HttpConfig": "storelink.http.config",
    "Resolver": "storelink.http.egress",
    "RetryBudget": "storelink.http.retry",
    "RetryConfig": "storelink.http.config",
    "RuntimeStats": "storelink.http.tokens",
    "StaticResolver": "storelink.http.egress",
    "SystemClock": "storelink.http.clock",
    "SystemResolver": "storelink.http.egress",
    "TokenAuth": "storelink.http.auth",
    "TokenManager": "storelink.http.tokens",
    "current_operation": "storelink.context",
    "error_for": "storelink.http.faults",
    "is_retryable": "storelink.http.retry",
    "parse_retry_after": "storelink.http.retry",
}


__getattr__, __dir__ = _lazy_exports("storelink.http", _LAZY, globals())


__all__ = [
    "TOKEN_OPERATIONS",
    "BearerAuth",
    "Clock",
    "ConnectionRuntime",
    "EgressPolicy",
    "EgressTransport",
    "GuardedBackend",
    "HttpConfig",
    "Resolver",
    "RetryBudget",
    "RetryConfig",
    "RuntimeStats",
    "StaticResolver",
    "SystemClock",
    "SystemResolver",
    "TokenAuth",
    "TokenManager",
    "current_operation",
    "error_for",
    "is_retryable",
    "parse_retry_after",
]
