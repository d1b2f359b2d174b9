"""The simulated store: its keys, catalog, zones and orders, and the Starlette app serving them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from storelink.simulation import FaultInjector
from storelink_woocommerce.simulator.config import SimulatorConfig

__all__ = ["PERMISSIONS", "WooSimulator"]

#: A key's permission, as WooCommerce stores it.
PERMISSIONS = ("read", "write", "read_write")

_BASE = "/wp-json/wc/v3"
_AUTHORIZE = "/wc-auth/v1/authorize"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft")
_ZONES = (
    {"id": 0, "name": "Locations not covered by your other zones", "order": 0},
    {"id": 1, "name": "United Kingdom", "order": 1},
    {"id": 2, "name": "Europe", "order": 2},
)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": {"status": status}}, status_code=status)


def _fault_body(status: int, retry_after: str | None) -> bytes:
    """WordPress's REST error body for an injected fault."""
    if status == 429:
        code, message = "rest_too_many_requests", f"Too many requests; retry after {retry_after} seconds."
    else:
        code, message = "internal_server_error", "The site is experiencing technical difficulties."
    return json.dumps({"code": code, "message": message, "data": {"status": status}}).encode()


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooSimulator:
    """A WooCommerce store with REST API keys, served as an ASGI app (:attr:`app`).

    It also serves the ``wc-auth`` approval page (``/wc-auth/v1/authorize``): a GET
    shows approve and deny buttons; their POST (``decision=approve|deny``) makes a key
    with the requested permission, POSTs it as JSON to the ``callback_url`` through
    *callback_transport* (the network by default; tests give the channel's ASGI app),
    then redirects the browser to ``return_url``. With :attr:`hold_deliveries` set, the
    POSTs wait until :meth:`deliver_held` (a delivery that lands after the browser).

    :param callback_transport: How the simulator reaches callback URLs.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, callback_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config or SimulatorConfig()
        self.callback_transport = callback_transport
        #: Hold approval POSTs until :meth:`deliver_held`.
        self.hold_deliveries = False
        self._held: list[tuple[str, dict[str, Any]]] = []
        #: The callback's answer to each approval POST made (status codes).
        self.deliveries: list[int] = []
        self._keys: dict[str, tuple[str, str]] = {}  # hash of the consumer key -> (secret, permission)
        self._orders: dict[int, dict[str, Any]] = {}
        self._next_order = 1
        self._in_flight = 0
        self.stats: dict[str, int] = {
            "requests": 0,
            "auth_failures": 0,
            "query_string_keys": 0,
            "variation_reads": 0,
            "max_in_flight": 0,
            "orders": 0,
        }
        for _ in range(self.config.orders):
            self._seed_order()
        routes = [
            Route(f"{_BASE}/settings/general/woocommerce_currency", self._currency),
            Route(f"{_BASE}/products", self._products),
            Route(f"{_BASE}/products/{{pid:int}}", self._product),
            Route(f"{_BASE}/products/{{pid:int}}/variations", self._variations),
            Route(f"{_BASE}/orders", self._orders_route, methods=["GET", "POST"]),
            Route(f"{_BASE}/orders/{{oid:int}}", self._order),
            Route(f"{_BASE}/shipping/zones", self._zones),
            Route(f"{_BASE}/shipping/zones/{{zid:int}}/methods", self._methods),
            Route(f"{_BASE}/shipping/zones/{{zid:int}}/methods/{{iid:int}}", self._method),
        ]
        self._api = Starlette(routes=routes)
        self._faults = FaultInjector(
            self._site, config=self.config, count=self._count, sleep=asyncio.sleep, error_body=_fault_body
        )

    # ------------------------------------------------------------------ keys

    def issue_credentials(self, permissions: str = "read_write") -> dict[str, str]:
        """Generate a key as WooCommerce's admin does: ``ck_``/``cs_`` and 40 hex characters each."""
        if permissions not in PERMISSIONS:
            raise ValueError(f"permissions must be one of {PERMISSIONS}")
        key, secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
        self._keys[self._hash(key)] = (secret, permissions)
        return {"consumer_key": key, "consumer_secret": secret}

    def revoke_credentials(self, credentials: Mapping[str, str]) -> None:
        """Revoke the key (the admin's Revoke deletes it): every request with it is refused from now on."""
        self._keys.pop(self._hash(credentials["consumer_key"]), None)

    @staticmethod
    def _hash(key: str) -> str:
        # WooCommerce stores only a hash of the consumer key (wc_api_hash).
        return hashlib.sha256(key.encode()).hexdigest()

    # ------------------------------------------------------------------ ASGI

    @property
    def app(self) -> Any:
        """The ASGI application (the site, under ``config.install_path``, behind the faults ``config`` asks for)."""
        return self._faults

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    async def _site(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        prefix = self.config.install_path
        path = scope["path"]
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            await Response("Not Found", status_code=404, media_type="text/html")(scope, receive, send)
            return
        inner = dict(scope, path=path[len(prefix) :], raw_path=path[len(prefix) :].encode())
        request = Request(inner, receive)
        if inner["path"] == _AUTHORIZE:
            await (await self._authorize(request))(inner, receive, send)
            return
        refusal = self._authenticate(request)
        if refusal is not None:
            self.stats["auth_failures"] += 1
            await refusal(inner, receive, send)
            return
        if request.query_params.get("per_page", "1").isdigit() and int(request.query_params.get("per_page", "1")) > 100:
            await _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")(inner, receive, send)
            return
        await self._api(inner, receive, send)

    # ------------------------------------------------------------------ wc-auth

    async def _authorize(self, request: Request) -> Response:
        """Serve the approval page (GET) and take the merchant's decision (POST), as ``WC_Auth`` does."""
        query = request.query_params
        missing = [
            name for name in ("app_name", "scope", "user_id", "return_url", "callback_url") if not query.get(name)
        ]
        if missing:
            return HTMLResponse(f"Missing parameter {missing[0]}", status_code=400)
        if query["scope"] not in PERMISSIONS:
            return HTMLResponse("Invalid scope", status_code=400)
        if urlsplit(query["callback_url"]).scheme != "https":
            return HTMLResponse("The callback_url needs to be over SSL", status_code=400)
        if request.method == "GET":
            return HTMLResponse(
                f"<h1>{query['app_name']} would like to connect to your store</h1>"
                '<form method="post"><button name="decision" value="approve">Approve</button>'
                '<button name="decision" value="deny">Deny</button></form>'
            )
        decision = (await request.form()).get("decision")
        back = query["return_url"] + ("&" if "?" in query["return_url"] else "?")
        if decision != "approve":
            return RedirectResponse(back + urlencode({"success": 0, "user_id": query["user_id"]}), status_code=302)
        keys = self.issue_credentials(permissions=query["scope"])
        body = {
            "key_id": len(self._keys),
            "user_id": query["user_id"],
            **keys,
            "key_permissions": query["scope"],
        }
        if self.hold_deliveries:
            self._held.append((query["callback_url"], body))
        elif not await self._post(query["callback_url"], body):
            self.revoke_credentials(keys)
            return HTMLResponse("An error occurred in the request and the keys could not be sent.", status_code=401)
        return RedirectResponse(back + urlencode({"success": 1, "user_id": query["user_id"]}), status_code=302)

    async def _post(self, url: str, body: dict[str, Any]) -> bool:
        async with httpx.AsyncClient(transport=self.callback_transport, timeout=10) as client:
            response = await client.post(url, json=body)
        self.deliveries.append(response.status_code)
        return response.is_success

    async def deliver_held(self) -> list[int]:
        """POST the held approval deliveries now; return the callback's status codes."""
        held, self._held = self._held, []
        statuses = []
        for url, body in held:
            await self._post(url, body)
            statuses.append(self.deliveries[-1])
        return statuses

    def _authenticate(self, request: Request) -> Response | None:
        """Check the Basic credentials and the key's permission for the method, as WooCommerce does."""
        if "consumer_key" in request.query_params:
            self.stats["query_string_keys"] += 1
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        key = secret = ""
        if scheme.lower() == "basic":
            try:
                key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = secret = ""
        stored = self._keys.get(self._hash(key)) if key and secret else None
        if stored is None:
            # An unknown key is no login at all: the endpoint's own permission check refuses.
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if not hmac.compare_digest(stored[0], secret):
            return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        permission = stored[1]
        if request.method in ("GET", "HEAD") and permission not in ("read", "read_write"):
            return _error(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
            )
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and permission not in ("write", "read_write"):
            return _error(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )
        return None

    # ------------------------------------------------------------------ catalog

    def product_id(self, index: int) -> int:
        """Return the id of catalog product *index*."""
        return 100 + index

    def variation_id(self, index: int, n: int) -> int:
        """Return the id of variation *n* of catalog product *index*."""
        return 1_000_000 + index * 1000 + n

    def is_variable(self, index: int) -> bool:
        """Tell whether catalog product *index* is variable."""
        return index % 3 == 1

    def product(self, index: int) -> dict[str, Any]:
        """Return catalog product *index* as ``/products`` does."""
        pid = self.product_id(index)
        variable = self.is_variable(index)
        price = f"{10 + (index * 7 + self.config.seed) % 90}.00"
        managed = index % 2 == 0
        created = _EPOCH + timedelta(minutes=index)
        return {
            "id": pid,
            "name": f"Product {index}",
            "slug": f"product-{index}",
            "permalink": f"https://example.com/product/product-{index}/",
            "date_created_gmt": _gmt(created),
            "date_modified_gmt": _gmt(created),
            "type": "variable" if variable else "simple",
            "status": "publish" if index % 11 else "draft",
            "description": f"<p>Product {index}</p>",
            "sku": "" if variable else f"SKU-{index}",
            "price": price,
            "regular_price": "" if variable else price,
            "sale_price": "" if index % 5 else f"{int(price[:-3]) - 1}.00",
            "purchasable": True,
            "manage_stock": managed and not variable,
            "stock_quantity": (index * 13) % 40 if managed and not variable else None,
            "stock_status": "instock" if index % 7 else "outofstock",
            "categories": [{"id": 9, "name": "Clothing", "slug": "clothing"}],
            "images": [{"id": pid, "src": f"https://example.com/wp-content/uploads/p{index}.jpg", "alt": ""}],
            "attributes": [{"id": 1, "name": "Size", "variation": True, "options": ["S", "M", "L"]}]
            if variable
            else [],
            "variations": [self.variation_id(index, n) for n in range(self.config.variations)] if variable else [],
            "meta_data": [],
        }

    def variation(self, index: int, n: int) -> dict[str, Any]:
        """Return variation *n* of catalog product *index*."""
        price = f"{20 + n}.50"
        vid = self.variation_id(index, n)
        return {
            "id": vid,
            "parent_id": self.product_id(index),
            "type": "variation",
            "sku": f"SKU-{index}-{n}",
            "price": price,
            "regular_price": price,
            "sale_price": "",
            "status": "publish",
            "purchasable": True,
            "manage_stock": True,
            "stock_quantity": (index + n * 5) % 30,
            "stock_status": "instock",
            "image": {"id": vid, "src": f"https://example.com/wp-content/uploads/v{vid}.jpg", "alt": ""},
            "attributes": [{"id": 1, "name": "Size", "option": ("S", "M", "L", "XL")[n % 4] + str(n // 4 or "")}],
        }

    def _index_of(self, pid: int) -> int | None:
        index = pid - 100
        return index if 0 <= index < self.config.products else None

    # ------------------------------------------------------------------ paging

    @staticmethod
    def _paged(request: Request, records: list[Any]) -> Response:
        page = int(request.query_params.get("page", "1") or 1)
        per_page = int(request.query_params.get("per_page", "10") or 10)
        total = len(records)
        pages = math.ceil(total / per_page) if per_page else 0
        chunk = records[(page - 1) * per_page : page * per_page]
        return JSONResponse(chunk, headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    # ------------------------------------------------------------------ routes

    async def _currency(self, request: Request) -> Response:
        return JSONResponse(
            {"id": "woocommerce_currency", "label": "Currency", "type": "select", "value": self.config.currency}
        )

    async def _products(self, request: Request) -> Response:
        ordered = [self.product(i) for i in range(self.config.products)]
        if request.query_params.get("order") == "desc":
            ordered.reverse()
        return self._paged(request, ordered)

    async def _product(self, request: Request) -> Response:
        pid = int(request.path_params["pid"])
        index = self._index_of(pid)
        if index is not None:
            return JSONResponse(self.product(index))
        parent, n = divmod(pid - 1_000_000, 1000)
        known = pid >= 1_000_000 and self._index_of(parent + 100) is not None and self.is_variable(parent)
        if known and n < self.config.variations:
            return JSONResponse(self.variation(parent, n))
        return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")

    async def _variations(self, request: Request) -> Response:
        index = self._index_of(int(request.path_params["pid"]))
        if index is None:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        self.stats["variation_reads"] += 1
        self._in_flight += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
        try:
            await asyncio.sleep(self.config.latency or 0)
            found = [self.variation(index, n) for n in range(self.config.variations)] if self.is_variable(index) else []
            return self._paged(request, found)
        finally:
            self._in_flight -= 1

    # ------------------------------------------------------------------ shipping

    def zones(self) -> list[dict[str, Any]]:
        """Return the shipping zones, as ``/shipping/zones`` does."""
        return [dict(z) for z in _ZONES]

    def methods(self, zone_id: int) -> list[dict[str, Any]]:
        """Return the method instances of zone *zone_id*."""
        base = zone_id * 10
        return [
            {
                "id": base + 1,
                "instance_id": base + 1,
                "title": "Flat rate",
                "order": 1,
                "enabled": True,
                "method_id": "flat_rate",
                "method_title": "Flat rate",
                "settings": {"cost": {"id": "cost", "value": f"{5 + zone_id}.00"}},
            },
            {
                "id": base + 2,
                "instance_id": base + 2,
                "title": "Free shipping",
                "order": 2,
                "enabled": zone_id != 2,
                "method_id": "free_shipping",
                "method_title": "Free shipping",
                "settings": {
                    "requires": {"id": "requires", "value": "min_amount"},
                    "min_amount": {"id": "min_amount", "value": "50"},
                },
            },
        ]

    async def _zones(self, request: Request) -> Response:
        return JSONResponse(self.zones())

    async def _methods(self, request: Request) -> Response:
        zid = int(request.path_params["zid"])
        if zid not in {z["id"] for z in _ZONES}:
            return _error(404, "woocommerce_rest_shipping_zone_invalid", "Invalid resource ID.")
        return JSONResponse(self.methods(zid))

    async def _method(self, request: Request) -> Response:
        zid, iid = int(request.path_params["zid"]), int(request.path_params["iid"])
        for method in self.methods(zid) if zid in {z["id"] for z in _ZONES} else []:
            if method["instance_id"] == iid:
                return JSONResponse(method)
        return _error(404, "woocommerce_rest_shipping_zone_method_invalid", "Resource does not exist.")

    # ------------------------------------------------------------------ orders

    def _seed_order(self) -> dict[str, Any]:
        n = self._next_order
        moment = _EPOCH + timedelta(hours=n)
        index = n % max(1, self.config.products)
        order = self._make_order(
            [{"product_id": self.product_id(index), "quantity": 1 + n % 3, "variation_id": 0}],
            created=moment,
            modified=moment + timedelta(minutes=n % 7),
            status=_STATUSES[n % 4],
            meta=[],
        )
        return order

    def _make_order(
        self, lines: list[dict[str, Any]], *, created: datetime, modified: datetime, status: str, meta: list[Any]
    ) -> dict[str, Any]:
        oid = self._next_order
        self._next_order += 1
        items = []
        subtotal = 0.0
        for i, line in enumerate(lines):
            price = float(line.get("price", 12.0))
            subtotal += price * int(line["quantity"])
            items.append(
                {
                    "id": oid * 100 + i,
                    "name": f"Line {i}",
                    "product_id": int(line["product_id"]),
                    "variation_id": int(line.get("variation_id") or 0),
                    "quantity": int(line["quantity"]),
                    "subtotal": f"{price * int(line['quantity']):.2f}",
                    "total": f"{price * int(line['quantity']):.2f}",
                    "price": price,
                }
            )
        shipping = float(lines[0].get("shipping", 5.0)) if lines else 0.0
        order = {
            "id": oid,
            "number": str(oid),
            "status": status,
            "currency": self.config.currency,
            "created_via": "rest-api",
            "date_created_gmt": _gmt(created),
            "date_modified_gmt": _gmt(modified),
            "total": f"{subtotal + shipping:.2f}",
            "shipping_total": f"{shipping:.2f}",
            "total_tax": "0.00",
            "billing": {},
            "shipping": {},
            "line_items": items,
            "shipping_lines": [],
            "meta_data": [{"id": oid * 10 + j, **m} for j, m in enumerate(meta)],
        }
        self._orders[oid] = order
        return order

    async def _orders_route(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        records = list(self._orders.values())
        after = request.query_params.get("modified_after")
        if after:
            limit = datetime.fromisoformat(after).replace(tzinfo=UTC)
            records = [o for o in records if datetime.fromisoformat(o["date_modified_gmt"]).replace(tzinfo=UTC) > limit]
        key = "id" if request.query_params.get("orderby") == "id" else "date_created_gmt"
        records.sort(key=lambda o: (o[key], o["id"]), reverse=request.query_params.get("order", "desc") == "desc")
        return self._paged(request, records)

    async def _order(self, request: Request) -> Response:
        order = self._orders.get(int(request.path_params["oid"]))
        if order is None:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return JSONResponse(order)

    async def _create(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        if not isinstance(payload, dict):
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        if "status" in payload and payload["status"] not in _STATUSES:
            return _error(400, "rest_invalid_param", f"Invalid parameter(s): status (status is not one of {_STATUSES})")
        lines = payload.get("line_items", [])
        if not isinstance(lines, list) or not lines:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): line_items")
        for line in lines:
            pid = line.get("product_id") if isinstance(line, dict) else None
            if not isinstance(pid, int) or self._index_of(pid) is None:
                return _error(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
        now = datetime.now(UTC)
        shipping = payload.get("shipping_lines") or [{}]
        lines = [dict(line, shipping=float(shipping[0].get("total") or 0)) for line in lines]
        order = self._make_order(
            lines, created=now, modified=now, status=payload.get("status", "pending"), meta=payload.get("meta_data", [])
        )
        order["billing"] = payload.get("billing", {})
        order["shipping"] = payload.get("shipping", {})
        order["shipping_lines"] = shipping
        self.stats["orders"] += 1
        return JSONResponse(order, status_code=201)
