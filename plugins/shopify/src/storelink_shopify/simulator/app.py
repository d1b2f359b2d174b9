"""The Shopify simulator: the GraphQL Admin endpoint, answering the plugin's named queries.

``POST /admin/api/{version}/graphql.json`` with ``{"query", "variables", "operationName"}``.
The simulator does not parse GraphQL: it dispatches on the operation name (given, or
read from ``query Name(...)``) and answers with the shape of the fields the plugin's
document of that name selects, honouring ``first``/``after`` and the nested ``first:``
sizes written in the document. What it does like Shopify:

- the token in ``X-Shopify-Access-Token`` only (an ``Authorization: Bearer`` header is
  ignored, as Shopify ignores it); a missing, unknown or revoked token answers 401 ``{"errors": "[API] Invalid API key
  or access token ..."}``; an unknown API version answers 404;
- scopes: a query the token's scopes do not cover answers ``ACCESS_DENIED``;
- cost-based throttling with a leaky bucket (:class:`CostBucket`): every answer has
  ``extensions.cost`` with ``requestedQueryCost``, ``actualQueryCost`` and
  ``throttleStatus``; a query the bucket cannot pay for answers ``THROTTLED`` (HTTP 200),
  one above the bucket's size ``MAX_COST_EXCEEDED``;
- opaque cursors (base64 of the last sort key), ``pageInfo {hasNextPage endCursor}``,
  ``first`` between 1 and 250;
- the OAuth install of the simulator's one app (:attr:`ShopifySimulator.oauth`, see
  :mod:`storelink_shopify.simulator.oauth`): its tokens are accepted here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storelink.simulation import UNAVAILABLE, FaultInjector
from storelink_shopify.simulator.catalog import PRODUCT_BASE, Catalog, gid_number
from storelink_shopify.simulator.config import SimulatorConfig
from storelink_shopify.simulator.oauth import OAuthApp, implied
from storelink_shopify.simulator.orders import OrderBook, SearchError
from storelink_shopify.simulator.throttle import CostBucket

__all__ = ["ALL_SCOPES", "GraphQLError", "ShopifySimulator"]

ALL_SCOPES = frozenset({"read_products", "read_inventory", "read_orders", "write_orders", "read_shipping"})

#: The scopes each operation needs.
REQUIRED_SCOPES: Mapping[str, frozenset[str]] = {
    "Shop": frozenset(),
    "AccessScopes": frozenset(),
    "Products": frozenset({"read_products"}),
    "VariantInventory": frozenset({"read_products", "read_inventory"}),
    "VariantInventoryById": frozenset({"read_products", "read_inventory"}),
    "DeliveryProfiles": frozenset({"read_shipping"}),
    "Orders": frozenset({"read_orders"}),
    "Order": frozenset({"read_orders"}),
    "ShippingMethod": frozenset({"read_shipping"}),
    "OrderCreate": frozenset({"write_orders"}),
}

_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105  # a message
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+([A-Za-z_]\w*)")
#: Shopify's requested cost of a mutation, before its selection.
_MUTATION_COST = 10
_MAX_FIRST = 250
_VARIANT_FIELDS = ("id", "title", "sku", "barcode", "price", "compareAtPrice", "selectedOptions", "image")
_DOCS = "https://shopify.dev/api/usage/rate-limits"


class GraphQLError(Exception):
    """An error the simulator answers inside HTTP 200, with an ``extensions.code``."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def entry(self) -> dict[str, Any]:
        """Return the error as an ``errors`` entry."""
        entry: dict[str, Any] = {"message": self.message}
        if self.code:
            entry["extensions"] = {"code": self.code}
        return entry


def _fault_body(status: int, retry_after: str | None) -> bytes:
    """Shopify's ``{"errors": ...}`` body for an injected fault."""
    return json.dumps(
        {"errors": "Exceeded the rate limit; retry later" if status == 429 else UNAVAILABLE[status]}
    ).encode()


def _cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"last": key}).encode()).decode().rstrip("=")


