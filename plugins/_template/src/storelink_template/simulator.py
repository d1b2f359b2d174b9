"""An in-process fake of the Template platform's API, for tests, demos and the contract suite.

Replace it, endpoint by endpoint, with a faithful model of your platform: the contract
suite and your unit tests run against it, so every rule you copy here from the
platform's documentation is checked on every commit.

The API it serves (JSON everywhere; errors are ``{"error": {"code", "message"}}`` with
an ``X-Request-Id`` header):

- ``POST /api/login`` with ``Authorization: Bearer <api key>`` returns
  ``{"token", "expires_in"}``; ``401 invalid_key`` for an unknown or revoked key.
- ``POST /api/refresh`` with ``Authorization: Bearer <token>`` returns a new token.
- ``GET /api/me`` returns the key's ``scopes``.
- ``GET /api/products?cursor=&limit=`` returns ``{"products", "next_cursor"}``.
- ``GET /api/orders?offset=&limit=&updated_since=&reference=`` returns ``{"orders", "total"}``.
- ``GET /api/orders/{id}`` returns one order; ``POST /api/orders`` creates one, and
  answers ``409 duplicate_reference`` when an order already carries its reference.
- ``GET /api/inventory?cursor=&limit=&sku=a,b`` returns ``{"levels", "next_cursor"}``.
- ``GET /api/shipping-methods`` returns ``{"methods"}``.

Every data endpoint wants ``Authorization: Bearer <token>`` and answers ``401
token_expired`` once the token's lifetime has passed on the injected clock.

Faults come from the core's :class:`~storelink.simulation.FaultInjector`, which wraps the
API (:attr:`TemplateSimulator.app`): seeded latency, dropped connections, ``429`` with
``Retry-After``, ``5xx`` answers, truncated bodies and, for ``POST /api/orders``, an
order committed whose response is lost. Tests of your plugin's resilience set their
rates (``TemplateSimulator(fail_rate=0.2)``), or change them while serving
(``sim.fail_rate = 1.0``): the injector reads them from the simulator at each request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from attrs import define, field
from attrs.validators import and_, ge, instance_of, le
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope
from storelink.simulation import UNAVAILABLE, FaultInjector

__all__ = ["ORDER_CREATION", "SCOPES", "TemplateSimulator", "create"]

#: Every scope a key can hold; a key holds all of them unless issued with fewer.
SCOPES = ("products", "orders", "create_orders", "inventory", "shipping_methods")

#: The request that creates something: its response may be lost after the commit, never truncated.
ORDER_CREATION = ("POST", "/api/orders")

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_LOCATIONS = ("main", "annex")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return int(value) if kind == "o" and int(value) >= 0 else None
    except ValueError:
        return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"X-Request-Id": secrets.token_hex(8)}
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _fault_body(status: int, retry_after: str | None) -> bytes:
    """Return the API's error body for a status the fault injector answers with."""
    if status == 429:
        error = {"code": "rate_limited", "message": f"Too many requests; retry after {retry_after} seconds."}
    else:
        error = {"code": "unavailable", "message": f"{UNAVAILABLE[status]}; try again shortly."}
    return json.dumps({"error": error}).encode()


class _Faults(FaultInjector["TemplateSimulator"]):
    """The core's faults, with order creation as the request whose response may be lost."""

    def commit_loss_rate(self, scope: Scope) -> float | None:
        if (scope["method"], str(scope["path"]).rstrip("/")) == ORDER_CREATION:
            return self.config.lose_order_rate
        return None


