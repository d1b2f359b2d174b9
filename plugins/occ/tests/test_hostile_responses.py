"""Hostile responses: a regression corpus of what a broken or lying OCC store may answer.

Every case runs through the real core (``Hub.validate`` for logins, a
``ConnectionRuntime`` and the registered hooks for reads) against an
:class:`httpx.MockTransport` store that answers well except for one endpoint. Each must
end as the platform's, the credentials' or the record's fault, with a clear error:
never a plugin crash ("plugin 'occ' raised RecursionError"), never "this is a bug", and a
failed login never lists a capability as allowed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import storelink
import storelink_occ.plugin
from storelink import (
    CredentialsError,
    MappingError,
    NotFoundError,
    PlatformError,
    PluginError,
    RejectedError,
    RetryableError,
    StorelinkError,
)
from storelink.cli.exits import describe
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig, RetryConfig
from storelink.hub import Hub
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_occ import api, auth
from storelink_occ.plugin import PROBE_ORDER_ID

from .conftest import STORE, SYNTHETIC_KEY

ADMIN_LOGIN = ("POST", "/ccadmin/v1/login")
AGENT_LOGIN = ("POST", "/ccappagent/v1/login")
PRODUCTS = ("GET", "/ccadmin/v1/products")
INVENTORY = ("GET", "/ccadmin/v1/inventories")
FAST = HttpConfig(retry=RetryConfig(attempts=3, backoff_base=0.001, backoff_cap=0.001))

Answer = Callable[[], httpx.Response]


def body(content: bytes, status: int = 200, content_type: str = "application/json") -> Answer:
    return lambda: httpx.Response(status, content=content, headers={"content-type": content_type})


def as_json(value: Any, status: int = 200) -> Answer:
    return body(json.dumps(value).encode(), status)


def redirect(status: int) -> Answer:
    return lambda: httpx.Response(status, headers={"location": "https://sso.example.net/login"})


def deep(depth: int) -> Answer:
    return body(b'{"access_token": ' + b"[" * depth + b"]" * depth + b"}")


def page(*items: Any) -> Answer:
    return as_json({"items": list(items), "totalResults": len(items), "offset": 0, "limit": 250})


HUGE_INT = b"9" * 5_000
HTML = b"<!DOCTYPE html><html><body>Sign in</body></html>"

#: (case, endpoint, answer, the error it must become). Each login case runs on the admin
#: and the agent login (the agent one is where "ok create_orders" used to be listed).
LOGIN_CORPUS: list[tuple[str, Answer, type[StorelinkError]]] = [
    ("json nested 100,000 deep", deep(100_000), PlatformError),
    ("json nested 65 deep", deep(65), PlatformError),
    ("301", redirect(301), RejectedError),
    ("302", redirect(302), RejectedError),
    ("303", redirect(303), RejectedError),
    ("307", redirect(307), RejectedError),
    ("308", redirect(308), RejectedError),
    ("html in 200", body(HTML, content_type="text/html"), PlatformError),
    ("truncated json", body(b'{"access_token": "abc'), RetryableError),
    ("not utf-8", body(b'{"access_token": "\xff\xfe", "expires_in": 300}'), PlatformError),
    ("empty 200", body(b""), CredentialsError),
    ("a json list", as_json([]), CredentialsError),
    ("a json string", as_json("token"), CredentialsError),
    ("token of the wrong type", as_json({"access_token": 12345}), CredentialsError),
    ("null token", as_json({"access_token": None}), CredentialsError),
    ("a number of 5,000 digits", body(b'{"access_token": "t", "expires_in": ' + HUGE_INT + b"}"), PlatformError),
    ("error envelope 400 in 200", as_json({"status": "400", "message": "bad", "errorCode": "1"}), RejectedError),
    ("error envelope 401 in 200", as_json({"status": "401", "message": "no", "errorCode": "2"}), CredentialsError),
    ("500", as_json({"status": "500", "message": "down"}, 500), RetryableError),
    ("400", as_json({"status": "400", "message": "bad grant", "errorCode": "3"}, 400), RejectedError),
]

#: (case, endpoint, answer, the error it must become) for reads.
READ_CORPUS: list[tuple[str, tuple[str, str], Answer, type[StorelinkError]]] = [
    ("json nested 100,000 deep", PRODUCTS, body(b"[" * 100_000 + b"]" * 100_000), PlatformError),
    ("html in 200", PRODUCTS, body(HTML, content_type="text/html"), PlatformError),
    ("truncated json", PRODUCTS, body(b'{"items": [{"id": "p1"'), RetryableError),
    ("not utf-8", PRODUCTS, body(b'{"items": ["\xff"], "totalResults": 1}'), PlatformError),
    ("a number of 5,000 digits", PRODUCTS, body(b'{"items": [], "totalResults": ' + HUGE_INT + b"}"), PlatformError),
    ("302", PRODUCTS, redirect(302), RejectedError),
    ("error envelope 503 in 200", PRODUCTS, as_json({"status": "503", "message": "busy"}), RetryableError),
    ("items not a list", PRODUCTS, as_json({"items": "none"}), MappingError),
    ("a json list", PRODUCTS, as_json([]), MappingError),
    ("an item that is a number", PRODUCTS, page(42), MappingError),
    ("price 1E+400", PRODUCTS, body(b'{"items": [{"id": "p1", "listPrice": 1E+400}]}'), MappingError),
    (
        "price of 400 digits",
        PRODUCTS,
        body(b'{"items": [{"id": "p1", "listPrice": 1' + b"0" * 400 + b"}]}"),
        MappingError,
    ),
    ("negative price", PRODUCTS, page({"id": "p1", "listPrice": -5}), MappingError),
    ("negative sku price", PRODUCTS, page({"id": "p1", "childSKUs": [{"id": "s1", "salePrice": -1}]}), MappingError),
    ("price of the wrong type", PRODUCTS, page({"id": "p1", "listPrice": [10]}), MappingError),
    ("price true", PRODUCTS, page({"id": "p1", "listPrice": True}), MappingError),
    ("negative stock", INVENTORY, page({"skuId": "s1", "stockLevel": -3}), MappingError),
    ("stock 1E+400", INVENTORY, body(b'{"items": [{"skuId": "s1", "stockLevel": 1E+400}]}'), MappingError),
]


def test_the_corpus_sizes_are_recorded() -> None:
    """The issue asks for the adversarial corpora with their counts.

    20 login answers, each played on the admin and on the agent login (40 cases), and 18
    read answers: 58 hostile responses in all.
    """
    assert (len(LOGIN_CORPUS), len(READ_CORPUS)) == (20, 18)


class HostileStore:
    """An OCC store that answers well, except *hostile* answers at their endpoints."""

    def __init__(self, hostile: dict[tuple[str, str], Answer]) -> None:
        self.hostile = hostile
        self.calls: list[tuple[str, str]] = []
        self._tokens = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        endpoint = (request.method, request.url.path)
        self.calls.append(endpoint)
        if endpoint in self.hostile:
            return self.hostile[endpoint]()
        if endpoint in (ADMIN_LOGIN, AGENT_LOGIN):
            return httpx.Response(200, json={"access_token": f"tok-{next(self._tokens)}", "expires_in": 300})
        if request.url.path.endswith(PROBE_ORDER_ID):
            return httpx.Response(404, json={"status": "404", "message": "no such order", "errorCode": "28010"})
        return httpx.Response(200, json={"items": [], "totalResults": 0, "offset": 0, "limit": 1})


def _registry() -> storelink.Registry:
    registry = storelink.Registry(autoload=False)
    registry.register_platform(storelink_occ.plugin)
    return registry


@pytest.fixture
async def validate(tmp_path: Path) -> AsyncIterator[Callable[[HostileStore], Any]]:
    hubs: list[Hub] = []

    async def run(store: HostileStore) -> Any:
        hub = await Hub.open(
            database=tmp_path / f"hub{len(hubs)}.db",
            keys=KeyRing.generate(),
            egress=EgressPolicy.default(),
            registry=_registry(),
            http=FAST,
            clock=FakeClock(start=0.0),
            transports={STORE.origin: httpx.MockTransport(store.handle)},
        )
        hubs.append(hub)
        return await hub.validate("occ", store_url=STORE, credentials={"application_key": SYNTHETIC_KEY})

    yield run
    for hub in hubs:
        await hub.close()


def assert_blames_the_store(error: BaseException, expected: type[StorelinkError]) -> None:
    assert type(error) is expected or (expected is RejectedError and type(error) is NotFoundError), repr(error)
    assert isinstance(error, StorelinkError)
    assert not isinstance(error, PluginError)
    line = describe(error)
    assert "this is a bug" not in line
    assert "fix or reinstall the plugin" not in line
    assert "RecursionError" not in line
    assert SYNTHETIC_KEY not in line


async def test_a_healthy_store_validates(validate: Callable[[HostileStore], Any]) -> None:
    """The harness itself: without a hostile answer, every capability is allowed."""
    report = (await validate(HostileStore({}))).report
    assert report.ok


@pytest.mark.parametrize("endpoint", [ADMIN_LOGIN, AGENT_LOGIN], ids=["admin", "agent"])
@pytest.mark.parametrize(("case", "answer", "expected"), LOGIN_CORPUS, ids=[c[0] for c in LOGIN_CORPUS])
async def test_a_hostile_login_fails_the_whole_validation_with_the_stores_error(
    validate: Callable[[HostileStore], Any],
    endpoint: tuple[str, str],
    case: str,
    answer: Answer,
    expected: type[StorelinkError],
) -> None:
    with pytest.raises(StorelinkError) as caught:
        await validate(HostileStore({endpoint: answer}))  # raises: no report lists "ok" for anything
    assert_blames_the_store(caught.value, expected)


async def test_a_redirected_agent_login_lists_no_capability_as_allowed(
    validate: Callable[[HostileStore], Any],
) -> None:
    """Before: the probe swallowed the login's RejectedError and reported ``ok create_orders``."""
    store = HostileStore({AGENT_LOGIN: redirect(302)})
    with pytest.raises(RejectedError, match=r"redirected to sso\.example\.net") as caught:
        await validate(store)
    assert caught.value.operation == "login"
    assert "check the store URL" in caught.value.action


