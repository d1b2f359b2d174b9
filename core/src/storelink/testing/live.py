"""The contract's checks that call the platform: auth, tokens, errors, secrets.

Each check drives the plugin through a :class:`~storelink.testing.harness.Harness`,
that is through the core's own runtime (token manager, retries, error mapping), and
raises :class:`~storelink.testing.ContractViolation` naming the hook and the rule.
The list, order and shipping checks are in :mod:`storelink.testing.reads`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from storelink.errors import AuthorizationError, CredentialsError, PluginError, StorelinkError
from storelink.http import ConnectionRuntime
from storelink.models import OrderDraft
from storelink.testing.checks import ContractViolation, check_models
from storelink.testing.fakes import Fault, bearer_of, json_response
from storelink.testing.harness import Harness

__all__ = [
    "check_access_report",
    "check_authenticate",
    "check_errors_propagate",
    "check_invalid_credentials",
    "check_malformed_responses",
    "check_no_secret_leaks",
    "check_reauthenticates_on_401",
    "check_token_refresh",
    "data_calls",
]

_PROBES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fetch_products", {"cursor": None}),
    ("fetch_shipping_methods", {}),
    ("fetch_orders", {"cursor": None, "since": None}),
    ("fetch_inventory", {"cursor": None, "sku_ids": None}),
)
_PROPAGATE = "let the errors of ctx.http.request propagate; never turn them into a result"


def _probe(h: Harness) -> tuple[str, dict[str, Any]]:
    for hook, kwargs in _PROBES:
        if h.platform.implements(hook):
            return hook, kwargs
    return "check_access", {}


def data_calls(h: Harness, drafts: Sequence[OrderDraft]) -> list[tuple[str, dict[str, Any]]]:
    """Return one call of each implemented hook that reads or writes store data."""
    calls = [(hook, kwargs) for hook, kwargs in _PROBES if h.platform.implements(hook)]
    calls.append(("check_access", {}))
    if h.platform.implements("get_order"):
        calls.append(("get_order", {"order_id": "contract-order-1"}))
    if h.platform.implements("find_order"):
        calls.append(("find_order", {"reference": "contract-reference-1"}))
    if h.platform.implements("create_order") and drafts:
        calls.append(("create_order", {"draft": drafts[0]}))
    return calls


def token_of(h: Harness, request: httpx.Request) -> str | None:
    """Return the secret *request* carries where the platform's tokens go, if any."""
    info = h.platform.info
    return bearer_of(request, header=info.token_header, prefix=info.token_prefix)


def _to_token_holders(h: Harness) -> Callable[[httpx.Request], bool]:
    """Return a test of whether a request carries a token the core obtained (a data request)."""
    return lambda request: token_of(h, request) in {t.value.reveal() for t, _ in h.tokens}


async def check_authenticate(h: Harness) -> None:
    """Check that the valid credentials give a valid token for every audience."""
    async with h.runtime() as rt:
        for audience in h.platform.info.audiences:
            try:
                token = await h.call(rt, "authenticate", audience=audience)
            except StorelinkError as exc:
                raise ContractViolation(
                    "authenticate",
                    "valid key accepted",
                    f"raised {type(exc).__name__} for audience {audience!r} with valid credentials: {exc}",
                    "check the login request (method, path, where the key goes) against the platform's docs",
                ) from exc
            check_models("authenticate", [token], "token")
            if token.audience != audience:
                raise ContractViolation(
                    "authenticate",
                    "audience",
                    f"returned a token for audience {token.audience!r} when asked for {audience!r}",
                    "set AccessToken.audience to the audience asked for",
                )


async def check_invalid_credentials(h: Harness) -> None:
    """Check that credentials the platform rejects raise CredentialsError, directly and via the core."""
    audience = h.platform.info.audiences[0]
    advice = "make the login request with audience=None, so the core maps 401/403 to CredentialsError"
    async with h.runtime(credentials=h.invalid_credentials) as rt:
        try:
            await h.call(rt, "authenticate", audience=audience)
        except CredentialsError:
            pass
        except StorelinkError as exc:
            raise ContractViolation(
                "authenticate",
                "bad key raises CredentialsError",
                f"raised {type(exc).__name__} for credentials the platform rejects: {exc}",
                advice + ", or raise CredentialsError when the platform refuses the key",
            ) from exc
        else:
            raise ContractViolation(
                "authenticate",
                "bad key raises CredentialsError",
                "returned a token for credentials the platform rejects",
                "check the platform's answer and raise CredentialsError when it refuses the key",
            )
    hook, kwargs = _probe(h)
    async with h.runtime(credentials=h.invalid_credentials) as rt:
        try:
            await h.call(rt, hook, **kwargs)
        except CredentialsError:
            return
        except StorelinkError as exc:
            raise ContractViolation(
                hook,
                "bad key raises CredentialsError",
                f"raised {type(exc).__name__} instead of CredentialsError when the login was refused: {exc}",
                _PROPAGATE,
            ) from exc
    raise ContractViolation(hook, "bad key raises CredentialsError", "succeeded with rejected credentials", _PROPAGATE)


