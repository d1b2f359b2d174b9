"""One connect flow served by two app instances on one store (two processes behind a load balancer).

Each instance has its own store object (its own database connections) on one SQLite
file or one PostgreSQL schema, and its own hub; they share only the database and the
key ring, as two ``storelink serve`` workers do. The browser's requests go to the
instances in turn, so every GET and the POST after it land on different processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import attrs
import httpx
import psycopg
import pytest

from storelink import Registry, Secret
from storelink.connect import ConnectSessions, create_app
from storelink.connect.security import CsrfTokens
from storelink.connect.stored import StoredAuthorizations, StoredSessions
from storelink.errors import ConfigurationError
from storelink.http import EgressPolicy
from storelink.hub import Hub
from storelink.onboarding import CallbackError, code_challenge
from storelink.store import ConnectionStore, open_store
from storelink.testing import FakeClock
from storelink.vault import KeyRing, Vault

from .oauth_platform import CLIENT_ID, CLIENT_SECRET, ORIGIN, OAuthPlatform, OAuthShop

PUBLIC = "https://connect.example.net"
APPS = {"oauthy": {"client_id": CLIENT_ID, "client_secret": Secret(CLIENT_SECRET)}}
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# --------------------------------------------------------------------------- databases


def _postgres_url() -> str:
    url = os.environ.get("STORELINK_TEST_POSTGRES_URL", "")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but STORELINK_TEST_POSTGRES_URL is not: scripts/services.sh must start PostgreSQL")
        pytest.skip("STORELINK_TEST_POSTGRES_URL is unset (scripts/services.sh starts PostgreSQL)")
    return url


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database shared by the two instances: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    async with await psycopg.AsyncConnection.connect(base, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        async with await psycopg.AsyncConnection.connect(base, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate("test1")


@pytest.fixture
async def stores(database: str) -> AsyncIterator[tuple[ConnectionStore, ConnectionStore]]:
    """Two store instances on the database, migrated: one per process."""
    async with open_store(database) as first, open_store(database) as second:
        await first.migrate()
        await second.migrate()
        yield first, second


@pytest.fixture
def shared_hub(hub: Any, registry: Registry) -> Callable[[ConnectionStore, Vault], Any]:
    """Return a factory of the fake hub of one process, with the store and vault a real hub has."""

    def make(store: ConnectionStore, vault: Vault) -> Any:
        made = type(hub)(registry)
        made.store = store
        made.vault = vault
        return made

    return make


def _state_hash(authorization_url: str) -> str:
    return hashlib.sha256(parse_qs(urlsplit(authorization_url).query)["state"][0].encode()).hexdigest()


# --------------------------------------------------------------------------- the balancer


class Balancer(httpx.AsyncBaseTransport):
    """Sends each request to the next app in turn (or to the one pinned), and records where each went."""

    def __init__(self, *apps: Any) -> None:
        self.transports = [httpx.ASGITransport(app=app) for app in apps]
        self.turn = 0
        self.pinned: int | None = None
        self.served: list[tuple[int, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self.pinned if self.pinned is not None else self.turn % len(self.transports)
        self.turn += 1
        self.served.append((index, request.method, request.url.path))
        return await self.transports[index].handle_async_request(request)

    def pin(self, index: int | None) -> None:
        self.pinned = index


def _browser(balancer: Balancer) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=balancer, base_url="http://testserver", follow_redirects=False)


@pytest.fixture
def pair(shared_hub: Any, stores: tuple[ConnectionStore, ConnectionStore], ring: KeyRing, kit: Any) -> Any:
    """Two app instances over hubs with the store and a vault: the default, shared registries."""
    hubs = [shared_hub(store, Vault(ring)) for store in stores]
    apps = [create_app(hub=hub, channels=[kit.CHANNEL], validate_timeout=5) for hub in hubs]
    return hubs, apps


@pytest.fixture
async def balanced(pair: Any) -> AsyncIterator[tuple[Balancer, httpx.AsyncClient]]:
    balancer = Balancer(*pair[1])
    async with _browser(balancer) as client:
        yield balancer, client


# --------------------------------------------------------------------------- the key flow


async def test_an_app_over_a_hub_with_a_store_shares_its_sessions_and_an_app_without_does_not(
    pair: Any, hub: Any, kit: Any
) -> None:
    _hubs, apps = pair
    service = apps[0].state.connect
    assert isinstance(service.sessions, StoredSessions)
    assert isinstance(service.authorizations, StoredAuthorizations)
    assert service.shared
    alone = create_app(hub=hub, channels=[kit.CHANNEL]).state.connect
    assert isinstance(alone.sessions, ConnectSessions)
    assert not alone.shared
    with pytest.raises(ConfigurationError, match="one process's memory"):
        create_app(hub=hub, channels=[kit.CHANNEL], require_shared=True)


async def test_requests_alternating_between_two_processes_walk_the_flow_to_the_channel(
    pair: Any, balanced: tuple[Balancer, httpx.AsyncClient], stores: Any, kit: Any
) -> None:
    balancer, client = balanced
    walker = kit.Walker(client)
    sid = await walker.to_credentials(state="chan-77")
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    assert done.response.status_code == 303, done.response.text
    location = urlsplit(done.location)
    assert done.location.startswith(kit.REDIRECTS[0] + "?")
    back = dict(parse_qsl(location.query))
    hubs, _apps = pair
    made = [c.id for h in hubs for c in h.connections]
    assert back == {"connection_id": made[0], "state": "chan-77"}
    assert len(made) == 1
    served = [index for index, _, _ in balancer.served]
    assert all(a != b for a, b in itertools.pairwise(served))
    steps = {(m, p): i for i, m, p in balancer.served}
    assert steps[("POST", "/api/connect-sessions")] != steps[("GET", f"/connect/{sid}")]
    assert steps[("GET", f"/connect/{sid}/store")] != steps[("POST", f"/connect/{sid}/store")]
    assert steps[("GET", f"/connect/{sid}/credentials")] != steps[("POST", f"/connect/{sid}/credentials")]
    row = await stores[1].get_connect_session(sid)
    assert row.connection_id == made[0]
    assert (row.platform, row.store_url) == ("shop", "https://shop.example.com")


async def test_a_ticket_used_on_one_process_is_refused_on_the_other(
    balanced: tuple[Balancer, httpx.AsyncClient], pair: Any, kit: Any
) -> None:
    balancer, client = balanced
    balancer.pin(0)
    started = await kit.Walker(client).start()
    assert (await client.get(started["url"])).status_code == 303
    balancer.pin(1)
    again = await client.get(started["url"])
    async with _browser(balancer) as stranger:
        elsewhere = await stranger.get(started["url"])
    assert again.status_code == elsewhere.status_code == 410
    assert "already been used" in again.text
    assert "location" not in elsewhere.headers


async def test_a_link_opened_at_once_on_both_processes_opens_for_one_browser(pair: Any, kit: Any, stores: Any) -> None:
    _hubs, apps = pair
    balancer = Balancer(*apps)
    async with _browser(balancer) as channel:
        started = await kit.Walker(channel).start()
    browsers = [_browser(balancer) for _ in range(8)]
    try:
        opened = await asyncio.gather(*(b.get(started["url"]) for b in browsers))
    finally:
        await asyncio.gather(*(b.aclose() for b in browsers))
    assert sorted(r.status_code for r in opened) == [303] + [410] * 7
    assert {index for index, _, _ in balancer.served[1:]} == {0, 1}


async def test_a_csrf_token_of_one_process_is_accepted_by_the_other_for_its_browser_and_session_only(
    balanced: tuple[Balancer, httpx.AsyncClient], kit: Any
) -> None:
    balancer, client = balanced
    walker = kit.Walker(client)
    sessions = []
    for _ in range(2):
        started = await walker.start()
        assert (await walker.open(started["url"])).status_code == 303
        sessions.append(started["id"])
    first, second = sessions
    balancer.pin(0)
    page = await walker.get(f"/connect/{first}/platform")
    balancer.pin(1)
    other_session = await walker.post(f"/connect/{second}/platform", {"platform": "mall"}, csrf=page.csrf)
    forged = await walker.post(f"/connect/{first}/platform", {"platform": "mall"}, csrf="made-up-token")
    chosen = await walker.post(f"/connect/{first}/platform", {"platform": "mall"}, csrf=page.csrf)
    assert (other_session.response.status_code, forged.response.status_code) == (403, 403)
    assert chosen.response.status_code == 303
    balancer.pin(0)
    assert "Mega Mall" in (await walker.get(f"/connect/{first}/store")).response.text


async def test_two_apps_with_random_csrf_keys_refuse_each_others_forms(
    shared_hub: Any, stores: Any, ring: KeyRing, kit: Any
) -> None:
    """Without a shared key (each process's own random one) a form posted to the other process fails."""
    hubs = [shared_hub(store, Vault(ring)) for store in stores]
    apps = [create_app(hub=h, channels=[kit.CHANNEL], csrf_key=os.urandom(32)) for h in hubs]
    balancer = Balancer(*apps)
    async with _browser(balancer) as client:
        walker = kit.Walker(client)
        started = await walker.start()
        await walker.open(started["url"])
        balancer.pin(0)
        page = await walker.get(f"/connect/{started['id']}/platform")
        balancer.pin(1)
        refused = await walker.post(f"/connect/{started['id']}/platform", {"platform": "shop"}, csrf=page.csrf)
    assert refused.response.status_code == 403


def test_csrf_tokens_keyed_from_the_ring_survive_a_rotation() -> None:
    ring = KeyRing.generate("k1")
    rotated = ring.with_new_key("k2", activate=True)
    before = CsrfTokens.from_keyring(ring).issue("browser", "sid")
    assert CsrfTokens.from_keyring(ring).check("browser", "sid", before)
    assert CsrfTokens.from_keyring(rotated).check("browser", "sid", before)
    assert CsrfTokens.from_keyring(rotated).issue("browser", "sid") != before
    assert not CsrfTokens.from_keyring(KeyRing.generate("k1")).check("browser", "sid", before)
    assert not CsrfTokens.from_keyring(ring).check("other-browser", "sid", before)


async def test_a_session_expires_for_every_process(
    shared_hub: Any, stores: Any, ring: KeyRing, kit: Any, clock: FakeClock
) -> None:
    channels = {kit.CHANNEL.id: kit.CHANNEL}
    apps = [
        create_app(
            hub=shared_hub(store, Vault(ring)),
            channels=[kit.CHANNEL],
            sessions=StoredSessions(store, channels=channels, clock=clock),
        )
        for store in stores
    ]
    balancer = Balancer(*apps)
    async with _browser(balancer) as client:
        walker = kit.Walker(client)
        sid = await walker.to_credentials()
        unopened = await walker.start()
        clock.now += 599
        balancer.pin(1)
        assert (await walker.get(f"/connect/{sid}/credentials")).response.status_code == 200
        clock.now += 1
        for index in (0, 1):
            balancer.pin(index)
            page = await walker.get(f"/connect/{sid}/credentials")
            assert page.response.status_code == 410
            assert "expired" in page.response.text
            assert (await client.get(unopened["url"])).status_code == 410


async def test_a_double_submit_on_two_processes_checks_once_and_both_land_on_the_channel(
    pair: Any, balanced: tuple[Balancer, httpx.AsyncClient], kit: Any
) -> None:
    hubs, _apps = pair
    balancer, client = balanced
    walker = kit.Walker(client)
    sid = await walker.to_credentials()
    page = await walker.get(f"/connect/{sid}/credentials")
    form = {"credential.api_key": kit.SLOW_KEY, "csrf_token": page.csrf}
    balancer.pin(0)
    first = asyncio.create_task(client.post(f"/connect/{sid}/credentials", data=form))
    await asyncio.wait_for(hubs[0].entered.wait(), 5)
    balancer.pin(1)
    second = asyncio.create_task(client.post(f"/connect/{sid}/credentials", data=form))
    await asyncio.sleep(0.5)
    assert not second.done()  # the second process waits for the first one's check
    # The slow key's check ends as a good one would: make it connect.
    hubs[0].release.set()
    hubs[0].entered.clear()
    one, two = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert hubs[0].validations == 1
    assert hubs[1].validations == 0
    assert one.status_code == two.status_code == 303
    assert one.headers["location"] == two.headers["location"]


async def test_a_check_that_failed_on_one_process_can_be_retried_on_the_other(
    pair: Any, balanced: tuple[Balancer, httpx.AsyncClient], kit: Any
) -> None:
    hubs, _apps = pair
    balancer, client = balanced
    walker = kit.Walker(client)
    sid = await walker.to_credentials()
    balancer.pin(0)
    refused = await walker.submit_key(sid, kit.REJECTED_KEY)
    assert refused.response.status_code == 422
    balancer.pin(1)
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    assert done.response.status_code == 303
    assert f"connection_id={hubs[1].connections[0].id}" in done.location


# --------------------------------------------------------------------------- OAuth


@pytest.fixture
def oauth_shop() -> OAuthShop:
    return OAuthShop()


@pytest.fixture
async def oauth_pair(
    registry: Registry, database: str, ring: KeyRing, kit: Any, oauth_shop: OAuthShop
) -> AsyncIterator[tuple[list[Hub], Balancer]]:
    registry.register_platform(OAuthPlatform(), slug="oauthy")
    hubs = [
        await Hub.open(
            database=database,
            keys=ring,
            egress=EgressPolicy.default(),
            registry=registry,
            transports={ORIGIN: httpx.MockTransport(oauth_shop.handle)},
        )
        for _ in range(2)
    ]
    try:
        apps = [create_app(hub=h, channels=[kit.CHANNEL], public_url=PUBLIC, apps=APPS) for h in hubs]
        yield hubs, Balancer(*apps)
    finally:
        for h in hubs:
            await h.close()


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


async def _to_platform(client: httpx.AsyncClient, kit: Any, balancer: Balancer) -> str:
    """Start an OAuth session, enter the store and press Continue; return the authorization URL."""
    started = await client.post(
        "/api/connect-sessions",
        json={"redirect_uri": kit.REDIRECTS[0], "state": "chan-oauth", "platform": "oauthy"},
        headers={"authorization": f"Bearer {kit.API_TOKEN}"},
    )
    sid = started.json()["id"]
    link = urlsplit(started.json()["url"])
    assert (await client.get(f"{link.path}?{link.query}")).status_code == 303
    page = await client.get(f"/connect/{sid}/store")
    stored = await client.post(
        f"/connect/{sid}/store", data={"store_url": "acme.example.com", "csrf_token": _csrf(page)}
    )
    assert stored.status_code == 303, stored.text
    balancer.pin(0)
    page = await client.get(f"/connect/{sid}/authorize")
    sent = await client.post(f"/connect/{sid}/authorize", data={"csrf_token": _csrf(page)})
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


async def test_an_authorization_begun_on_one_process_completes_on_the_other(
    oauth_pair: tuple[list[Hub], Balancer], oauth_shop: OAuthShop, kit: Any
) -> None:
    hubs, balancer = oauth_pair
    async with _browser(balancer) as client:
        url = await _to_platform(client, kit, balancer)
        state = parse_qs(urlsplit(url).query)["state"][0]
        challenge = parse_qs(urlsplit(url).query)["code_challenge"][0]
        row = await hubs[1].store.get_authorization(_state_hash(url))
        assert row is not None
        callback = urlsplit(oauth_shop.approve(url))
        balancer.pin(1)
        returned = await client.get(f"{callback.path}?{callback.query}")
        assert returned.status_code == 303, returned.text
        back = dict(parse_qsl(urlsplit(returned.headers["location"]).query))
        (conn,) = await hubs[0].connections()
        assert back == {"connection_id": conn.id, "state": "chan-oauth"}
        (exchange,) = oauth_shop.exchanges
        verifier = exchange["code_verifier"]
        assert code_challenge(Secret(verifier)) == challenge
        # Only the state's hash and a sealed verifier were ever stored.
        assert row.code_verifier is not None
        assert verifier not in row.code_verifier
        assert state not in repr(row)
        assert state not in row.authorization_origin
        balancer.pin(0)
        replay = await client.get(f"{callback.path}?{callback.query}")
        assert replay.status_code == 410
        assert "already been used" in replay.text


async def test_a_verifier_moved_to_another_state_does_not_open(
    oauth_pair: tuple[list[Hub], Balancer], kit: Any
) -> None:
    """A sealed verifier is bound to its state's hash: copied to another row, it fails to open."""
    hubs, balancer = oauth_pair
    async with _browser(balancer) as client, _browser(balancer) as second:
        urls = [await _to_platform(client, kit, balancer), await _to_platform(second, kit, balancer)]
    rows = [await hubs[0].store.get_authorization(_state_hash(url)) for url in urls]
    assert rows[0] is not None
    assert rows[1] is not None
    assert rows[1].code_verifier is not None
    registry = StoredAuthorizations(hubs[1].store, hubs[1].vault)
    assert rows[0].code_verifier is not None
    assert registry._open(rows[0], rows[0].code_verifier).reveal()
    moved = attrs.evolve(rows[0], code_verifier=rows[1].code_verifier)
    with pytest.raises(CallbackError, match="not one we started"):
        registry._open(moved, rows[1].code_verifier)
