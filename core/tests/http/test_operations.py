"""The core names each request's operation: after the hook, ``login`` and ``refresh`` for token hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from storelink import (
    AccessReport,
    AccessToken,
    AuthorizationError,
    Capability,
    CapabilityCheck,
    CredentialField,
    CredentialSchema,
    CredentialsError,
    NotFoundError,
    Page,
    Platform,
    PlatformContext,
    PlatformInfo,
    Product,
    Registry,
    Secret,
    StoreURL,
    hookimpl,
)
from storelink.http import ConnectionRuntime, current_operation
from storelink.testing import runtime_for

KEY = "synthetic-key-0123456789"


class NamingPlatform:
    """Names no operation, except a wrong one in its token hooks and a probe's in ``check_access``."""

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug="naming",
            title="Naming",
            credential_schema=CredentialSchema(fields=[CredentialField(name="api_key", label="Key", secret=True)]),
            capabilities={Capability.PRODUCTS, Capability.ORDERS},
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        return StoreURL(origin=raw)

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        bearer = ctx.credentials.secret("api_key")
        response = await ctx.http.request("POST", "/login", operation="authenticate", audience=None, bearer=bearer)
        return AccessToken(value=Secret(response.json()["token"]), expires_in=300, audience=audience)

    @hookimpl
    async def refresh_token(self, ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
        await ctx.http.request("POST", "/refresh", operation="refresh_token", audience=None, bearer=token.value)
        return None

    @hookimpl
    async def check_access(self, ctx: PlatformContext) -> AccessReport:
        try:
            await ctx.http.request("GET", "/orders", operation="fetch_orders", audience="default")
        except AuthorizationError as exc:
            return AccessReport(checks=[CapabilityCheck(capability=Capability.ORDERS, ok=False, detail=str(exc))])
        return AccessReport(checks=[CapabilityCheck(capability=Capability.ORDERS, ok=True)])

    @hookimpl
    async def fetch_products(self, ctx: PlatformContext, cursor: object) -> Page[Product]:
        assert current_operation() == "fetch_products"
        await ctx.http.request("GET", "/items", audience="default")
        return Page(items=())


def answer(refuse_login: bool) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            if refuse_login:
                return httpx.Response(401, json={"error": "invalid key"})
            return httpx.Response(200, json={"token": "tok-0123456789abcdef"})
        if request.url.path == "/refresh":
            return httpx.Response(403, json={})
        if request.url.path == "/orders":
            return httpx.Response(403, json={})
        return httpx.Response(404, json={})

    return httpx.MockTransport(handler)


@pytest.fixture
def platform() -> Platform:
    return Registry(autoload=False).register_platform(NamingPlatform())


@pytest.fixture
async def runtime(platform: Platform) -> AsyncIterator[ConnectionRuntime]:
    async with runtime_for(platform, answer(refuse_login=False), credentials={"api_key": KEY}) as built:
        yield built


async def test_a_hooks_requests_are_named_after_the_hook(platform: Platform, runtime: ConnectionRuntime) -> None:
    with pytest.raises(NotFoundError) as caught:
        await platform.fetch_products(runtime.ctx, None)
    assert caught.value.operation == "fetch_products"
    assert str(caught.value) == "naming fetch_products: Not Found (HTTP 404)"


async def test_requests_inside_authenticate_are_the_login_operation(platform: Platform) -> None:
    """The plugin said ``authenticate``; the core names the call ``login`` for every platform."""
    async with runtime_for(platform, answer(refuse_login=True), credentials={"api_key": KEY}) as runtime:
        with pytest.raises(CredentialsError) as caught:
            await platform.authenticate(runtime.ctx, "default")
    assert str(caught.value) == "naming login: the platform rejected the credentials (HTTP 401)"


async def test_requests_inside_refresh_token_are_the_refresh_operation(
    platform: Platform, runtime: ConnectionRuntime
) -> None:
    token = AccessToken(value=Secret("tok-0123456789abcdef"), expires_in=300)
    with pytest.raises(CredentialsError, match=r"^naming refresh: the platform rejected the credentials \(HTTP 403\)$"):
        await platform.refresh_token(runtime.ctx, token)


async def test_a_plugin_names_a_request_made_for_another_operation(
    platform: Platform, runtime: ConnectionRuntime
) -> None:
    report = await platform.check_access(runtime.ctx)
    assert report.checks[0].detail == "naming fetch_orders: the credentials are not allowed to do this (HTTP 403)"


async def test_a_request_outside_any_hook_must_name_its_operation(runtime: ConnectionRuntime) -> None:
    with pytest.raises(ValueError, match="name the operation"):
        await runtime.request("GET", "/items", audience="default")
    with pytest.raises(NotFoundError) as caught:
        await runtime.request("GET", "/items", operation="sync_items", audience="default")
    assert caught.value.operation == "sync_items"


async def test_concurrent_hooks_keep_their_own_operation(platform: Platform, runtime: ConnectionRuntime) -> None:
    """The running hook is per task: a check_access and a fetch_products at once keep their names."""
    products, report = await asyncio.gather(
        platform.fetch_products(runtime.ctx, None), platform.check_access(runtime.ctx), return_exceptions=True
    )
    assert isinstance(products, NotFoundError)
    assert products.operation == "fetch_products"
    assert isinstance(report, AccessReport)
    assert current_operation() is None
