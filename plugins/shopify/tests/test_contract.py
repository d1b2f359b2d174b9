"""The storelink platform contract, run against the Shopify simulator in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import httpx
import pytest

from storelink import Address, CredentialsError, Money, OrderDraft, OrderLine
from storelink.testing import FakeClock, PlatformContract, UrlCase, live
from storelink.testing.fakes import json_response
from storelink.testing.harness import Harness
from storelink_shopify.simulator import ShopifySimulator, SimulatorConfig

PRODUCTS = 40  # three pages of 15
ORDERS = 25  # three pages of 10
# The contract's clock stands still unless the core sleeps on it, so the cost bucket
# would refill only during back-off: a bucket this size lets the suite's many calls
# through, as the passing time does for a real client. Throttling is tested on its own
# in test_plugin.py with the real bucket size and query limit.
BUCKET = 100_000.0


async def check_static_token_401(h: Harness) -> None:
    """The 401 rule for a platform whose access token is the credential itself.

    The kit's rule (a 401 that repeats after a new login is AuthorizationError) assumes
    a login that yields a new token. Shopify's custom-app token is the credential: the
    core's re-login sends the same token, so a 401 that repeats means the app was
    uninstalled or its token rotated, and must end as CredentialsError (revoked).
    A single 401 must still lead to one re-validation and a successful resend.
    """
    async with h.runtime() as rt:
        await h.call(rt, "fetch_products", cursor=None)
        stale = h.current_token()
        issued = len(h.tokens)
        answered: list[httpx.Request] = []

        def once(request: httpx.Request) -> httpx.Response | None:
            if answered or live.token_of(h, request) != stale:
                return None
            answered.append(request)
            return json_response(401, {"errors": "[API] Invalid API key or access token"}, request)

        h.faults.add(once)
        page = await h.call(rt, "fetch_products", cursor=None)
        h.faults.clear()
        assert answered
        assert page.items
        assert len(h.tokens) == issued + 1, "one 401 must lead to exactly one re-validation"
        h.faults.add(lambda r: json_response(401, {"errors": "denied"}, r) if live.token_of(h, r) == stale else None)
        try:
            with pytest.raises(CredentialsError):
                await h.call(rt, "fetch_products", cursor=None)
        finally:
            h.faults.clear()
        assert rt.revoked


class TestShopifyContract(PlatformContract):
    # orderCreate has no idempotency key: Shopify would make a second order for a
    # resent draft. The core's order ledger is the guard (one send per reference, and
    # find_order before any resend), so the suite does not resend drafts itself.
    deduplicates_references = False

    @pytest.fixture
    def platform_slug(self) -> str:
        return "shopify"

    @pytest.fixture
    def simulator(self, contract_clock: FakeClock) -> ShopifySimulator:
        return ShopifySimulator(
            SimulatorConfig(products=PRODUCTS, orders=ORDERS, bucket_size=BUCKET), clock=contract_clock.monotonic
        )

    @pytest.fixture
    def url_cases(self) -> list[UrlCase]:
        shop = "https://mystore.myshopify.com"
        return [
            UrlCase("mystore", shop),
            UrlCase("MyStore", shop),
            UrlCase("mystore.myshopify.com", shop),
            UrlCase("https://MyStore.myshopify.com/admin/", shop),
            UrlCase("admin.shopify.com/store/mystore", shop),
            UrlCase("https://admin.shopify.com/store/mystore/products?selectedView=all", shop),
            UrlCase("http://my-store-2.myshopify.com", "https://my-store-2.myshopify.com"),
            UrlCase("http://127.0.0.1:51234/admin", "http://127.0.0.1:51234", allow_loopback=True),
            UrlCase("https://shop.example.com", None),
            UrlCase("https://admin.shopify.com/", None),
            UrlCase("https://mystore.myshopify.com.evil.example", None),
            UrlCase("https://user:pw@mystore.myshopify.com", None),
            UrlCase("ftp://mystore.myshopify.com", None),
            UrlCase("https://23.227.38.65", None),
            UrlCase("localhost", None),
            UrlCase("", None),
        ]

    @pytest.fixture
    def sample_drafts(self, simulator: ShopifySimulator) -> list[OrderDraft]:
        product = simulator.catalog.product(0)
        variant = product["variants"][0]
        method = simulator.catalog.delivery_profiles()[0]["profileLocationGroups"][0]["locationGroupZones"][0]
        address = Address(name="Ada Lovelace", line1="12 Analytical Row", city="London", country="GB")
        return [
            OrderDraft(
                reference="contract-shopify-1",
                lines=[OrderLine(product_id=product["id"], sku_id=variant["id"], quantity=2)],
                shipping_address=address,
                shipping_method_id=method["methodDefinitions"][0]["id"],
            ),
            OrderDraft(
                reference="contract-shopify-2:with.colon",
                lines=[
                    OrderLine(
                        product_id=product["id"],
                        sku_id=variant["id"],
                        quantity=1,
                        price=Money(amount="9.50", currency="USD"),
                    )
                ],
                shipping_address=address,
                shipping_method_id=method["methodDefinitions"][1]["id"],
            ),
        ]

    @pytest.fixture
    def expected_counts(self) -> Mapping[str, int]:
        return {"fetch_products": PRODUCTS, "fetch_orders": ORDERS}

    def test_reauthenticates_once_on_401(self, contract: Harness) -> None:
        """One 401 means one re-validation and a resend; a 401 that repeats revokes (see check_static_token_401)."""
        asyncio.run(check_static_token_401(contract))

    def test_no_secret_in_logs_or_errors(
        self, contract: Harness, sample_drafts: Sequence[OrderDraft], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The kit's leak scan, with the static-token 401 rule in place of the login one."""
        monkeypatch.setattr(live, "check_reauthenticates_on_401", check_static_token_401)
        super().test_no_secret_in_logs_or_errors(contract, sample_drafts)
