"""The storelink pytest plugin (entry point ``pytest11``), loaded in every pytest run.

It adds the ``--storelink-record`` option, the ``fake_clock`` fixture, the browser
kit's fixtures (``storelink_browser`` and ``page_recorder``, with the ``browser`` and
``screenshots`` markers), and shortens the report of a broken contract rule to what the
plugin author needs: the hook, the rule and what to change, without the kit's own
traceback. It imports nothing from storelink, nor Playwright, until a test asks for it.
Disable it with ``-p no:storelink``.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from storelink.testing.browser import PageRecorder
    from storelink.testing.fakes import FakeClock

RECORD_OPTION = "--storelink-record"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--storelink-record``."""
    group = parser.getgroup("storelink", "storelink platform contract")
    group.addoption(
        RECORD_OPTION,
        action="store_true",
        default=False,
        help="run contract tests against the plugin's live transport and write scrubbed recordings "
        "into its `recordings` directory (replayed when the option is not given)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the browser kit's markers."""
    config.addinivalue_line("markers", "browser: drives headless Chromium through Playwright")
    config.addinivalue_line(
        "markers",
        "screenshots(prefix): prefix the names of the page_recorder fixture's screenshots "
        "(put it in a module's pytestmark so its tests' screenshots do not collide with another's)",
    )


@pytest.fixture
def fake_clock() -> FakeClock:
    """Return a :class:`~storelink.testing.FakeClock` for the core's ``clock=`` parameters."""
    from storelink.testing.fakes import FakeClock

    return FakeClock()


@pytest.fixture(scope="module")
def storelink_browser() -> Iterator[Browser]:
    """Launch headless Chromium for the test module; close it after the module's last test.

    It is :func:`storelink.testing.browser.launch_browser`'s: skipped without Chromium
    (failed under ``$CI``), and an error naming what to install without Playwright.
    Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running
    in the test's thread while the browser is open, which would break the session's
    later async tests.
    """
    from storelink.testing.browser import launch_browser

    with launch_browser() as browser:
        yield browser


@pytest.fixture
def page_recorder(storelink_browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageRecorder]:
    """Return a :class:`~storelink.testing.PageRecorder` over a fresh page of ``storelink_browser``.

    Its screenshots are named by :func:`~storelink.testing.browser.recorder_name` (the
    test's name after the closest ``@pytest.mark.screenshots("prefix")``'s prefix). The
    page is :func:`~storelink.testing.new_page`'s with its defaults; parametrize the
    fixture indirectly with a mapping of ``new_page``'s options to change them
    (``@pytest.mark.parametrize("page_recorder", [{"javascript": False}], indirect=True)``).
    The page's context is closed after the test.
    """
    from storelink.testing.browser import PageRecorder, new_page, recorder_name

    options = getattr(request, "param", {})
    with new_page(storelink_browser, **options) as page:
        yield PageRecorder(page, recorder_name(request.node))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a :class:`~storelink.testing.ContractViolation` by its message alone."""
    report = yield
    checks = sys.modules.get("storelink.testing.checks")
    excinfo = call.excinfo
    if checks is not None and excinfo is not None and excinfo.errisinstance(checks.ContractViolation):
        report.longrepr = excinfo.getrepr(style="value", chain=False)
    return report
