"""The OCC simulator over raw HTTP: auth, envelopes, catalog, orders, faults, counters."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from storelink.simulation import SimulatedDisconnect
from storelink.testing import FakeClock
from storelink_occ.simulator import OccSimulator, SimulatorConfig, create

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(simulator: OccSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(simulator.app), base_url="http://sim") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, key: str, surface: str = "ccadmin") -> str:
    response = await client.post(f"/{surface}/v1/login", data={"grant_type": "client_credentials"}, headers=bearer(key))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert body["status"] == str(status)
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["errorCode"] == code
    return body


def sim_client(sim: OccSimulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(sim.app), base_url="http://sim")


# --------------------------------------------------------------------------- auth


async def test_login_exchanges_the_key_for_a_jwt_token(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    key = simulator.issue_credentials()["application_key"]
    response = await client.post("/ccadmin/v1/login", data={"grant_type": "client_credentials"}, headers=bearer(key))
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 300)
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    assert simulator.stats["logins"] == 1


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        ({"grant_type": "client_credentials"}, {"Authorization": "Bearer not.a.key"}, 401),
        ({"grant_type": "client_credentials"}, {}, 401),
        ({"grant_type": "password"}, None, 400),
    ],
)
async def test_bad_logins_get_the_occ_error_body(
    simulator: OccSimulator,
    client: httpx.AsyncClient,
    data: dict[str, str],
    headers: dict[str, str] | None,
    status: int,
) -> None:
    key = simulator.issue_credentials()["application_key"]
    response = await client.post(
        "/ccadmin/v1/login", data=data, headers=headers if headers is not None else bearer(key)
    )
    assert_envelope(response, status)


async def test_login_must_be_form_encoded(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    key = simulator.issue_credentials()["application_key"]
    response = await client.post("/ccadmin/v1/login", json={"grant_type": "client_credentials"}, headers=bearer(key))
    assert_envelope(response, 400, "000010")


async def test_older_versions_omit_expires_in() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, include_expires_in=False))
    async with sim_client(sim) as client:
        key = sim.issue_credentials()["application_key"]
        response = await client.post(
            "/ccadmin/v1/login", data={"grant_type": "client_credentials"}, headers=bearer(key)
        )
    assert "expires_in" not in response.json()


async def test_revoking_the_key_refuses_logins_and_every_token(
    simulator: OccSimulator, client: httpx.AsyncClient
) -> None:
    credentials = simulator.issue_credentials()
    other = simulator.issue_credentials()["application_key"]
    admin = await login(client, credentials["application_key"])
    agent = await login(client, credentials["application_key"], "ccappagent")
    simulator.revoke_credentials(credentials)

    assert_envelope(await client.get("/ccadmin/v1/products", headers=bearer(admin)), 401, "000002")
    assert_envelope(await client.get("/ccappagent/v1/orders/o1", headers=bearer(agent)), 401, "000002")
    assert_envelope(await client.post("/ccadmin/v1/refresh", json={}, headers=bearer(admin)), 401)
    refused = await client.post(
        "/ccadmin/v1/login", data={"grant_type": "client_credentials"}, headers=bearer(credentials["application_key"])
    )
    assert_envelope(refused, 401, "000001")
    assert (await client.get("/ccadmin/v1/products", headers=bearer(await login(client, other)))).status_code == 200
    assert simulator.stats["login_failures"] == 1


def test_revoking_a_foreign_key_is_an_error(simulator: OccSimulator) -> None:
    foreign = OccSimulator(SimulatorConfig(products=1)).issue_credentials()
    with pytest.raises(ValueError, match="not issued by this simulator"):
        simulator.revoke_credentials(foreign)


async def test_tokens_expire_on_the_clock_and_refresh_restarts_it() -> None:
    clock = FakeClock()
    sim = OccSimulator(SimulatorConfig(products=1, token_ttl=2), clock=clock.monotonic)
    async with sim_client(sim) as client:
        token = await login(client, sim.issue_credentials()["application_key"])
        clock.advance(1.5)
        refreshed = await client.post("/ccadmin/v1/refresh", json={}, headers=bearer(token))
        new = refreshed.json()["access_token"]
        assert refreshed.json()["expires_in"] == 2
        clock.advance(1.0)
        assert_envelope(await client.get("/ccadmin/v1/products", headers=bearer(token)), 401)
        assert (await client.get("/ccadmin/v1/products", headers=bearer(new))).status_code == 200
        clock.advance(1.5)
        assert_envelope(await client.post("/ccadmin/v1/refresh", json={}, headers=bearer(new)), 401)
    assert (sim.stats["refreshes"], sim.stats["unauthorized"]) == (2, 2)


async def test_tokens_are_bound_to_their_surface(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    key = simulator.issue_credentials()["application_key"]
    admin, agent = await login(client, key), await login(client, key, "ccappagent")
    assert_envelope(await client.get("/ccappagent/v1/orders/o1", headers=bearer(admin)), 401)
    assert_envelope(await client.get("/ccadmin/v1/products", headers=bearer(agent)), 401)
    assert_envelope(await client.get("/ccadmin/v1/products", headers=bearer(key)), 401)


async def test_keys_can_use_padded_standard_base64_and_carry_exp() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, key_encoding="base64"))
    key = sim.issue_credentials(lifetime_days=30)["application_key"]
    _, payload, signature = key.split(".")
    assert signature.endswith("=")  # a 32-byte HMAC in padded standard base64
    assert "=" not in OccSimulator(SimulatorConfig(products=1)).issue_credentials()["application_key"]
    assert "exp" in json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    async with sim_client(sim) as client:
        await login(client, key)


# --------------------------------------------------------------------------- catalog


async def test_products_page_with_occs_envelope(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    first = (await client.get("/ccadmin/v1/products", params={"limit": 250}, headers=bearer(token))).json()
    assert (first["totalResults"], first["offset"], first["limit"], len(first["items"])) == (600, 0, 250, 250)
    assert [link["rel"] for link in first["links"]] == ["self", "next"]
    assert "offset=250" in first["links"][1]["href"]
    last = (await client.get("/ccadmin/v1/products", params={"offset": 500}, headers=bearer(token))).json()
    assert len(last["items"]) == 100
    assert [link["rel"] for link in last["links"]] == ["self"]
    beyond = (await client.get("/ccadmin/v1/products", params={"offset": 600}, headers=bearer(token))).json()
    assert beyond["items"] == []


async def test_limits_above_the_maximum_are_clamped(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    body = (await client.get("/ccadmin/v1/products", params={"limit": 1000}, headers=bearer(token))).json()
    assert (body["limit"], len(body["items"])) == (250, 250)
    bad = await client.get("/ccadmin/v1/products", params={"offset": "-1"}, headers=bearer(token))
    assert_envelope(bad, 400, "100002")


async def test_fields_trims_items_and_suppresses_the_total(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    body = (
        await client.get(
            "/ccadmin/v1/products", params={"fields": "items.id,items.displayName", "limit": 2}, headers=bearer(token)
        )
    ).json()
    assert "totalResults" not in body
    assert [set(item) for item in body["items"]] == [{"id", "displayName"}] * 2
    body = (
        await client.get(
            "/ccadmin/v1/products", params={"fields": "items.id,totalResults", "limit": 1}, headers=bearer(token)
        )
    ).json()
    assert body["totalResults"] == 600


def test_the_catalog_is_deterministic_and_realistic() -> None:
    a, b = OccSimulator(SimulatorConfig(products=300, seed=7)), OccSimulator(SimulatorConfig(products=300, seed=7))
    assert [a.catalog.product(i) for i in range(300)] == [b.catalog.product(i) for i in range(300)]
    assert a.catalog.product(0) != OccSimulator(SimulatorConfig(products=300, seed=8)).catalog.product(0)
    products = [a.catalog.product(i) for i in range(300)]
    assert {len(p["childSKUs"]) for p in products} == {1, 2, 3, 4, 5}
    assert len({p["id"] for p in products}) == 300
    skus = [s["repositoryId"] for p in products for s in p["childSKUs"]]
    assert len(set(skus)) == len(skus)
    for product in products:
        assert product["primaryFullImageURL"].startswith("/ccstore/v1/images/?source=/file/")
        assert product["route"].endswith(f"/product/{product['id']}")
        assert isinstance(product["listPrice"], float | int)
        assert product["listPrice"] > 0
    assert any(" " in p["primaryFullImageURL"] for p in products)  # OCC does not encode file names
    assert any(p["salePrice"] is not None for p in products)


async def test_a_catalog_of_100000_products_costs_nothing_until_read() -> None:
    sim = create(products=100_000, seed=3)
    async with sim_client(sim) as client:
        token = await login(client, sim.issue_credentials()["application_key"])
        body = (await client.get("/ccadmin/v1/products", params={"offset": 99_990}, headers=bearer(token))).json()
    assert body["totalResults"] == 100_000
    assert [p["id"] for p in body["items"]][-1] == "prod100099"
    assert len(body["items"]) == 10


async def test_product_by_id(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    assert (await client.get("/ccadmin/v1/products/prod101", headers=bearer(token))).json()["id"] == "prod101"
    assert_envelope(await client.get("/ccadmin/v1/products/prod999999", headers=bearer(token)), 404, "20031")


async def test_the_asset_language_header_can_be_required() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, require_asset_language=True))
    async with sim_client(sim) as client:
        token = await login(client, sim.issue_credentials()["application_key"])
        body = assert_envelope(await client.get("/ccadmin/v1/products", headers=bearer(token)), 400, "82001")
        assert body["message"] == "Required header is missing: x-ccasset-language"
        ok = await client.get("/ccadmin/v1/products", headers={**bearer(token), "X-CCAsset-Language": "en"})
        assert ok.status_code == 200


async def test_inventory_has_a_record_per_sku_and_location(simulator: OccSimulator, client: httpx.AsyncClient) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    body = (await client.get("/ccadmin/v1/inventories", params={"limit": 3}, headers=bearer(token))).json()
    assert body["totalResults"] == 600
    item = body["items"][0]
    product = simulator.catalog.product(0)
    assert item["id"] == product["id"]
    assert len(item["childSKUs"]) == 3 * len(product["childSKUs"])
    assert {r["locationId"] for r in item["childSKUs"]} == {None, "warehouse-east", "warehouse-west"}
    sku_id = product["childSKUs"][0]["repositoryId"]
    record = (await client.get(f"/ccadmin/v1/inventories/{sku_id}", headers=bearer(token))).json()
    assert record["skuId"] == sku_id
    assert [r["locationId"] for r in record["locationInventoryInfo"]] == ["warehouse-east", "warehouse-west"]
    assert_envelope(await client.get("/ccadmin/v1/inventories/nope", headers=bearer(token)), 404)


@pytest.mark.parametrize("shape", ["list", "items"])
async def test_shipping_methods_come_as_configured(shape: str) -> None:
    sim = OccSimulator(SimulatorConfig(products=1, shipping_shape=shape))  # type: ignore[arg-type]
    async with sim_client(sim) as client:
        token = await login(client, sim.issue_credentials()["application_key"])
        enabled = (await client.get("/ccadmin/v1/shippingMethods", headers=bearer(token))).json()
        every = (await client.get("/ccadmin/v1/shippingMethods?enabledOnly=false", headers=bearer(token))).json()
    if shape == "items":
        enabled, every = enabled["items"], every["items"]
    assert isinstance(every, list)
    assert len(every) == len(enabled) + 1
    assert all(m["enabled"] for m in enabled)
    assert every[0]["ranges"][-1]["high"] is None


# --------------------------------------------------------------------------- orders


def order_body(sim: OccSimulator, reference: str, **extra: Any) -> dict[str, Any]:
    product = sim.catalog.product(1)
    return {
        "op": "createOrder",
        "shoppingCart": {
            "items": [{"productId": product["id"], "catRefId": product["childSKUs"][0]["repositoryId"], "quantity": 2}]
        },
        "shippingMethod": {"value": "ground"},
        "shippingAddress": {"firstName": "Ada", "lastName": "L", "address1": "1 Main", "city": "X", "country": "US"},
        "x_storelink_reference": reference,
        **extra,
    }


async def test_orders_are_created_stored_and_searchable_by_reference(
    simulator: OccSimulator, client: httpx.AsyncClient
) -> None:
    key = simulator.issue_credentials()["application_key"]
    admin, agent = await login(client, key), await login(client, key, "ccappagent")
    stock_before = simulator.catalog.sku_inventory(order_body(simulator, "r")["shoppingCart"]["items"][0]["catRefId"])
    created = await client.post(
        "/ccappagent/v1/orders",
        json=order_body(simulator, "MKT-1", payments=[{"type": "card", "cardNumber": "4111"}]),
        headers={**bearer(agent), "x-ccsite": "siteUS"},
    )
    assert created.status_code == 201
    order = created.json()
    assert order["state"] == "SUBMITTED"
    assert order["x_storelink_reference"] == "MKT-1"
    assert {"id": "x_storelink_reference", "label": "x_storelink_reference", "value": "MKT-1"} in order[
        "dynamicProperties"
    ]
    assert order["payments"] == [{"type": "card"}]
    assert order["priceInfo"]["total"] == order["priceInfo"]["subTotal"] + order["priceInfo"]["shipping"]
    stock_after = simulator.catalog.sku_inventory(order["commerceItems"][0]["catRefId"])
    assert stock_before is not None
    assert stock_after is not None
    assert stock_after["stockLevel"] == max(0, stock_before["stockLevel"] - 2)

    found = await client.get(
        "/ccadmin/v1/orders",
        params={"queryFormat": "SCIM", "q": 'x_storelink_reference eq "MKT-1"'},
        headers=bearer(admin),
    )
    assert [o["id"] for o in found.json()["items"]] == [order["id"]]
    assert (await client.get(f"/ccadmin/v1/orders/{order['id']}", headers=bearer(admin))).json() == order
    assert (await client.get(f"/ccappagent/v1/orders/{order['id']}", headers=bearer(agent))).json()["id"] == order["id"]
    assert_envelope(await client.get("/ccadmin/v1/orders/o1", headers=bearer(admin)), 404, "28010")
    assert simulator.stats["orders"] == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"op": "priceOrder"}, "28001"),
        ({"shoppingCart": {"items": []}}, "28100"),
        ({"shoppingCart": {"items": [{"productId": "prod101", "catRefId": "nope", "quantity": 1}]}}, "20032"),
        ({"shoppingCart": {"items": [{"productId": "prod100", "catRefId": "sku101_0", "quantity": 1}]}}, "20031"),
        ({"shoppingCart": {"items": [{"productId": "prod101", "catRefId": "sku101_0", "quantity": 0}]}}, "28101"),
        ({"shippingMethod": {"value": "overnightShippingMethod"}}, "28130"),
        ({"shippingAddress": {"firstName": "No street"}}, "28120"),
    ],
)
async def test_invalid_orders_are_refused_with_occ_errors(
    simulator: OccSimulator, client: httpx.AsyncClient, change: dict[str, Any], code: str
) -> None:
    agent = await login(client, simulator.issue_credentials()["application_key"], "ccappagent")
    response = await client.post(
        "/ccappagent/v1/orders", json={**order_body(simulator, "MKT-9"), **change}, headers=bearer(agent)
    )
    assert_envelope(response, 400, code)
    assert simulator.stats.get("orders", 0) == 0


async def test_orders_are_per_site() -> None:
    sim = OccSimulator(SimulatorConfig(products=10, sites=("siteUS", "siteEU")))
    async with sim_client(sim) as client:
        key = sim.issue_credentials()["application_key"]
        admin, agent = await login(client, key), await login(client, key, "ccappagent")
        await client.post("/ccappagent/v1/orders", json=order_body(sim, "A"), headers=bearer(agent))
        await client.post(
            "/ccappagent/v1/orders", json=order_body(sim, "B"), headers={**bearer(agent), "x-ccsite": "siteEU"}
        )
        bad = await client.post(
            "/ccappagent/v1/orders", json=order_body(sim, "C"), headers={**bearer(agent), "x-ccsite": "siteXX"}
        )
        assert_envelope(bad, 400, "60001")
        every = (await client.get("/ccadmin/v1/orders", headers=bearer(admin))).json()["items"]
        eu = (await client.get("/ccadmin/v1/orders", headers={**bearer(admin), "x-ccsite": "siteEU"})).json()["items"]
    assert [o["siteId"] for o in every] == ["siteUS", "siteEU"]
    assert [o["x_storelink_reference"] for o in eu] == ["B"]


async def test_seeded_orders_can_be_filtered_and_sorted_by_date(
    client: httpx.AsyncClient, simulator: OccSimulator
) -> None:
    token = await login(client, simulator.issue_credentials()["application_key"])
    params = {"queryFormat": "SCIM", "q": 'submittedDate ge "2024-01-01T06:00:00.000Z"', "sort": "submittedDate:desc"}
    items = (await client.get("/ccadmin/v1/orders", params=params, headers=bearer(token))).json()["items"]
    assert [o["submittedDate"] for o in items] == [
        "2024-01-01T12:00:00.000Z",
        "2024-01-01T09:00:00.000Z",
        "2024-01-01T06:00:00.000Z",
    ]
    rql = await client.get("/ccadmin/v1/orders", params={"q": 'state eq "SUBMITTED"'}, headers=bearer(token))
    assert_envelope(rql, 400, "100010")
    broken = await client.get(
        "/ccadmin/v1/orders", params={"queryFormat": "SCIM", "q": "state eq"}, headers=bearer(token)
    )
    assert_envelope(broken, 400, "100011")


async def test_unknown_endpoints_and_methods_answer_with_the_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/ccadmin/v1/nothing"), 404)
    assert_envelope(await client.delete("/ccadmin/v1/products"), 405)


# --------------------------------------------------------------------------- faults


async def test_a_5xx_rate_of_one_fails_every_request_with_the_envelope() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, fail_rate=1.0))
    async with sim_client(sim) as client:
        statuses = {(await client.get("/ccadmin/v1/products")).status_code for _ in range(30)}
    assert statuses == {500, 502, 503, 504}
    assert sim.stats["faults_5xx"] == 30


async def test_rate_limiting_answers_429_with_retry_after() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, rate_limit_rate=1.0, retry_after=7))
    async with sim_client(sim) as client:
        response = await client.get("/ccadmin/v1/products")
    assert_envelope(response, 429)
    assert response.headers["retry-after"] == "7"


async def test_a_dropped_connection_processes_nothing() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, drop_rate=1.0))
    async with sim_client(sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/ccadmin/v1/login", data={"grant_type": "client_credentials"})
    assert sim.stats["faults_dropped"] == 1
    assert "logins" not in sim.stats


async def test_truncated_bodies_drop_the_connection_after_the_status_line() -> None:
    sim = OccSimulator(SimulatorConfig(products=5, truncate_rate=1.0))
    async with sim_client(sim) as client:
        with pytest.raises(SimulatedDisconnect, match="truncated"):
            await client.get("/ccadmin/v1/products")


async def test_a_lost_order_response_still_commits_the_order() -> None:
    config = SimulatorConfig(products=5, lose_order_rate=1.0, truncate_rate=1.0, fault_paths=("/ccappagent/v1/orders",))
    sim = OccSimulator(config)
    async with sim_client(sim) as client:
        agent = await login(client, sim.issue_credentials()["application_key"], "ccappagent")
        with pytest.raises(httpx.TransportError, match="committed the order"):
            await client.post("/ccappagent/v1/orders", json=order_body(sim, "LOST-1"), headers=bearer(agent))
    assert [o["x_storelink_reference"] for o in sim.orders.all()] == ["LOST-1"]
    assert sim.stats["faults_lost_orders"] == 1
    assert "faults_truncated" not in sim.stats


async def test_fault_paths_limit_where_faults_happen() -> None:
    sim = OccSimulator(SimulatorConfig(products=1, fail_rate=1.0, fault_paths=("/ccadmin/v1/products",)))
    async with sim_client(sim) as client:
        token = await login(client, sim.issue_credentials()["application_key"])
        assert (await client.get("/ccadmin/v1/products", headers=bearer(token))).status_code in (502, 503, 504)
        assert (await client.get("/ccadmin/v1/shippingMethods", headers=bearer(token))).status_code == 200


async def test_faults_follow_the_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        sim = OccSimulator(SimulatorConfig(products=1, seed=seed, fail_rate=0.3, rate_limit_rate=0.2))
        async with sim_client(sim) as client:
            return [(await client.get("/ccadmin/v1/products")).status_code for _ in range(40)]

    first = await statuses(1)
    assert first == await statuses(1)
    assert first != await statuses(2)
    assert {429, 401} <= set(first)


async def test_latency_is_added_to_every_request() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sim = OccSimulator(SimulatorConfig(products=1, latency=0.25), sleep=sleep)
    async with sim_client(sim) as client:
        await client.get("/ccadmin/v1/products")
        await client.get("/ccadmin/v1/shippingMethods")
    assert slept == [0.25, 0.25]
    assert sim.stats["requests"] == 2
