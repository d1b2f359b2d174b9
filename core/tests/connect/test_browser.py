"""The connect flow in headless Chromium, against a served app, a real hub and the OCC simulator.

The app is what ``storelink serve`` runs (:func:`storelink.connect.serving_app`: it opens
a hub on a temporary SQLite store at start-up), served by uvicorn on loopback; the OCC
simulator and a stand-in channel site run on loopback too. Chromium is Debian's
(``STORELINK_CHROMIUM``, installed by ``scripts/services.sh``); without it the tests
skip, except under CI, where they fail. Each step's screenshot is saved under
``$STORELINK_ARTIFACTS`` (default ``artifacts/screenshots``). The servers, the browser,
the channel site and the screenshots (the ``page_recorder`` fixture) are
:mod:`storelink.testing.browser`'s.
"""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from storelink.connect import serving_app
from storelink.http import EgressPolicy
from storelink.simulation import load, serve_in_thread
from storelink.store import open_store
from storelink.testing import ChannelSite, PageRecorder, run_async, serve_app

pytestmark = pytest.mark.browser

CANARY = f"CANARY-{uuid.uuid4()}"
FORGED_KEY = f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.{CANARY}"


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[Any, str]]:
    sim = load("occ")(products=20)
    with serve_in_thread(sim.app) as url:
        yield sim, url


@pytest.fixture(scope="module")
def channel_site() -> Iterator[ChannelSite]:
    with ChannelSite().serve() as site:
        yield site


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("connect") / "storelink.db"


def _hub_options(database: Path) -> dict[str, Any]:
    return {"database": database, "keys": database.with_name("keys"), "egress": EgressPolicy.for_tests()}


@pytest.fixture(scope="module")
def connect_url(channel_site: ChannelSite, database: Path) -> Iterator[str]:
    channel = channel_site.channel
    with serve_app(lambda port: serving_app(port=port, channels=[channel], **_hub_options(database))) as url:
        yield url


@pytest.fixture(scope="module")
def dev_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("connect-dev") / "storelink.db"


@pytest.fixture(scope="module")
def dev_url(dev_database: Path) -> Iterator[str]:
    with serve_app(lambda port: serving_app(port=port, **_hub_options(dev_database))) as url:
        yield url


@pytest.fixture(autouse=True)
def _logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every record at DEBUG, uvicorn's access log (which does not propagate) included."""
    caplog.set_level(logging.DEBUG)
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)  # each uvicorn.Config (the simulator's too) resets it
    access.addHandler(caplog.handler)
    yield
    access.removeHandler(caplog.handler)
    access.setLevel(level)


# --------------------------------------------------------------------------- helpers


def _choose_occ(page: Any) -> None:
    """Answer the platform step, which opens the flow when more than one platform is installed."""
    if page.url.endswith("/platform"):
        page.get_by_label("Oracle Commerce Cloud").check()
        page.get_by_role("button", name="Next").click()
        page.wait_for_url(re.compile(r"/store$"))


def _to_credentials(rec: PageRecorder, connect_url: str, site: ChannelSite, store_url: str, state: str = "s") -> None:
    page = rec.page
    page.goto(site.start_session(connect_url, state=state))
    _choose_occ(page)
    assert page.url.endswith("/store")
    rec.shot("store-url")
    page.get_by_label("Store URL").fill(store_url)
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/credentials$"))
    rec.shot("credentials")


def _assert_not_leaked(secret: str, rec: PageRecorder, caplog: pytest.LogCaptureFixture) -> None:
    leaks = rec.leaks(secret, caplog.text, *(r.getMessage() for r in caplog.records))
    assert leaks == [], "the key leaked into a URL, header, page or log record"


def _stored(database: Path, connection_id: str) -> Any:
    async def read() -> Any:
        store = open_store(database)
        try:
            return await store.get_connection(connection_id)
        finally:
            await store.close()

    # Playwright's sync API runs an event loop in this thread: read from another one.
    return run_async(read())


# --------------------------------------------------------------------------- tests


def test_happy_path_ends_on_the_channel_with_the_connection_id_and_state(
    page_recorder: PageRecorder,
    connect_url: str,
    channel_site: ChannelSite,
    simulator: Any,
    database: Path,
    caplog: Any,
) -> None:
    sim, occ_url = simulator
    channel_url, received = channel_site.url, channel_site.received
    page = page_recorder.page
    state = f"acme-{uuid.uuid4().hex}"
    _to_credentials(page_recorder, connect_url, channel_site, f"  {occ_url.upper()}/occs-admin/  ", state)
    assert page.locator("#store-url").inner_text() == occ_url
    assert page.get_by_role("heading", name="Get your key").is_visible()
    assert page.evaluate("document.activeElement.id") == "credential-application_key"
    key_field = page.get_by_label("Application Key")
    assert key_field.get_attribute("type") == "password"
    key = sim.issue_credentials()["application_key"]
    key_field.fill(key)
    page_recorder.shot("key-entered")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(f"{channel_url}/storelink/callback?*")
    page_recorder.shot("channel")
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == [state]
    (connection_id,) = query["connection_id"]
    assert received[-1] == {"connection_id": connection_id, "state": state}
    stored = _stored(database, connection_id)
    assert stored is not None
    assert str(stored.store_url) == occ_url
    assert stored.status.value == "active"
    assert set(page_recorder.referers) == {""}, "a page sent a Referer"
    assert "/connect/" in caplog.text, "uvicorn's access log was not captured"
    _assert_not_leaked(key, page_recorder, caplog)


