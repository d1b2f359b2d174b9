"""The browser kit: Chromium's skip rules, the servers, the channel site, the recorder and the pytest fixtures.

Everything here needs no browser but the one test that drives the fixtures in Chromium.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from storelink.connect import hash_token, serving_app
from storelink.http import EgressPolicy
from storelink.simulation import STARTUP_TIMEOUT, serve_in_thread
from storelink.testing import ChannelSite, PageRecorder, chromium_path, launch_browser, run_async, serve_app
from storelink.testing.browser import recorder_name

pytest_plugins = ["pytester"]

# --------------------------------------------------------------------------- chromium_path


def test_chromium_path_is_the_one_the_environment_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("")
    monkeypatch.setenv("STORELINK_CHROMIUM", str(binary))
    assert chromium_path() == str(binary)


def test_a_missing_chromium_skips_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_CHROMIUM", str(tmp_path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="STORELINK_CHROMIUM"):
        chromium_path()


def test_a_missing_chromium_fails_the_test_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_CHROMIUM", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Chromium is missing"):
        chromium_path()


# --------------------------------------------------------------------------- Playwright, imported lazily


def test_without_playwright_launching_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright", None)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    binary = tmp_path / "chromium"
    binary.write_text("")
    install = r"pip install 'storelink\[browser\]'"
    with pytest.raises(ModuleNotFoundError, match=install) as caught, launch_browser(str(binary)):
        pass
    assert caught.value.name == "playwright"


def test_the_browser_extra_the_message_names_installs_playwright() -> None:
    from importlib.metadata import requires

    wanted = [r for r in requires("storelink") or () if r.startswith("playwright")]
    assert wanted, "storelink declares no Playwright requirement"
    assert all(re.search(r"extra == [\"']browser[\"']", r) for r in wanted), wanted


def test_the_kit_imports_without_playwright() -> None:
    code = (
        "import sys; sys.modules['playwright'] = None\n"
        "import storelink.testing as t\n"
        "site = t.ChannelSite(); t.PageRecorder; t.serve_app\n"
        "print(sorted(m for m in sys.modules if m.startswith('playwright.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- serve_app and serve_in_thread


def _lifespan_app(events: list[str], *, fail: bool = False) -> Callable[[int], Starlette]:
    def make_app(port: int) -> Starlette:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            if fail:
                raise RuntimeError("the hub could not open")
            events.append("start-up")
            yield
            events.append("shut-down")

        async def home(request: Request) -> PlainTextResponse:
            events.append("request")
            return PlainTextResponse(f"made for {port}")

        return Starlette(routes=[Route("/", home)], lifespan=lifespan)

    return make_app


def test_serve_app_makes_the_app_for_the_port_it_serves_on_and_runs_its_lifespan() -> None:
    events: list[str] = []
    with serve_app(_lifespan_app(events)) as url:
        assert events == ["start-up"]
        response = httpx.get(f"{url}/")
        assert response.text == f"made for {url.rsplit(':', 1)[1]}"
    assert events == ["start-up", "request", "shut-down"]


def test_serve_app_raises_at_once_when_the_start_up_fails() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="start-up failed"), serve_app(_lifespan_app([], fail=True)):
        pass
    assert time.monotonic() - started < STARTUP_TIMEOUT / 2


def test_serve_in_thread_still_runs_no_lifespan_by_default() -> None:
    events: list[str] = []
    with serve_in_thread(_lifespan_app(events)(0)) as url:
        assert httpx.get(f"{url}/").status_code == 200
    assert events == ["request"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _access_lines() -> Iterator[list[str]]:
    """Collect ``uvicorn.access``'s lines (add it once the server runs: configuring one resets that logger)."""
    access = logging.getLogger("uvicorn.access")
    handler = _Lines()
    access.addHandler(handler)
    try:
        yield handler.lines
    finally:
        access.removeHandler(handler)


def test_serve_app_logs_each_request_on_the_access_log() -> None:
    with serve_app(_lifespan_app([])) as url, _access_lines() as lines:
        httpx.get(f"{url}/?probe=access-log")
    assert any("/?probe=access-log" in line for line in lines), lines


# --------------------------------------------------------------------------- ChannelSite