def _catalog(products: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    catalog = []
    for n in range(1, products + 1):
        price = Decimal(rng.randint(500, 20000)) / 100
        variants = [
            {"id": f"sku-{n}-{v}", "sku": f"T{n:05d}{v}", "price": str(price), "options": {"size": size}}
            for v, size in enumerate(("S", "M", "L")[: rng.randint(1, 3)], start=1)
        ]
        catalog.append(
            {
                "id": f"prod-{n}",
                "name": f"Product {n}",
                "description": f"Seeded product number {n}.",
                "active": n % 17 != 0,
                "price": {"amount": str(price), "currency": "USD"},
                "variants": variants,
                "created": (_EPOCH + timedelta(hours=n)).isoformat(),
            }
        )
    return catalog


#: A share of requests, from 0 to 1; and a number of seconds, 0 or more (as the other simulators check them).
_rate = and_(instance_of(float), ge(0.0), le(1.0))
_seconds = and_(instance_of(float), ge(0.0))


@define
class _Key:
    scopes: frozenset[str]
    revoked: bool = False


@define
class _Token:
    key: str
    expires_at: float


@define
class TemplateSimulator:
    """The fake platform: a seeded catalog, API keys, tokens with a lifetime, orders.

    :param products: How many products the seeded catalog holds.
    :param orders: How many orders the store holds already (one per hour from 2024-01-01).
    :param seed: Seed of the catalog and of the fault injection.
    :param token_ttl: Lifetime of a token in seconds, on *clock*.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param latency: Seconds each request waits before it is answered.
    :param drop_rate: Share of requests whose connection drops before they are processed.
    :param rate_limit_rate: Share of requests answered ``429`` with ``Retry-After``.
    :param retry_after: The ``Retry-After`` seconds of a ``429``.
    :param truncate_rate: Share of responses cut off halfway (never an order creation's).
    :param lose_order_rate: Share of order creations committed whose response is lost.
    :param page_limit: The largest page the API serves, whatever ``limit`` asks.
    :param clock: Monotonic time in seconds (a test passes its fake clock's ``monotonic``).

    ``stats`` counts ``logins``, ``refreshes``, ``orders``, ``requests`` (every request,
    faults included) and each fault the injector made (``faults_5xx``,
    ``faults_rate_limited``, ``faults_dropped``, ``faults_truncated``,
    ``faults_lost_orders``).
    """

    products: int = 120
    orders: int = 0
    seed: int = 0
    token_ttl: float = 600.0
    fail_rate: float = field(default=0.0, converter=float, validator=_rate)
    latency: float = field(default=0.0, converter=float, validator=_seconds)
    drop_rate: float = field(default=0.0, converter=float, validator=_rate)
    rate_limit_rate: float = field(default=0.0, converter=float, validator=_rate)
    retry_after: float = field(default=1.0, converter=float, validator=_seconds)
    truncate_rate: float = field(default=0.0, converter=float, validator=_rate)
    lose_order_rate: float = field(default=0.0, converter=float, validator=_rate)
    page_limit: int = 100
    clock: Callable[[], float] = time.monotonic
    stats: dict[str, int] = field(factory=lambda: dict.fromkeys(("logins", "refreshes", "requests", "orders"), 0))
    _catalog: list[dict[str, Any]] = field(init=False)
    _keys: dict[str, _Key] = field(factory=dict, init=False)
    _tokens: dict[str, _Token] = field(factory=dict, init=False)
    _orders: list[dict[str, Any]] = field(factory=list, init=False)
    site: Starlette = field(init=False, repr=False)
    faults: FaultInjector[TemplateSimulator] = field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._catalog = _catalog(self.products, self.seed)
        for n in range(1, self.orders + 1):
            variant = self._catalog[n % len(self._catalog)]["variants"][0]
            line = {"product": f"prod-{n % len(self._catalog) + 1}", "sku": variant["id"], "quantity": 1 + n % 3}
            self._add_order(f"seed-{n}", [line], None, (_EPOCH + timedelta(hours=n)).isoformat())
        self.site = Starlette(
            routes=[
                Route("/api/login", self._login, methods=["POST"]),
                Route("/api/refresh", self._refresh, methods=["POST"]),
                Route("/api/me", self._guarded(self._me)),
                Route("/api/products", self._guarded(self._products)),
                Route("/api/orders", self._guarded(self._list_orders)),
                Route("/api/orders", self._guarded(self._create_order), methods=["POST"]),
                Route("/api/orders/{order_id}", self._guarded(self._get_order)),
                Route("/api/inventory", self._guarded(self._inventory)),
                Route("/api/shipping-methods", self._guarded(self._shipping_methods)),
            ]
        )
        self.faults = _Faults(self.site, config=self, count=self._count, sleep=asyncio.sleep, error_body=_fault_body)

    @property
    def app(self) -> FaultInjector[TemplateSimulator]:
        """The ASGI application: the API (:attr:`site`) behind the faults this simulator's rates ask for."""
        return self.faults

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    # ------------------------------------------------------------------ keys

    def issue_credentials(self, scopes: tuple[str, ...] = SCOPES) -> dict[str, str]:
        """Create an API key holding *scopes* and return it as credential values."""
        key = f"template_{secrets.token_hex(16)}"
        self._keys[key] = _Key(scopes=frozenset(scopes))
        return {"api_key": key}

    def revoke_credentials(self, credentials: Mapping[str, str]) -> None:
        """Revoke the key in *credentials* and every token it obtained."""
        key = credentials["api_key"]
        self._keys[key].revoked = True
        self._tokens = {t: tok for t, tok in self._tokens.items() if tok.key != key}

    # ------------------------------------------------------------------ auth

    def _bearer(self, request: Request) -> str:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else ""

    def _issue_token(self, key: str) -> JSONResponse:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Token(key=key, expires_at=self.clock() + self.token_ttl)
        return JSONResponse({"token": token, "expires_in": self.token_ttl})

    async def _login(self, request: Request) -> Response:
        self.stats["logins"] += 1
        key = self._keys.get(self._bearer(request))
        if key is None or key.revoked:
            return _error(401, "invalid_key", "The API key is not valid.")
        return self._issue_token(self._bearer(request))

    async def _refresh(self, request: Request) -> Response:
        self.stats["refreshes"] += 1
        token = self._tokens.pop(self._bearer(request), None)
        if token is None or token.expires_at <= self.clock():
            return _error(401, "token_expired", "The token has expired; log in again.")
        return self._issue_token(token.key)

    def _guarded(self, handler: Callable[[Request, _Key], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            token = self._tokens.get(self._bearer(request))
            if token is None or token.expires_at <= self.clock():
                return _error(401, "token_expired", "The token is missing or has expired.")
            response: Response = await handler(request, self._keys[token.key])
            return response

        return endpoint

    # ------------------------------------------------------------------ reads

    async def _me(self, _request: Request, key: _Key) -> Response:
        return JSONResponse({"scopes": sorted(key.scopes)})

    def _page_bounds(self, request: Request) -> tuple[int, int] | JSONResponse:
        try:
            limit = min(int(request.query_params.get("limit", "50")), self.page_limit)
        except ValueError:
            return _error(400, "bad_limit", "limit must be a number.")
        start = _offset(request.query_params.get("cursor"))
        if start is None or limit < 1:
            return _error(400, "bad_cursor", "The cursor or limit is not valid.")
        return start, limit

    async def _products(self, request: Request, key: _Key) -> Response:
        if "products" not in key.scopes:
            return _error(403, "forbidden", "The key may not read products.")
        bounds = self._page_bounds(request)
        if isinstance(bounds, JSONResponse):
            return bounds
        start, limit = bounds
        items = self._catalog[start : start + limit]
        more = start + limit < len(self._catalog)
        return JSONResponse({"products": items, "next_cursor": _cursor(start + limit) if more else None})

    async def _inventory(self, request: Request, key: _Key) -> Response:
        if "inventory" not in key.scopes:
            return _error(403, "forbidden", "The key may not read inventory.")
        bounds = self._page_bounds(request)
        if isinstance(bounds, JSONResponse):
            return bounds
        start, limit = bounds
        wanted = set(filter(None, request.query_params.get("sku", "").split(",")))
        levels = [
            {"sku": v["id"], "location": loc, "available": (len(v["id"]) * 7 + i) % 40}
            for p in self._catalog
            for v in p["variants"]
            for i, loc in enumerate(_LOCATIONS)
            if not wanted or v["id"] in wanted
        ]
        more = start + limit < len(levels)
        return JSONResponse(
            {"levels": levels[start : start + limit], "next_cursor": _cursor(start + limit) if more else None}
        )

    async def _shipping_methods(self, _request: Request, key: _Key) -> Response:
        if "shipping_methods" not in key.scopes:
            return _error(403, "forbidden", "The key may not read shipping methods.")
        methods = [
            {"code": "standard", "label": "Standard", "enabled": True, "rates": [{"price": "4.95", "below": "50"}]},
            {"code": "express", "label": "Express", "enabled": True, "rates": [{"price": "12.50"}]},
            {"code": "pickup", "label": "Store pickup", "enabled": False, "rates": []},
        ]
        return JSONResponse({"methods": methods, "currency": "USD"})

    # ------------------------------------------------------------------ orders

    async def _list_orders(self, request: Request, key: _Key) -> Response:
        if "orders" not in key.scopes:
            return _error(403, "forbidden", "The key may not read orders.")
        query = request.query_params
        try:
            offset, limit = int(query.get("offset", "0")), min(int(query.get("limit", "50")), self.page_limit)
            since = datetime.fromisoformat(query["updated_since"]) if "updated_since" in query else None
        except ValueError:
            return _error(400, "bad_query", "offset, limit and updated_since must be valid.")
        orders = [
            o
            for o in self._orders
            if (since is None or datetime.fromisoformat(o["updated"]) >= since)
            and query.get("reference") in (None, o["reference"])
        ]
        return JSONResponse({"orders": orders[offset : offset + limit], "total": len(orders)})

    async def _get_order(self, request: Request, key: _Key) -> Response:
        if "orders" not in key.scopes:
            return _error(403, "forbidden", "The key may not read orders.")
        for order in self._orders:
            if order["id"] == request.path_params["order_id"]:
                return JSONResponse(order)
        return _error(404, "not_found", "There is no such order.")

    async def _create_order(self, request: Request, key: _Key) -> Response:
        if "create_orders" not in key.scopes:
            return _error(403, "forbidden", "The key may not create orders.")
        body = await request.json()
        reference = body.get("reference")
        if not isinstance(reference, str) or not body.get("lines"):
            return _error(400, "invalid_order", "An order needs a reference and lines.")
        if any(o["reference"] == reference for o in self._orders):
            return _error(409, "duplicate_reference", "An order with this reference exists.")
        prices = self._prices()
        for line in body["lines"]:
            if line.get("sku") not in prices:
                return _error(400, "unknown_sku", f"Unknown SKU {line.get('sku')!r}.")
        self.stats["orders"] += 1
        order = self._add_order(reference, body["lines"], body.get("ship_to"), datetime.now(UTC).isoformat())
        return JSONResponse(order, status_code=201)

    def _prices(self) -> dict[str, Decimal]:
        return {v["id"]: Decimal(v["price"]) for p in self._catalog for v in p["variants"]}

    def _add_order(self, reference: str, lines: list[dict[str, Any]], ship_to: object, stamp: str) -> dict[str, Any]:
        prices = self._prices()
        priced = [{**line, "price": str(prices[line["sku"]])} for line in lines]
        total = sum((Decimal(line["price"]) * line["quantity"] for line in priced), Decimal(0))
        order = {
            "id": f"ord-{len(self._orders) + 1}",
            "reference": reference,
            "status": "submitted",
            "lines": priced,
            "total": {"amount": str(total), "currency": "USD"},
            "ship_to": ship_to,
            "created": stamp,
            "updated": stamp,
        }
        self._orders.append(order)
        return order


def create(
    *,
    products: int = 1000,
    seed: int = 0,
    token_ttl: float = 300.0,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    **options: Any,
) -> TemplateSimulator:
    """Build a simulator (the ``storelink.simulators`` entry point).

    :param options: ``page_limit`` and ``clock``, as :class:`TemplateSimulator` takes them.
    """
    return TemplateSimulator(
        products=products, seed=seed, token_ttl=token_ttl, fail_rate=fail_rate, latency=latency, **options
    )