@pytest.fixture
async def read() -> AsyncIterator[Callable[[HostileStore, str], Any]]:
    runtimes: list[ConnectionRuntime] = []
    platform = _registry().platform("occ")

    async def run(store: HostileStore, hook: str) -> Any:
        runtime = ConnectionRuntime(
            platform,
            "c1",
            STORE,
            platform.info.credential_schema.parse({"application_key": SYNTHETIC_KEY}),
            {},
            EgressPolicy.default(),
            FAST,
            clock=FakeClock(start=0.0),
            transport=httpx.MockTransport(store.handle),
        )
        runtimes.append(runtime)
        if hook == "fetch_inventory":
            return await platform.fetch_inventory(runtime.ctx, None, None)
        return await platform.fetch_products(runtime.ctx, None)

    yield run
    for runtime in runtimes:
        await runtime.aclose()


@pytest.mark.parametrize(("case", "endpoint", "answer", "expected"), READ_CORPUS, ids=[c[0] for c in READ_CORPUS])
async def test_a_hostile_read_is_the_stores_or_the_records_fault(
    read: Callable[[HostileStore, str], Any],
    case: str,
    endpoint: tuple[str, str],
    answer: Answer,
    expected: type[StorelinkError],
) -> None:
    hook = "fetch_inventory" if endpoint == INVENTORY else "fetch_products"
    with pytest.raises(StorelinkError) as caught:
        await read(HostileStore({endpoint: answer}), hook)
    assert_blames_the_store(caught.value, expected)
    line = describe(caught.value)
    assert "1E+400" not in line
    assert "0" * 30 not in line  # a huge number is never repeated
    if expected is MappingError and b'"p1"' in answer().content:
        assert "product 'p1'" in line  # the record is named, and the field by the path
    if expected is MappingError and b'"s1"' in answer().content:
        assert "SKU 's1'" in line


