"""Test a platform's connect page in a real browser: headless Chromium over loopback servers.

What a browser test of the connect flow needs, so each plugin does not build it again:
:func:`chromium_path` (the Chromium to drive, or a skip), :func:`launch_browser` and
:func:`new_page` (Playwright's Chromium and a fresh page), :func:`serve_app` (an app that
must know its port, such as :func:`storelink.connect.serving_app`, served on loopback
with its lifespan), :class:`ChannelSite` (a stand-in channel whose redirect URI records
what it received), :class:`PageRecorder` (every URL and Referer a page saw, numbered
screenshots, and where a secret leaked) and :func:`run_async` (a coroutine run outside
the event loop Playwright's sync API keeps in the test's thread).

The storelink pytest plugin wires these into two fixtures, so a test module need not:
``storelink_browser`` (Chromium, launched once per test module) and ``page_recorder``
(a :class:`PageRecorder` over a fresh page, its screenshots named by
:func:`recorder_name`: the test's name after the prefix of the closest
``@pytest.mark.screenshots("...")``).

Playwright is not installed with ``storelink`` or its ``testing`` extra: install the
``browser`` extra (``pip install 'storelink[testing,browser]'``) where browser tests
run. It is imported on first use, so this module and :mod:`storelink.testing` import
without it. Playwright's own browser download is not needed: the Chromium driven is
the one at ``$STORELINK_CHROMIUM`` (default ``/usr/bin/chromium``; storelink's
``scripts/services.sh`` installs Debian's).
"""

from __future__ import annotations

import asyncio
import base64
import html
import os
import re
import secrets
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from storelink.credentials import Secret
from storelink.simulation import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from playwright.sync_api import Request as PageRequest
    from playwright.sync_api import Response as PageResponse

    from storelink.connect import Channel

__all__ = [
    "ARTIFACTS_ENV",
    "CHROMIUM_ARGS",
    "CHROMIUM_ENV",
    "DEFAULT_CHROMIUM",
    "SCREENSHOTS_MARKER",
    "ChannelSite",
    "PageRecorder",
    "artifacts_dir",
    "chromium_path",
    "launch_browser",
    "new_page",
    "recorder_name",
    "run_async",
    "serve_app",
]

T = TypeVar("T")

#: The environment variable naming the Chromium binary to drive.
CHROMIUM_ENV = "STORELINK_CHROMIUM"
#: The Chromium driven when :data:`CHROMIUM_ENV` is unset (Debian's package).
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: The environment variable naming the directory screenshots are saved in.
ARTIFACTS_ENV = "STORELINK_ARTIFACTS"
#: The marker whose one argument prefixes the names of a test's screenshots (see :func:`recorder_name`).
SCREENSHOTS_MARKER = "screenshots"
#: Chromium's flags: headless, in a container (no sandbox, no GPU), and quiet on the
#: network (no QUIC, no background, update or sync traffic) so a test sees only its own.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_INSTALL_PLAYWRIGHT = (
    "storelink.testing.browser needs Playwright, which storelink installs only with its browser extra: "
    "pip install 'storelink[browser]' (or pip install playwright; no `playwright install` needed: "
    f"the Chromium at ${CHROMIUM_ENV} is used)"
)


# --------------------------------------------------------------------------- the browser


def chromium_path() -> str:
    """Return the Chromium binary to drive, or skip the test when there is none.

    The binary is ``$STORELINK_CHROMIUM``, or :data:`DEFAULT_CHROMIUM` when that is
    unset. Without it the calling test is skipped, except under CI (``$CI`` set),
    where a missing browser fails the test rather than hiding it.
    """
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not Path(path).is_file():
        hint = f"install Chromium and set {CHROMIUM_ENV} to it (storelink's scripts/services.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {path}: {hint}")
        pytest.skip(f"Chromium is missing at {path}: {hint}")
    return path


def _sync_playwright() -> Any:
    """Return Playwright's ``sync_playwright``, importing it now.

    :raises ModuleNotFoundError: Playwright is not installed (the message says what to install).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ModuleNotFoundError(_INSTALL_PLAYWRIGHT, name="playwright") from exc
    return sync_playwright


@contextmanager
def launch_browser(executable: str | None = None, *, args: Sequence[str] = CHROMIUM_ARGS) -> Iterator[Browser]:
    """Launch headless Chromium through Playwright's sync API; close it on exit.

    :param executable: The Chromium binary; by default :func:`chromium_path`'s (which
        skips the test without one).
    :param args: Chromium's command-line flags.
    :return: A context manager yielding Playwright's ``Browser``.
    :raises ModuleNotFoundError: Playwright is not installed.
    """
    path = executable or chromium_path()
    sync_playwright = _sync_playwright()
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=path, args=list(args))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(
    browser: Browser, *, javascript: bool = True, width: int = 900, height: int = 760, timeout: float = 15.0
) -> Iterator[Page]:
    """Open a page in a fresh browser context (no cookies, no storage); close the context on exit.

    :param browser: The browser, from :func:`launch_browser`.
    :param javascript: Run the pages' scripts; ``False`` checks a flow works without them.
    :param width: The viewport's width, in CSS pixels.
    :param height: The viewport's height, in CSS pixels.
    :param timeout: Seconds any action or wait may take before it fails the test.
    :return: A context manager yielding Playwright's ``Page``.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=javascript)
    try:
        context.set_default_timeout(timeout * 1000)
        yield context.new_page()
    finally:
        context.close()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run *coroutine* on a new event loop in another thread and return its result.

    Playwright's sync API keeps an event loop running in the test's thread, so
    ``asyncio.run`` fails there; use this to read a store or call a hub mid-test.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storelink-run-async") as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --------------------------------------------------------------------------- servers