def test_the_channel_site_records_and_shows_what_its_redirect_uri_received() -> None:
    site = ChannelSite(name="Acme & Co")
    with site.serve():
        response = httpx.get(site.redirect_uri, params={"state": "<b>s</b>", "connection_id": "occ_1"})
    assert site.received == [{"state": "<b>s</b>", "connection_id": "occ_1"}]
    assert "<h1>Acme &amp; Co</h1>" in response.text
    assert "<dd id='state'>&lt;b&gt;s&lt;/b&gt;</dd>" in response.text


def test_the_channel_site_has_a_url_only_while_served() -> None:
    site = ChannelSite()
    with site.serve():
        assert site.redirect_uri.startswith("http://127.0.0.1:")
        assert site.redirect_uri.endswith("/storelink/callback")
    with pytest.raises(RuntimeError, match="not being served"):
        site.url  # noqa: B018  # the property raises


def test_the_channel_is_the_site_s_redirect_uri_and_token_hash_and_its_repr_hides_the_token() -> None:
    site = ChannelSite(channel_id="shopz", name="Shopz")
    with site.serve():
        channel = site.channel
        assert channel.redirect_uris == (site.redirect_uri,)
        assert repr(site).startswith("ChannelSite(channel_id='shopz', url='http://127.0.0.1:")
    assert (channel.id, channel.name) == ("shopz", "Shopz")
    assert channel.api_token_sha256 == hash_token(site.api_token.reveal())
    assert ChannelSite().api_token != site.api_token
    assert site.api_token.reveal() not in repr(site) + repr(site.api_token)


@pytest.fixture(scope="module")
def connect_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ChannelSite]]:
    database = tmp_path_factory.mktemp("kit") / "storelink.db"
    with ChannelSite().serve() as site:
        channel = site.channel
        options: dict[str, Any] = {"database": database, "keys": database.with_name("keys")}

        def make_app(port: int) -> Starlette:
            return serving_app(port=port, channels=[channel], egress=EgressPolicy.for_tests(), **options)

        with serve_app(make_app) as url:
            yield url, site


def test_start_session_returns_the_connect_page_to_send_the_merchant_to(connect_app: tuple[str, ChannelSite]) -> None:
    url, site = connect_app
    start = site.start_session(url, state="s-1")
    assert start.startswith(f"{url}/connect/")
    assert httpx.get(start, follow_redirects=True).status_code == 200


def test_start_session_refused_says_so_without_the_token(connect_app: tuple[str, ChannelSite]) -> None:
    url, _ = connect_app
    stranger = ChannelSite()  # same channel id, another token: the connect app refuses it
    with stranger.serve(), pytest.raises(AssertionError, match="answered 401") as caught:
        stranger.start_session(url, state="s")
    assert stranger.api_token.reveal() not in str(caught.value)


# --------------------------------------------------------------------------- PageRecorder


class _Headers:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers


