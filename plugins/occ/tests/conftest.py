"""Fixtures of the OCC plugin's tests: the registered platform, simulators, contexts.

The contexts are the core's own: ``context_for`` and ``mock_context_for`` build a
:class:`storelink.ConnectionRuntime` (:func:`storelink.testing.runtime_for`, one
attempt per call, a fake clock) over a simulator or a mock transport, so the hooks
meet the real token handling and error mapping; :func:`sent` lists what they sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import storelink
import storelink_occ.plugin
from storelink import ConnectionRuntime, PlatformContext, StoreURL
from storelink.testing import RecordingTransport, runtime_for
from storelink_occ.simulator import OccSimulator, SimulatorConfig

FIXTURES = Path(__file__).parent / "fixtures"
STORE = StoreURL(origin="https://ccadmin-test.oracleoutsourcing.com")
SYNTHETIC_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


def load_fixture(name: str) -> Any:
    """Return JSON fixture *name* (without ``.json``) as the plugin reads bodies: fractions as Decimal."""
    return json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal)


#: The recording transport behind each context the fixtures built, by ``id(ctx.http)``.
_RECORDERS: dict[int, RecordingTransport] = {}


def sent(ctx: PlatformContext) -> list[httpx.Request]:
    """Return every request the runtime behind *ctx* sent, logins included, in order."""
    return _RECORDERS[id(ctx.http)].requests


ContextFactory = Callable[..., PlatformContext]


@pytest.fixture
def fixture() -> Callable[[str], Any]:
    """Load a JSON fixture from ``fixtures/`` by name."""
    return load_fixture


@pytest.fixture
def fixture_response() -> Callable[[str], httpx.Response]:
    """Return a fixture as an HTTP 200 response with its exact bytes."""
    return lambda name: httpx.Response(
        200, content=(FIXTURES / f"{name}.json").read_bytes(), headers={"content-type": "application/json"}
    )


@pytest.fixture
def platform() -> storelink.Platform:
    """The OCC platform, registered in-process."""
    return storelink.Registry(autoload=False).register_platform(storelink_occ.plugin)


@pytest.fixture
def simulator() -> OccSimulator:
    """A small simulator with a few historical orders."""
    return OccSimulator(SimulatorConfig(products=600, orders=5))


@pytest.fixture
async def context_for(platform: storelink.Platform) -> AsyncIterator[ContextFactory]:
    """Build a context on the core's runtime (one attempt per call) over a simulator, in-process."""
    runtimes: list[ConnectionRuntime] = []

    def build(
        sim: OccSimulator, settings: Mapping[str, str] | None = None, credentials: Mapping[str, str] | None = None
    ) -> PlatformContext:
        return _context(
            platform, runtimes, httpx.ASGITransport(sim.app), credentials or sim.issue_credentials(), settings
        )

    yield build
    await _close(runtimes)


@pytest.fixture
async def mock_context_for(platform: storelink.Platform) -> AsyncIterator[Callable[..., PlatformContext]]:
    """Build a context on the core's runtime (one attempt per call) over an :class:`httpx.MockTransport`."""
    runtimes: list[ConnectionRuntime] = []

    def build(handler: Callable[[httpx.Request], httpx.Response]) -> PlatformContext:
        return _context(platform, runtimes, httpx.MockTransport(handler), {"application_key": SYNTHETIC_KEY}, None)

    yield build
    await _close(runtimes)


def _context(
    platform: storelink.Platform,
    runtimes: list[ConnectionRuntime],
    transport: httpx.AsyncBaseTransport,
    credentials: Mapping[str, str],
    settings: Mapping[str, str] | None,
) -> PlatformContext:
    recorder = RecordingTransport(transport)
    runtime = runtime_for(
        platform, recorder, credentials=credentials, store_url=STORE, settings=settings, connection_id="c1"
    )
    runtimes.append(runtime)
    _RECORDERS[id(runtime)] = recorder
    return runtime.ctx


async def _close(runtimes: list[ConnectionRuntime]) -> None:
    for runtime in runtimes:
        _RECORDERS.pop(id(runtime), None)
        await runtime.aclose()