@contextmanager
def serve_app(
    make_app: Callable[[int], Any], *, host: str = "127.0.0.1", lifespan: bool = True, access_log: bool = True
) -> Iterator[str]:
    """Serve ``make_app(port)`` on a free loopback port, as ``storelink serve`` would; yield its base URL.

    The port is bound before the app is made, so an app that builds its own URLs from
    its port (:func:`storelink.connect.serving_app`) gets the one it is served on. By
    default the app's lifespan runs (the connect app opens its hub at start-up) and each
    request is logged on ``uvicorn.access``, so a test can check those lines too.

    :param make_app: Called with the port; returns the ASGI app.
    :param host: The loopback address to bind.
    :param lifespan: Run the app's lifespan; a failed start-up raises.
    :param access_log: Log each request on ``uvicorn.access`` (see
        :func:`storelink.simulation.serve_in_thread`).
    :return: A context manager yielding ``http://host:port``; the server stops on exit.
    :raises RuntimeError: The server did not start.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        app = make_app(sock.getsockname()[1])
    except BaseException:
        sock.close()
        raise
    with serve_in_thread(app, lifespan=lifespan, access_log=access_log, sock=sock) as url:
        yield url


class ChannelSite:
    """A stand-in channel's web site: the redirect URI the connect page sends the merchant back to.

    Serve it on loopback (``with site.serve():``), register :attr:`channel` with the
    connect app, and start connect sessions as the channel's back end would
    (:meth:`start_session`). Each request to the redirect URI is recorded in
    :attr:`received` (its query parameters) and answered with a page headed with the
    channel's name that lists them. The channel's API token is random per site and
    never shown in its ``repr``.

    :param channel_id: The channel's id.
    :param name: The channel's name, as the connect page shows it.
    :param callback_path: The path of the redirect URI.
    """

    def __init__(
        self, *, channel_id: str = "acme", name: str = "Acme Marketplace", callback_path: str = "/storelink/callback"
    ) -> None:
        self.channel_id = channel_id
        self.name = name
        self.callback_path = callback_path
        #: The query parameters of each request the redirect URI received, oldest first.
        self.received: list[dict[str, str]] = []
        self.api_token = Secret(f"channel-token-{secrets.token_urlsafe(18)}")
        self.app = Starlette(routes=[Route(callback_path, self._callback)])
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"ChannelSite(channel_id={self.channel_id!r}, url={self._url!r})"

    @contextmanager
    def serve(self) -> Iterator[ChannelSite]:
        """Serve the site on a free loopback port until the block ends; yield the site."""
        with serve_in_thread(self.app) as url:
            self._url = url
            try:
                yield self
            finally:
                self._url = None

    @property
    def url(self) -> str:
        """The site's base URL, while it is served.

        :raises RuntimeError: The site is not being served.
        """
        if self._url is None:
            raise RuntimeError("the channel site is not being served: use `with site.serve():`")
        return self._url

    @property
    def redirect_uri(self) -> str:
        """The channel's redirect URI, where the connect page ends."""
        return f"{self.url}{self.callback_path}"

    @property
    def channel(self) -> Channel:
        """The channel to register with the connect app: this site's redirect URI and API token."""
        from storelink.connect import Channel, hash_token

        return Channel(
            id=self.channel_id,
            name=self.name,
            redirect_uris=(self.redirect_uri,),
            api_token_sha256=hash_token(self.api_token.reveal()),
        )

    def start_session(self, connect_url: str, *, state: str, **fields: Any) -> str:
        """Start a connect session as the channel's back end does; return the URL to send the merchant to.

        :param connect_url: The connect app's base URL.
        :param state: The channel's state, sent back on the redirect URI.
        :param fields: More fields of the request (``platform="shopify"``...).
        :raises AssertionError: The connect app did not create the session.
        """
        response = httpx.post(
            f"{connect_url}/api/connect-sessions",
            json={"redirect_uri": self.redirect_uri, "state": state, **fields},
            headers={"authorization": f"Bearer {self.api_token.reveal()}"},
        )
        if response.status_code != 201:
            raise AssertionError(f"the connect app answered {response.status_code}: {response.text}")
        return str(response.json()["url"])

    async def _callback(self, request: Request) -> HTMLResponse:
        query = dict(request.query_params)
        self.received.append(query)
        items = "".join(
            f"<dt>{html.escape(k)}</dt><dd id='{html.escape(k)}'>{html.escape(v)}</dd>" for k, v in query.items()
        )
        name = html.escape(self.name)
        return HTMLResponse(f"<!doctype html><title>{name}</title><h1>{name}</h1><dl>{items}</dl>")