@pytest.mark.parametrize(
    "lifetime",
    [b"1E+400", b"1E-400", b"-5", b"0", b"1" + b"0" * 400, b'"' + b"9" * 5_00 + b'"', b"86401"],
    ids=["1E+400", "1E-400", "negative", "zero", "400 digits", "a long string", "over a day"],
)
def test_an_implausible_token_lifetime_is_not_believed(lifetime: bytes) -> None:
    """1E+400 would never be refreshed, 1E-400 used to crash the plugin; both get the default."""
    response = httpx.Response(200, content=b'{"access_token": "t", "expires_in": ' + lifetime + b"}")
    token = auth.token_from_response(api.read_json(response, operation="login"), audience="admin")
    assert token.expires_in == auth.DEFAULT_LIFETIME


@pytest.mark.parametrize(
    ("case", "item"),
    [
        ("bytes not UTF-8 at an item's end", b'{"id": "p2", "displayName": "\xff"}'),
        ("a number of 5,000 digits in an item", b'{"id": "p2", "listPrice": ' + HUGE_INT + b"}"),
    ],
)
async def test_a_product_page_s_unreadable_item_is_the_store_s_malformed_answer_read_once(
    read: Callable[[HostileStore, str], Any], case: str, item: bytes
) -> None:
    """Products are decoded one at a time, as they are mapped, inside the read: a bad item is the body's fault.

    Not a body cut off on the way (that would be read again), nor the record's mapping.
    """
    content = b'{"items": [{"id": "p1", "displayName": "fine"}, ' + item + b'], "totalResults": 2}'
    store = HostileStore({PRODUCTS: body(content)})
    with pytest.raises(StorelinkError) as caught:
        await read(store, "fetch_products")
    assert_blames_the_store(caught.value, PlatformError)
    assert "malformed answer" in describe(caught.value)
    assert store.calls.count(PRODUCTS) == 1
