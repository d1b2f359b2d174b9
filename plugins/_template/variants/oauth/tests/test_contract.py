"""The storelink platform contract, run against the in-process fake of the Template API.

Keep this passing as the plugin grows: replace the simulator's endpoints with faithful
copies of the real platform's, and add the golden store addresses merchants use.

The OAuth rules (``test_oauth_*``) play the merchant's approval on the simulator:
its ``app_credentials()`` are the channel's app, and ``approve(url)`` returns the
callback URL the platform sends the browser back to.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from storelink import Address, OrderDraft, OrderLine
from storelink.testing import FakeClock, PlatformContract, UrlCase

from storelink_template.oauth_simulator import TemplateOAuthSimulator

PRODUCTS = 120
ORDERS = 60


class TestTemplateContract(PlatformContract):
    @pytest.fixture
    def platform_slug(self) -> str:
        return "template"

    @pytest.fixture
    def simulator(self, contract_clock: FakeClock) -> TemplateOAuthSimulator:
        return TemplateOAuthSimulator(products=PRODUCTS, orders=ORDERS, clock=contract_clock.monotonic)

    @pytest.fixture
    def url_cases(self) -> list[UrlCase]:
        return [
            UrlCase("demo-store.example.com", "https://demo-store.example.com"),
            UrlCase("  HTTPS://Demo-Store.Example.COM/admin/orders?page=2 ", "https://demo-store.example.com"),
            UrlCase("http://shop.example.com/", "https://shop.example.com"),
            UrlCase("https://shop.example.com:8443/store", "https://shop.example.com:8443"),
            UrlCase("https://bücher.example/", "https://xn--bcher-kva.example"),
            UrlCase("http://127.0.0.1:8000/admin", "http://127.0.0.1:8000", allow_loopback=True),
            UrlCase("https://merchant:pw@shop.example.com", None),
            UrlCase("ftp://shop.example.com", None),
            UrlCase("https://10.0.0.8", None),
            UrlCase("http://localhost:8000", None),
            UrlCase("shop", None),
            UrlCase("", None),
        ]

    @pytest.fixture
    def sample_drafts(self) -> list[OrderDraft]:
        address = Address(name="Ada Lovelace", line1="12 Analytical Row", city="London", country="GB")
        return [
            OrderDraft(
                reference="channel-order-1001",
                lines=[OrderLine(product_id="prod-1", sku_id="sku-1-1", quantity=2)],
                shipping_address=address,
                shipping_method_id="standard",
            ),
            OrderDraft(
                reference="channel-order-1002",
                lines=[
                    OrderLine(product_id="prod-2", sku_id="sku-2-1", quantity=1),
                    OrderLine(product_id="prod-3", sku_id="sku-3-1", quantity=3),
                ],
                shipping_address=address,
                shipping_method_id="express",
            ),
        ]

    @pytest.fixture
    def expected_counts(self) -> Mapping[str, int]:
        return {"fetch_products": PRODUCTS, "fetch_orders": ORDERS}
