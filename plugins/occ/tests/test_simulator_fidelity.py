"""The simulator answers in OCC's documented shapes, not merely in the shapes its own config describes.

``fixtures/shapes/`` holds responses written by hand from the examples and schemas that
the project's OCC API notes mark verified, with synthetic values
(``plugins/occ/tests/fixtures/shapes/README.md`` names each file's source). Each simulator
endpoint's answer is compared with its fixture structurally: every documented key is
there, with the documented JSON type, at the documented nesting (the simulator may add
keys). A renamed, dropped or retyped field in the simulator fails here, naming its path.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink_occ.simulator import OccSimulator, SimulatorConfig

SHAPES = Path(__file__).parent / "fixtures" / "shapes"

#: Paths (``fnmatch`` patterns, array indexes as ``[]``) the doc says may be ``null`` as
#: well as their example's type, with the section of the OCC API notes that says so.
NULLABLE = {
    "*.salePrice": "§2.1 salePrice may be null",
    "*.listPrices.*": "§2.1 price maps are {priceGroupId: number|null}",
    "*.salePrices.*": "§2.1 price maps are {priceGroupId: number|null}",
    "*.locationId": "§4 null means the default location",
    "*.availableToPromise": "§4 string or null",
    "*.high": "§5 null is open-ended",
    "*.eligibleForProductWithSurcharges": "§5 bool, may be null",
}

#: Documented keys the simulator does not send yet: (fixture, path) -> why it is tolerated.
#: The test fails when one of these appears (remove it here) or a new one goes missing.
KNOWN_GAPS = {
    ("products_page", "$.sort"): "§2.1 envelope example echoes sort; the simulator sends no sort",
    ("inventories_page", "$.sort"): "§2.1/§4 envelope example echoes sort; the simulator sends no sort",
    ("orders_page", "$.sort"): "§3.1 getOrders_response has sort; the simulator sends no sort",
    ("inventory_sku_locations", "$.links"): "§4 getInventory with locationIds has links; the simulator sends none",
}


def shape(name: str) -> Any:
    """Return the documented shape *name* (a file of ``fixtures/shapes`` without ``.json``)."""
    return json.loads((SHAPES / f"{name}.json").read_text())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _nullable(path: str) -> bool:
    general = re.sub(r"\[\d+\]", "[]", path)
    return any(fnmatch.fnmatchcase(general, pattern) for pattern in NULLABLE)


def _fits(documented: Any, actual: Any, path: str) -> bool:
    want, got = _kind(documented), _kind(actual)
    if want == "null":  # the doc shows only null: its other type is undocumented
        return True
    if got == "null":
        return _nullable(path)
    if want == "number":  # a documented fraction may come as a whole number
        return got in ("number", "integer")
    return want == got


def differences(documented: Any, actual: Any, path: str = "$") -> list[str]:
    """Return every place where *actual* lacks or retypes what *documented* shows.

    A documented object's keys must all be present (extra keys are fine); a documented
    non-empty array must be a non-empty array each of whose items fits its first item;
    an empty one only says "an array". Scalars compare by JSON type.
    """
    if not _fits(documented, actual, path):
        return [f"{path}: documented {_kind(documented)}, simulator sent {_kind(actual)}"]
    if isinstance(documented, dict) and isinstance(actual, dict):
        found = []
        for name, value in documented.items():
            if name not in actual:
                found.append(f"{path}.{name}: documented, missing")
            else:
                found.extend(differences(value, actual[name], f"{path}.{name}"))
        return found
    if isinstance(documented, list) and documented and isinstance(actual, list):
        if not actual:
            return [f"{path}: documented items, simulator sent an empty array"]
        return [d for i, item in enumerate(actual) for d in differences(documented[0], item, f"{path}[{i}]")]
    return []


def _missing(found: list[str]) -> set[str]:
    return {d.split(":", 1)[0] for d in found if d.endswith("documented, missing")}


def check(name: str, documented: Any, actual: Any) -> None:
    """Assert *actual* has *documented*'s shape, but for the known gaps of fixture *name* (which must hold)."""
    found = differences(documented, actual)
    gaps = {path for fixture, path in KNOWN_GAPS if fixture == name}
    unexpected = [d for d in found if d.split(":", 1)[0] not in gaps]
    assert not unexpected, f"the simulator's answer drifted from the documented {name} shape:\n" + "\n".join(unexpected)
    closed = gaps - _missing(found)
    assert not closed, f"the simulator now sends {sorted(closed)}: remove them from KNOWN_GAPS"


# --------------------------------------------------------------------------- the comparison itself


def test_a_renamed_a_retyped_and_a_dropped_field_are_each_named() -> None:
    documented = {"id": "a", "n": 1, "items": [{"price": 1.5, "salePrice": 1.0}]}
    actual = {"ID": "a", "n": "1", "items": [{"price": 2, "salePrice": None}, {"salePrice": 3}]}
    assert differences(documented, actual) == [
        "$.id: documented, missing",
        "$.n: documented integer, simulator sent string",
        "$.items[1].price: documented, missing",
    ]