def _uncursor(cursor: Any) -> Any:
    if cursor is None:
        return None
    try:
        text = str(cursor)
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["last"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise GraphQLError("Invalid cursor for current pagination sort.", "BAD_REQUEST") from None


def _int_cursor(variables: Mapping[str, Any]) -> int | None:
    last = _uncursor(variables.get("after"))
    if last is None:
        return None
    if isinstance(last, bool) or not isinstance(last, int):
        raise GraphQLError("Invalid cursor for current pagination sort.", "BAD_REQUEST")
    return last


def _connection(nodes: list[dict[str, Any]], more: bool, last_key: Any) -> dict[str, Any]:
    return {
        "pageInfo": {"hasNextPage": more, "endCursor": _cursor(last_key) if nodes else None},
        "nodes": nodes,
    }


def _first(variables: Mapping[str, Any]) -> int:
    first = variables.get("first")
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= _MAX_FIRST:
        raise GraphQLError(f"The 'first' argument must be between 1 and {_MAX_FIRST}.", "BAD_REQUEST")
    return first


def _nested(query: str, field: str, default: int) -> int:
    """Return the ``first:`` the document writes for the nested connection *field*."""
    match = re.search(rf"\b{field}\(first:\s*(\d+)", query)
    return int(match.group(1)) if match else default


def _page(nodes: list[dict[str, Any]], first: int) -> tuple[list[dict[str, Any]], bool]:
    return nodes[:first], len(nodes) > first


class ShopifySimulator:
    """A simulated Shopify shop.

    :param config: How the shop looks and misbehaves.
    :param clock: Monotonic seconds, for the cost bucket (inject a fake to skip time).
    :param sleep: Awaited to simulate latency.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.catalog = Catalog(
            seed=self.config.seed,
            size=self.config.products,
            currency=self.config.currency,
            locations=self.config.locations,
        )
        self.orders = OrderBook(self.catalog, count=self.config.orders, seed=self.config.seed)
        self.bucket = CostBucket(size=self.config.bucket_size, restore_rate=self.config.restore_rate, clock=clock)
        self._tokens: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._handlers: dict[str, Callable[[str, Mapping[str, Any]], tuple[dict[str, Any], float]]] = {
            "Shop": self._shop,
            "AccessScopes": self._shop,  # answered in _run: its answer depends on the token
            "Products": self._products,
            "VariantInventory": self._variant_inventory,
            "VariantInventoryById": self._variant_inventory_by_id,
            "DeliveryProfiles": self._delivery_profiles,
            "Orders": self._orders,
            "Order": self._order,
            "ShippingMethod": self._shipping_method,
            "OrderCreate": self._order_create,
        }
        self.oauth = OAuthApp(install=self._install, granted=self.config.granted_scopes)
        self.starlette = Starlette(
            routes=[
                Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
                Route("/admin/oauth/authorize", self.oauth.authorize, methods=["GET", "POST"]),
                Route("/admin/oauth/access_token", self.oauth.access_token, methods=["POST"]),
            ]
        )
        self.app = FaultInjector(
            self.starlette, config=self.config, count=self._count, sleep=sleep, error_body=_fault_body
        )

    # ------------------------------------------------------------------ controls

    def issue_credentials(self, *, scopes: Iterable[str] = ALL_SCOPES) -> dict[str, str]:
        """Install a custom app with *scopes* and return ``{"access_token": "shpat_..."}``."""
        return {"access_token": self._install(frozenset(scopes), prefix="shpat")}

    @property
    def tokens(self) -> frozenset[str]:
        """The access tokens the shop accepts now (issued, or obtained through OAuth, and not revoked)."""
        with self._lock:
            return frozenset(self._tokens)

    def app_credentials(self) -> dict[str, str]:
        """Return the client id and secret of the app the OAuth install is for."""
        return self.oauth.app_credentials()

    def approve(self, authorization_url: str) -> str:
        """Install the app at *authorization_url* as the merchant would; return the callback URL.

        The contract kit's approve step (``storelink.testing.OAuthSimulator``); the same
        as :meth:`OAuthApp.approve <storelink_shopify.simulator.oauth.OAuthApp.approve>`.
        """
        return self.oauth.approve(authorization_url)

    def _install(self, scopes: frozenset[str], prefix: str = "shpua") -> str:
        token = f"{prefix}_{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = scopes
        return token

    def revoke_credentials(self, credentials: Mapping[str, str]) -> None:
        """Uninstall the app of *credentials*: its token is refused from now on.

        :raises ValueError: The token was not issued by this simulator.
        """
        with self._lock:
            if self._tokens.pop(credentials["access_token"], None) is None:
                raise ValueError("this access token was not issued by this simulator")

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters: ``requests``, ``queries``, ``throttled``, ``unauthorized``, ``op:<Name>``, faults."""
        with self._lock:
            return dict(self._stats)

    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    # ------------------------------------------------------------------ the endpoint

    async def _graphql(self, request: Request) -> Response:
        version = request.path_params["version"]
        if version not in self.config.api_versions:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        token = request.headers.get("x-shopify-access-token")
        with self._lock:
            scopes = self._tokens.get(token or "")
        if scopes is None:
            self._count("unauthorized")
            return JSONResponse({"errors": _INVALID_TOKEN}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        variables = body.get("variables") or {}
        match = _OPERATION.match(query)
        name = body.get("operationName") or (match.group(1) if match else None)
        self._count("queries")
        headers = {"x-shopify-api-version": version, "x-request-id": secrets.token_hex(8)}
        return JSONResponse(self._run(str(name), query, variables, scopes), headers=headers)

    def _run(self, name: str, query: str, variables: Any, scopes: frozenset[str]) -> dict[str, Any]:
        handler = self._handlers.get(name)
        if handler is None or not isinstance(variables, dict):
            return {"errors": [GraphQLError(f"the simulator does not implement operation {name[:60]!r}").entry()]}
        self._count(f"op:{name}")
        try:
            requested = self._requested_cost(name, query, variables)
        except GraphQLError as exc:
            return {"errors": [exc.entry()]}
        limit = min(self.bucket.size, self.config.max_query_cost)
        if requested > limit:
            message = f"Query cost is {requested:.0f}, which exceeds the single query max cost limit ({limit:.0f})."
            return {"errors": [GraphQLError(message, "MAX_COST_EXCEEDED").entry()], "extensions": self._cost(requested)}
        if not self.bucket.charge(requested):
            self._count("throttled")
            entry = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": _DOCS}}
            return {"errors": [entry], "extensions": self._cost(requested, actual=None)}
        missing = sorted(REQUIRED_SCOPES[name] - implied(scopes))
        if missing:
            self.bucket.refund(requested - 1)
            message = f"Access denied for {name} field. Required access: `{missing[0]}` access scope."
            denied = GraphQLError(message, "ACCESS_DENIED").entry()
            return {"data": None, "errors": [denied], "extensions": self._cost(1)}
        try:
            data, actual = self._access_scopes(scopes) if name == "AccessScopes" else handler(query, variables)
        except GraphQLError as exc:
            self.bucket.refund(requested - 1)
            return {"errors": [exc.entry()], "extensions": self._cost(1)}
        actual = min(actual, requested)
        self.bucket.refund(requested - actual)
        return {"data": data, "extensions": self._cost(requested, actual=actual)}

    def _cost(self, requested: float, *, actual: float | None = -1.0) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": round(requested),
                "actualQueryCost": round(requested) if actual == -1.0 else (None if actual is None else round(actual)),
                "throttleStatus": {
                    "maximumAvailable": self.bucket.size,
                    "currentlyAvailable": round(self.bucket.available),
                    "restoreRate": self.bucket.restore_rate,
                },
            }
        }

    # ------------------------------------------------------------------ costs

    def _node_cost(self, name: str, query: str) -> float:
        if name == "Products":
            return 1 + (2 + _nested(query, "variants", 20)) + (2 + _nested(query, "images", 5))
        if name in ("VariantInventory", "VariantInventoryById"):
            return 2 + (2 + _nested(query, "inventoryLevels", 10))
        if name == "DeliveryProfiles":
            return 1 + 2 + _nested(query, "locationGroupZones", 5) * (3 + 2 * _nested(query, "methodDefinitions", 10))
        if name in ("Orders", "Order", "OrderCreate"):
            return 6 + (2 + _nested(query, "lineItems", 30))
        return 1

    def _requested_cost(self, name: str, query: str, variables: Mapping[str, Any]) -> float:
        node = self._node_cost(name, query)
        if name in ("Products", "VariantInventory", "DeliveryProfiles", "Orders"):
            return 2 + _first(variables) * node
        if name == "VariantInventoryById":
            ids = variables.get("ids")
            if not isinstance(ids, list) or not 1 <= len(ids) <= _MAX_FIRST:
                raise GraphQLError(f"'ids' must be a list of 1 to {_MAX_FIRST} ids.", "BAD_REQUEST")
            return 2 + len(ids) * node
        if name == "OrderCreate":
            return _MUTATION_COST + node
        return 1 + node

    def _actual(self, name: str, query: str, returned: int) -> float:
        # Shopify charges what the query actually touched: here, a third of a node's
        # worst case for each node returned (nested connections are seldom full).
        return 2 + returned * max(self._node_cost(name, query) / 3, 1)

    # ------------------------------------------------------------------ operations

    def _shop(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        return {"shop": {"name": "storelink simulator", "currencyCode": self.config.currency}}, 1

    def _access_scopes(self, scopes: frozenset[str]) -> tuple[dict[str, Any], float]:
        handles = [{"handle": scope} for scope in sorted(scopes)]
        return {"currentAppInstallation": {"accessScopes": handles}}, 1

    def _products(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        first = _first(variables)
        last = _int_cursor(variables)
        start = 0 if last is None else last - PRODUCT_BASE + 1
        variants_first, images_first = _nested(query, "variants", 20), _nested(query, "images", 5)
        indexes = range(max(start, 0), min(max(start, 0) + first, self.catalog.size))
        nodes = [self._product_node(self.catalog.product(i), variants_first, images_first) for i in indexes]
        more = bool(indexes) and indexes[-1] + 1 < self.catalog.size
        last_key = PRODUCT_BASE + indexes[-1] if indexes else None
        data = {"shop": {"currencyCode": self.config.currency}, "products": _connection(nodes, more, last_key)}
        return data, self._actual("Products", query, len(nodes))

    @staticmethod
    def _product_node(product: dict[str, Any], variants_first: int, images_first: int) -> dict[str, Any]:
        variants, more_variants = _page(product["variants"], variants_first)
        images, _ = _page(product["images"], images_first)
        fields = ("id", "title", "handle", "description", "status", "vendor", "productType", "tags", "createdAt")
        return {
            **{k: product[k] for k in fields},
            "onlineStoreUrl": product["onlineStoreUrl"],
            "images": {"nodes": images},
            "variants": {
                "pageInfo": {"hasNextPage": more_variants},
                "nodes": [{k: v[k] for k in _VARIANT_FIELDS} for v in variants],
            },
        }

    def _inventory_node(self, variant: dict[str, Any], levels_first: int) -> dict[str, Any]:
        node = self.catalog.inventory_node(variant)
        item = node["inventoryItem"]
        levels, more = _page(item["inventoryLevels"], levels_first)
        item["inventoryLevels"] = {"pageInfo": {"hasNextPage": more}, "nodes": levels}
        return node

    def _variant_inventory(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        first = _first(variables)
        last = _int_cursor(variables)
        levels_first = _nested(query, "inventoryLevels", 10)
        numbers: list[int] = []
        for number in self.catalog.variant_numbers(-1 if last is None else last):
            numbers.append(number)
            if len(numbers) > first:
                break
        page, more = numbers[:first], len(numbers) > first
        nodes = [self._inventory_node(v, levels_first) for n in page if (v := self.catalog.variant_by_number(n))]
        data = {"productVariants": _connection(nodes, more, page[-1] if page else None)}
        return data, self._actual("VariantInventory", query, len(nodes))

    def _variant_inventory_by_id(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        levels_first = _nested(query, "inventoryLevels", 10)
        nodes: list[dict[str, Any] | None] = []
        for ident in variables.get("ids") or []:
            if not isinstance(ident, str) or not ident.startswith("gid://shopify/"):
                raise GraphQLError(f"Invalid global id '{str(ident)[:60]}'", "argumentLiteralsIncompatible")
            number = gid_number(ident, "ProductVariant")
            variant = self.catalog.variant_by_number(number) if number is not None else None
            nodes.append(self._inventory_node(variant, levels_first) if variant else None)
        found = sum(1 for n in nodes if n)
        return {"nodes": nodes}, self._actual("VariantInventoryById", query, found)

    def _delivery_profiles(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        first = _first(variables)
        last = _int_cursor(variables)
        start = 0 if last is None else max(last + 1, 0)
        zones_first, methods_first = _nested(query, "locationGroupZones", 5), _nested(query, "methodDefinitions", 10)
        profiles = self.catalog.delivery_profiles()
        page, more = _page(profiles[start:], first)
        nodes = []
        for profile in page:
            groups = []
            for group in profile["profileLocationGroups"]:
                zones, more_zones = _page(group["locationGroupZones"], zones_first)
                zone_nodes = []
                for zone in zones:
                    methods, more_methods = _page(zone["methodDefinitions"], methods_first)
                    zone_nodes.append(
                        {
                            "zone": zone["zone"],
                            "methodDefinitions": {
                                "pageInfo": {"hasNextPage": more_methods},
                                "nodes": [{**m, "rateProvider": _provider(m["rateProvider"])} for m in methods],
                            },
                        }
                    )
                groups.append({"locationGroupZones": {"pageInfo": {"hasNextPage": more_zones}, "nodes": zone_nodes}})
            nodes.append({**{k: profile[k] for k in ("id", "name", "default")}, "profileLocationGroups": groups})
        data = {"deliveryProfiles": _connection(nodes, more, start + len(page) - 1)}
        return data, self._actual("DeliveryProfiles", query, len(nodes))

    def _order_node(self, order: dict[str, Any], lines_first: int) -> dict[str, Any]:
        lines, more = _page(order["lineItems"], lines_first)
        fields = {k: v for k, v in order.items() if k != "sourceIdentifier"}  # kept, but not selected
        return {**fields, "lineItems": {"pageInfo": {"hasNextPage": more}, "nodes": lines}}

    def _orders(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        first = _first(variables)
        last = _uncursor(variables.get("after"))
        search = variables.get("query")
        try:
            found = self.orders.search(search if isinstance(search, str) else None)
        except SearchError as exc:
            raise GraphQLError(str(exc), "BAD_REQUEST") from None
        if last is not None:
            key = tuple(last) if isinstance(last, list) else None
            if key is None or len(key) != 2:
                raise GraphQLError("Invalid cursor for current pagination sort.", "BAD_REQUEST")
            found = [o for o in found if (o["updatedAt"], o["id"]) > key]
        page, more = _page(found, first)
        lines_first = _nested(query, "lineItems", 30)
        nodes = [self._order_node(o, lines_first) for o in page]
        last_key = [page[-1]["updatedAt"], page[-1]["id"]] if page else None
        return {"orders": _connection(nodes, more, last_key)}, self._actual("Orders", query, len(nodes))

    def _order(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        ident = variables.get("id")
        if not isinstance(ident, str) or not ident.startswith("gid://shopify/"):
            raise GraphQLError(f"Invalid global id '{str(ident)[:60]}'", "argumentLiteralsIncompatible")
        order = self.orders.get(ident)
        node = self._order_node(order, _nested(query, "lineItems", 30)) if order else None
        return {"order": node}, self._actual("Order", query, 1 if node else 0)

    def _shipping_method(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        ident = variables.get("id")
        if not isinstance(ident, str) or not ident.startswith("gid://shopify/"):
            raise GraphQLError(f"Invalid global id '{str(ident)[:60]}'", "argumentLiteralsIncompatible")
        for profile in self.catalog.delivery_profiles():
            for group in profile["profileLocationGroups"]:
                for zone in group["locationGroupZones"]:
                    for method in zone["methodDefinitions"]:
                        if method["id"] == ident:
                            fields = {k: method[k] for k in ("id", "name", "active")}
                            return {"node": {**fields, "rateProvider": _provider(method["rateProvider"])}}, 1
        # Another kind of node selects nothing through the inline fragment; no node is null.
        return {"node": {} if gid_number(ident, "DeliveryMethodDefinition") is None else None}, 1

    def _order_create(self, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        with self._lock:
            order, errors = self.orders.create(variables.get("order"))
        node = self._order_node(order, _nested(query, "lineItems", 30)) if order else None
        payload = {"orderCreate": {"userErrors": errors, "order": node}}
        return payload, _MUTATION_COST + self._actual("Order", query, 1 if node else 0)


def _provider(provider: dict[str, Any]) -> dict[str, Any]:
    """Return a rate provider as the inline fragments select it (no ``__typename``)."""
    return {k: v for k, v in provider.items() if k != "__typename"}
