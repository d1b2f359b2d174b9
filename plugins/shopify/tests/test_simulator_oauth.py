"""The simulator's OAuth screens and token endpoint, as a browser and the plugin meet them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from storelink import Secret
from storelink_shopify import oauth
from storelink_shopify.credentials import SCOPES
from storelink_shopify.simulator import ShopifySimulator

from .conftest import SHOP

REDIRECT = "https://channel.example.com/storelink/callback?tenant=7"


@pytest.fixture
async def browser(simulator: ShopifySimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=simulator.app)
    async with httpx.AsyncClient(transport=transport, base_url=SHOP.origin, follow_redirects=False) as client:
        yield client


def _url(sim: ShopifySimulator, **override: str) -> str:
    return oauth.authorization_url(
        SHOP,
        client_id=override.get("client_id", sim.oauth.client_id),
        scopes=override.get("scope", ",".join(SCOPES)).split(","),
        state="st-1",
        redirect_uri=override.get("redirect_uri", REDIRECT),
    )


def _form(page: httpx.Response) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    return {k: v.replace("&amp;", "&") for k, v in fields.items()}


async def test_the_approve_screen_lists_the_scopes_and_offers_install_and_cancel(
    simulator: ShopifySimulator, browser: httpx.AsyncClient
) -> None:
    page = await browser.get(_url(simulator))
    assert page.status_code == 200
    for scope in SCOPES:
        assert f"<code>{scope}</code>" in page.text
    assert 'value="install"' in page.text
    assert 'value="cancel"' in page.text


async def test_install_redirects_to_the_redirect_uri_with_a_signed_callback(
    simulator: ShopifySimulator, browser: httpx.AsyncClient
) -> None:
    page = await browser.get(_url(simulator))
    answer = await browser.post("/admin/oauth/authorize", data={**_form(page), "decision": "install"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "&")
    params = dict(parse_qsl(urlsplit(location).query))
    assert set(params) == {"tenant", "code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == "mystore.myshopify.com"
    assert params["state"] == "st-1"
    query = urlsplit(location).query.removeprefix("tenant=7&")
    assert oauth.verify_callback(query, Secret(simulator.oauth.client_secret))


async def test_cancel_sends_nothing_back(simulator: ShopifySimulator, browser: httpx.AsyncClient) -> None:
    page = await browser.get(_url(simulator))
    answer = await browser.post("/admin/oauth/authorize", data={**_form(page), "decision": "cancel"})
    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert "did not install the app" in answer.text


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ({"client_id": "someone-else"}, "client_id"),
        ({"redirect_uri": "/relative"}, "redirect_uri"),
        ({"scope": "read_products,DROP TABLE"}, "scope"),
    ],
)
async def test_a_bad_authorization_request_is_answered_with_an_error_page(
    simulator: ShopifySimulator, browser: httpx.AsyncClient, override: dict[str, str], said: str
) -> None:
    page = await browser.get(_url(simulator, **override))
    assert page.status_code == 400
    assert said in page.text
    with pytest.raises(ValueError, match=said):
        simulator.oauth.approve(_url(simulator, **override))


async def test_a_code_is_exchanged_once_and_its_token_reads_with_the_granted_scopes(
    simulator: ShopifySimulator, browser: httpx.AsyncClient
) -> None:
    callback = simulator.oauth.approve(_url(simulator, scope="read_products,write_orders"))
    code = dict(parse_qsl(urlsplit(callback).query))["code"]
    body = {**simulator.app_credentials(), "code": code}
    first = await browser.post("/admin/oauth/access_token", json=body)
    assert first.status_code == 200
    answer = first.json()
    assert set(answer) == {"access_token", "scope"}
    assert answer["scope"] == "read_products,write_orders"
    assert re.fullmatch(r"shpua_[0-9a-f]{32}", answer["access_token"])
    again = await browser.post("/admin/oauth/access_token", json=body)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    orders = await browser.post(
        "/admin/api/2026-10/graphql.json",
        json={"query": "query Orders($first: Int!) { orders }", "variables": {"first": 1}},
        headers={"X-Shopify-Access-Token": answer["access_token"]},
    )
    assert "errors" not in orders.json(), "write_orders implies read_orders"


async def test_a_wrong_client_secret_is_refused_as_invalid_client(
    simulator: ShopifySimulator, browser: httpx.AsyncClient
) -> None:
    callback = simulator.oauth.approve(_url(simulator))
    code = dict(parse_qsl(urlsplit(callback).query))["code"]
    body = {"client_id": simulator.oauth.client_id, "client_secret": "shpss_" + "0" * 32, "code": code}
    answer = await browser.post("/admin/oauth/access_token", data=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"