class FakePage:
    """What the recorder uses of a Playwright page."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any], None]] = {}
        self.url = "about:blank"
        self.html = "<html></html>"

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self.handlers[event] = handler

    def content(self) -> str:
        return self.html

    def screenshot(self, *, path: str, full_page: bool) -> None:
        assert full_page
        Path(path).write_bytes(b"\x89PNG")

    def request(self, url: str, referer: str | None = None) -> None:
        self.handlers["request"](_Headers(url, {"referer": referer} if referer else {}))

    def response(self, url: str, location: str | None = None) -> None:
        self.handlers["response"](_Headers(url, {"location": location} if location else {}))


def test_the_recorder_keeps_every_url_location_and_referer_in_order() -> None:
    page = FakePage()
    recorder = PageRecorder(page, "t", directory=Path("unused"))  # type: ignore[arg-type]  # a stand-in page
    page.request("http://a/1")
    page.response("http://a/1", location="http://b/2")
    page.request("http://b/2", referer="http://a/1")
    page.response("http://b/2")
    assert recorder.seen == ["http://a/1", "http://a/1", "http://b/2", "http://b/2", "http://b/2"]
    assert recorder.referers == ["", "http://a/1"]


def test_screenshots_are_numbered_under_the_artifacts_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORELINK_ARTIFACTS", str(tmp_path / "shots"))
    recorder = PageRecorder(FakePage(), "a merchant [nojs]")  # type: ignore[arg-type]  # a stand-in page
    first, second = recorder.shot("store url"), recorder.shot("done")
    assert first == tmp_path / "shots" / "a-merchant-nojs--01-store-url.png"
    assert second.name == "a-merchant-nojs--02-done.png"
    assert second.read_bytes() == b"\x89PNG"


SECRET = "key/with+odd=chars??>"  # its base64 has a "+", its base64url a "-"


@pytest.mark.parametrize(
    ("where", "found"),
    [
        ("url", ["percent-encoded in a URL or Location"]),
        ("referer", ["base64 in a Referer"]),
        ("page", ["as is in the page"]),
        ("log", ["base64url in the given text"]),
    ],
)
def test_leaks_names_the_form_and_the_place_never_the_secret(where: str, found: list[str]) -> None:
    page = FakePage()
    recorder = PageRecorder(page, "t")  # type: ignore[arg-type]  # a stand-in page
    page.request("http://channel/")
    log = "nothing here"
    if where == "url":
        page.request(f"http://channel/?k={quote(SECRET, safe='')}")
    elif where == "referer":
        page.request("http://channel/", referer=f"http://x/{base64.b64encode(SECRET.encode()).decode()}")
    elif where == "page":
        page.html = f"<p>{SECRET}</p>"
    else:
        log = f"token {base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip('=')}"
    leaks = recorder.leaks(SECRET, log)
    assert leaks == found
    assert not any(SECRET in leak for leak in leaks)


def test_no_leak_is_an_empty_list_and_an_empty_secret_is_refused() -> None:
    recorder = PageRecorder(FakePage(), "t")  # type: ignore[arg-type]  # a stand-in page
    assert recorder.leaks(SECRET, "a clean log") == []
    with pytest.raises(ValueError, match="empty secret"):
        recorder.leaks("")


# --------------------------------------------------------------------------- run_async


async def test_run_async_runs_a_coroutine_while_this_thread_s_loop_runs() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert run_async(answer()) == 42


# --------------------------------------------------------------------------- the pytest plugin's fixtures

#: The options of an inner pytest run: strict markers (the plugin registers its own) and warnings as errors.
INNER = ("-p", "no:cacheprovider", "--strict-markers", "-W", "error")


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """Return *pytester* with an ini file, without which pytest-asyncio warns of its unset loop scope."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_recorder_name_is_the_test_s_name_after_the_closest_screenshots_prefix(inner: pytest.Pytester) -> None:
    items = inner.getitems(
        """
        import pytest

        pytestmark = pytest.mark.screenshots("acme")

        def test_module_prefix(): pass

        @pytest.mark.screenshots("own")
        def test_own_prefix(): pass

        @pytest.mark.parametrize("x", [1], ids=["nojs"])
        def test_with_id(x): pass
        """
    )
    assert [recorder_name(item) for item in items] == ["acme-module_prefix", "own-own_prefix", "acme-with_id[nojs]"]


def test_recorder_name_without_the_marker_is_the_test_s_name(inner: pytest.Pytester) -> None:
    (item,) = inner.getitems("def test_plain(): pass")
    assert recorder_name(item) == "plain"


@pytest.mark.parametrize("marker", ["screenshots()", "screenshots('')", "screenshots(prefix='a')", "screenshots(1)"])
def test_a_screenshots_marker_without_one_prefix_is_refused(inner: pytest.Pytester, marker: str) -> None:
    (item,) = inner.getitems(f"import pytest\n\n@pytest.mark.{marker}\ndef test_bad(): pass\n")
    with pytest.raises(TypeError, match=r"takes one prefix.*test_bad"):
        recorder_name(item)


FAKE_BROWSER = """
import pytest


class FakeContext:
    def __init__(self, browser, options):
        self.browser, self.options, self.closed = browser, options, False

    def set_default_timeout(self, milliseconds):
        self.options["timeout"] = milliseconds

    def new_page(self):
        return FakePage()

    def close(self):
        self.closed = True


class FakePage:
    url = "about:blank"

    def on(self, event, handler):
        pass


class FakeBrowser:
    def __init__(self):
        self.contexts = []

    def new_context(self, **options):
        self.contexts.append(FakeContext(self, options))
        return self.contexts[-1]


@pytest.fixture(scope="module")
def storelink_browser():
    return FakeBrowser()
"""


