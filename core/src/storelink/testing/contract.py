"""The platform contract suite: the base class a plugin's tests subclass.

A plugin's contract test is a subclass named ``Test...`` that overrides fixtures::

    class TestShopifyContract(PlatformContract):
        @pytest.fixture
        def platform_slug(self) -> str:
            return "shopify"

        @pytest.fixture
        def simulator(self, contract_clock: FakeClock) -> ShopifySimulator:
            return ShopifySimulator(clock=contract_clock.monotonic)

        @pytest.fixture
        def url_cases(self) -> list[UrlCase]:
            return [UrlCase("Shop.Example.com/admin", "https://shop.example.com"), UrlCase("ftp://x", None)]

        @pytest.fixture
        def sample_drafts(self) -> list[OrderDraft]: ...

Fixtures to override (``platform_slug`` and ``url_cases`` always; the others as the
platform needs):

- ``platform_slug``: the entry-point name; the plugin is loaded through the registry.
- ``simulator``: a :class:`storelink.simulation.Simulator` (an ASGI ``.app``,
  ``issue_credentials()``, ``revoke_credentials(credentials)``), a fresh one per test. From it come the
  defaults of ``transport``, ``credentials`` and ``invalid_credentials``.
- ``transport``: an ``httpx.AsyncBaseTransport`` to the test store, if there is no
  simulator (a live store while recording).
- ``credentials`` / ``invalid_credentials``: credential values the platform accepts,
  and well-formed ones it rejects.
- ``store_url`` (default: ``PlatformInfo.store_url_example``) and ``store_settings``.
- ``url_cases``: :class:`~storelink.testing.UrlCase` golden cases.
- ``sample_drafts``: orders to create (required with ``Capability.CREATE_ORDERS``).
- ``expected_counts``: records the test store holds per list hook, when known.
- ``recordings``: a directory of recordings. With ``pytest --storelink-record`` each
  test runs against ``transport`` and writes its scrubbed exchanges there; without
  it, each test replays its recording and ``transport`` is not used.
- ``oauth_app`` / ``oauth_approve`` / ``redirect_uri``: for a platform that declares
  ``PlatformInfo.oauth``, the channel's app credentials, the merchant's approve step
  (authorization URL in, callback URL out) and the channel's redirect URI. The first
  two default to the simulator's ``app_credentials()`` and ``approve(url)``
  (:class:`~storelink.testing.oauth.OAuthSimulator`).

Class attributes tune the suite: ``url_examples`` (generated addresses per property),
``max_pages`` (a walk longer than this is taken for a loop) and
``deduplicates_references`` (``False`` if the platform itself cannot refuse a repeated
order reference; the core's order ledger then is the only guard).

A test whose capability the platform does not declare is skipped, saying so; so are
the OAuth rules (``test_oauth_*``) for a platform onboarded with its credential form.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from storelink.models import Capability, OrderDraft
from storelink.plugins import Platform, Registry
from storelink.simulation import Simulator
from storelink.testing import checks, live, oauth, reads
from storelink.testing.checks import UrlCase
from storelink.testing.fakes import FakeClock
from storelink.testing.harness import Harness
from storelink.testing.oauth import OAuthRun, OAuthSimulator
from storelink.testing.properties import check_url_properties
from storelink.testing.recording import Recorder, ReplayTransport

__all__ = ["PlatformContract"]

T = TypeVar("T")
_RECORD_OPTION = "--storelink-record"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _needs(platform: Platform, capability: Capability) -> None:
    if capability not in platform.info.capabilities:
        pytest.skip(f"the platform does not declare Capability.{capability.name}")


def _oauth_simulator(simulator: object) -> OAuthSimulator:
    if not isinstance(simulator, OAuthSimulator):
        pytest.fail(
            "the OAuth rules need the platform's approve step: give the simulator app_credentials() and "
            "approve(authorization_url) -> callback URL (storelink.testing.oauth.OAuthSimulator), or override "
            "the oauth_app and oauth_approve fixtures"
        )
    return simulator


class PlatformContract:
    """The contract every storelink platform plugin passes; subclass it as ``Test<Platform>Contract``."""

    url_examples = 100
    max_pages = 1000
    deduplicates_references = True

    # ------------------------------------------------------------------ fixtures to override

    @pytest.fixture
    def platform_slug(self) -> str:
        """Return the platform's slug (its ``storelink.platforms`` entry-point name)."""
        pytest.fail("override the platform_slug fixture with your platform's slug")

    @pytest.fixture
    def simulator(self) -> Simulator | None:
        """Return a fresh simulator of the platform, or ``None`` when ``transport`` and the credentials are given."""
        return None

    @pytest.fixture
    def transport(self, simulator: Simulator | None) -> httpx.AsyncBaseTransport:
        """Return the transport to the test store (default: the simulator's app, in-process)."""
        if simulator is None:
            pytest.fail("override the simulator fixture, or the transport and credentials fixtures")
        return httpx.ASGITransport(app=simulator.app)

    @pytest.fixture
    def credentials(self, simulator: Simulator | None) -> Mapping[str, str]:
        """Return credential values the test store accepts (default: issued by the simulator)."""
        if simulator is None:
            pytest.fail("override the credentials fixture (there is no simulator to issue them)")
        return simulator.issue_credentials()

    @pytest.fixture
    def invalid_credentials(self, simulator: Simulator | None) -> Mapping[str, str]:
        """Return well-formed credential values the test store rejects (default: issued, then revoked)."""
        if simulator is None:
            pytest.fail("override the invalid_credentials fixture (there is no simulator to revoke them)")
        values = simulator.issue_credentials()
        simulator.revoke_credentials(values)
        return values

    @pytest.fixture
    def store_url(self, contract_platform: Platform) -> str:
        """Return the test store's address (default: the platform's ``store_url_example``)."""
        return contract_platform.info.store_url_example

    @pytest.fixture
    def store_settings(self) -> Mapping[str, str]:
        """Return the test connection's settings."""
        return {}

    @pytest.fixture
    def url_cases(self) -> Sequence[UrlCase]:
        """Return golden store addresses: what merchants type, and what the normaliser must make of it."""
        pytest.fail("override the url_cases fixture with golden UrlCase values, accepted and refused")

    @pytest.fixture
    def sample_drafts(self) -> Sequence[OrderDraft]:
        """Return orders the test store can create (their SKUs exist there)."""
        return ()

    @pytest.fixture
    def expected_counts(self) -> Mapping[str, int]:
        """Return how many records each list hook should return from the test store, when the test knows."""
        return {}

    @pytest.fixture
    def recordings(self) -> Path | None:
        """Return a directory of recordings to replay (or to write with ``--storelink-record``)."""
        return None

    @pytest.fixture
    def oauth_app(self, simulator: Simulator | None) -> Mapping[str, str]:
        """Return the channel's app credentials on the test platform (default: the simulator's)."""
        return _oauth_simulator(simulator).app_credentials()

    @pytest.fixture
    def oauth_approve(self, simulator: Simulator | None) -> Callable[[str], str]:
        """Return the merchant's approve step: authorization URL in, callback URL out (default: the simulator's)."""
        return _oauth_simulator(simulator).approve

    @pytest.fixture
    def redirect_uri(self) -> str:
        """Return the channel's redirect URI, sent in the authorization URL and the code exchange."""
        return oauth.REDIRECT_URI

    # ------------------------------------------------------------------ the kit's fixtures

    @pytest.fixture
    def contract_clock(self) -> FakeClock:
        """Return the core's clock in this test; pass ``.monotonic`` to a simulator to share it."""
        return FakeClock()

    @pytest.fixture
    def contract_platform(self, platform_slug: str) -> Platform:
        """Return the plugin, loaded from its entry point by a fresh registry."""
        return Registry(autoload=True).platform(platform_slug)

    @pytest.fixture
    def contract(
        self,
        request: pytest.FixtureRequest,
        contract_platform: Platform,
        contract_clock: FakeClock,
        store_url: str,
        store_settings: Mapping[str, str],
        credentials: Mapping[str, str],
        invalid_credentials: Mapping[str, str],
        recordings: Path | None,
    ) -> Iterator[Harness]:
        """Yield the harness of this test: runtimes over the test store's transport."""
        schema = contract_platform.info.credential_schema
        record = bool(request.config.getoption(_RECORD_OPTION, default=False))
        target: httpx.AsyncBaseTransport
        recorder: Recorder | None = None
        if recordings is None:
            target = request.getfixturevalue("transport")
        else:
            path = Path(recordings) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.json"
            if record:
                target = recorder = Recorder(request.getfixturevalue("transport"), path)
            elif path.is_file():
                target = ReplayTransport.load(path)
            else:
                pytest.fail(f"no recording {path}; record it with `pytest {_RECORD_OPTION}` against a test store")
        harness = Harness(
            platform=contract_platform,
            transport=target,
            store_url=contract_platform.normalize_store_url(store_url, allow_loopback=True),
            credentials=schema.parse(credentials),
            invalid_credentials=schema.parse(invalid_credentials),
            settings=store_settings,
            clock=contract_clock,
        )
        yield harness
        if recorder is not None:
            recorder.save()
        _run(target.aclose())

    @pytest.fixture
    def oauth_contract(
        self, request: pytest.FixtureRequest, contract_platform: Platform, recordings: Path | None
    ) -> OAuthRun:
        """Return the OAuth rules' run: the harness, the app, the approve step (skips a platform without OAuth)."""
        flow = contract_platform.info.oauth
        if flow is None:
            pytest.skip("the platform declares no OAuth flow (PlatformInfo.oauth is None): it onboards with its form")
        if recordings is not None:
            pytest.skip("the OAuth rules play the platform's approve step on a simulator, not on recordings")
        harness: Harness = request.getfixturevalue("contract")
        values: Mapping[str, str] = request.getfixturevalue("oauth_app")
        app = flow.app_credentials.parse(values)
        approve: Callable[[str], str] = request.getfixturevalue("oauth_approve")
        return OAuthRun(harness=harness, app=app, approve=approve, redirect_uri=request.getfixturevalue("redirect_uri"))

    # ------------------------------------------------------------------ pure rules

    def test_platform_info_is_valid(self, contract_platform: Platform, platform_slug: str) -> None:
        """platform_info() is valid, its slug is the entry point's, its schemas render to JSON Schema."""
        checks.check_platform_info(contract_platform, platform_slug)

    def test_capabilities_match_hooks(self, contract_platform: Platform) -> None:
        """Every declared capability has its hooks, and every implemented hook its capability."""
        checks.check_capabilities(contract_platform)

    def test_store_url_golden_cases(self, contract_platform: Platform, url_cases: Sequence[UrlCase]) -> None:
        """The normaliser makes of each golden case what the plugin says, idempotently."""
        checks.check_url_cases(contract_platform, url_cases)

    def test_store_url_properties(self, contract_platform: Platform, url_cases: Sequence[UrlCase]) -> None:
        """Pasted forms of accepted stores normalise to them; any text is refused cleanly or normalises idempotently."""
        check_url_properties(contract_platform, url_cases, self.url_examples)

    # ------------------------------------------------------------------ auth and errors

    def test_authenticate_succeeds(self, contract: Harness) -> None:
        """The valid credentials give a valid token for every audience."""
        _run(live.check_authenticate(contract))

    def test_invalid_key_raises_credentials_error(self, contract: Harness) -> None:
        """Credentials the platform rejects raise CredentialsError."""
        _run(live.check_invalid_credentials(contract))

    def test_check_access_reports_every_capability(self, contract: Harness) -> None:
        """check_access probes every declared capability and allows them to the test key."""
        _run(live.check_access_report(contract))

    def test_token_expiry_and_refresh(self, contract: Harness) -> None:
        """Requests near and past a token's expiry succeed through the core's token manager."""
        _run(live.check_token_refresh(contract))

    def test_reauthenticates_once_on_401(self, contract: Harness) -> None:
        """A 401 to a held token means one new login and a resend; a repeated 401 is AuthorizationError."""
        _run(live.check_reauthenticates_on_401(contract))

    def test_malformed_responses_raise_storelink_errors(
        self, contract: Harness, sample_drafts: Sequence[OrderDraft]
    ) -> None:
        """Payloads of the wrong shape raise storelink errors (MappingError), never KeyError or TypeError."""
        _run(live.check_malformed_responses(contract, sample_drafts))

    def test_errors_propagate(self, contract: Harness, sample_drafts: Sequence[OrderDraft]) -> None:
        """No hook turns a platform outage into a result."""
        _run(live.check_errors_propagate(contract, sample_drafts))

    def test_no_secret_in_logs_or_errors(self, contract: Harness, sample_drafts: Sequence[OrderDraft]) -> None:
        """No credential or token appears in any log record or error, on success or failure."""
        _run(live.check_no_secret_leaks(contract, sample_drafts))

    # ------------------------------------------------------------------ OAuth onboarding

    def test_oauth_authorization_url(self, oauth_contract: OAuthRun) -> None:
        """The authorization URL is absolute https, carries the state, exact redirect URI and scopes, and no secret."""
        oauth.check_authorization_url(oauth_contract)

    def test_oauth_callback_verification(self, oauth_contract: OAuthRun) -> None:
        """verify_callback accepts the genuine callback and refuses one tampered, extended, stripped or repeated."""
        if not oauth_contract.harness.platform.implements("verify_callback"):
            pytest.skip("the platform does not implement verify_callback: only the core's callback checks apply")
        oauth.check_callback_verification(oauth_contract)

    def test_oauth_code_exchange(self, oauth_contract: OAuthRun) -> None:
        """A genuine code gives credentials that authenticate; a used code or a wrong client secret is refused."""
        _run(oauth.check_code_exchange(oauth_contract))

    def test_oauth_no_secret_in_logs_or_errors(self, oauth_contract: OAuthRun) -> None:
        """No client secret, code, verifier or token appears in a log, an error or a repr during onboarding."""
        _run(oauth.check_no_oauth_leaks(oauth_contract))

    # ------------------------------------------------------------------ reads

    @pytest.mark.parametrize(
        ("hook", "capability"),
        [
            ("fetch_products", Capability.PRODUCTS),
            ("fetch_orders", Capability.ORDERS),
            ("fetch_inventory", Capability.INVENTORY),
        ],
    )
    def test_list_pages_to_the_end(
        self, contract: Harness, expected_counts: Mapping[str, int], hook: str, capability: Capability
    ) -> None:
        """The list hook pages to the end through the core's loop, each record once, each page valid."""
        _needs(contract.platform, capability)
        _run(reads.walk(contract, hook, max_pages=self.max_pages, expected=expected_counts.get(hook)))

    @pytest.mark.parametrize(
        ("hook", "capability"),
        [
            ("fetch_products", Capability.PRODUCTS),
            ("fetch_orders", Capability.ORDERS),
            ("fetch_inventory", Capability.INVENTORY),
        ],
    )
    def test_list_resumes_from_a_stored_cursor(self, contract: Harness, hook: str, capability: Capability) -> None:
        """Every cursor survives its text form, and a walk resumed from a middle one yields exactly the rest."""
        _needs(contract.platform, capability)
        if not _run(reads.check_resume(contract, hook, max_pages=self.max_pages)):
            pytest.skip(f"{hook} returned one page from the test store: seed more records to check resuming")

    def test_fetch_orders_since(self, contract: Harness) -> None:
        """fetch_orders(since=...) returns exactly the orders changed at or after since."""
        _needs(contract.platform, Capability.ORDERS)
        _run(reads.check_orders_since(contract, max_pages=self.max_pages))

    def test_get_order(self, contract: Harness) -> None:
        """get_order returns a listed order by id, and NotFoundError for an unknown id."""
        _needs(contract.platform, Capability.ORDERS)
        _run(reads.check_get_order(contract, max_pages=self.max_pages))

    def test_fetch_inventory_by_sku(self, contract: Harness) -> None:
        """fetch_inventory(sku_ids=...) returns the levels of those SKUs only."""
        _needs(contract.platform, Capability.INVENTORY)
        _run(reads.check_inventory_by_sku(contract, max_pages=self.max_pages))

    def test_shipping_methods(self, contract: Harness) -> None:
        """fetch_shipping_methods returns valid methods with distinct ids."""
        _needs(contract.platform, Capability.SHIPPING_METHODS)
        _run(reads.check_shipping_methods(contract))

    def test_create_order_then_find_it(self, contract: Harness, sample_drafts: Sequence[OrderDraft]) -> None:
        """create_order keeps the reference, find_order finds it, and a reference makes one order."""
        _needs(contract.platform, Capability.CREATE_ORDERS)
        _run(reads.check_create_order(contract, sample_drafts, repeat=self.deduplicates_references))
