"""The contract's pure checks, on small in-process plugins that break one rule each."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from storelink import (
    Capability,
    CredentialField,
    CredentialSchema,
    Money,
    Page,
    PlatformInfo,
    Product,
    Registry,
    StoreURL,
    StoreURLError,
    Variant,
    hookimpl,
)
from storelink.plugins import Platform
from storelink.testing import ContractViolation, FakeClock, UrlCase, model_problems
from storelink.testing.checks import check_capabilities, check_platform_info, check_url_cases
from storelink.testing.properties import check_url_properties

SCHEMA = CredentialSchema(fields=[CredentialField(name="key", label="Key", secret=True, help="In the admin.")])


def strict(raw: str) -> StoreURL:
    host = raw.strip().lower().removeprefix("https://").split("/")[0]
    if host != "shop.example.com":
        raise StoreURLError("not a store")
    return StoreURL(origin=f"https://{host}")


class Fake:
    """A platform plugin whose info and normaliser a test chooses."""

    def __init__(self, normalize: Callable[[str], StoreURL] = strict, **info: Any) -> None:
        self.normalize = normalize
        self.info = {
            "slug": "fake",
            "title": "Fake",
            "credential_schema": SCHEMA,
            "capabilities": frozenset(),
            "setup_guide": ("Create a key.",),
            **info,
        }

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        return PlatformInfo(**self.info)

    @hookimpl
    def normalize_store_url(self, raw: str, allow_loopback: bool) -> StoreURL:
        return self.normalize(raw)

    @hookimpl
    async def authenticate(self, ctx: Any, audience: str) -> Any:
        raise AssertionError("not called by pure checks")

    @hookimpl
    async def check_access(self, ctx: Any) -> Any:
        raise AssertionError("not called by pure checks")


class WithProducts(Fake):
    @hookimpl
    async def fetch_products(self, ctx: Any, cursor: Any) -> Page[Product]:
        raise AssertionError("not called by pure checks")


def platform(plugin: Fake) -> Platform:
    return Registry(autoload=False).register_platform(plugin)


def test_a_valid_plugin_passes_the_pure_checks() -> None:
    fake = platform(WithProducts(capabilities={Capability.PRODUCTS}))
    check_platform_info(fake, "fake")
    check_capabilities(fake)
    cases = [UrlCase(" HTTPS://Shop.Example.com/admin", "https://shop.example.com"), UrlCase("other.example", None)]
    check_url_cases(fake, cases)
    check_url_properties(fake, cases, examples=30)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (Fake(capabilities={Capability.PRODUCTS}), "fetch_products: is not implemented, but platform_info() declares"),
        (WithProducts(), "fetch_products: is implemented, but platform_info() does not declare Capability.PRODUCTS"),
    ],
)
def test_capabilities_must_match_hooks(plugin: Fake, message: str) -> None:
    with pytest.raises(ContractViolation, match=re.escape(message)):
        check_capabilities(platform(plugin))


def test_the_slug_must_be_the_entry_point_name() -> None:
    with pytest.raises(
        ContractViolation, match="platform_info: says slug 'fake' but the plugin is installed as 'shop'"
    ):
        check_platform_info(platform(Fake()), "shop")


def test_a_setup_guide_is_required() -> None:
    with pytest.raises(ContractViolation, match="has no setup_guide"):
        check_platform_info(platform(Fake(setup_guide=())), "fake")


def test_golden_cases_say_what_was_expected() -> None:
    cases = [UrlCase("shop.example.com", "https://www.shop.example.com"), UrlCase("x", None)]
    with pytest.raises(ContractViolation) as caught:
        check_url_cases(platform(Fake()), cases)
    assert str(caught.value) == (
        "normalize_store_url: made 'https://shop.example.com' of 'shop.example.com'; return 'https://www.shop.example.com'"
    )


def test_a_normaliser_that_raises_something_else_breaks_the_contract() -> None:
    def crashes(raw: str) -> StoreURL:
        return StoreURL(origin=raw.split("//")[1])  # IndexError for a bare host

    with pytest.raises(ContractViolation, match="raise StoreURLError with a message"):
        check_url_cases(
            platform(Fake(crashes)), [UrlCase("shop.example.com", "https://shop.example.com"), UrlCase("", None)]
        )


def test_golden_cases_catch_a_normaliser_that_is_not_idempotent() -> None:
    def bare_hosts_only(raw: str) -> StoreURL:
        if "://" in raw:
            raise StoreURLError("type the host only")
        return strict(raw)

    cases = [UrlCase("shop.example.com", "https://shop.example.com"), UrlCase("x", None)]
    with pytest.raises(
        ContractViolation, match=re.escape("normalising its own result 'https://shop.example.com' refused it")
    ):
        check_url_cases(platform(Fake(bare_hosts_only)), cases)


def test_properties_catch_a_normaliser_that_refuses_pasted_paths() -> None:
    def no_paths(raw: str) -> StoreURL:
        if "/" in raw.strip().removeprefix("https://").removeprefix("HTTPS://").removeprefix("Https://"):
            raise StoreURLError("no paths please")
        return strict(raw)

    cases = [UrlCase("shop.example.com", "https://shop.example.com"), UrlCase("x", None)]
    with pytest.raises(ContractViolation, match="accept any case, surrounding blanks, trailing slashes and paths"):
        check_url_properties(platform(Fake(no_paths)), cases, examples=200)


def test_model_problems_look_inside_and_name_the_path() -> None:
    product = Product(id="p", title="T")
    object.__setattr__(product, "created_at", datetime(2024, 1, 1))  # what a validator never saw
    assert model_problems(product) == ["Product: created_at must be timezone-aware, got 2024-01-01T00:00:00"]
    variant = Variant(id="v", price=Money(amount=Decimal(1), currency="USD"), sku=3)  # type: ignore[arg-type]
    assert model_problems(Product(id="p", title="T", variants=[variant])) == [
        "variants[0].sku: expected str or None, got int 3"
    ]
    assert model_problems(Product(id="p", title="T")) == []


async def test_the_fake_clock_moves_when_slept_on() -> None:
    clock = FakeClock(start=10.0)
    await clock.sleep(2.5)
    clock.advance(1)
    assert (clock.monotonic(), clock.sleeps) == (13.5, [2.5])
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
