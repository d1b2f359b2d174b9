"""The OCC simulator: a Starlette app of the endpoints the plugin uses.

=====================================  =====================================================
``POST /ccadmin/v1/login``             application key (Bearer) -> admin access token
``POST /ccadmin/v1/refresh``           current admin token (Bearer) -> new token
``GET  /ccadmin/v1/products[/{id}]``   ``listProducts`` / ``getProduct``
``GET  /ccadmin/v1/inventories[/{id}]`` ``listInventories`` / ``getInventory``
``GET  /ccadmin/v1/shippingMethods``   ``listShippingMethods`` (``enabledOnly`` defaults true)
``GET  /ccadmin/v1/orders[/{id}]``     ``getOrders`` (SCIM ``q``, ``sort``) / ``getOrder``
``POST /ccappagent/v1/login``          application key (Bearer) -> agent access token
``POST /ccappagent/v1/orders``         ``createOrder``
``GET  /ccappagent/v1/orders/{id}``    ``getOrder`` on the agent surface
=====================================  =====================================================

Lists use OCC's envelope ``{totalResults, offset, limit, links, items}``; errors use its
``errorModel`` ``{errorCode, message, status}`` with string ``status``. Error codes
that OCC documents are used as documented (``82001`` missing asset language,
``20031`` unknown product); the others are the simulator's own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storelink_occ.simulator.catalog import Catalog
from storelink_occ.simulator.config import SimulatorConfig
from storelink_occ.simulator.faults import OccFaults, error_body
from storelink_occ.simulator.keys import Grant, KeyIssuer
from storelink_occ.simulator.orders import OccError, OrderBook
from storelink_occ.simulator.scim import ScimError, parse_filter

__all__ = ["OccSimulator"]

VERSION_HEADER = {"oraclecommercecloud-version": "24.7.0-simulator"}

Handler = Callable[[Request], Awaitable[Response]]


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=VERSION_HEADER)


class OccSimulator:
    """A simulated OCC instance.

    :param config: How the store looks and misbehaves.
    :param clock: Monotonic seconds, for token lifetimes (inject a fake to skip time).
    :param now: The wall clock, for order dates and JWT claims.
    :param sleep: Awaited to simulate latency.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.catalog = Catalog(
            seed=self.config.seed,
            size=self.config.products,
            currency=self.config.currency,
            locations=self.config.locations,
        )
        self.keys = KeyIssuer(clock=clock, now=now, encoding=self.config.key_encoding)
        self.orders = OrderBook(self.catalog, now=now, sites=self.config.sites)
        self.orders.seed(self.config.orders, seed=self.config.seed)
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        routes = [
            Route("/ccadmin/v1/login", self._admin_login, methods=["POST"]),
            Route("/ccadmin/v1/refresh", self._refresh, methods=["POST"]),
            Route("/ccadmin/v1/products", self._products, methods=["GET"]),
            Route("/ccadmin/v1/products/{product_id}", self._product, methods=["GET"]),
            Route("/ccadmin/v1/inventories", self._inventories, methods=["GET"]),
            Route("/ccadmin/v1/inventories/{sku_id}", self._inventory, methods=["GET"]),
            Route("/ccadmin/v1/shippingMethods", self._shipping_methods, methods=["GET"]),
            Route("/ccadmin/v1/orders", self._admin_orders, methods=["GET"]),
            Route("/ccadmin/v1/orders/{order_id}", self._admin_order, methods=["GET"]),
            Route("/ccappagent/v1/login", self._agent_login, methods=["POST"]),
            Route("/ccappagent/v1/orders", self._create_order, methods=["POST"]),
            Route("/ccappagent/v1/orders/{order_id}", self._agent_order, methods=["GET"]),
        ]
        self.starlette = Starlette(
            routes=routes, exception_handlers={OccError: self._occ_error, HTTPException: self._http_error}
        )
        self.app = OccFaults(self.starlette, config=self.config, count=self._count, sleep=sleep, error_body=error_body)

    # ------------------------------------------------------------------ controls

    def issue_credentials(self, *, lifetime_days: int | None = None) -> dict[str, str]:
        """Register an application and return ``{"application_key": <JWT>}``.

        :param lifetime_days: Give the key an ``exp`` claim; ``None`` never expires.
        """
        return {"application_key": self.keys.issue_key(lifetime_days=lifetime_days)}

    def revoke_credentials(self, credentials: Mapping[str, str]) -> None:
        """Reset the application of *credentials*: its key and every token stop working.

        :raises ValueError: The key was not issued by this simulator.
        """
        if not self.keys.revoke_key(credentials["application_key"]):
            raise ValueError("this application key was not issued by this simulator")

    @property
    def stats(self) -> Mapping[str, int]:
        """Return the counters of what the simulator saw.

        ``requests``, ``logins``, ``agent_logins``, ``login_failures``, ``refreshes``,
        ``unauthorized``, ``orders``, and ``faults_*`` per kind of fault.
        """
        with self._stats_lock:
            return dict(self._stats)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self._stats[name] += 1

    # ------------------------------------------------------------------ auth

    async def _admin_login(self, request: Request) -> Response:
        self._count("logins")
        return await self._login(request, "admin")

    async def _agent_login(self, request: Request) -> Response:
        self._count("agent_logins")
        return await self._login(request, "agent")

    async def _login(self, request: Request, audience: str) -> Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise OccError(400, "000010", "The login request must be form-encoded (application/x-www-form-urlencoded).")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise OccError(400, "000011", "grant_type must be client_credentials.")
        app_id = self.keys.app_of_key(_bearer(request) or "")
        if app_id is None:
            self._count("login_failures")
            raise OccError(401, "000001", "The application key is not valid, or it was reset or deleted.")
        return self._token_response(self.keys.issue_token(app_id, audience, self.config.token_ttl))

    async def _refresh(self, request: Request) -> Response:
        self._count("refreshes")
        grant = self._authorize(request, "admin", check_language=False)
        return self._token_response(self.keys.issue_token(grant.app_id, "admin", self.config.token_ttl))

    def _token_response(self, token: str) -> Response:
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer"}
        if self.config.include_expires_in:
            ttl = self.config.token_ttl
            body["expires_in"] = int(ttl) if ttl.is_integer() else ttl
        return _json(body)

    def _authorize(self, request: Request, audience: str, *, check_language: bool = True) -> Grant:
        grant = self.keys.grant_of_token(_bearer(request) or "")
        if grant is None or grant.audience != audience:
            self._count("unauthorized")
            raise OccError(401, "000002", "The access token is not valid or has expired.")
        if check_language and self.config.require_asset_language and "x-ccasset-language" not in request.headers:
            raise OccError(400, "82001", "Required header is missing: x-ccasset-language")
        return grant

    # ------------------------------------------------------------------ catalog

    async def _products(self, request: Request) -> Response:
        self._authorize(request, "admin")
        offset, limit = self._window(request)
        items = list(self.catalog.iter_products(offset, offset + limit))
        return _json(_envelope(request, items, total=self.catalog.size, offset=offset, limit=limit))

    async def _product(self, request: Request) -> Response:
        self._authorize(request, "admin")
        product_id = request.path_params["product_id"]
        index = self.catalog.index_of(product_id)
        if index is None:
            raise OccError(404, "20031", f"Product Id {product_id} is invalid or non-existent.")
        return _json(self.catalog.product(index))

    async def _inventories(self, request: Request) -> Response:
        self._authorize(request, "admin")
        offset, limit = self._window(request)
        items = [self.catalog.inventory_item(i) for i in range(offset, min(offset + limit, self.catalog.size))]
        return _json(_envelope(request, items, total=self.catalog.size, offset=offset, limit=limit))

    async def _inventory(self, request: Request) -> Response:
        self._authorize(request, "admin")
        sku_id = request.path_params["sku_id"]
        record = self.catalog.sku_inventory(sku_id)
        if record is None:
            raise OccError(404, "25100", f"SKU Id {sku_id} is invalid or non-existent.")
        return _json(record)

    async def _shipping_methods(self, request: Request) -> Response:
        self._authorize(request, "admin")
        methods = self.catalog.shipping_methods()
        if request.query_params.get("enabledOnly", "true").lower() != "false":
            methods = [m for m in methods if m["enabled"]]
        return _json(methods if self.config.shipping_shape == "list" else {"items": methods})

    # ------------------------------------------------------------------ orders

    async def _admin_orders(self, request: Request) -> Response:
        self._authorize(request, "admin")
        params = request.query_params
        predicate = None
        if params.get("q"):
            if params.get("queryFormat", "").upper() != "SCIM":
                raise OccError(400, "100010", "RQL queries are not supported by the simulator; use queryFormat=SCIM.")
            try:
                predicate = parse_filter(params["q"])
            except ScimError as exc:
                raise OccError(400, "100011", f"Invalid SCIM query: {exc}") from None
        found = self.orders.search(predicate, site_id=request.headers.get("x-ccsite"), sort=params.get("sort"))
        offset, limit = self._window(request)
        return _json(_envelope(request, found[offset : offset + limit], total=len(found), offset=offset, limit=limit))

    async def _admin_order(self, request: Request) -> Response:
        self._authorize(request, "admin")
        return _json(self._order(request.path_params["order_id"]))

    async def _agent_order(self, request: Request) -> Response:
        self._authorize(request, "agent")
        return _json(self._order(request.path_params["order_id"]))

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise OccError(404, "28010", f"Order Id {order_id} is invalid or non-existent.")
        return order

    async def _create_order(self, request: Request) -> Response:
        self._authorize(request, "agent")
        try:
            body = await request.json()
        except ValueError:
            raise OccError(400, "100001", "The request body is not valid JSON.") from None
        order = self.orders.create(body, site_id=request.headers.get("x-ccsite"))
        self._count("orders")
        return _json(order, status=201)

    # ------------------------------------------------------------------ helpers

    def _window(self, request: Request) -> tuple[int, int]:
        """Return ``(offset, limit)`` from the query, clamping ``limit`` as OCC may."""
        values = []
        for name, default in (("offset", 0), ("limit", 250)):
            text = request.query_params.get(name, str(default))
            if not text.isdigit():
                raise OccError(400, "100002", f"The value of {name} must be a non-negative number.")
            values.append(int(text))
        offset, limit = values
        return offset, max(1, min(limit, self.config.max_limit))

    async def _occ_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, OccError):
            raise exc
        return _json(exc.envelope(), status=exc.status)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise exc
        message = "No such endpoint." if exc.status_code == 404 else str(exc.detail)
        return _json(OccError(exc.status_code, f"SIM{exc.status_code}", message).envelope(), status=exc.status_code)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _envelope(request: Request, items: list[dict[str, Any]], *, total: int, offset: int, limit: int) -> dict[str, Any]:
    """Wrap *items* in OCC's list envelope, honouring ``fields`` as OCC does.

    With ``fields``, items keep only the listed ``items.<property>`` keys, and
    ``totalResults`` is left out unless it is listed too.
    """
    links = [{"rel": "self", "href": str(request.url)}]
    if offset + limit < total:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + limit, limit=limit))})
    envelope: dict[str, Any] = {"totalResults": total, "offset": offset, "limit": limit, "links": links, "items": items}
    fields = request.query_params.get("fields")
    if fields:
        wanted = {f.strip() for f in fields.split(",")}
        keep = {f.removeprefix("items.") for f in wanted if f.startswith("items.")}
        envelope["items"] = [{k: v for k, v in item.items() if k in keep} for item in items]
        if "totalResults" not in wanted:
            del envelope["totalResults"]
    return envelope
