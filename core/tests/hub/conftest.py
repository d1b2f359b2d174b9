"""A tiny fake platform ("fakeshop") and its store, behind httpx.MockTransport, for hub tests."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

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
    Cursor,
    InventoryLevel,
    Money,
    OffsetCursor,
    Order,
    OrderDraft,
    OrderLine,
    Page,
    PlatformContext,
    PlatformInfo,
    Product,
    Registry,
    Secret,
    ShippingMethod,
    StoreURL,
    StoreURLError,
    hookimpl,
)
from storelink.http import EgressPolicy, HttpConfig
from storelink.hub import Hub
from storelink.testing import FakeClock
from storelink.vault import KeyRing

ORIGIN = "https://shop.example.com"


def _check_key(value: str) -> None:
    if not value.startswith("fk_"):
        raise CredentialsError("an API key starts with fk_", field="api_key")


class FakeShopPlatform:
    """The hook implementations of the fake platform."""

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(
            slug="fakeshop",
            title="Fake Shop",
            credential_schema=CredentialSchema(
                fields=(
                    CredentialField(name="api_key", label="API key", secret=True, validator=_check_key),
                    CredentialField(name="account", label="Account", required=False),
                )
            ),
            capabilities=frozenset(Capability),
            settings_schema=CredentialSchema(fields=(CredentialField(name="site", label="Site", required=False),)),
        )

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        parts = urlsplit(raw.strip().lower() if "://" in raw else "https://" + raw.strip().lower())
        if parts.scheme != "https" or not parts.hostname or "." not in parts.hostname:
            raise StoreURLError(f"{raw.strip()!r} is not a store address like https://shop.example.com")
        return StoreURL(origin=f"https://{parts.netloc}")

    @hookimpl
    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        response = await ctx.http.request(
            "POST", "/auth", operation="login", audience=None, bearer=ctx.credentials.secret("api_key")
        )
        body = response.json()
        return AccessToken(value=Secret(body["token"]), expires_in=body["expires_in"], audience=audience)

    @hookimpl
    async def check_access(self, ctx: PlatformContext) -> AccessReport:
        checks = []
        for cap in sorted(Capability):
            try:
                await ctx.http.request("GET", f"/probe/{cap.value}", operation=f"probe_{cap.value}", audience="default")
            except AuthorizationError as exc:
                checks.append(CapabilityCheck(capability=cap, ok=False, detail=exc.message))
            else:
                checks.append(CapabilityCheck(capability=cap, ok=True))
        return AccessReport(checks=checks)

    @staticmethod
    def _window(cursor: Cursor | None) -> dict[str, str | int]:
        offset, limit = (cursor.offset, cursor.limit) if isinstance(cursor, OffsetCursor) else (0, 10)
        return {"offset": offset, "limit": limit}

    @staticmethod
    def _page(body: dict[str, Any], items: list[Any]) -> Page[Any]:
        end = body["offset"] + body["limit"]
        nxt = OffsetCursor(offset=end, limit=body["limit"]) if end < body["total"] else None
        return Page(items=items, next=nxt, total=body["total"])

    @hookimpl
    async def fetch_products(self, ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
        params = self._window(cursor)
        response = await ctx.http.request(
            "GET", "/products", operation="fetch_products", audience="default", params=params
        )
        body = response.json()
        items = [
            Product(id=p["id"], title=p["title"], price=Money(amount=p["price"], currency="USD")) for p in body["items"]
        ]
        return self._page(body, items)

    @hookimpl
    async def fetch_orders(self, ctx: PlatformContext, cursor: Cursor | None, since: Any) -> Page[Order]:
        params = self._window(cursor)
        response = await ctx.http.request("GET", "/orders", operation="fetch_orders", audience="default", params=params)
        body = response.json()
        return self._page(body, [_order(o) for o in body["items"]])

    @hookimpl
    async def get_order(self, ctx: PlatformContext, order_id: str) -> Order:
        response = await ctx.http.request("GET", f"/orders/{order_id}", operation="get_order", audience="default")
        return _order(response.json())

    @hookimpl
    async def fetch_inventory(
        self, ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
    ) -> Page[InventoryLevel]:
        params = self._window(cursor)
        if sku_ids is not None:
            params["skus"] = ",".join(sku_ids)
        response = await ctx.http.request(
            "GET", "/inventory", operation="fetch_inventory", audience="default", params=params
        )
        body = response.json()
        return self._page(body, [InventoryLevel(sku_id=i["sku"], available=i["n"]) for i in body["items"]])

    @hookimpl
    async def fetch_shipping_methods(self, ctx: PlatformContext) -> list[ShippingMethod]:
        response = await ctx.http.request("GET", "/shipping", operation="fetch_shipping_methods", audience="default")
        return [ShippingMethod(id=m, title=m.title()) for m in response.json()]

    @hookimpl
    async def create_order(self, ctx: PlatformContext, draft: OrderDraft) -> Order:
        payload = {"reference": draft.reference, "lines": [[x.sku_id, x.quantity] for x in draft.lines]}
        response = await ctx.http.request(
            "POST",
            "/orders",
            operation="create_order",
            audience="default",
            json=payload,
            idempotent=False,
            reference=draft.reference,
        )
        return _order(response.json())

    @hookimpl
    async def find_order(self, ctx: PlatformContext, reference: str) -> Order | None:
        response = await ctx.http.request(
            "GET", "/orders", operation="find_order", audience="default", params={"reference": reference}
        )
        items = response.json()["items"]
        return _order(items[0]) if items else None


def _order(data: dict[str, Any]) -> Order:
    lines = [OrderLine(product_id="p", sku_id=sku, quantity=n) for sku, n in data["lines"]]
    return Order(id=data["id"], reference=data["reference"], state="open", lines=lines)


class FakeShop:
    """The fake store: keys, tokens, products, orders; counts every request it answers."""

    def __init__(self, products: int = 25) -> None:
        self.keys = {"fk_" + secrets.token_hex(8)}
        self.tokens: dict[str, str] = {}
        self.products = products
        self.orders: list[dict[str, Any]] = []
        self.denied: set[str] = set()
        self.down = False
        self.requests = 0
        self.logins = 0

    @property
    def key(self) -> str:
        return next(iter(self.keys))

    def new_key(self) -> str:
        key = "fk_" + secrets.token_hex(8)
        self.keys.add(key)
        return key

    def revoke(self, key: str) -> None:
        self.keys.discard(key)
        self.tokens = {t: k for t, k in self.tokens.items() if k != key}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            return httpx.Response(503, json={"message": "down for maintenance"})
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        path = request.url.path
        if path == "/auth":
            if bearer not in self.keys:
                return httpx.Response(401, json={"message": "unknown key"})
            self.logins += 1
            token = secrets.token_hex(8)
            self.tokens[token] = bearer
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        if bearer not in self.tokens:
            return httpx.Response(401, json={"message": "bad token"})
        if path.startswith("/probe/"):
            return httpx.Response(403 if path.removeprefix("/probe/") in self.denied else 200, json={})
        params = request.url.params
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 10))
        if path == "/products":
            items = [
                {"id": f"p{i}", "title": f"Product {i}", "price": f"{i}.50"}
                for i in range(offset, min(offset + limit, self.products))
            ]
            return httpx.Response(200, json={"items": items, "offset": offset, "limit": limit, "total": self.products})
        if path == "/inventory":
            skus = params["skus"].split(",") if "skus" in params else [f"s{i}" for i in range(self.products)]
            items = [{"sku": s, "n": 3} for s in skus[offset : offset + limit]]
            return httpx.Response(200, json={"items": items, "offset": offset, "limit": limit, "total": len(skus)})
        if path == "/shipping":
            return httpx.Response(200, json=["ground", "express"])
        if path == "/orders" and request.method == "POST":
            body = json.loads(request.content)
            order = {"id": f"o{len(self.orders) + 1}", "reference": body["reference"], "lines": body["lines"]}
            self.orders.append(order)
            return httpx.Response(201, json=order)
        if path == "/orders":
            found = [o for o in self.orders if "reference" not in params or o["reference"] == params["reference"]]
            window = found[offset : offset + limit]
            return httpx.Response(200, json={"items": window, "offset": offset, "limit": limit, "total": len(found)})
        if path.startswith("/orders/"):
            for order in self.orders:
                if order["id"] == path.removeprefix("/orders/"):
                    return httpx.Response(200, json=order)
            return httpx.Response(404, json={"message": "no such order"})
        return httpx.Response(404, json={"message": "no such path"})


class Events:
    """A cross-cutting plugin recording every event hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for event, kwargs in self.calls if event == name]

    @hookimpl
    def connection_created(self, connection: Any) -> None:
        self.calls.append(("connection_created", {"connection": connection}))

    @hookimpl
    def connection_status_changed(self, connection: Any, old: Any, new: Any, reason: Any) -> None:
        self.calls.append(
            ("connection_status_changed", {"connection": connection, "old": old, "new": new, "reason": reason})
        )

    @hookimpl
    def token_refreshed(
        self, connection_id: str, platform: str, audience: str, expires_in: float, renewed: bool
    ) -> None:
        self.calls.append(("token_refreshed", {"connection_id": connection_id, "renewed": renewed}))

    @hookimpl
    def order_created(self, connection: Any, order: Any, replayed: bool) -> None:
        self.calls.append(("order_created", {"order": order, "replayed": replayed}))


@pytest.fixture
def shop() -> FakeShop:
    return FakeShop()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def registry(events: Events) -> Registry:
    registry = Registry(autoload=False)
    registry.register_platform(FakeShopPlatform())
    registry.register_plugin(events, name="events")
    return registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def hub(tmp_path: Any, shop: FakeShop, registry: Registry, clock: FakeClock) -> AsyncIterator[Hub]:
    async with await Hub.open(
        database=tmp_path / "hub.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.default(),
        registry=registry,
        http=HttpConfig(),
        clock=clock,
        transports={ORIGIN: httpx.MockTransport(shop.handle)},
        validate_timeout=5.0,
    ) as opened:
        yield opened
