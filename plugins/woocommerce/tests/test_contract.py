"""The storelink platform contract, run against the WooCommerce simulator in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import httpx
import pytest

from storelink import Address, CredentialsError, Money, OrderDraft, OrderLine
from storelink.testing import PlatformContract, UrlCase, live
from storelink.testing.fakes import json_response
from storelink.testing.harness import Harness
from storelink_woocommerce.simulator import SimulatorConfig, WooSimulator

PRODUCTS = 230  # three pages of 100
ORDERS = 25


async def check_static_key_401(h: Harness) -> None:
    """The 401 rule for a platform whose credential is the key itself.

    The kit's rule (a 401 that repeats after a new login is AuthorizationError) assumes
    a login that yields a new token. A WooCommerce key is sent as it is: the core's
    re-check sends the same key, so a 401 that repeats means the key was revoked, and
    must end as CredentialsError (revoked). A single 401 leads to one re-check and a
    successful resend.
    """
    async with h.runtime() as rt:
        await h.call(rt, "fetch_products", cursor=None)
        stale = h.current_token()
        issued = len(h.tokens)
        answered: list[httpx.Request] = []
        body = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {}}

        def once(request: httpx.Request) -> httpx.Response | None:
            if answered or live.token_of(h, request) != stale:
                return None
            answered.append(request)
            return json_response(401, body, request)

        h.faults.add(once)
        page = await h.call(rt, "fetch_products", cursor=None)
        h.faults.clear()
        assert answered
        assert page.items
        assert len(h.tokens) == issued + 1, "one 401 must lead to exactly one re-check"
        h.faults.add(lambda r: json_response(401, body, r) if live.token_of(h, r) == stale else None)
        try:
            with pytest.raises(CredentialsError):
                await h.call(rt, "fetch_products", cursor=None)
        finally:
            h.faults.clear()
        assert rt.revoked


class TestWooCommerceContract(PlatformContract):
    # WooCommerce has no idempotency key for POST /orders: a resent draft makes a second
    # order. The core's order ledger (one send per reference, find_order before any
    # resend) is the guard, so the suite does not resend drafts itself.
    deduplicates_references = False

    @pytest.fixture
    def platform_slug(self) -> str:
        return "woocommerce"

    @pytest.fixture
    def simulator(self) -> WooSimulator:
        return WooSimulator(SimulatorConfig(products=PRODUCTS, orders=ORDERS, install_path="/shop"))

    @pytest.fixture
    def url_cases(self) -> list[UrlCase]:
        shop = "https://example.com/shop"
        return [
            UrlCase("example.com/shop", shop),
            UrlCase(" HTTPS://Example.COM/shop/ ", shop),
            UrlCase("https://example.com/shop/wp-admin/edit.php?post_type=product", shop),
            UrlCase("https://example.com/shop/wp-json/wc/v3/products", shop),
            UrlCase("http://example.com/shop", shop),
            UrlCase("store.example.com", "https://store.example.com"),
            UrlCase("https://store.example.com/wp-admin/", "https://store.example.com"),
            UrlCase("http://127.0.0.1:51234/shop/wp-json", "http://127.0.0.1:51234/shop", allow_loopback=True),
            UrlCase("https://admin:secret@example.com/shop", None),
            UrlCase("ftp://example.com/shop", None),
            UrlCase("https://10.1.2.3/shop", None),
            UrlCase("https://127.1", None),
            UrlCase("nas.local/shop", None),
            UrlCase("localhost/shop", None),
            UrlCase("https://example.com/shop/../admin", None),
            UrlCase("", None),
        ]

    @pytest.fixture
    def sample_drafts(self, simulator: WooSimulator) -> list[OrderDraft]:
        simple = simulator.product(0)
        variable = simulator.product(1)
        method = simulator.methods(1)[0]
        address = Address(name="Ada Lovelace", line1="12 Analytical Row", city="London", country="GB")
        return [
            OrderDraft(
                reference="contract-woo-1",
                lines=[OrderLine(product_id=str(simple["id"]), sku_id=str(simple["id"]), quantity=2)],
                shipping_address=address,
                shipping_method_id=f"1:{method['instance_id']}",
            ),
            OrderDraft(
                reference="contract-woo-2:with.colon",
                lines=[
                    OrderLine(
                        product_id=str(variable["id"]),
                        sku_id=str(variable["variations"][0]),
                        quantity=1,
                        price=Money(amount="9.50", currency="USD"),
                    )
                ],
                shipping_address=address,
                shipping_method_id=f"1:{method['instance_id']}",
            ),
        ]

    @pytest.fixture
    def expected_counts(self) -> Mapping[str, int]:
        return {"fetch_products": PRODUCTS, "fetch_orders": ORDERS}

    def test_reauthenticates_once_on_401(self, contract: Harness) -> None:
        """One 401 means one re-check and a resend; a 401 that repeats revokes (see check_static_key_401)."""
        asyncio.run(check_static_key_401(contract))

    def test_no_secret_in_logs_or_errors(
        self, contract: Harness, sample_drafts: Sequence[OrderDraft], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The kit's leak scan, with the static-key 401 rule in place of the login one."""
        monkeypatch.setattr(live, "check_reauthenticates_on_401", check_static_key_401)
        super().test_no_secret_in_logs_or_errors(contract, sample_drafts)
