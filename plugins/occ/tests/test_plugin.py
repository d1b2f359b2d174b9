"""The OCC hooks, driven in-process against the simulator (and a mock transport for odd answers)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

import storelink
from storelink import (
    AccessToken,
    Address,
    Capability,
    ConfigurationError,
    CredentialsError,
    Money,
    NotFoundError,
    OffsetCursor,
    OrderDraft,
    OrderLine,
    PlatformContext,
    PluginError,
    RejectedError,
    Secret,
    TokenCursor,
)
from storelink_occ.plugin import SKU_PAGE_SIZE
from storelink_occ.settings import SETTINGS_SCHEMA
from storelink_occ.simulator import OccSimulator, SimulatorConfig

from .conftest import sent

STORE = "https://ccadmin-test.oracleoutsourcing.com"
AGENT = "https://www.example-store.com"

ContextFactory = Callable[..., PlatformContext]
MockFactory = Callable[[dict[str, httpx.Response]], PlatformContext]


async def read_all(platform: storelink.Platform, ctx: PlatformContext, hook: str, **kwargs: Any) -> list[Any]:
    """Follow the cursors of *hook* to the end, as the core's loop does."""
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        page = await getattr(platform, hook)(ctx, cursor, **kwargs)
        items.extend(page.items)
        if page.next is None:
            return items
        cursor = page.next
    raise AssertionError("the cursor never ended")


# --------------------------------------------------------------------------- identity


def test_platform_info_describes_occ(platform: storelink.Platform) -> None:
    info = platform.info
    assert (info.slug, info.title) == ("occ", "Oracle Commerce Cloud")
    assert info.capabilities == frozenset(Capability)
    assert info.audiences == ("admin", "agent")
    assert [f.name for f in info.credential_schema] == ["application_key"]
    assert [f.name for f in info.settings_schema] == [
        "asset_language",
        "site_id",
        "agent_base_url",
        "order_reference_property",
        "currency",
        "order_date_property",
    ]
    assert not any(f.secret or f.required for f in info.settings_schema)
    guide = "\n".join(info.setup_guide)
    for words in ("Settings > Web APIs", "Register Application", "Click to reveal", "Reset", "store URL"):
        assert words in guide


def test_the_installed_entry_point_loads_the_plugin() -> None:
    platform = storelink.Registry(autoload=True).platform("occ")
    assert platform.info.slug == "occ"
    assert platform.implements("find_order")


def test_store_urls_are_normalised_through_the_hook(platform: storelink.Platform) -> None:
    assert platform.normalize_store_url(" HTTPS://Shop.Example.com/occs-admin/ ").origin == "https://shop.example.com"
    assert platform.normalize_store_url("http://localhost:9000", allow_loopback=True).origin == "http://localhost:9000"


# --------------------------------------------------------------------------- auth


async def test_authenticate_logs_in_to_each_surface(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator, {"agent_base_url": AGENT})
    admin = await platform.authenticate(ctx, "admin")
    agent = await platform.authenticate(ctx, "agent")
    assert (admin.audience, admin.expires_in, agent.audience) == ("admin", 300, "agent")
    assert (simulator.stats["logins"], simulator.stats["agent_logins"]) == (1, 1)
    admin_login, agent_login = sent(ctx)
    assert str(admin_login.url) == f"{STORE}/ccadmin/v1/login"
    assert str(agent_login.url) == f"{AGENT}/ccappagent/v1/login"
    assert admin_login.content == b"grant_type=client_credentials"
    assert admin_login.headers["content-type"] == "application/x-www-form-urlencoded"
    assert admin_login.headers["authorization"] == f"Bearer {ctx.credentials.secret('application_key').reveal()}"


