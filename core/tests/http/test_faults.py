"""Error mapping at the one boundary: statuses and transport errors to storelink errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storelink import (
    AuthorizationError,
    ConflictError,
    CredentialsError,
    ErrorDetail,
    NotFoundError,
    OrderOutcomeUnknown,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
    hookimpl,
)
from storelink.http.faults import Call, deadline_error, oversize_error, response_error, transport_error


def error_response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"x-fake-request": "req-77", **headers},
        json={"error": {"code": "E" + str(status), "message": f"store says {status}"}},
    )


@pytest.mark.parametrize(
    ("status", "audience", "kind"),
    [
        (301, "default", RejectedError),
        (304, "default", RejectedError),
        (400, "default", RejectedError),
        (401, None, CredentialsError),
        (403, None, CredentialsError),
        (401, "default", AuthorizationError),
        (403, "default", AuthorizationError),
        (404, "default", NotFoundError),
        (405, "default", RejectedError),
        (409, "default", ConflictError),
        (412, "default", ConflictError),
        (418, "default", RejectedError),
        (422, "default", RejectedError),
        (429, "default", RetryableError),
        (500, "default", RetryableError),
        (502, "default", RetryableError),
        (503, None, RetryableError),
        (504, "default", RetryableError),
    ],
)
def test_statuses_map_to_the_error_tree(platform: Any, status: int, audience: str | None, kind: type) -> None:
    call = Call(platform=platform, operation="fetch_products", audience=audience)
    error = response_error(call, error_response(status))
    assert type(error) is kind


def test_platform_errors_carry_platform_operation_status_code_and_request_id(platform: Any) -> None:
    call = Call(platform=platform, operation="fetch_products", audience="default")
    error = response_error(call, error_response(404))
    assert isinstance(error, NotFoundError)
    assert (error.platform, error.operation, error.status, error.code, error.request_id) == (
        "fake",
        "fetch_products",
        404,
        "E404",
        "req-77",
    )
    assert str(error) == "fake fetch_products: store says 404 (HTTP 404, code E404)"


def test_retryable_errors_carry_retry_after(platform: Any) -> None:
    call = Call(platform=platform, operation="fetch_products", audience="default")
    error = response_error(call, error_response(503), retry_after=12.0)
    assert isinstance(error, RetryableError)
    assert error.retry_after == 12.0


def test_403_names_the_capability_of_the_operation(platform: Any) -> None:
    for operation, capability in [("fetch_orders", "orders"), ("create_order", "create_orders"), ("login", None)]:
        error = response_error(Call(platform=platform, operation=operation, audience="default"), error_response(403))
        assert isinstance(error, AuthorizationError)
        assert error.capability == capability


def test_an_auth_endpoints_body_is_never_copied_into_the_error(platform: Any) -> None:
    secret = "sk-live-CANARY-0123456789abcdef"
    response = httpx.Response(
        401, json={"error": {"code": "invalid_key", "message": f"key {secret} is not valid", "key": secret}}
    )
    error = response_error(Call(platform=platform, operation="login", audience=None), response)
    assert isinstance(error, CredentialsError)
    assert secret not in str(error)
    assert secret not in repr(error)
    assert str(error) == "fake login: the platform rejected the credentials (HTTP 401, code invalid_key)"


def test_a_request_id_header_is_used_when_the_body_has_none(platform: Any) -> None:
    call = Call(platform=platform, operation="fetch_products", audience="default")
    error = response_error(call, httpx.Response(503, text="<html>down</html>", headers={"X-Request-Id": "abc-123"}))
    assert isinstance(error, RetryableError)
    assert (error.request_id, error.code) == ("abc-123", None)
    assert str(error) == "fake fetch_products: Service Unavailable (HTTP 503)"


def test_codes_and_request_ids_that_are_free_text_are_dropped(platform: Any) -> None:
    response = httpx.Response(
        400,
        json={"error": {"code": "bad\nLog: forged line", "message": "m"}},
        headers={"x-fake-request": "id with spaces"},
    )
    error = response_error(Call(platform=platform, operation="fetch_products", audience="default"), response)
    assert isinstance(error, PlatformError)
    assert (error.code, error.request_id) == (None, None)


def test_platform_messages_are_single_line_and_scrubbed(platform: Any) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlMTIz"
    response = httpx.Response(400, json={"error": {"message": f"bad token {jwt}\r\nINFO forged"}})
    error = response_error(Call(platform=platform, operation="fetch_products", audience="default"), response)
    assert "\n" not in str(error)
    assert "\r" not in str(error)
    assert jwt not in str(error)


def test_a_redirect_names_only_the_target_host(platform: Any) -> None:
    response = httpx.Response(302, headers={"Location": "https://login.example.net/sso?token=abc123secret"})
    error = response_error(Call(platform=platform, operation="fetch_products", audience="default"), response)
    assert isinstance(error, RejectedError)
    assert "login.example.net" in str(error)
    assert "abc123secret" not in str(error)


def test_writes_get_outcome_unknown_for_ambiguous_answers(platform: Any) -> None:
    call = Call(platform=platform, operation="create_order", audience="agent", idempotent=False, reference="ref-9")
    for status in (303, 429, 500, 503):
        error = response_error(call, error_response(status))
        assert isinstance(error, OrderOutcomeUnknown)
        assert error.reference == "ref-9"
    assert isinstance(response_error(call, error_response(400)), RejectedError)
    assert isinstance(response_error(call, error_response(409)), ConflictError)


def test_a_broken_describe_error_falls_back_to_the_bare_status(fakes: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(fakes.FakePlatform):  # type: ignore[misc]
        @hookimpl
        def describe_error(self, response: httpx.Response) -> ErrorDetail | None:
            raise KeyError("oops")

    platform = fakes.make_platform(Broken())
    error = response_error(Call(platform=platform, operation="fetch_products", audience="default"), error_response(503))
    assert isinstance(error, RetryableError)
    assert error.code is None
    assert any("describe_error failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("exc", "write", "kind"),
    [
        (httpx.ConnectError("x"), False, RetryableError),
        (httpx.ReadTimeout("x"), False, RetryableError),
        (httpx.RemoteProtocolError("x"), False, RetryableError),
        (httpx.ConnectError("x"), True, RetryableError),
        (httpx.PoolTimeout("x"), True, RetryableError),
        (httpx.ReadTimeout("x"), True, OrderOutcomeUnknown),
        (httpx.WriteError("x"), True, OrderOutcomeUnknown),
        (httpx.DecodingError("x"), False, PlatformError),
        (httpx.LocalProtocolError("x"), False, PluginError),
    ],
)
def test_transport_errors_map_to_the_error_tree(
    platform: Any, exc: httpx.RequestError, write: bool, kind: type
) -> None:
    call = Call(platform=platform, operation="op", audience="default", idempotent=not write, reference="r")
    assert type(transport_error(call, exc)) is kind


def test_transport_error_messages_name_the_host_and_the_failure(platform: Any) -> None:
    request = httpx.Request("GET", "https://store.example.com/items?token=abc123")
    error = transport_error(
        Call(platform=platform, operation="op", audience="default"), httpx.ReadTimeout("x", request=request)
    )
    assert str(error) == "fake op: could not reach store.example.com (ReadTimeout)"


def test_deadline_and_oversize_errors(platform: Any) -> None:
    read = Call(platform=platform, operation="op", audience="default")
    write = Call(platform=platform, operation="create_order", audience="agent", idempotent=False, reference="r")
    assert isinstance(deadline_error(read, 60, sent=True), RetryableError)
    assert isinstance(deadline_error(write, 60, sent=False), RetryableError)
    assert isinstance(deadline_error(write, 60, sent=True), OrderOutcomeUnknown)
    assert type(oversize_error(read, 200, 10)) is PlatformError
    assert isinstance(oversize_error(write, 201, 10), OrderOutcomeUnknown)
    assert type(oversize_error(write, 400, 10)) is RejectedError  # a definite refusal, however long
    assert type(oversize_error(write, 409, 10)) is ConflictError  # the ledger looks the reference up
    assert type(oversize_error(write, 429, 10)) is PlatformError  # not a refusal of the order
