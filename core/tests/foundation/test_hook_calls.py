"""Meta-test: every hookspec is called, with a real implementation, through the core's real machinery.

Quoting a hook's name in a test proves nothing, so this module runs real platforms
through the real hub, runtime and onboarding code and records which hook
implementations actually ran and returned. The OCC plugin (over its simulator)
answers the platform hooks of a key-form platform, the test OAuth platform of
``core/tests/connect`` answers the OAuth hooks, the WooCommerce plugin the approval
flow's, and a listener plugin answers the event hooks. A hookspec that no scenario
step reaches fails here by name: add the step that makes the core call it (and, for an
event hook, a ``@hookimpl`` on :class:`Listener`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

import storelink_occ.plugin
import storelink_woocommerce.plugin
from storelink import (
    Address,
    Connection,
    ConnectionStatus,
    NotFoundError,
    Order,
    OrderDraft,
    OrderLine,
    Payment,
    Registry,
    Secret,
    hookimpl,
)
from storelink import hookspecs as specs
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.onboarding import AuthorizationStates, check_callback, read_callback
from storelink.testing import FakeClock
from storelink.vault import KeyRing
from storelink_occ.simulator import OccSimulator, SimulatorConfig

from ..connect.oauth_platform import CLIENT_ID, CLIENT_SECRET, OAuthPlatform, OAuthShop

OCC_ORIGIN = "http://127.0.0.1:9"
OAUTH_ORIGIN = "https://acme.example.com"
CALLBACK = "https://connect.example.net/oauth/callback"
ORDERS_PATH = "/ccappagent/v1/orders"

#: Every hookspec the core declares: the marked functions of :mod:`storelink.hookspecs`.
SPECS = sorted(name for name in dir(specs) if hasattr(getattr(specs, name), f"{specs.PROJECT}_spec"))


def _recording(impl: Callable[..., Any], hook: str, ran: Counter[str]) -> Callable[..., Any]:
    """Wrap *impl* (keeping its hookimpl marker and signature) so each completed call counts."""
    if inspect.iscoroutinefunction(impl):

        @functools.wraps(impl)
        async def recorded_async(*args: Any, **kwargs: Any) -> Any:
            result = await impl(*args, **kwargs)
            ran[hook] += 1
            return result

        return recorded_async

    @functools.wraps(impl)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        result = impl(*args, **kwargs)
        ran[hook] += 1
        return result

    return recorded


class Spy:
    """Stands in for a platform plugin: its hookimpls, each counting in *ran* when it returns."""

    def __init__(self, plugin: object, ran: Counter[str]) -> None:
        for hook in SPECS:
            impl = getattr(plugin, hook, None)
            if impl is not None and hasattr(impl, f"{specs.PROJECT}_impl"):
                setattr(self, hook, _recording(impl, hook, ran))


class Listener:
    """A cross-cutting plugin that counts the events the core fires."""

    def __init__(self, ran: Counter[str]) -> None:
        self.ran = ran

    @hookimpl
    def connection_created(self, connection: Connection) -> None:
        self.ran["connection_created"] += 1

    @hookimpl
    def connection_status_changed(self, connection: Connection, old: ConnectionStatus, new: ConnectionStatus) -> None:
        self.ran["connection_status_changed"] += 1

    @hookimpl
    def token_refreshed(self, connection_id: str, renewed: bool) -> None:
        if renewed:  # a first login also fires it; count only a renewal
            self.ran["token_refreshed"] += 1

    @hookimpl
    def order_created(self, connection: Connection, order: Order) -> None:
        self.ran["order_created"] += 1


class LosesFirstOrderResponse(httpx.AsyncBaseTransport):
    """Forward to *inner*, but lose the response of the first order created (it is committed)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == ORDERS_PATH and not self.lost:
            self.lost += 1
            await response.aclose()
            raise httpx.ReadTimeout("the response was lost", request=request)
        return response


def _draft(sim: OccSimulator, shipping: str, reference: str) -> OrderDraft:
    product = sim.catalog.product(1)
    line = OrderLine(product_id=product["id"], sku_id=product["childSKUs"][0]["repositoryId"], quantity=1)
    return OrderDraft(
        reference=reference,
        lines=(line,),
        shipping_address=Address(name="Ada Lovelace", line1="1 Main St", city="Syracuse", region="NY", country="US"),
        shipping_method_id=shipping,
        payment=Payment(type="invoice", po_number="PO-1"),
    )


