"""Bounded body parsing (``parse_json``) and writes that provably never left ("not sent")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import (
    CredentialsError,
    EgressError,
    InputError,
    OrderOutcomeUnknown,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
)
from storelink.http import EgressPolicy, HttpConfig, RetryConfig, StaticResolver
from storelink.http.faults import was_not_sent
from storelink.http.runtime import MAX_JSON_DEPTH, MAX_REQUEST_BYTES, ConnectionRuntime, UnreadableBody, parse_json
from storelink.http.runtime import _depth as runtime_depth

from .conftest import FakeStore, RuntimeFactory

FAST = HttpConfig(retry=RetryConfig(attempts=3, backoff_base=0.01, backoff_cap=0.01))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def depth_of(value: Any) -> int:
    """The nesting of arrays and objects of a decoded value (the reference the scan must match)."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# --------------------------------------------------------------------------- parse_json


def test_a_body_as_deep_as_the_limit_parses() -> None:
    assert depth_of(parse_json(nested(MAX_JSON_DEPTH))) == MAX_JSON_DEPTH


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_a_body_deeper_than_the_limit_is_unreadable_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(UnreadableBody, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
        parse_json(nested(depth))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[" * 500 + '"\\' + "{" * 500, "items": [{"id": "]]]"}]})
    assert parse_json(text)["items"][0]["id"] == "]]]"


def test_a_string_cannot_hide_depth_with_closing_brackets() -> None:
    body = b'["]]]]]]]]]]",' + nested(MAX_JSON_DEPTH) + b"]"
    with pytest.raises(UnreadableBody):
        parse_json(body)


def test_a_number_thousands_of_digits_long_is_unreadable() -> None:
    with pytest.raises(UnreadableBody, match="number too long"):
        parse_json(b'{"price": ' + b"9" * 5_000 + b"}")


def test_a_cut_off_body_is_a_plain_decode_error_that_reads_retry() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        parse_json(b'{"items": [1, 2')
    assert not isinstance(caught.value, UnreadableBody)


def test_fractions_parse_as_the_caller_asks() -> None:
    assert parse_json(b'{"price": 1E+400}', parse_float=Decimal) == {"price": Decimal("1E+400")}


_leaves = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=8)
_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


@given(_values)
def test_the_depth_limit_is_exact_for_any_json(value: Any) -> None:
    """Whatever the strings hold (brackets, quotes, escapes), a body parses iff it is within the limit."""
    depth = depth_of(value)
    for limit in (max(depth - 1, 0), depth):
        body = json.dumps(value)
        if depth <= limit:
            assert parse_json(body, max_depth=limit) == value
        else:
            with pytest.raises(UnreadableBody):
                parse_json(body, max_depth=limit)


def wide(depth: int, siblings: int) -> Any:
    """A value *depth* deep with *siblings* arrays and objects side by side at every level."""
    if depth == 0:
        return "[{x}]"
    inner = wide(depth - 1, 1)
    return [inner if i % 2 else {"k": inner, "s": '"]"'} for i in range(siblings)] if depth % 2 else {"a": inner}


@pytest.mark.parametrize(
    ("depth", "siblings"),
    [(1, 250), (7, 250), (MAX_JSON_DEPTH, 3), (MAX_JSON_DEPTH + 1, 3), (150, 2)],
)
def test_the_depth_scan_is_exact_for_wide_and_deep_bodies(depth: int, siblings: int) -> None:
    """Thousands of siblings, and nestings deeper than the scan's folding passes, are measured exactly."""
    value = {"items": [wide(depth, siblings) for _ in range(3)], "note": 'a \\" [[ \\\\'}
    expected = depth_of(value)
    for body in (json.dumps(value), json.dumps(value, separators=(",", ":"))):
        assert runtime_depth(body.encode()) == expected
        if expected > MAX_JSON_DEPTH:
            with pytest.raises(UnreadableBody):
                parse_json(body)
        else:
            assert parse_json(body) == value


def test_escaped_backslashes_and_quotes_do_not_hide_or_add_depth() -> None:
    value = ["\\", '\\"', '"[[', "\\\\]]", {"k\\": ["x"]}]
    assert runtime_depth(json.dumps(value).encode()) == depth_of(value) == 3


# --------------------------------------------------------------------------- readers in the runtime


def _deep(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=nested(100_000))


async def test_a_deep_body_read_with_parse_json_is_a_platform_error_not_retried(
    make_runtime: RuntimeFactory, store: FakeStore
) -> None:
    store.script = [httpx.Response(200, content=nested(100_000))]
    runtime = make_runtime(config=FAST)
    with pytest.raises(PlatformError) as caught:
        await runtime.read(
            "GET", "/items", reader=lambda r: parse_json(r.content), operation="fetch_products", audience="default"
        )
    assert type(caught.value) is PlatformError
    assert "malformed answer" in str(caught.value)
    assert len(store.to("/items")) == 1  # the same store would send the same body: not sent again


async def test_a_deep_body_read_with_response_json_is_blamed_on_the_store(
    make_runtime: RuntimeFactory, store: FakeStore
) -> None:
    """A plugin that still calls ``response.json()`` gets a RecursionError; the core names the store."""
    store.script = [httpx.Response(200, content=nested(100_000))]
    runtime = make_runtime(config=FAST)
    with pytest.raises(PlatformError, match="nested more than"):
        await runtime.read("GET", "/items", reader=lambda r: r.json(), operation="fetch_products", audience="default")


async def test_a_plugin_recursing_on_a_shallow_body_is_still_its_own_error(make_runtime: RuntimeFactory) -> None:
    def forever(response: httpx.Response) -> Any:
        return forever(response)

    runtime = make_runtime(config=FAST)
    with pytest.raises(RecursionError):
        await runtime.read("GET", "/items", reader=forever, operation="fetch_products", audience="default")


async def test_a_deep_body_answering_a_write_leaves_the_outcome_unknown(
    make_runtime: RuntimeFactory, store: FakeStore
) -> None:
    store.script = [httpx.Response(201, content=nested(100_000))]
    runtime = make_runtime(config=FAST)
    with pytest.raises(OrderOutcomeUnknown, match="could not be read"):
        await runtime.read(
            "POST",
            "/orders",
            reader=lambda r: parse_json(r.content),
            operation="create_order",
            audience="agent",
            json={"x": 1},
            idempotent=False,
            reference="r1",
        )


# --------------------------------------------------------------------------- writes that never left


async def _write(runtime: ConnectionRuntime, **kwargs: Any) -> httpx.Response:
    options: dict[str, Any] = {"json": {"reference": "r1"}, **kwargs}
    return await runtime.request(
        "POST", "/orders", operation="create_order", audience="agent", idempotent=False, reference="r1", **options
    )


async def test_a_body_that_cannot_be_encoded_is_refused_unsent(make_runtime: RuntimeFactory, store: FakeStore) -> None:
    with pytest.raises(PluginError, match="could not be built, so nothing was sent") as caught:
        await _write(make_runtime(), json={"amount": object()})
    assert was_not_sent(caught.value)
    assert store.to("/orders") == []


async def test_a_body_over_the_request_limit_is_refused_unsent(make_runtime: RuntimeFactory, store: FakeStore) -> None:
    with pytest.raises(InputError, match="nothing was sent") as caught:
        await _write(make_runtime(), json={"blob": "x" * (MAX_REQUEST_BYTES + 1)})
    assert was_not_sent(caught.value)
    assert store.to("/orders") == []


async def test_a_refused_connection_is_marked_not_sent(make_runtime: RuntimeFactory, store: FakeStore) -> None:
    store.script = [httpx.ConnectError("refused")] * 3
    with pytest.raises(RetryableError, match="could not reach") as caught:
        await _write(make_runtime(config=FAST))
    assert was_not_sent(caught.value)


async def test_a_failed_login_before_a_write_is_marked_not_sent(make_runtime: RuntimeFactory, store: FakeStore) -> None:
    store.revoked = True
    with pytest.raises(CredentialsError) as caught:
        await _write(make_runtime())
    assert was_not_sent(caught.value)
    assert store.to("/orders") == []


async def test_a_login_redirect_before_a_write_is_marked_not_sent(
    make_runtime: RuntimeFactory, store: FakeStore
) -> None:
    store.login_script = [httpx.Response(302, headers={"location": "https://sso.example.net/"})]
    with pytest.raises(RejectedError, match="redirected") as caught:
        await _write(make_runtime())
    assert was_not_sent(caught.value)
    assert caught.value.operation == "login"
    assert "check the store URL" in caught.value.action


async def test_an_egress_refusal_of_a_write_is_marked_not_sent(make_runtime: RuntimeFactory) -> None:
    """The store's name resolves to a private address: the guard refuses it before dialling."""
    private = EgressPolicy.default(resolver=StaticResolver({"store.example.com": ["10.0.0.1"]}))
    with pytest.raises(EgressError) as caught:
        await _write(make_runtime(transport=None, egress=private))
    assert was_not_sent(caught.value)


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError("reset"), httpx.Response(503), httpx.Response(302, headers={"location": "/x"})],
    ids=["reset after sending", "503", "302"],
)
async def test_a_write_that_may_have_left_stays_unknown_and_unmarked(
    make_runtime: RuntimeFactory, store: FakeStore, failure: Exception | httpx.Response
) -> None:
    store.script = [failure]
    with pytest.raises(OrderOutcomeUnknown) as caught:
        await _write(make_runtime(config=FAST))
    assert not was_not_sent(caught.value)
    assert len(store.to("/orders")) == 1


async def test_a_refused_connection_of_a_read_is_not_marked(make_runtime: RuntimeFactory, store: FakeStore) -> None:
    """Only writes are marked: for a read "not sent" changes nothing."""
    store.script = [httpx.ConnectError("refused")] * 3
    with pytest.raises(RetryableError) as caught:
        await make_runtime(config=FAST).request("GET", "/items", operation="fetch_products", audience="default")
    assert not was_not_sent(caught.value)


def test_bytes_that_are_not_utf8_are_unreadable_unless_cut_at_the_end() -> None:
    with pytest.raises(UnreadableBody, match="not UTF-8"):
        parse_json(b'{"name": "\xff\xfe", "more": 1}')
    with pytest.raises(UnicodeDecodeError):  # a character cut in two by a truncated body: read again
        parse_json('{"name": "é'.encode()[:-1])
