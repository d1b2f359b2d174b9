"""Fixtures of the HTTP-layer tests: a fake clock, a fake store and a tiny platform plugin.

The fake platform (``fake``) logs in with ``POST /login`` (the application key as a
bearer), optionally refreshes with ``POST /refresh``, and reads ``GET /items``. The
fake store behind an :class:`httpx.MockTransport` issues tokens, checks them, and
plays scripted answers, so every test can count logins and calls exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import httpcore
import httpx
import pytest

from storelink import (
    AccessToken,
    Capability,
    CredentialField,
    CredentialSchema,
    ErrorDetail,
    Page,
    PlatformInfo,
    Product,
    Registry,
    Secret,
    StoreURL,
    hookimpl,
)
from storelink.context import PlatformContext
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig, StaticResolver
from storelink.http.egress import IPAddress
from storelink.plugins import Platform
from storelink.testing import FakeClock

STORE = StoreURL(origin="https://store.example.com")


Step = int | httpx.Response | Exception | Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeStore:
    """An in-process platform: ``/login`` and ``/refresh`` issue tokens, other paths need one."""

    def __init__(self, clock: FakeClock, *, key: str, lifetime: float = 300.0, prefix: str = "tok") -> None:
        self.clock = clock
        self.key = key
        self.lifetime = lifetime
        self.prefix = prefix
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.calls: list[httpx.Request] = []
        self.login_times: list[float] = []
        self.refresh_times: list[float] = []
        self.login_delay = 0.0
        self.login_script: list[Step] = []
        self.script: list[Step] = []
        self.revoked = False
        self.reject_all = False
        self.one_token_at_a_time = False
        self.before_resource: Callable[[httpx.Request], Awaitable[None]] | None = None

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.calls if r.url.path == path]

    def invalidate_tokens(self) -> None:
        self.valid.clear()

    def _issue(self) -> httpx.Response:
        token = f"{self.prefix}-{len(self.issued) + 1}-{uuid.uuid4().hex}"
        if self.one_token_at_a_time:
            self.valid.clear()
        self.issued.append(token)
        self.valid.add(token)
        return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": self.lifetime})

    async def _play(self, step: Step, request: httpx.Request) -> httpx.Response:
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        if isinstance(step, int):
            return httpx.Response(step, json={"error": {"code": f"E{step}", "message": f"status {step}"}})
        return await step(request)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        # A snapshot: the 401 flow resends the same request object with a new header.
        self.calls.append(httpx.Request(request.method, request.url, headers=request.headers, content=request.content))
        auth = request.headers.get("authorization", "")
        if request.url.path == "/login":
            self.login_times.append(self.clock.now)
            if self.login_delay:
                await asyncio.sleep(self.login_delay)
            if self.login_script:
                return await self._play(self.login_script.pop(0), request)
            if self.revoked or auth != f"Bearer {self.key}":
                # Like careless platforms, echo what was sent: the core must never copy it.
                return httpx.Response(401, json={"error": {"code": "invalid_key", "message": f"bad key {auth}"}})
            return self._issue()
        if request.url.path == "/refresh":
            self.refresh_times.append(self.clock.now)
            if auth.removeprefix("Bearer ") not in self.valid:
                return httpx.Response(401, json={"error": {"code": "expired", "message": "refresh refused"}})
            return self._issue()
        if self.before_resource is not None:
            await self.before_resource(request)
        if self.reject_all or auth.removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "token refused"}})
        if self.script:
            return await self._play(self.script.pop(0), request)
        return httpx.Response(200, json={"items": [{"id": "p1"}]})


class SpyBackend(httpcore.AsyncNetworkBackend):
    """A network backend that records every dial; it answers *answer*, or refuses."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.dialled: list[tuple[str, int]] = []
        self._answer = answer

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's backend interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        if self._answer is None:
            raise httpcore.ConnectError("spy: the network is off in tests")
        return httpcore.AsyncMockStream([self._answer])