async def test_a_revoked_key_is_refused_at_login(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    credentials = simulator.issue_credentials()
    ctx = context_for(simulator, credentials=credentials)
    simulator.revoke_credentials(credentials)
    with pytest.raises(CredentialsError) as caught:
        await platform.authenticate(ctx, "admin")
    assert credentials["application_key"] not in str(caught.value)


async def test_an_unknown_audience_is_a_configuration_error(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    with pytest.raises(ConfigurationError, match="no token audience 'reader'"):
        await platform.authenticate(context_for(simulator), "reader")


async def test_refresh_renews_admin_tokens_only(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator)
    admin = await platform.authenticate(ctx, "admin")
    renewed = await platform.refresh_token(ctx, admin)
    assert renewed is not None
    assert renewed.value != admin.value
    assert renewed.audience == "admin"
    assert simulator.stats["refreshes"] == 1
    assert await platform.refresh_token(ctx, await platform.authenticate(ctx, "agent")) is None
    expired = AccessToken(value=Secret("eyJ.expired.token"), expires_in=300, audience="admin")
    assert await platform.refresh_token(ctx, expired) is None


# --------------------------------------------------------------------------- odd answers


def occ_mock(overrides: dict[str, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """Answer like OCC (a token at login, empty lists elsewhere) except on the *overrides* paths."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in overrides:
            return overrides[request.url.path]
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        return httpx.Response(200, json={"items": [], "totalResults": 0})

    return handler


@pytest.fixture
def mocked(mock_context_for: Callable[..., PlatformContext]) -> MockFactory:
    return lambda overrides: mock_context_for(occ_mock(overrides))


async def test_a_login_answered_without_a_token_is_a_credentials_error(
    platform: storelink.Platform, mocked: MockFactory
) -> None:
    ctx = mocked({"/ccadmin/v1/login": httpx.Response(200, json={"token_type": "bearer"})})
    with pytest.raises(CredentialsError, match="without an access token"):
        await platform.authenticate(ctx, "admin")


async def test_a_missing_agent_surface_is_a_configuration_error(
    platform: storelink.Platform, mocked: MockFactory
) -> None:
    ctx = mocked({"/ccappagent/v1/login": httpx.Response(404, json={"message": "Not found", "status": "404"})})
    with pytest.raises(ConfigurationError, match="Storefront URL"):
        await platform.authenticate(ctx, "agent")


async def test_an_error_inside_http_200_reaches_the_caller_as_a_storelink_error(
    platform: storelink.Platform, mocked: MockFactory, fixture: Any
) -> None:
    ctx = mocked({"/ccadmin/v1/products": httpx.Response(200, json=fixture("error_in_200"))})
    with pytest.raises(RejectedError, match="xprod100 is invalid") as caught:
        await platform.fetch_products(ctx, None)
    assert caught.value.code == "20031"


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 503])
async def test_an_envelope_inside_http_200_raises_what_the_same_http_status_raises(
    platform: storelink.Platform, mocked: MockFactory, status: int
) -> None:
    """The core maps both (one mapping): same class, same message, same code."""
    envelope = {"message": "The product xprod100 is invalid", "errorCode": "20031", "status": str(status)}
    errors = []
    for answer in (httpx.Response(status, json=envelope), httpx.Response(200, json=envelope)):
        with pytest.raises(storelink.StorelinkError) as caught:
            await platform.fetch_products(mocked({"/ccadmin/v1/products": answer}), None)
        errors.append(caught.value)
    by_status, in_200 = errors
    assert type(in_200) is type(by_status)
    assert str(in_200) == str(by_status)
    assert "code 20031" in str(in_200)


async def test_fixture_pages_are_followed_to_the_end(
    platform: storelink.Platform,
    mock_context_for: Callable[..., PlatformContext],
    fixture_response: Callable[[str], httpx.Response],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ccadmin/v1/login":
            return fixture_response("login_ok")
        return fixture_response("products_page_1" if request.url.params["offset"] == "0" else "products_page_2")

    ctx = mock_context_for(handler)
    first = await platform.fetch_products(ctx, OffsetCursor(offset=0, limit=2))
    assert (first.total, first.next) == (3, OffsetCursor(offset=2, limit=2))
    products = await read_all(platform, ctx, "fetch_products")
    assert [p.id for p in products] == ["20PTSFULLER100", "xprod2001", "xprod3001"]


async def test_without_a_total_pages_continue_while_full(
    platform: storelink.Platform,
    mock_context_for: Callable[..., PlatformContext],
    fixture_response: Callable[[str], httpx.Response],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ccadmin/v1/login":
            return fixture_response("login_ok")
        if request.url.params["offset"] == "0":
            return fixture_response("products_without_total")
        return httpx.Response(200, json={"offset": 2, "items": [{"id": "xprod3", "displayName": "Three"}]})

    ctx = mock_context_for(handler)
    full = await platform.fetch_products(ctx, OffsetCursor(offset=0, limit=2))
    assert (len(full.items), full.total, full.next) == (2, None, OffsetCursor(offset=2, limit=2))
    products = await read_all(platform, ctx, "fetch_products")
    assert [p.id for p in products] == ["xprod1", "xprod2", "xprod3"]


async def test_inventory_and_orders_are_read_from_fixtures(
    platform: storelink.Platform,
    mock_context_for: Callable[..., PlatformContext],
    fixture_response: Callable[[str], httpx.Response],
) -> None:
    routes = {
        "/ccadmin/v1/login": "login_ok",
        "/ccadmin/v1/inventories": "inventories_page_1",
        "/ccadmin/v1/inventories/xsku5014": "inventory_sku_locations",
        "/ccadmin/v1/shippingMethods": "shipping_methods_bare_list",
        "/ccadmin/v1/orders": "orders_page_1",
        "/ccadmin/v1/orders/o10003": "order_get",
        "/ccappagent/v1/login": "login_without_expires_in",
        "/ccappagent/v1/orders": "order_created",
    }
    ctx = mock_context_for(lambda request: fixture_response(routes[request.url.path]))
    inventory = await platform.fetch_inventory(ctx, None, None)
    assert (len(inventory.items), inventory.next) == (3, OffsetCursor(offset=1, limit=250))
    assert len((await platform.fetch_inventory(ctx, None, ("xsku5014",))).items) == 2
    assert [m.id for m in await platform.fetch_shipping_methods(ctx)] == [
        "groundShippingMethod",
        "twoDayShippingMethod",
    ]
    orders = await platform.fetch_orders(ctx, None, None)
    assert [o.reference for o in orders.items] == ["MKT-1001", None]
    assert (await platform.get_order(ctx, "o10003")).reference == "MKT-1002"
    found = await platform.find_order(ctx, "MKT-1001")
    assert found is not None
    assert found.id == "o10001"
    assert await platform.find_order(ctx, "MKT-404") is None
    created = await platform.create_order(
        ctx,
        OrderDraft(
            reference="MKT-2001",
            lines=[OrderLine(product_id="20PTSFULLER100", sku_id="20PTSFULLER100-1", quantity=2)],
            shipping_address=Address(name="Ada Lovelace", line1="12 Market St", city="Springfield", country="US"),
            shipping_method_id="groundShippingMethod",
        ),
    )
    assert (created.id, created.reference) == ("o30017", "MKT-2001")


async def test_check_access_reports_what_is_denied(platform: storelink.Platform, mocked: MockFactory) -> None:
    ctx = mocked(
        {
            "/ccadmin/v1/orders": httpx.Response(403, json={"message": "Forbidden", "status": "403", "errorCode": "1"}),
            "/ccappagent/v1/login": httpx.Response(404, json={"message": "Not found", "status": "404"}),
        }
    )
    report = await platform.check_access(ctx)
    assert report.missing == (Capability.ORDERS, Capability.CREATE_ORDERS)
    details = {c.capability: c.detail for c in report.checks}
    assert details[Capability.ORDERS] == (
        "occ fetch_orders: the credentials are not allowed to do this (HTTP 403, code 1): Forbidden"
    )
    assert "Storefront URL" in (details[Capability.CREATE_ORDERS] or "")


async def test_check_access_passes_against_the_simulator(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    report = await platform.check_access(context_for(simulator))
    assert report.ok
    assert {c.capability for c in report.checks} == set(Capability)


# --------------------------------------------------------------------------- reads


async def test_the_whole_catalog_is_read_page_by_page(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator, {"currency": "EUR", "agent_base_url": AGENT})
    first = await platform.fetch_products(ctx, None)
    assert (len(first.items), first.total, first.next) == (250, 600, OffsetCursor(offset=250, limit=250))
    products = await read_all(platform, ctx, "fetch_products")
    assert len(products) == len({p.id for p in products}) == 600
    assert products[0].price is not None
    assert products[0].price.currency == "EUR"
    assert products[0].url is not None
    assert products[0].url.startswith(f"{AGENT}/")
    assert all(image.url.startswith(f"{AGENT}/ccstore/v1/images/") for p in products for image in p.images)
    assert {len(p.variants) for p in products} == {1, 2, 3, 4, 5}


async def test_a_clamped_limit_is_followed_without_gaps(
    platform: storelink.Platform, context_for: ContextFactory
) -> None:
    sim = OccSimulator(SimulatorConfig(products=230, max_limit=100))
    ctx = context_for(sim)
    page = await platform.fetch_products(ctx, OffsetCursor(offset=0, limit=250))
    assert page.next == OffsetCursor(offset=100, limit=100)
    products = await read_all(platform, ctx, "fetch_products")
    assert [p.id for p in products] == [f"prod{100 + i}" for i in range(230)]


async def test_a_token_cursor_is_refused(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    with pytest.raises(PluginError, match="pages by offset"):
        await platform.fetch_products(context_for(simulator), TokenCursor(token="t"))


async def test_occ_headers_are_sent_on_every_read(platform: storelink.Platform, context_for: ContextFactory) -> None:
    sim = OccSimulator(SimulatorConfig(products=3, require_asset_language=True))
    ctx = context_for(sim, {"asset_language": "pt_BR", "site_id": "siteUS"})
    await platform.fetch_products(ctx, None)
    await platform.fetch_shipping_methods(ctx)
    for request in sent(ctx):
        assert request.headers["x-ccasset-language"] == "pt_BR"
        assert request.headers["x-ccsite"] == "siteUS"
        assert request.headers["x-ccprofiletype"] == "applicationAccess"
    plain = context_for(sim)
    await platform.fetch_products(plain, None)
    assert "x-ccsite" not in sent(plain)[-1].headers
    assert sent(plain)[-1].headers["x-ccasset-language"] == "en"


async def test_settings_are_parsed_once_per_connection(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hook and request reads the settings parsed at the first one (they were parsed per request)."""
    loads: list[object] = []
    original = storelink.SettingsSchema.load

    def counting(self: storelink.SettingsSchema[Any], values: Any) -> Any:
        loads.append(values)
        return original(self, values)

    monkeypatch.setattr(storelink.SettingsSchema, "load", counting)
    ctx = context_for(simulator, {"currency": "EUR", "site_id": "siteUS"})
    page = await platform.fetch_products(ctx, None)
    await platform.fetch_products(ctx, page.next)
    await platform.fetch_shipping_methods(ctx)
    assert await platform.check_access(ctx)
    assert len(loads) == 1
    assert ctx.typed_settings(SETTINGS_SCHEMA).currency == "EUR"


async def test_invalid_settings_are_a_configuration_error(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    for settings in ({"currency": "euro"}, {"order_reference_property": 'x" or id pr'}, {"colour": "red"}):
        with pytest.raises(ConfigurationError):
            await platform.fetch_products(context_for(simulator, settings), None)


async def test_inventory_is_read_per_sku_and_location(
    platform: storelink.Platform, context_for: ContextFactory
) -> None:
    simulator = OccSimulator(SimulatorConfig(products=260))
    ctx = context_for(simulator)
    page = await platform.fetch_inventory(ctx, None, None)
    skus = sum(len(simulator.catalog.product(i)["childSKUs"]) for i in range(250))
    assert len(page.items) == 3 * skus
    assert (page.next, page.total) == (OffsetCursor(offset=250, limit=250), None)
    levels = await read_all(platform, ctx, "fetch_inventory", sku_ids=None)
    assert len({(lv.sku_id, lv.location_id) for lv in levels}) == len(levels)


async def test_inventory_of_given_skus_skips_unknown_ones(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator)
    wanted = tuple(s["repositoryId"] for i in range(20) for s in simulator.catalog.product(i)["childSKUs"])
    wanted = (*wanted[: SKU_PAGE_SIZE + 3], "sku-unknown")
    first = await platform.fetch_inventory(ctx, None, wanted)
    assert first.next == OffsetCursor(offset=SKU_PAGE_SIZE, limit=SKU_PAGE_SIZE)
    levels = await read_all(platform, ctx, "fetch_inventory", sku_ids=wanted)
    assert [lv.sku_id for lv in levels[::3]] == list(wanted[:-1])
    assert {lv.location_id for lv in levels} == {None, "warehouse-east", "warehouse-west"}


@pytest.mark.parametrize("shape", ["list", "items"])
async def test_shipping_methods_are_read_in_either_shape(
    platform: storelink.Platform, context_for: ContextFactory, shape: str
) -> None:
    sim = OccSimulator(SimulatorConfig(products=1, shipping_shape=shape))  # type: ignore[arg-type]
    methods = await platform.fetch_shipping_methods(context_for(sim, {"currency": "CAD"}))
    assert [m.id for m in methods] == [
        "ground",
        "expressShippingMethod",
        "overnightShippingMethod",
        "freightShippingMethod",
    ]
    assert [m.enabled for m in methods] == [True, True, False, True]
    standard = methods[0]
    assert standard.rates[0].amount == Money(amount=Decimal("5.99"), currency="CAD")
    assert standard.rates[-1].max_subtotal is None


async def test_orders_are_read_incrementally_oldest_first(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator)
    every = await read_all(platform, ctx, "fetch_orders", since=None)
    assert [o.created_at for o in every] == sorted(o.created_at for o in every if o.created_at)
    since = datetime(2024, 1, 1, 6, tzinfo=UTC)
    recent = await read_all(platform, ctx, "fetch_orders", since=since)
    assert [o.id for o in recent] == [o.id for o in every[2:]]
    query = sent(ctx)[-1].url.params
    assert (query["queryFormat"], query["q"], query["sort"]) == (
        "SCIM",
        'submittedDate ge "2024-01-01T06:00:00.000Z"',
        "submittedDate:asc",
    )


async def test_the_order_date_property_is_configurable(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator, {"order_date_property": "lastModifiedDate"})
    await platform.fetch_orders(ctx, None, datetime(2030, 1, 1, tzinfo=UTC))
    assert sent(ctx)[-1].url.params["q"].startswith("lastModifiedDate ge ")


async def test_get_order_reads_one_order(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator)
    order = await platform.get_order(ctx, "o30002")
    assert order.id == "o30002"
    assert order.totals is not None
    assert order.totals.total.currency == "USD"
    with pytest.raises(NotFoundError):
        await platform.get_order(ctx, "o99999")


# --------------------------------------------------------------------------- orders


def draft(sim: OccSimulator, reference: str) -> OrderDraft:
    product = sim.catalog.product(7)
    return OrderDraft(
        reference=reference,
        lines=[OrderLine(product_id=product["id"], sku_id=product["childSKUs"][0]["repositoryId"], quantity=3)],
        shipping_address=Address(name="Ada Lovelace", line1="1 Main St", city="Springfield", country="US"),
        shipping_method_id="expressShippingMethod",
    )


async def test_an_order_is_created_on_the_agent_surface_and_found_by_reference(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator, {"agent_base_url": AGENT, "site_id": "siteUS"})
    assert await platform.find_order(ctx, "MKT-42") is None
    order = await platform.create_order(ctx, draft(simulator, "MKT-42"))
    assert order.reference == "MKT-42"
    assert order.state == "SUBMITTED"
    assert order.lines[0].quantity == 3
    assert order.totals is not None
    assert order.totals.shipping == Money(amount=Decimal("14.99"), currency="USD")
    create = next(r for r in sent(ctx) if r.method == "POST" and r.url.path == "/ccappagent/v1/orders")
    assert create.url.host == "www.example-store.com"
    stored = simulator.orders.get(order.id)
    assert stored is not None
    assert stored["x_storelink_reference"] == "MKT-42"
    assert stored["siteId"] == "siteUS"
    found = await platform.find_order(ctx, "MKT-42")
    assert found is not None
    assert found.id == order.id
    assert found.reference == "MKT-42"


async def test_the_reference_property_is_configurable(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    ctx = context_for(simulator, {"order_reference_property": "channelOrderId"})
    order = await platform.create_order(ctx, draft(simulator, "MKT-7"))
    stored = simulator.orders.get(order.id)
    assert stored is not None
    assert stored["channelOrderId"] == "MKT-7"
    found = await platform.find_order(ctx, "MKT-7")
    assert found is not None
    assert found.id == order.id


async def test_a_refused_order_carries_occs_message(
    platform: storelink.Platform, simulator: OccSimulator, context_for: ContextFactory
) -> None:
    bad = draft(simulator, "MKT-8")
    bad = OrderDraft(
        reference=bad.reference,
        lines=[OrderLine(product_id="prod100", sku_id="sku-gone", quantity=1)],
        shipping_address=bad.shipping_address,
        shipping_method_id=bad.shipping_method_id,
    )
    with pytest.raises(RejectedError, match="SKU Id sku-gone is invalid") as caught:
        await platform.create_order(context_for(simulator), bad)
    assert caught.value.code == "20032"
    assert len(simulator.orders) == 5