async def _drive_occ(registry: Registry, tmp: Path) -> None:
    """A key-form platform's life: connect, read everything, refresh, order, fail a lookup, remove."""
    sim = OccSimulator(SimulatorConfig(products=12, orders=3, seed=3, token_ttl=300.0))
    clock = FakeClock(start=0.0)
    transport = LosesFirstOrderResponse(httpx.ASGITransport(app=sim.app))
    async with await Hub.open(
        database=tmp / "occ.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        registry=registry,
        clock=clock,
        transports={OCC_ORIGIN: transport},
    ) as hub:
        # normalize_store_url, credentials_expire_at, authenticate, check_access, connection_created
        conn = await hub.connect("occ", store_url=OCC_ORIGIN, credentials=sim.issue_credentials(lifetime_days=30))
        async with hub.session(conn.id) as session:
            assert [p async for p in session.products()]
            orders = [o async for o in session.orders()]
            assert [i async for i in session.inventory()]
            shipping = (await session.shipping_methods())[0].id
            assert (await session.get_order(orders[0].id)).id == orders[0].id
            with pytest.raises(NotFoundError):  # the error body goes through describe_error
                await session.get_order("no-such-order")
            clock.advance(290.0)  # past the admin token's renewal point: the next read refreshes it
            assert [p async for p in session.products()]
            # The first order's response is lost after it was committed: the ledger finds it
            # by reference (find_order). The second one is answered (create_order returns).
            lost = await session.create_order(_draft(sim, shipping, "hooks-1"))
            made = await session.create_order(_draft(sim, shipping, "hooks-2"))
        assert transport.lost == 1
        assert (lost.order.reference, made.order.reference) == ("hooks-1", "hooks-2")
        await hub.remove(conn.id)  # connection_status_changed


async def _drive_oauth(registry: Registry, tmp: Path) -> None:
    """An OAuth platform's onboarding: authorization URL, callback check, code exchange."""
    shop = OAuthShop(OAUTH_ORIGIN)
    platform = registry.platform("oauthy")
    store = platform.normalize_store_url(OAUTH_ORIGIN)
    pending = AuthorizationStates().begin(platform, store, client_id=CLIENT_ID, redirect_uri=CALLBACK, browser="b1")
    query = httpx.URL(shop.approve(pending.authorization_url)).query.decode()
    params = read_callback(query)
    app = platform.info.oauth.app_credentials.parse(  # type: ignore[union-attr]
        {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}
    )
    check_callback(platform, pending, query=query, params=params, app=app, allow_loopback=False)
    async with await Hub.open(
        database=tmp / "oauth.db",
        keys=KeyRing.generate(),
        egress=EgressPolicy.for_tests(),
        registry=registry,
        clock=FakeClock(),
        transports={OAUTH_ORIGIN: httpx.MockTransport(shop.handle)},
    ) as hub:
        credentials = await hub.complete_authorization(
            "oauthy",
            store_url=store,
            params=params,
            app_credentials=app,
            redirect_uri=CALLBACK,
            code_verifier=pending.code_verifier,
        )
    assert credentials.secret("access_token").reveal() in shop.tokens


def _drive_approval(registry: Registry) -> None:
    """An approval flow's onboarding: approval URL, the platform's POST read, delivered, collected."""
    platform = registry.platform("woocommerce")
    store = platform.normalize_store_url("example.com/shop")
    states = AuthorizationStates()
    pending = states.begin(
        platform, store, client_id="Channel", redirect_uri=CALLBACK, browser="b1", callback_url=CALLBACK + "/post"
    )
    user_id = httpx.URL(pending.authorization_url).params["user_id"]
    body = {"user_id": user_id, "consumer_key": "ck_" + "1" * 40, "consumer_secret": "cs_" + "2" * 40}
    state, credentials = platform.receive_credentials(body, {})
    states.deliver("woocommerce", state, platform.info.credential_schema.parse(credentials))
    collected = states.collect(state, "b1")
    assert collected is not None
    assert collected.credentials is not None


def _run_scenarios(tmp: Path) -> Counter[str]:
    ran: Counter[str] = Counter()
    registry = Registry(autoload=False)
    registry.register_plugin(Listener(ran), name="listener")
    registry.register_platform(Spy(storelink_occ.plugin, ran), slug="occ")
    registry.register_platform(Spy(OAuthPlatform(), ran), slug="oauthy")
    registry.register_platform(Spy(storelink_woocommerce.plugin, ran), slug="woocommerce")
    asyncio.run(_drive_occ(registry, tmp))
    asyncio.run(_drive_oauth(registry, tmp))
    _drive_approval(registry)
    return ran


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    """How often each hook's implementation ran and returned, over every scenario."""
    return _run_scenarios(tmp_path_factory.mktemp("hooks"))


def test_the_hookspecs_are_found() -> None:
    """The spec list is read from the module's markers, so a new hookspec joins it unasked."""
    declared: Iterable[str] = (*specs.PLATFORM_HOOKS, *specs.EVENT_HOOKS)
    assert set(declared) <= set(SPECS)


@pytest.mark.parametrize("hook", SPECS)
def test_every_hook_is_called_with_a_real_implementation(hook: str, ran: Counter[str]) -> None:
    assert ran[hook] > 0, (
        f"no scenario in {Path(__file__).name} made the core call the hook {hook!r}: "
        "add a step that reaches it through the hub, the runtime or onboarding"
    )
