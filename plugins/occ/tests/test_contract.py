"""The storelink platform contract, run against the OCC simulator in-process."""

from __future__ import annotations

import pytest

from storelink import Address, OrderDraft, OrderLine
from storelink.testing import PlatformContract, UrlCase
from storelink_occ.simulator import OccSimulator, SimulatorConfig

PRODUCTS = 300  # more than one page of 250
ORDERS = 30


class TestOccContract(PlatformContract):
    # OCC documents no idempotency key for order creation: a repeated reference makes a
    # second order there. The core's order ledger, with find_order to reconcile, is the guard.
    deduplicates_references = False

    @pytest.fixture
    def platform_slug(self) -> str:
        return "occ"

    @pytest.fixture
    def simulator(self) -> OccSimulator:
        return OccSimulator(SimulatorConfig(products=PRODUCTS, orders=ORDERS))

    @pytest.fixture
    def url_cases(self) -> list[UrlCase]:
        admin = "https://p1234567c1prd-admin.occa.ocs.oraclecloud.com"
        return [
            UrlCase("p1234567c1prd-admin.occa.ocs.oraclecloud.com", admin),
            UrlCase(f" {admin.upper()}/occs-admin/#/dashboard ", admin),
            UrlCase(f"{admin}/ccadmin/v1/products", admin),
            UrlCase("http://store.example.com/", "https://store.example.com"),
            UrlCase("http://127.0.0.1:51234/ccadmin", "http://127.0.0.1:51234", allow_loopback=True),
            UrlCase("https://admin:secret@store.example.com", None),
            UrlCase("ftp://store.example.com", None),
            UrlCase("https://10.1.2.3", None),
            UrlCase("localhost", None),
            UrlCase("", None),
        ]

    @pytest.fixture
    def sample_drafts(self, simulator: OccSimulator) -> list[OrderDraft]:
        product = simulator.catalog.product(0)
        sku = product["childSKUs"][0]["repositoryId"]
        method = simulator.catalog.shipping_methods()[0]["repositoryId"]
        address = Address(name="Ada Lovelace", line1="12 Analytical Row", city="London", country="GB")
        return [
            OrderDraft(
                reference="contract-occ-1",
                lines=[OrderLine(product_id=product["id"], sku_id=sku, quantity=2)],
                shipping_address=address,
                shipping_method_id=method,
            )
        ]

    @pytest.fixture
    def expected_counts(self) -> dict[str, int]:
        return {"fetch_products": PRODUCTS, "fetch_orders": ORDERS}
