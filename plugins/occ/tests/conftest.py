"""Fixtures of the OCC plugin's tests: the registered platform, simulators, contexts.

``TestHTTP`` is a test-only :class:`storelink.PlatformHTTP` over an
:class:`httpx.AsyncClient`: it attaches the token of the requested audience (logging in
through the plugin's ``authenticate``, once more after a 401), and maps error statuses
to storelink errors as the protocol documents, decoding bodies with the plugin's
``describe_error``. It has no retries, egress guard or proactive refresh; those belong
to the core's ``ConnectionRuntime``, which the loopback integration tests use.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import storelink
import storelink_occ.plugin
from storelink import (
    AccessToken,
    AuthorizationError,
    ConflictError,
    CredentialsError,
    NotFoundError,
    OrderOutcomeUnknown,
    PlatformContext,
    PlatformError,
    RejectedError,
    RetryableError,
    Secret,
    StorelinkError,
    StoreURL,
)
from storelink_occ.simulator import OccSimulator, SimulatorConfig

FIXTURES = Path(__file__).parent / "fixtures"
STORE = StoreURL(origin="https://ccadmin-test.oracleoutsourcing.com")
T = TypeVar("T")
SYNTHETIC_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


def load_fixture(name: str) -> Any:
    """Return JSON fixture *name* (without ``.json``) as the plugin reads bodies: fractions as Decimal."""
    return json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal)


class TestHTTP:
    """A minimal PlatformHTTP for driving the hooks against a simulator in tests."""

    __test__ = False

    def __init__(self, platform: storelink.Platform, client: httpx.AsyncClient) -> None:
        self.platform = platform
        self.client = client
        self.tokens: dict[str, AccessToken] = {}
        self.ctx: PlatformContext | None = None
        self.sent: list[httpx.Request] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        audience: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
        idempotent: bool = True,
        base_url: str | None = None,
        reference: str | None = None,
    ) -> httpx.Response:
        assert self.ctx is not None
        url = (base_url or self.ctx.store_url.origin) + path
        for attempt in (1, 2):
            sent = dict(headers or {})
            if audience is None:
                if bearer is not None:
                    sent["Authorization"] = f"Bearer {bearer.reveal()}"
            else:
                token = self.tokens.get(audience) or await self._login(audience)
                sent["Authorization"] = f"Bearer {token.value.reveal()}"
            request = self.client.build_request(method, url, params=params, json=json, data=data, headers=sent)
            self.sent.append(request)
            try:
                response = await self.client.send(request)
            except httpx.TransportError as exc:
                if not idempotent:
                    raise OrderOutcomeUnknown("the response was lost", reference=reference or "") from exc
                raise RetryableError(f"transport error: {exc}", platform="occ", operation=operation) from exc
            if response.status_code == 401 and audience is not None and attempt == 1:
                self.tokens.pop(audience, None)
                continue
            break
        if response.status_code >= 400:
            raise self._error(response, operation, audience)
        return response

    async def read(self, method: str, path: str, *, reader: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        return reader(await self.request(method, path, **kwargs))

    async def _login(self, audience: str) -> AccessToken:
        assert self.ctx is not None
        token = await self.platform.authenticate(self.ctx, audience)
        self.tokens[audience] = token
        return token

    def _error(self, response: httpx.Response, operation: str, audience: str | None) -> StorelinkError:
        status = response.status_code
        detail = self.platform.describe_error(response)
        message = (detail.message if detail else None) or f"HTTP {status}"
        fields: dict[str, Any] = {"platform": "occ", "operation": operation, "status": status}
        fields["code"] = detail.code if detail else None
        if status in (401, 403) and audience is None:
            return CredentialsError(message)
        if status in (401, 403):
            return AuthorizationError(message)
        if status == 404:
            return NotFoundError(message, **fields)
        if status in (409, 412):
            return ConflictError(message, **fields)
        if status == 429 or status >= 500:
            return RetryableError(message, **fields)
        if 400 <= status < 500:
            return RejectedError(message, **fields)
        return PlatformError(message, **fields)


ContextFactory = Callable[..., PlatformContext]


@pytest.fixture
def fixture() -> Callable[[str], Any]:
    """Load a JSON fixture from ``fixtures/`` by name."""
    return load_fixture


@pytest.fixture
def fixture_response() -> Callable[[str], httpx.Response]:
    """Return a fixture as an HTTP 200 response with its exact bytes."""
    return lambda name: httpx.Response(
        200, content=(FIXTURES / f"{name}.json").read_bytes(), headers={"content-type": "application/json"}
    )


@pytest.fixture
def platform() -> storelink.Platform:
    """The OCC platform, registered in-process."""
    return storelink.Registry(autoload=False).register_platform(storelink_occ.plugin)


@pytest.fixture
def simulator() -> OccSimulator:
    """A small simulator with a few historical orders."""
    return OccSimulator(SimulatorConfig(products=600, orders=5))


@pytest.fixture
async def context_for(platform: storelink.Platform) -> AsyncIterator[ContextFactory]:
    """Build a context whose ``http`` is a :class:`TestHTTP` on a simulator, in-process."""
    clients: list[httpx.AsyncClient] = []

    def build(
        sim: OccSimulator, settings: Mapping[str, str] | None = None, credentials: Mapping[str, str] | None = None
    ) -> PlatformContext:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(sim.app))
        clients.append(client)
        http = TestHTTP(platform, client)
        http.ctx = PlatformContext(
            connection_id="c1",
            platform="occ",
            store_url=STORE,
            credentials=platform.info.credential_schema.parse(credentials or sim.issue_credentials()),
            settings=dict(settings or {}),
            http=http,
        )
        return http.ctx

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def mock_context_for(platform: storelink.Platform) -> AsyncIterator[Callable[..., PlatformContext]]:
    """Build a context whose ``http`` is a :class:`TestHTTP` on an :class:`httpx.MockTransport`."""
    clients: list[httpx.AsyncClient] = []

    def build(handler: Callable[[httpx.Request], httpx.Response]) -> PlatformContext:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        http = TestHTTP(platform, client)
        http.ctx = PlatformContext(
            connection_id="c1",
            platform="occ",
            store_url=STORE,
            credentials=platform.info.credential_schema.parse({"application_key": SYNTHETIC_KEY}),
            http=http,
        )
        return http.ctx

    yield build
    for client in clients:
        await client.aclose()