def test_page_recorder_records_a_fresh_page_named_for_the_test(inner: pytest.Pytester) -> None:
    """The plugin's fixture, over a stand-in browser: a new context per test, its options, its name, closed after."""
    inner.makeconftest(FAKE_BROWSER)
    inner.makepyfile(
        """
        import pytest
        from storelink.testing import PageRecorder

        pytestmark = [pytest.mark.browser, pytest.mark.screenshots("acme")]

        def test_default_page(page_recorder, storelink_browser):
            assert isinstance(page_recorder, PageRecorder)
            assert page_recorder.name == "acme-default_page"
            (context,) = storelink_browser.contexts
            assert context.options == {
                "viewport": {"width": 900, "height": 760}, "java_script_enabled": True, "timeout": 15000.0
            }
            assert not context.closed

        @pytest.mark.parametrize("page_recorder", [{"javascript": False, "width": 400}], ids=["nojs"], indirect=True)
        def test_options(page_recorder, storelink_browser):
            assert page_recorder.name == "acme-options-nojs-"
            first, second = storelink_browser.contexts
            assert first.closed and not second.closed
            assert second.options["viewport"]["width"] == 400
            assert second.options["java_script_enabled"] is False
        """
    )
    inner.runpytest(*INNER).assert_outcomes(passed=2)


def _page_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.browser

        def test_needs_a_page(page_recorder):
            pass

        def test_needs_none(fake_clock):
            pass
        """
    )


def test_without_chromium_the_fixtures_skip_the_test(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_CHROMIUM", str(inner.path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    _page_test(inner)
    result = inner.runpytest(*INNER, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*Chromium is missing at*STORELINK_CHROMIUM*"])


def test_without_chromium_under_ci_the_fixtures_fail_the_test(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORELINK_CHROMIUM", str(inner.path / "absent"))
    monkeypatch.setenv("CI", "true")
    _page_test(inner)
    result = inner.runpytest(*INNER)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*Chromium is missing at*"])


def test_without_playwright_the_fixtures_say_what_to_install(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = inner.path / "chromium"
    binary.write_text("")
    monkeypatch.setenv("STORELINK_CHROMIUM", str(binary))
    monkeypatch.setitem(sys.modules, "playwright", None)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    _page_test(inner)
    result = inner.runpytest(*INNER)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ModuleNotFoundError*pip install 'storelink?browser?'*"])


def test_the_pytest_plugin_offers_the_fixtures_without_playwright(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['playwright'] = None\n"
        "import pytest\n"
        "code = pytest.main(['-p', 'no:cacheprovider', '-p', 'no:asyncio', '--fixtures'])\n"
        "print(int(code), sorted(m for m in sys.modules if m.startswith('playwright.')))\n"
    )
    result = subprocess.run(  # noqa: S603  # this interpreter, in a directory the test made
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "storelink_browser [module scope]" in result.stdout
    assert "page_recorder" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 []"


@pytest.mark.browser
def test_the_fixtures_drive_chromium_with_the_page_s_options(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium_path()  # skip here, not in the inner run, without Chromium
    monkeypatch.setenv("STORELINK_ARTIFACTS", str(inner.path / "shots"))
    inner.makepyfile(
        """
        import pytest

        pytestmark = [pytest.mark.browser, pytest.mark.screenshots("kit")]
        PAGE = "<title>static</title><script>document.title = 'scripted'</script><p>hello</p>"

        @pytest.mark.parametrize("page_recorder", [{}, {"javascript": False}], ids=["js", "nojs"], indirect=True)
        def test_page(page_recorder, storelink_browser):
            page_recorder.page.set_content(PAGE)
            scripted = "nojs" not in page_recorder.name
            assert page_recorder.page.title() == ("scripted" if scripted else "static")
            assert page_recorder.page.context.browser is storelink_browser
            page_recorder.shot("hello")
        """
    )
    inner.runpytest(*INNER).assert_outcomes(passed=2)
    shots = sorted(path.name for path in (inner.path / "shots").iterdir())
    assert shots == ["kit-page-js--01-hello.png", "kit-page-nojs--01-hello.png"]