def test_a_wrong_key_shows_the_error_and_keeps_the_url(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, simulator: Any, caplog: Any
) -> None:
    sim, occ_url = simulator
    page = page_recorder.page
    _to_credentials(page_recorder, connect_url, channel_site, occ_url)
    page.get_by_label("Application Key").fill(FORGED_KEY)
    page.get_by_role("button", name="Connect").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    page_recorder.shot("rejected")
    assert "Oracle Commerce Cloud rejected this key." in alert.inner_text()
    assert page.locator("#store-url").inner_text() == occ_url
    key_field = page.get_by_label("Application Key")
    assert key_field.input_value() == ""
    assert key_field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "credential-application_key"
    _assert_not_leaked(FORGED_KEY, page_recorder, caplog)
    _assert_not_leaked(CANARY, page_recorder, caplog)
    key_field.fill(sim.issue_credentials()["application_key"])
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(f"{channel_site.url}/storelink/callback?*")
    page_recorder.shot("retried")


def test_a_revoked_key_is_rejected(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, simulator: Any, caplog: Any
) -> None:
    sim, occ_url = simulator
    credentials = sim.issue_credentials()
    sim.revoke_credentials(credentials)
    page = page_recorder.page
    _to_credentials(page_recorder, connect_url, channel_site, occ_url)
    page.get_by_label("Application Key").fill(credentials["application_key"])
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("alert").wait_for()
    page_recorder.shot("revoked")
    assert "rejected this key" in page.get_by_role("alert").inner_text()
    assert "revoked" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Application Key").input_value() == ""
    _assert_not_leaked(credentials["application_key"], page_recorder, caplog)


def test_a_bad_store_url_is_explained_at_the_field(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite
) -> None:
    page = page_recorder.page
    page.goto(channel_site.start_session(connect_url, state="s"))
    _choose_occ(page)
    field = page.get_by_label("Store URL")
    field.fill("ftp://user:secret@shop example")
    page.get_by_role("button", name="Next").click()
    page.locator("#store_url-error").wait_for()
    page_recorder.shot("bad-url")
    assert page.url.endswith("/store")
    assert field.get_attribute("aria-invalid") == "true"
    assert "store_url-error" in (field.get_attribute("aria-describedby") or "")
    # The refused URL is shown back for correction, but never with its user:password@ part.
    assert field.input_value() == "ftp://shop example"
    assert page.evaluate("document.activeElement.id") == "store_url"


def test_an_unreachable_store_is_reported(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    page = page_recorder.page
    _to_credentials(page_recorder, connect_url, channel_site, f"http://127.0.0.1:{port}")
    page.get_by_label("Application Key").fill(FORGED_KEY)
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("alert").wait_for()
    page_recorder.shot("unreachable")
    assert f"We could not reach http://127.0.0.1:{port}." in page.get_by_role("alert").inner_text()


def test_the_pending_state_shows_while_the_key_is_checked(
    page_recorder: PageRecorder, connect_url: str, channel_site: ChannelSite, simulator: Any
) -> None:
    page = page_recorder.page
    _to_credentials(page_recorder, connect_url, channel_site, simulator[1])
    page.get_by_label("Application Key").fill(FORGED_KEY)
    # Hold the submission after the page's script has run, to look at the pending state.
    page.evaluate("window.addEventListener('submit', (e) => e.preventDefault())")
    page.get_by_role("button", name="Connect").click()
    status = page.get_by_role("status")
    assert status.inner_text() == "Checking your key with Oracle Commerce Cloud. This takes a few seconds."
    assert page.get_by_role("button", name="Connect").get_attribute("aria-disabled") == "true"
    page_recorder.shot("pending")


@pytest.mark.parametrize("page_recorder", [{"javascript": False}], ids=["nojs"], indirect=True)
def test_the_development_start_page_walks_the_whole_flow_without_javascript(
    page_recorder: PageRecorder, dev_url: str, simulator: Any, dev_database: Path
) -> None:
    sim, occ_url = simulator
    page = page_recorder.page
    page.goto(dev_url)
    page_recorder.shot("start")
    page.get_by_role("button", name="Oracle Commerce Cloud").click()
    page.wait_for_url(re.compile(r"/store$"))
    page.get_by_label("Store URL").fill(occ_url)
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/credentials$"))
    page.get_by_label("Application Key").fill(sim.issue_credentials()["application_key"])
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(f"{dev_url}/connected?*")
    page_recorder.shot("connected")
    connection_id = page.locator("#connection-id").inner_text()
    assert parse_qs(urlsplit(page.url).query)["connection_id"] == [connection_id]
    assert _stored(dev_database, connection_id) is not None