def test_null_is_accepted_only_where_the_doc_allows_it() -> None:
    assert differences({"listPrice": 1.5}, {"listPrice": None}) == [
        "$.listPrice: documented number, simulator sent null"
    ]
    assert differences({"salePrice": 1.5}, {"salePrice": None}) == []


# --------------------------------------------------------------------------- the simulator


@pytest.fixture
def sim() -> OccSimulator:
    return OccSimulator(SimulatorConfig(products=4, orders=3, seed=2, locations=("loc1",)))


@asynccontextmanager
async def admin_of(sim: OccSimulator) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """Log in to *sim*'s admin surface; yield a client sending the token, and the login's body."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://sim") as client:
        key = sim.issue_credentials()["application_key"]
        login = await client.post(
            "/ccadmin/v1/login", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        client.headers["x-ccasset-language"] = "en"
        yield client, login.json()


@pytest.fixture
async def admin(sim: OccSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_of(sim) as (client, _):
        yield client


async def _get(client: httpx.AsyncClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status_code == status, response.text
    return response.json()


async def test_login_has_the_documented_shape(sim: OccSimulator) -> None:
    async with admin_of(sim) as (_, login):
        check("login", shape("login"), login)


async def test_refresh_has_the_documented_shape(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/ccadmin/v1/refresh", json={})
    assert response.status_code == 200
    check("refresh", shape("refresh"), response.json())


async def test_list_products_has_the_documented_shape(admin: httpx.AsyncClient) -> None:
    check("products_page", shape("products_page"), await _get(admin, "/ccadmin/v1/products?offset=0&limit=2"))


async def test_get_product_has_the_documented_shape(admin: httpx.AsyncClient, sim: OccSimulator) -> None:
    product_id = sim.catalog.product(0)["id"]
    check("product", shape("products_page")["items"][0], await _get(admin, f"/ccadmin/v1/products/{product_id}"))


async def test_list_inventories_has_the_documented_shape(admin: httpx.AsyncClient) -> None:
    check("inventories_page", shape("inventories_page"), await _get(admin, "/ccadmin/v1/inventories?limit=2"))


async def test_get_inventory_with_locations_has_the_documented_shape(
    admin: httpx.AsyncClient, sim: OccSimulator
) -> None:
    sku = sim.catalog.product(0)["childSKUs"][0]["repositoryId"]
    body = await _get(admin, f"/ccadmin/v1/inventories/{sku}?locationIds=loc1")
    check("inventory_sku_locations", shape("inventory_sku_locations"), body)


async def test_get_inventory_without_locations_is_flat() -> None:
    sim = OccSimulator(SimulatorConfig(products=2, locations=()))
    async with admin_of(sim) as (client, _):
        sku = sim.catalog.product(0)["childSKUs"][0]["repositoryId"]
        body = await _get(client, f"/ccadmin/v1/inventories/{sku}")
    check("inventory_sku_flat", shape("inventory_sku_flat"), body)
    assert body["locationInventoryInfo"] is None  # documented as null for a SKU without locations


@pytest.mark.parametrize("shipping_shape", ["items", "list"])
async def test_list_shipping_methods_has_a_documented_shape(shipping_shape: str) -> None:
    """17.10 documents ``{"items": [...]}``, the 17.12 example a bare array of the same items."""
    sim = OccSimulator(SimulatorConfig(products=1, shipping_shape=shipping_shape))  # type: ignore[arg-type]
    async with admin_of(sim) as (client, _):
        body = await _get(client, "/ccadmin/v1/shippingMethods")
    documented = shape("shipping_methods")
    check("shipping_methods", documented if shipping_shape == "items" else documented["items"], body)


def _orders_page() -> dict[str, Any]:
    """``getOrders_response`` (§3.1): the list envelope of §2.1 with order objects as items."""
    envelope = {k: v for k, v in shape("products_page").items() if k != "items"}
    return envelope | {"items": [shape("order")]}


async def test_get_orders_has_the_documented_shape(admin: httpx.AsyncClient) -> None:
    check("orders_page", _orders_page(), await _get(admin, "/ccadmin/v1/orders?offset=0&limit=2"))


async def test_get_order_has_the_documented_shape(admin: httpx.AsyncClient, sim: OccSimulator) -> None:
    order_id = sim.orders.all()[0]["id"]
    check("order", shape("order"), await _get(admin, f"/ccadmin/v1/orders/{order_id}"))


async def test_an_error_has_the_documented_error_model(admin: httpx.AsyncClient) -> None:
    body = await _get(admin, "/ccadmin/v1/products/no-such-product", status=404)
    check("error", shape("error"), body)
    assert body["errorCode"] == "20031"  # the code OCC documents for an unknown product
