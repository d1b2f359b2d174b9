"""GraphQL answers to storelink errors: THROTTLED, ACCESS_DENIED, errors inside a 200, HTTP error bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from storelink import AuthorizationError, MappingError, PlatformError, RejectedError, RetryableError
from storelink.context import running_hook
from storelink_shopify.api import MAX_WAIT, MIN_WAIT, describe_error, graphql_error, read_graphql, throttle_wait

REQUEST = httpx.Request("POST", "https://mystore.myshopify.com/admin/api/2026-10/graphql.json")


def answer(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers, request=REQUEST)


def _read(response: httpx.Response, hook: str) -> dict[str, Any]:
    """Read *response* as the core runs hook *hook*: errors are named after it."""
    with running_hook(hook):
        return read_graphql(response)


def cost(requested: float, available: float, rate: float = 50.0) -> dict[str, Any]:
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": None,
        "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": rate},
    }


@pytest.mark.parametrize(
    ("requested", "available", "rate", "wait"),
    [
        (752, 666, 50.0, 1.8),  # 86 points at 50/s: 1.72 s, rounded up to a tenth
        (400, 0, 100.0, 4.0),
        (10, 9.5, 100.0, MIN_WAIT),  # never a busy loop
        (1000, 0, 1.0, MAX_WAIT),  # never longer than a minute
    ],
)
def test_the_throttle_wait_is_the_time_the_bucket_needs_for_the_query(
    requested: float, available: float, rate: float, wait: float
) -> None:
    assert throttle_wait(cost(requested, available, rate)) == wait


@pytest.mark.parametrize(
    "extension",
    [{}, {"requestedQueryCost": 10}, cost(10, 0, rate=0.0), {"requestedQueryCost": "x", "throttleStatus": {}}],
)
def test_without_usable_numbers_there_is_no_throttle_wait(extension: dict[str, Any]) -> None:
    assert throttle_wait(extension) is None


def test_throttled_inside_a_200_is_retryable_after_the_computed_wait() -> None:
    body = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": cost(752, 666)},
    }
    with pytest.raises(RetryableError) as raised:
        _read(answer(body, **{"x-request-id": "req-1"}), "fetch_products")
    assert raised.value.retry_after == 1.8
    assert (raised.value.code, raised.value.status, raised.value.request_id) == ("THROTTLED", 200, "req-1")


def test_access_denied_names_the_capability_of_the_operation() -> None:
    body = {
        "data": None,
        "errors": [
            {"message": "Access denied for orders field.", "extensions": {"code": "ACCESS_DENIED"}},
        ],
    }
    with pytest.raises(AuthorizationError) as raised:
        _read(answer(body), "fetch_orders")
    assert raised.value.capability == "orders"
    assert "Access denied for orders field" in raised.value.message


def test_an_internal_server_error_inside_a_200_is_retryable() -> None:
    body = {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    with pytest.raises(RetryableError):
        _read(answer(body), "fetch_products")


def test_other_graphql_errors_are_rejections_with_every_message() -> None:
    body = {
        "errors": [
            {"message": "Field 'nope' doesn't exist on type 'Product'", "extensions": {"code": "undefinedField"}},
            {"message": "Variable $first is required"},
        ]
    }
    with pytest.raises(RejectedError) as raised:
        _read(answer(body), "fetch_products")
    assert raised.value.code == "undefinedField"
    assert "doesn't exist" in raised.value.message
    assert "$first is required" in raised.value.message


def test_a_token_echoed_in_an_error_message_is_masked() -> None:
    error = graphql_error([{"message": "bad token shpat_0123456789abcdef0123456789abcdef"}], {})
    assert "shpat_0" not in str(error)
    assert "***" in str(error)


def test_an_html_page_is_a_platform_error_and_cut_off_json_a_value_error() -> None:
    with pytest.raises(PlatformError, match="not JSON"):
        _read(answer(b"<html>Shop unavailable</html>"), "fetch_products")
    with pytest.raises(ValueError, match=r".*"):
        _read(answer(b'{"data": {"products": '), "fetch_products")


@pytest.mark.parametrize("body", [[1, 2], {"data": None}, {"data": []}, {}])
def test_an_answer_without_a_data_object_is_a_mapping_error(body: Any) -> None:
    with pytest.raises(MappingError):
        _read(answer(body), "fetch_products")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, "Invalid API key"),
        ({"errors": [{"message": "Not Found"}]}, "Not Found"),
        ({"errors": {"query": "Required parameter missing or invalid"}}, "query: Required parameter"),
    ],
)
def test_describe_error_reads_every_shape_of_shopify_s_error_body(body: Any, message: str) -> None:
    detail = describe_error(answer(body, 401, **{"x-request-id": "abc"}))
    assert detail is not None
    assert detail.message is not None
    assert message in detail.message
    assert detail.request_id == "abc"


def test_describe_error_ignores_bodies_that_are_not_shopify_errors() -> None:
    assert describe_error(answer(b"<html>", 502)) is None
    assert describe_error(answer({"message": "other"}, 500)) is None


def test_errors_name_the_hook_the_core_is_running() -> None:
    """The operation comes from the core (current_operation), not from the plugin."""
    body = {"errors": [{"message": "Field 'nope' doesn't exist", "extensions": {"code": "undefinedField"}}]}
    with pytest.raises(RejectedError) as raised:
        _read(answer(body), "get_order")
    assert raised.value.operation == "get_order"


def test_access_denied_names_the_core_s_capability_of_the_hook() -> None:
    """find_order belongs to create_orders in the core's CAPABILITY_HOOKS, as in a 403's mapping."""
    body = {"errors": [{"message": "Access denied", "extensions": {"code": "ACCESS_DENIED"}}]}
    with pytest.raises(AuthorizationError) as raised:
        _read(answer(body), "find_order")
    assert raised.value.capability == "create_orders"