async def check_access_report(h: Harness) -> None:
    """Check that check_access probes every declared capability and allows them all to the test key."""
    async with h.runtime() as rt:
        report = await h.call(rt, "check_access")
    check_models("check_access", [report], "report")
    declared = h.platform.info.capabilities
    missing = sorted(c.value for c in declared - {c.capability for c in report.checks})
    if missing:
        raise ContractViolation(
            "check_access",
            "every capability probed",
            f"reports no check for {', '.join(missing)}",
            "return one CapabilityCheck per capability in platform_info().capabilities",
        )
    denied = [c for c in report.checks if not c.ok]
    if denied:
        raise ContractViolation(
            "check_access",
            "every capability probed",
            f"denies {denied[0].capability.value} ({denied[0].detail}) to test credentials that hold every permission",
            "probe each capability with a request the key is allowed to make",
        )


async def _expect_ok(h: Harness, rt: ConnectionRuntime, hook: str, kwargs: dict[str, Any], rule: str, when: str) -> Any:
    try:
        return await h.call(rt, hook, **kwargs)
    except StorelinkError as exc:
        raise ContractViolation(hook, rule, f"failed {when}: {type(exc).__name__}: {exc}", _PROPAGATE) from exc


async def check_token_refresh(h: Harness) -> None:
    """Check requests near and past the token's expiry, as the core's token manager handles them."""
    hook, kwargs = _probe(h)
    async with h.runtime() as rt:
        await _expect_ok(h, rt, hook, kwargs, "expiry and refresh", "with a fresh token")
        if not h.tokens:
            raise ContractViolation(
                hook,
                "token machinery",
                "made its request without a token from the core",
                "pass audience= (one of PlatformInfo.audiences) to ctx.http.request; audience=None is for logins",
            )
        lifetime = h.tokens[-1][0].expires_in
        issued = len(h.tokens)
        h.clock.advance(max(lifetime - max(30.0, 0.2 * lifetime) + 1.0, 0.0))
        await _expect_ok(
            h, rt, hook, kwargs, "expiry and refresh", f"{h.clock.monotonic():.0f} s into the clock, near expiry"
        )
        renewed = [token for token, was_renewed in h.tokens[issued:] if was_renewed]
        check_models("refresh_token", renewed, "token")
        if h.platform.implements("refresh_token") and not renewed:
            raise ContractViolation(
                "refresh_token",
                "expiry and refresh",
                f"gave no new token shortly before a {lifetime:.0f} s token expired",
                "return the platform's renewed token; or remove the hook if the platform cannot renew",
            )
        h.clock.advance(lifetime + 1.0)
        await _expect_ok(h, rt, hook, kwargs, "expiry and refresh", "after the token's whole lifetime passed")


async def check_reauthenticates_on_401(h: Harness) -> None:
    """Check a 401 to a held token (one re-login, then success) and a 401 that repeats (AuthorizationError)."""
    hook, kwargs = _probe(h)
    async with h.runtime() as rt:
        await _expect_ok(h, rt, hook, kwargs, "401 handling", "with a fresh token")
        stale = h.current_token()
        answered: list[httpx.Request] = []

        def once(request: httpx.Request) -> httpx.Response | None:
            if answered or token_of(h, request) != stale:
                return None
            answered.append(request)
            return json_response(401, {"error": "token revoked by the contract suite"}, request)

        h.faults.add(once)
        await _expect_ok(h, rt, hook, kwargs, "401 handling", "after one 401 (the core logs in again and resends)")
        h.faults.clear()
        if not answered:
            raise ContractViolation(hook, "401 handling", "sent no request with the core's token", "pass audience=")
        holders = _to_token_holders(h)
        h.faults.add(lambda r: json_response(401, {"error": "denied"}, r) if holders(r) else None)
        try:
            await h.call(rt, hook, **kwargs)
        except AuthorizationError:
            return
        except StorelinkError as exc:
            problem = f"raised {type(exc).__name__} ({exc}) when a fresh token was refused too, not AuthorizationError"
            raise ContractViolation(hook, "401 handling", problem, _PROPAGATE) from exc
        finally:
            h.faults.clear()
    raise ContractViolation(hook, "401 handling", "returned a result although every request was refused", _PROPAGATE)


