"""OCC's error envelope, in error responses and inside HTTP 200, and login bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from storelink import (
    AuthorizationError,
    ConflictError,
    CredentialsError,
    ErrorDetail,
    NotFoundError,
    PlatformError,
    RejectedError,
    RetryableError,
    StorelinkError,
)
from storelink_occ import api
from storelink_occ.auth import DEFAULT_LIFETIME, token_from_response

Load = Callable[[str], Any]


def response(status: int, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
    return httpx.Response(status, content=content, headers={"content-type": "application/json", **headers})


def test_describe_error_reads_the_documented_envelope(fixture: Load) -> None:
    detail = api.describe_error(response(400, fixture("error_missing_language"), **{"X-Oracle-DMS-ECID": "ecid-42"}))
    assert detail == ErrorDetail(
        message="Required header is missing: x-ccasset-language", code="82001", request_id="ecid-42"
    )


def test_describe_error_joins_the_multiple_error_format(fixture: Load) -> None:
    detail = api.describe_error(response(400, fixture("error_multiple")))
    assert detail is not None
    assert detail.message == (
        "Error while retrieving the products: Product Id xprod100 is invalid or non-existent.; "
        "Product Id xprod101 is invalid or non-existent."
    )
    assert detail.code == "20031"


def test_describe_error_masks_tokens_in_oauth_style_errors(fixture: Load) -> None:
    detail = api.describe_error(response(401, fixture("error_oauth")))
    assert detail is not None
    assert detail.message == "The token *** is not valid"
    assert "CANARY" not in repr(detail)


@pytest.mark.parametrize(
    "body",
    [b"<html>Service Unavailable</html>", b"", [1, 2], {"items": []}, {"message": "ok", "status": "200"}],
)
def test_describe_error_ignores_bodies_that_are_not_envelopes(body: Any) -> None:
    assert api.describe_error(response(500, body)) is None


def test_describe_error_leaves_an_unread_stream_alone() -> None:
    streamed = httpx.Response(500, stream=httpx.ByteStream(b'{"errorCode": "1"}'))
    assert api.describe_error(streamed) is None


@pytest.mark.parametrize(
    ("name", "status", "kind", "code"),
    [
        ("error_in_200", 200, RejectedError, "20031"),
        ("error_multiple", 200, RejectedError, "20031"),  # the code of the first nested error
        ("error_server", 200, RetryableError, "100000"),
    ],
)
def test_an_envelope_inside_http_200_raises_the_matching_error(
    fixture: Load, name: str, status: int, kind: type[StorelinkError], code: str
) -> None:
    with pytest.raises(kind) as caught:
        api.read_json(response(status, fixture(name)), operation="fetch_products")
    error = caught.value
    assert isinstance(error, PlatformError)
    assert error.platform == "occ"
    assert error.operation == "fetch_products"
    assert error.code == code


def test_an_error_in_200_at_login_is_a_credentials_error(fixture: Load) -> None:
    with pytest.raises(CredentialsError, match=r"^occ login: the platform rejected the credentials"):
        api.read_json(response(200, fixture("login_rejected")), operation="login")
    with pytest.raises(CredentialsError):
        api.read_json(response(200, fixture("error_oauth")), operation="login")


@pytest.mark.parametrize("operation", ["login", "refresh"])
@pytest.mark.parametrize("status", [None, 401, 500, 400])
def test_an_auth_error_in_200_never_carries_the_body_into_the_error(operation: str, status: int | None) -> None:
    # A login/refresh endpoint that echoes the key in a form the JWT mask misses
    # (here: the key's payload only) must not put it into the exception text.
    echoed = "CANARY-app-key-payload-4f2a9c"
    body: dict[str, Any] = {"errorCode": "20303", "message": f"invalid key {echoed}"}
    if status is not None:
        body["status"] = str(status)
    with pytest.raises(StorelinkError) as caught:
        api.read_json(response(200, body), operation=operation)
    assert echoed not in str(caught.value)
    assert echoed not in repr(caught.value)


def test_a_body_that_is_not_json_is_a_platform_error() -> None:
    with pytest.raises(PlatformError, match="not JSON; check the store URL") as caught:
        api.read_json(response(200, b"<html>login</html>"), operation="fetch_products")
    assert type(caught.value) is PlatformError


def test_success_bodies_pass_through() -> None:
    assert api.read_json(response(200, {"items": [], "message": "fine"}), operation="x") == {
        "items": [],
        "message": "fine",
    }
    assert api.read_json(httpx.Response(204), operation="x") is None


@pytest.mark.parametrize(
    ("status", "operation", "kind"),
    [
        (401, "login", CredentialsError),
        (403, "refresh", CredentialsError),
        (None, "login", CredentialsError),
        (401, "fetch_orders", AuthorizationError),
        (403, "create_order", AuthorizationError),
        (404, "get_order", NotFoundError),
        (409, "create_order", ConflictError),
        (412, "create_order", ConflictError),
        (429, "fetch_products", RetryableError),
        (500, "fetch_products", RetryableError),
        (504, "fetch_products", RetryableError),
        (400, "fetch_products", RejectedError),
        (422, "create_order", RejectedError),
        (None, "fetch_products", PlatformError),
    ],
)
def test_envelope_statuses_map_to_what_the_caller_should_do(
    status: int | None, operation: str, kind: type[StorelinkError]
) -> None:
    body: dict[str, Any] = {"errorCode": "c", "message": "m"}
    if status is not None:
        body["status"] = str(status)
    with pytest.raises(StorelinkError) as caught:
        api.read_json(response(200, body), operation=operation)
    assert type(caught.value) is kind


def test_authorization_errors_name_the_capability() -> None:
    with pytest.raises(AuthorizationError) as caught:
        api.read_json(response(200, {"errorCode": "c", "status": "403"}), operation="fetch_inventory")
    assert caught.value.capability == "inventory"


# --------------------------------------------------------------------------- login bodies


def test_a_login_response_becomes_a_token(fixture: Load) -> None:
    token = token_from_response(fixture("login_ok"), audience="admin")
    assert token.expires_in == 300
    assert token.audience == "admin"
    assert token.token_type == "bearer"
    assert token.value.reveal() == fixture("login_ok")["access_token"]
    assert fixture("login_ok")["access_token"] not in repr(token)


def test_a_login_without_expires_in_lasts_five_minutes(fixture: Load) -> None:
    assert token_from_response(fixture("login_without_expires_in"), audience="agent").expires_in == DEFAULT_LIFETIME
    assert token_from_response(fixture("refresh_ok"), audience="admin").expires_in == DEFAULT_LIFETIME


@pytest.mark.parametrize("expires_in", [0, -5, "soon", True, None])
def test_an_unusable_lifetime_falls_back_to_the_default(fixture: Load, expires_in: Any) -> None:
    body = {**fixture("login_ok"), "expires_in": expires_in}
    assert token_from_response(body, audience="admin").expires_in == DEFAULT_LIFETIME


def test_a_numeric_string_lifetime_is_read(fixture: Load) -> None:
    assert token_from_response({**fixture("login_ok"), "expires_in": "930"}, audience="admin").expires_in == 930


def test_a_2xx_login_without_a_token_is_a_credentials_error(fixture: Load) -> None:
    with pytest.raises(CredentialsError, match="without an access token"):
        token_from_response(fixture("login_without_token"), audience="admin")


@pytest.mark.parametrize("body", [[], None, {"access_token": ""}, {"access_token": 12}])
def test_bodies_without_a_usable_token_are_credentials_errors(body: Any) -> None:
    with pytest.raises(CredentialsError, match="without an access token"):
        token_from_response(body, audience="admin")
