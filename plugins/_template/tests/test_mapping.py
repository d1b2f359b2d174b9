"""Payload mapping, on responses recorded from the platform (scrubbed, in ``fixtures/``)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from storelink import Address, CredentialsError, MappingError, OrderDraft, OrderLine, Registry
from storelink.testing import model_problems, runtime_for

from storelink_template import mapping, plugin
from storelink_template.plugin import describe_error

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str, index: int = -1) -> dict[str, Any]:
    """Return the exchange *index* of the recording *name* (the last one by default)."""
    exchanges: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())["exchanges"]
    return exchanges[index]


def test_products_map_to_valid_models() -> None:
    body = recorded("products_page_1")["response"]["body"]["json"]
    products = [mapping.product_from_template(p) for p in body["products"]]
    assert [p.id for p in products] == ["prod-1", "prod-2"]
    assert products[0].price is not None
    assert products[0].price.amount == Decimal(body["products"][0]["price"]["amount"])
    assert all(not model_problems(p) for p in products)


def test_order_maps_with_its_reference_and_total() -> None:
    order = mapping.order_from_template(recorded("order")["response"]["body"]["json"])
    assert order.reference == "seed-1"
    assert order.totals is not None
    assert order.totals.total.currency == "USD"
    assert not model_problems(order)


def test_a_missing_field_names_its_path() -> None:
    body = recorded("products_page_1")["response"]["body"]["json"]
    del body["products"][1]["variants"][0]["id"]
    with pytest.raises(MappingError) as caught:
        mapping.product_from_template(body["products"][1], "products[1]")
    assert caught.value.path == "products[1].variants[0].id"


def test_a_boolean_is_not_a_quantity() -> None:
    payload = recorded("order")["response"]["body"]["json"]
    payload["lines"][0]["quantity"] = True
    with pytest.raises(MappingError, match="expected an integer"):
        mapping.order_from_template(payload)


def test_draft_carries_its_reference() -> None:
    draft = OrderDraft(
        reference="ref-1",
        lines=[OrderLine(product_id="prod-1", sku_id="sku-1-1", quantity=1)],
        shipping_address=Address(name="A", line1="1 Road", city="Paris", country="FR"),
        shipping_method_id="standard",
    )
    assert mapping.draft_to_template(draft)["reference"] == "ref-1"


def test_describe_error_reads_the_error_body() -> None:
    exchange = recorded("login_rejected")
    request = httpx.Request("POST", exchange["request"]["url"])
    body = json.dumps(exchange["response"]["body"]["json"]).encode()
    detail = describe_error(httpx.Response(exchange["response"]["status"], content=body, request=request))
    assert detail is not None
    assert (detail.code, detail.message) == ("invalid_key", "The API key is not valid.")


def test_login_errors_give_their_code_but_not_their_message() -> None:
    """The core reports a refused login with its code only: a login body may echo the key."""
    answer = recorded("login_rejected")["response"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer["status"], json=answer["body"]["json"], headers=answer["headers"])

    platform = Registry(autoload=False).register_platform(plugin)

    async def log_in() -> None:
        key = "template_" + "0" * 32
        async with runtime_for(platform, httpx.MockTransport(handler), credentials={"api_key": key}) as runtime:
            await platform.authenticate(runtime.ctx, "default")

    with pytest.raises(CredentialsError) as caught:
        asyncio.run(log_in())
    assert str(caught.value) == "template login: the platform rejected the credentials (HTTP 401, code invalid_key)"
