"""Fixtures of the connect app's unit tests: fake platforms, a fake hub, a walker of the flow."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from attrs import frozen

from storelink import (
    AuthorizationError,
    Capability,
    Connection,
    ConnectionStatus,
    CredentialField,
    Credentials,
    CredentialSchema,
    CredentialsError,
    EgressError,
    PlatformInfo,
    Registry,
    RetryableError,
    Secret,
    StoreURL,
    StoreURLError,
    hookimpl,
)
from storelink.connect import Channel, ConnectSessions, create_app, hash_token
from storelink.testing import FakeClock

CANARY = f"CANARY-{uuid.uuid4()}"
GOOD_KEY = f"good-key-{CANARY}"
REJECTED_KEY = f"rejected-key-{CANARY}"
NO_ORDERS_KEY = f"no-orders-key-{CANARY}"
DOWN_KEY = f"down-key-{CANARY}"
UNREACHABLE_KEY = f"unreachable-key-{CANARY}"
PRIVATE_KEY = f"private-address-key-{CANARY}"
FORBIDDEN_KEY = f"forbidden-key-{CANARY}"
SLOW_KEY = f"slow-key-{CANARY}"
ALL_KEYS = (GOOD_KEY, REJECTED_KEY, NO_ORDERS_KEY, DOWN_KEY, UNREACHABLE_KEY, PRIVATE_KEY, FORBIDDEN_KEY, SLOW_KEY)

API_TOKEN = "acme-api-token-for-tests"
REDIRECTS = (
    "https://chan.example.com/storelink/callback",
    "https://chan.example.com/cb?tenant=7",
    "http://127.0.0.1:9999/return",
)
CHANNEL = Channel(
    id="acme",
    name="Acme Marketplace",
    redirect_uris=REDIRECTS,
    api_token_sha256=hash_token(API_TOKEN),
)


def _check_key(value: str) -> None:
    if " " in value:
        raise CredentialsError("An API key has no spaces", field="api_key")


class FakePlatform:
    """A platform plugin with a two-field credential schema and a loose URL normaliser."""

    def __init__(self, slug: str, title: str) -> None:
        self.slug = slug
        self.title = title

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug=self.slug,
            title=self.title,
            credential_schema=CredentialSchema(
                fields=(
                    CredentialField(
                        name="api_key",
                        label="API key",
                        secret=True,
                        help="Admin > Settings > API keys > Create.",
                        example="sk_live_…",
                        validator=_check_key,
                    ),
                    CredentialField(name="account", label="Account name", required=False, example="acme-eu"),
                )
            ),
            capabilities=frozenset({Capability.PRODUCTS, Capability.ORDERS}),
            setup_guide=("Open the admin console.", "Create an API key with read access to orders."),
            settings_schema=CredentialSchema(fields=(CredentialField(name="site", label="Site id", required=False),)),
            store_url_example="https://shop.example.com",
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        text = raw.strip().lower().rstrip("/")
        if "://" not in text:
            text = f"https://{text}"
        parts = urlsplit(text)
        host = parts.hostname or ""
        if "." not in host and not (allow_loopback and host == "localhost"):
            raise StoreURLError(f"{raw.strip()!r} is not a store address: it needs a domain like shop.example.com")
        return StoreURL(origin=f"{parts.scheme}://{parts.netloc}")


class FakeHub:
    """The hub operations the connect app uses, with behaviour chosen by the key."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.egress = SimpleNamespace(allow_loopback=True)
        self.validations = 0
        self.connections: list[Connection] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def connect(
        self,
        platform: str,
        *,
        store_url: str | StoreURL,
        credentials: Credentials,
        settings: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Connection:
        """Check the key (its value picks the outcome), then store the connection."""
        self.validations += 1
        key = credentials["api_key"]
        if key == Secret(SLOW_KEY):
            self.entered.set()
            await self.release.wait()
        elif key == Secret(REJECTED_KEY):
            raise CredentialsError("the platform rejected the key")
        elif key == Secret(DOWN_KEY):
            raise RetryableError("unavailable", platform=platform, operation="login", status=503, retry_after=30)
        elif key == Secret(UNREACHABLE_KEY):
            raise RetryableError("connect error", platform=platform, operation="login")
        elif key == Secret(PRIVATE_KEY):
            raise EgressError("resolves to 10.0.0.1")
        elif key == Secret(NO_ORDERS_KEY):
            raise AuthorizationError("the key is not allowed to use: orders", capability="orders")
        elif key == Secret(FORBIDDEN_KEY):
            raise AuthorizationError("the key is not allowed to use: products", capability="products")
        elif key != Secret(GOOD_KEY):
            raise CredentialsError("unknown key")
        now = datetime.now(UTC)
        connection = Connection(
            id=f"conn_{len(self.connections) + 1}",
            platform=platform,
            store_url=store_url if isinstance(store_url, StoreURL) else StoreURL(origin=store_url),
            status=ConnectionStatus.ACTIVE,
            created_at=now,
            updated_at=now,
            settings=dict(settings or {}),
            label=label,
        )
        self.connections.append(connection)
        return connection


@frozen
class Page:
    """A response of the flow, with the bits the tests read."""

    response: httpx.Response

    @property
    def csrf(self) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.response.text)
        assert match, "no CSRF token on the page"
        return html.unescape(match.group(1))

    @property
    def location(self) -> str:
        return self.response.headers["location"]


