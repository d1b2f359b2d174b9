"""The storelink pytest plugin (entry point ``pytest11``), loaded in every pytest run.

It adds the ``--storelink-record`` option, the ``fake_clock`` fixture, and shortens
the report of a broken contract rule to what the plugin author needs: the hook, the
rule and what to change, without the kit's own traceback. It imports nothing from
storelink until a test asks for it. Disable it with ``-p no:storelink``.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
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


@pytest.fixture
def fake_clock() -> FakeClock:
    """Return a :class:`~storelink.testing.FakeClock` for the core's ``clock=`` parameters."""
    from storelink.testing.fakes import FakeClock

    return FakeClock()


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
