"""Connect sessions, CSRF tokens, the CSP and the failure messages, as units."""

from __future__ import annotations

from typing import Any

import pytest

from storelink import (
    AuthorizationError,
    CredentialsError,
    EgressError,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
    StoreURLError,
    VaultError,
)
from storelink.connect import ConnectSessions
from storelink.connect.failures import describe_failure, missing_permission, timed_out
from storelink.connect.security import CsrfTokens, SessionError, content_security_policy


def _sessions(kit: Any, clock: Any, **options: Any) -> ConnectSessions:
    return ConnectSessions(clock=clock, **options)


async def _create(sessions: ConnectSessions, kit: Any) -> tuple[Any, str]:
    return await sessions.create(channel=kit.CHANNEL, redirect_uri=kit.REDIRECTS[0], state="s", platforms=("shop",))


async def _reason(call: Any) -> str:
    with pytest.raises(SessionError) as caught:
        await call
    return caught.value.reason


async def test_a_ticket_opens_a_session_once_for_one_browser(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock)
    session, ticket = await _create(sessions, kit)
    assert await _reason(sessions.get(session.id, "browser-a")) == "missing"
    assert await sessions.open(session.id, ticket, "browser-a") is session
    assert await sessions.get(session.id, "browser-a") is session
    assert await _reason(sessions.open(session.id, ticket, "browser-a")) == "used"
    assert await _reason(sessions.get(session.id, "browser-b")) == "other_browser"
    assert await _reason(sessions.get(session.id, None)) == "other_browser"


async def test_a_wrong_or_missing_ticket_does_not_open_the_session(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock)
    session, ticket = await _create(sessions, kit)
    assert await _reason(sessions.open(session.id, None, "b")) == "missing"
    assert await _reason(sessions.open(session.id, ticket[:-1] + "x", "b")) == "unknown"
    assert await _reason(sessions.open("nope", ticket, "b")) == "unknown"
    assert await sessions.open(session.id, ticket, "b") is session


async def test_a_session_expires_after_ten_minutes(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock)
    session, ticket = await _create(sessions, kit)
    await sessions.open(session.id, ticket, "b")
    clock.now += 599.9
    assert await sessions.get(session.id, "b") is session
    clock.now += 0.1
    assert await _reason(sessions.get(session.id, "b")) == "expired"


async def test_a_completed_session_is_spent(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock)
    session, ticket = await _create(sessions, kit)
    await sessions.open(session.id, ticket, "b")
    sessions.complete(session)
    assert await _reason(sessions.get(session.id, "b")) == "used"


async def test_expired_sessions_are_purged_and_the_store_is_bounded(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock, limit=3)
    for _ in range(3):
        await _create(sessions, kit)
    assert await _reason(_create(sessions, kit)) == "busy"
    clock.now += 600
    await _create(sessions, kit)
    assert len(sessions) == 1


async def test_secrets_stay_out_of_the_session_repr(kit: Any, clock: Any) -> None:
    sessions = _sessions(kit, clock)
    session, ticket = await _create(sessions, kit)
    await sessions.open(session.id, ticket, "browser-secret")
    text = repr(session)
    assert ticket not in text
    assert "browser-secret" not in text
    assert "state=" not in text


def test_csrf_tokens_are_bound_to_the_browser_and_the_scope() -> None:
    csrf = CsrfTokens(b"k" * 32)
    token = csrf.issue("browser-a", "session-1")
    assert csrf.check("browser-a", "session-1", token)
    assert not csrf.check("browser-b", "session-1", token)
    assert not csrf.check("browser-a", "session-2", token)
    assert not csrf.check(None, "session-1", token)
    assert not csrf.check("browser-a", "session-1", None)
    assert not csrf.check("browser-a", "session-1", "")
    assert not CsrfTokens(b"j" * 32).check("browser-a", "session-1", token)


def test_the_csp_allows_nothing_but_the_app_and_the_form_targets() -> None:
    assert content_security_policy() == (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    assert "form-action 'self' https://a.example;" in content_security_policy(["https://a.example"] * 2)


@pytest.mark.parametrize(
    ("error", "code", "field", "status"),
    [
        (StoreURLError("The URL needs a host."), "invalid_store_url", "store_url", 422),
        (EgressError("private"), "store_url_refused", "store_url", 422),
        (CredentialsError("no"), "key_rejected", "api_key", 422),
        (CredentialsError("no", field="account"), "key_rejected", "account", 422),
        (AuthorizationError("no", capability="orders"), "permission_missing", "api_key", 422),
        (RetryableError("down", status=503), "platform_unavailable", None, 503),
        (RetryableError("timeout"), "store_unreachable", None, 502),
        (RejectedError("bad request", status=400), "platform_error", None, 502),
        (PlatformError("odd"), "platform_error", None, 502),
        (PluginError("broke", plugin="shop"), "plugin_error", None, 500),
        (VaultError("cannot decrypt"), "internal_error", None, 500),
    ],
)
def test_each_error_becomes_a_specific_failure(
    registry: Any, error: Exception, code: str, field: str | None, status: int
) -> None:
    info = registry.platform("shop").info
    failure = describe_failure(error, info, "https://shop.example.com")  # type: ignore[arg-type]
    assert (failure.code, failure.field, failure.status) == (code, field, status)
    assert failure.message.endswith(".")


@pytest.mark.parametrize(
    ("capability", "phrase"),
    [("orders", "read orders"), ("create_orders", "create orders"), ("reviews", "use reviews"), (None, "storelink")],
)
def test_a_missing_permission_names_what_the_key_cannot_do(registry: Any, capability: str | None, phrase: str) -> None:
    failure = missing_permission(registry.platform("shop").info, capability)
    assert phrase in failure.message


def test_a_timeout_says_how_long_was_waited(registry: Any) -> None:
    failure = timed_out(registry.platform("shop").info, 8.0)
    assert failure.message == "Fake Shop did not answer within 8 seconds. Try again in a minute."
    assert failure.to_json() == {"code": "platform_unavailable", "message": failure.message, "field": None}