class SpyResolver:
    """A resolver that plays a list of answer sets per host (the last one repeats) and counts lookups."""

    def __init__(self, answers: dict[str, list[list[str]]] | None = None) -> None:
        self.answers = answers or {}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        plays = self.answers[host]
        answer = plays.pop(0) if len(plays) > 1 else plays[0]
        return list(await StaticResolver({host: answer}).resolve(host, port))


SCHEMA = CredentialSchema(fields=[CredentialField(name="api_key", label="API key", secret=True)])


class FakePlatform:
    """A platform plugin with login, no refresh, and one read."""

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug="fake",
            title="Fake",
            credential_schema=SCHEMA,
            capabilities={Capability.PRODUCTS, Capability.CREATE_ORDERS},
            audiences=("default", "agent"),
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        return StoreURL(origin=raw.strip().rstrip("/").lower())

    @hookimpl
    def describe_error(self, response: httpx.Response) -> ErrorDetail | None:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return None
        return ErrorDetail(
            message=error.get("message"), code=error.get("code"), request_id=response.headers.get("x-fake-request")
        )

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        response = await ctx.http.request(
            "POST",
            "/login",
            operation="login",
            audience=None,
            bearer=ctx.credentials.secret("api_key"),
            data={"grant_type": "client_credentials", "audience": audience},
        )
        ctx.log.debug("login answered %s", response.text)
        body = response.json()
        return AccessToken(value=Secret(body["access_token"]), expires_in=body["expires_in"], audience=audience)

    @hookimpl
    async def fetch_products(self, ctx: PlatformContext, cursor: object) -> Page[Product]:
        await ctx.http.request("GET", "/items", operation="fetch_products", audience="default")
        return Page(items=())


class RefreshingFakePlatform(FakePlatform):
    """The same platform, with a ``refresh_token`` hook."""

    @hookimpl
    async def refresh_token(self, ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
        response = await ctx.http.request(
            "POST", "/refresh", operation="refresh_token", audience=None, bearer=token.value
        )
        body = response.json()
        return AccessToken(value=Secret(body["access_token"]), expires_in=body["expires_in"], audience=token.audience)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0)


@pytest.fixture
def key() -> str:
    return f"app-key-{uuid.uuid4().hex}"


@pytest.fixture
def store(clock: FakeClock, key: str) -> FakeStore:
    return FakeStore(clock, key=key)


def make_platform(plugin: object | None = None) -> Platform:
    return Registry(autoload=False).register_platform(plugin or FakePlatform())


@pytest.fixture
def platform() -> Platform:
    return make_platform()


RuntimeFactory = Callable[..., ConnectionRuntime]


@pytest.fixture
async def make_runtime(
    clock: FakeClock, store: FakeStore, key: str, platform: Platform
) -> AsyncIterator[RuntimeFactory]:
    """Build runtimes on the fake store (closed at the end of the test)."""
    made: list[ConnectionRuntime] = []

    def build(**overrides: Any) -> ConnectionRuntime:
        chosen: Platform = overrides.pop("platform", platform)
        options: dict[str, Any] = {
            "connection_id": "c1",
            "store_url": STORE,
            "credentials": chosen.info.credential_schema.parse({"api_key": key}),
            "settings": {},
            "egress": EgressPolicy.default(),
            "config": HttpConfig(),
            "clock": clock,
            "transport": store.transport,
        }
        options.update(overrides)
        runtime = ConnectionRuntime(chosen, **options)
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        await runtime.aclose()


async def read(runtime: ConnectionRuntime, **kwargs: Any) -> httpx.Response:
    """``GET /items`` with the default audience."""
    return await runtime.request("GET", "/items", operation="fetch_products", audience="default", **kwargs)


@pytest.fixture
def get() -> Callable[..., Awaitable[httpx.Response]]:
    return read


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The helpers above, for tests that build their own (test modules cannot import conftest)."""
    return SimpleNamespace(
        FakeClock=FakeClock,
        FakeStore=FakeStore,
        FakePlatform=FakePlatform,
        RefreshingFakePlatform=RefreshingFakePlatform,
        make_platform=make_platform,
        read=read,
        STORE=STORE,
        SpyBackend=SpyBackend,
        SpyResolver=SpyResolver,
    )