class Walker:
    """Walks the connect flow over an httpx client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def start(self, *, redirect_uri: str = REDIRECTS[0], state: str = "st-1", **extra: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/connect-sessions",
            json={"redirect_uri": redirect_uri, "state": state, **extra},
            headers={"authorization": f"Bearer {API_TOKEN}"},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def open(self, url: str) -> httpx.Response:
        return await self.client.get(url)

    async def get(self, path: str) -> Page:
        return Page(await self.client.get(path))

    async def post(self, path: str, data: Mapping[str, str], *, csrf: str | None) -> Page:
        form = dict(data) if csrf is None else {**data, "csrf_token": csrf}
        return Page(await self.client.post(path, data=form))

    async def to_credentials(
        self, *, platform: str = "shop", state: str = "st-1", redirect_uri: str = REDIRECTS[0]
    ) -> str:
        """Start a session, open it, pick *platform*, enter a store URL; return the session id."""
        started = await self.start(state=state, redirect_uri=redirect_uri)
        opened = await self.open(started["url"])
        assert opened.status_code == 303, opened.text
        sid = started["id"]
        page = await self.get(f"/connect/{sid}/platform")
        chosen = await self.post(f"/connect/{sid}/platform", {"platform": platform}, csrf=page.csrf)
        assert chosen.response.status_code == 303
        page = await self.get(f"/connect/{sid}/store")
        stored = await self.post(f"/connect/{sid}/store", {"store_url": " Shop.Example.com/admin "}, csrf=page.csrf)
        assert stored.response.status_code == 303, stored.response.text
        return str(sid)

    async def submit_key(self, sid: str, key: str, **fields: str) -> Page:
        page = await self.get(f"/connect/{sid}/credentials")
        data = {"credential.api_key": key, **{f"credential.{k}": v for k, v in fields.items()}}
        return await self.post(f"/connect/{sid}/credentials", data, csrf=page.csrf)


def make_client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, follow_redirects=False)


class Kit:
    """The constants the tests share (conftest is not importable under --import-mode=importlib)."""

    CANARY = CANARY
    GOOD_KEY = GOOD_KEY
    REJECTED_KEY = REJECTED_KEY
    NO_ORDERS_KEY = NO_ORDERS_KEY
    DOWN_KEY = DOWN_KEY
    UNREACHABLE_KEY = UNREACHABLE_KEY
    PRIVATE_KEY = PRIVATE_KEY
    FORBIDDEN_KEY = FORBIDDEN_KEY
    SLOW_KEY = SLOW_KEY
    ALL_KEYS = ALL_KEYS
    API_TOKEN = API_TOKEN
    REDIRECTS = REDIRECTS
    CHANNEL = CHANNEL
    FakePlatform = FakePlatform
    Walker = Walker
    make_client = staticmethod(make_client)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def registry() -> Registry:
    registry = Registry(autoload=False)
    registry.register_platform(FakePlatform("shop", "Fake Shop"), slug="shop")
    registry.register_platform(FakePlatform("mall", "Mega Mall"), slug="mall")
    return registry


@pytest.fixture
def hub(registry: Registry) -> FakeHub:
    return FakeHub(registry)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def app(hub: FakeHub, clock: FakeClock) -> Any:
    return create_app(hub=hub, channels=[CHANNEL], sessions=ConnectSessions(clock=clock), validate_timeout=0.2)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as client:
        yield client


@pytest.fixture
def walker(client: httpx.AsyncClient) -> Walker:
    return Walker(client)


@pytest.fixture
def new_client(app: Any) -> Any:
    """Return a factory of more browsers (clients with their own cookie jars)."""
    return lambda base_url="http://testserver": make_client(app, base_url)
