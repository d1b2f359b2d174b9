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