# --------------------------------------------------------------------------- recording a page


def artifacts_dir() -> Path:
    """Return the directory screenshots go to: ``$STORELINK_ARTIFACTS``, else ``artifacts/screenshots``."""
    return Path(os.environ.get(ARTIFACTS_ENV) or Path("artifacts", "screenshots"))


def _file_part(text: str) -> str:
    """Return *text* fit for a file name: each run of characters other than letters, digits, ``_``, ``-`` as ``-``."""
    return re.sub(r"[^\w-]+", "-", text)


def recorder_name(item: pytest.Item) -> str:
    """Return the name a test's :class:`PageRecorder` gives its screenshots.

    It is the test's name without its ``test_`` prefix (parameter ids included), after
    the prefix of the closest ``@pytest.mark.screenshots("prefix")`` (on the test, its
    class or its module's ``pytestmark``) and a ``-``, so that two modules' tests of the
    same name do not overwrite each other's screenshots.

    :param item: The test (``request.node`` in a fixture).
    :raises TypeError: The marker does not have exactly one non-empty prefix.
    """
    name = item.name.removeprefix("test_")
    marker = item.get_closest_marker(SCREENSHOTS_MARKER)
    if marker is None:
        return name
    if marker.kwargs or len(marker.args) != 1 or not isinstance(marker.args[0], str) or not marker.args[0]:
        raise TypeError(
            f"pytest.mark.{SCREENSHOTS_MARKER} takes one prefix for the screenshots' names, "
            f"such as @pytest.mark.{SCREENSHOTS_MARKER}('acme'); {item.nodeid} gave {marker.args!r}, {marker.kwargs!r}"
        )
    return f"{marker.args[0]}-{name}"


def _forms(secret: str) -> dict[str, str]:
    """Return the ways *secret* can appear in a URL, a header or a page, by name."""
    raw = secret.encode()
    forms = {
        "as is": secret,
        "percent-encoded": quote(secret, safe=""),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    unique: dict[str, str] = {}
    for label, form in forms.items():
        if form not in unique.values():
            unique[label] = form
    return unique


class PageRecorder:
    """A page, with every URL, ``Location`` and ``Referer`` it saw, and numbered screenshots.

    Screenshots are saved as ``{name}-{step:02d}-{label}.png`` in *directory*.

    :param page: The page, from :func:`new_page`; the recorder listens to its requests
        and responses from now on.
    :param name: Names the screenshots (a test's name, say); characters other than
        letters, digits, ``_`` and ``-`` become ``-``.
    :param directory: Where screenshots go; :func:`artifacts_dir` by default.
    """

    def __init__(self, page: Page, name: str, *, directory: Path | None = None) -> None:
        self.page = page
        self.name = _file_part(name)
        self.directory = directory if directory is not None else artifacts_dir()
        #: The screenshots taken so far.
        self.step = 0
        #: Each request's URL, each response's URL and each ``Location`` header, in order.
        self.seen: list[str] = []
        #: Each request's ``Referer`` header, ``""`` for none, in order.
        self.referers: list[str] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def __repr__(self) -> str:
        return f"PageRecorder(name={self.name!r}, step={self.step})"

    def _request(self, request: PageRequest) -> None:
        self.seen.append(request.url)
        self.referers.append(request.headers.get("referer", ""))

    def _response(self, response: PageResponse) -> None:
        self.seen.append(response.url)
        location = response.headers.get("location")
        if location:
            self.seen.append(location)

    def shot(self, label: str) -> Path:
        """Save a full-page screenshot as the next step; return its path."""
        self.step += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.name}-{self.step:02d}-{_file_part(label)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def leaks(self, secret: str, *texts: str) -> list[str]:
        """Say where *secret* showed: in a URL, a ``Referer``, the page, or one of *texts*.

        *secret* is looked for as is, percent-encoded and in base64; pass the captured
        log (``caplog.text``) as *texts* to check it too. The answer names the form and
        the place (``"percent-encoded in a URL or Location"``), never the secret, so it
        is safe in an assertion message.

        :return: Where it showed, each once, in a stable order; empty when nowhere.
        :raises ValueError: *secret* is empty (it would show everywhere).
        """
        if not secret:
            raise ValueError("an empty secret cannot be looked for")
        places = {
            "a URL or Location": self.seen,
            "a Referer": self.referers,
            "the page's URL": [self.page.url],
            "the page": [self.page.content()],
            "the given text": list(texts),
        }
        found: list[str] = []
        for label, form in _forms(secret).items():
            for place, values in places.items():
                if any(form in value for value in values):
                    found.append(f"{label} in {place}")
        return found