def _answer_data_requests(h: Harness, respond: Callable[[httpx.Request], httpx.Response]) -> Fault:
    holders = _to_token_holders(h)
    return lambda request: respond(request) if holders(request) else None


async def check_malformed_responses(h: Harness, drafts: Sequence[OrderDraft]) -> None:
    """Check that payloads of the wrong shape raise storelink errors (MappingError), never anything else."""
    bodies = {
        "an HTML page": (b"<html><body>Maintenance</body></html>", "text/html"),
        "an empty JSON object": (b"{}", "application/json"),
        "a JSON list": (b"[1, 2]", "application/json"),
        "JSON with null fields": (b'{"id": null, "items": null, "data": null, "error": null}', "application/json"),
    }
    for label, (content, kind) in bodies.items():

        def respond(request: httpx.Request, content: bytes = content, kind: str = kind) -> httpx.Response:
            return httpx.Response(200, content=content, headers={"content-type": kind}, request=request)

        async def judge(hook: str, pending: Awaitable[Any], label: str = label) -> None:
            try:
                result = await pending
            except PluginError as exc:
                raise ContractViolation(
                    hook,
                    "only storelink errors escape",
                    f"failed on a 200 response holding {label}: {exc}",
                    "decode payloads with functions that raise MappingError(path=...) for what does not fit",
                ) from exc
            except StorelinkError:
                return
            results = result if isinstance(result, list) else [result]
            check_models(hook, [r for r in results if r is not None], "result")

        await _run_faulted(h, drafts, _answer_data_requests(h, respond), judge)


async def check_errors_propagate(h: Harness, drafts: Sequence[OrderDraft]) -> None:
    """Check that every hook lets a platform outage (503) surface as a storelink error."""

    async def judge(hook: str, pending: Awaitable[Any]) -> None:
        try:
            await pending
        except PluginError as exc:
            raise ContractViolation(hook, "errors propagate", f"failed on a 503: {exc}", _PROPAGATE) from exc
        except StorelinkError:
            return
        raise ContractViolation(
            hook, "errors propagate", "returned a result although the platform answered 503", _PROPAGATE
        )

    outage = _answer_data_requests(h, lambda r: json_response(503, {"error": "unavailable"}, r))
    await _run_faulted(h, drafts, outage, judge)


async def _run_faulted(
    h: Harness, drafts: Sequence[OrderDraft], fault: Fault, judge: Callable[[str, Awaitable[Any]], Awaitable[None]]
) -> None:
    """Call every data hook once with *fault* answering its requests, and *judge* the outcome."""
    async with h.runtime(attempts=1) as rt:
        await _expect_ok(h, rt, *_probe(h), "setup", "before the fault was injected")  # the core holds a token now
        for hook, kwargs in data_calls(h, drafts):
            h.faults.add(fault)
            try:
                await judge(hook, h.call(rt, hook, **kwargs))
            finally:
                h.faults.clear()


async def check_no_secret_leaks(h: Harness, drafts: Sequence[OrderDraft]) -> None:
    """Run every hook, on success and on failure, and look for a secret in logs and errors."""
    with h.logs.installed():
        await check_authenticate(h)
        async with h.runtime() as rt:
            for hook, kwargs in data_calls(h, drafts):
                with contextlib.suppress(StorelinkError):  # failures are looked at below, for secrets
                    await h.call(rt, hook, **kwargs)
        for check in (check_invalid_credentials, check_reauthenticates_on_401):
            await check(h)
        await check_errors_propagate(h, drafts)
    secrets = h.secret_values()
    for hook, line in h.logs.lines:
        for secret in secrets:
            if secret in line:
                raise ContractViolation(
                    hook,
                    "no secret in logs",
                    f"logged a secret: {line.replace(secret, '<the secret>')[:200]!r}",
                    "never log a revealed secret; log the Secret object, which masks itself",
                )
    for exc in h.errors:
        chain: BaseException | None = exc
        while chain is not None:
            text = f"{chain} {chain!r}"
            for secret in secrets:
                if secret in text:
                    raise ContractViolation(
                        getattr(chain, "hook", None) or getattr(chain, "operation", None) or "error",
                        "no secret in errors",
                        f"raised an error whose text holds a secret ({type(chain).__name__})",
                        "never put a revealed secret or an auth response body into an error message",
                    )
            chain = chain.__cause__ or chain.__context__
