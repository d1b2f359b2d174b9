"""``storelink.http.error_for``: the runtime's status mapping, for errors reported inside a 2xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storelink import (
    AuthorizationError,
    CredentialsError,
    ErrorDetail,
    NotFoundError,
    PlatformError,
    RetryableError,
)
from storelink.context import running_hook
from storelink.http import error_for
from storelink.http.faults import Call, response_error


def error_response(status: int) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"x-fake-request": "req-77"},
        json={"error": {"code": f"E{status}", "message": f"store says {status}"}},
    )


@pytest.mark.parametrize("status", [400, 403, 404, 405, 409, 412, 418, 422, 429, 500, 502, 503, 504])
@pytest.mark.parametrize(("operation", "audience"), [("fetch_orders", "default"), ("login", None)])
def test_error_for_gives_what_an_error_response_of_that_status_gives(
    platform: Any, status: int, operation: str, audience: str | None
) -> None:
    """Same class, message, code, request id and capability as the runtime's mapping of the status."""
    by_status = response_error(Call(platform=platform, operation=operation, audience=audience), error_response(status))
    detail = ErrorDetail(message=f"store says {status}", code=f"E{status}", request_id="req-77")
    reported = error_for(status, detail, platform="fake", operation=operation)
    assert type(reported) is type(by_status)
    assert str(reported) == str(by_status)
    assert vars(reported) == vars(by_status)


def test_a_401_reported_inside_a_2xx_is_not_said_to_follow_a_renewal() -> None:
    error = error_for(401, ErrorDetail(code="E1"), platform="fake", operation="fetch_orders")
    assert isinstance(error, AuthorizationError)
    assert str(error) == "fake fetch_orders: the platform refused the access token (HTTP 401, code E1)"
    assert error.capability == "orders"


def test_an_error_without_a_status_is_a_platform_error_or_a_refused_login() -> None:
    read = error_for(None, ErrorDetail(message="no such thing", code="E9"), platform="fake", operation="get_order")
    assert type(read) is PlatformError
    assert str(read) == "fake get_order: no such thing (code E9)"
    login = error_for(None, ErrorDetail(message="bad key", code="E9"), platform="fake", operation="login")
    assert isinstance(login, CredentialsError)
    assert str(login) == "fake login: the platform rejected the credentials (code E9)"


def test_a_login_or_refresh_message_never_reaches_the_error() -> None:
    canary = "CANARY-key-payload-77aa"
    for status in (None, 400, 401, 500):
        for operation in ("login", "refresh"):
            error = error_for(status, ErrorDetail(message=f"bad {canary}"), platform="fake", operation=operation)
            assert canary not in str(error)
            assert canary not in repr(vars(error))


def test_the_message_is_scrubbed_and_the_code_kept_only_if_it_looks_like_one() -> None:
    detail = ErrorDetail(message="line one\nline two", code="not a code, free text", request_id="r-1")
    error = error_for(404, detail, platform="fake", operation="get_order")
    assert isinstance(error, NotFoundError)
    assert "\n" not in str(error)
    assert (error.code, error.request_id) == (None, "r-1")


def test_retry_after_is_carried() -> None:
    error = error_for(503, None, platform="fake", operation="fetch_products", retry_after=7.0)
    assert isinstance(error, RetryableError)
    assert error.retry_after == 7.0
    assert str(error) == "fake fetch_products: Service Unavailable (HTTP 503)"


def test_the_operation_defaults_to_the_running_hooks() -> None:
    with pytest.raises(ValueError, match="needs the operation outside a platform hook"):
        error_for(404, None, platform="fake")
    with running_hook("get_order"):
        assert error_for(404, None, platform="fake").operation == "get_order"  # type: ignore[attr-defined]
    with running_hook("authenticate"):
        refused = error_for(403, None, platform="fake", operation="authenticate")
    assert isinstance(refused, CredentialsError)
    assert str(refused) == "fake login: the platform rejected the credentials (HTTP 403)"
