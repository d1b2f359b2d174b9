"""Who installs the log scrubber: the CLI and ``storelink serve`` do, library constructors never.

A host that embeds storelink keeps its own logging (its log-record factory, its root
handlers) until it calls :func:`storelink.redaction.install` itself; a platform's
``ctx.log`` scrubs its own records either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from storelink import ConnectionRuntime, Credentials, EgressPolicy, HttpConfig, Secret, StoreURL, get_platform
from storelink.cli import cli
from storelink.cli.serve import serve
from storelink.cli.state import CliState

LEAKY = "Authorization: Bearer synthetic-token-0123456789"


def _host_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    return logging.LogRecord(*args, **kwargs)


@pytest.fixture
def host_logging() -> Iterator[None]:
    """The host's own log-record factory, restored afterwards whatever the test installed."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_host_factory)
    yield
    logging.setLogRecordFactory(previous)


def scrubs_new_records() -> bool:
    """Whether a record made now, by whatever factory is installed, comes out scrubbed."""
    record = logging.getLogRecordFactory()("host", logging.INFO, __file__, 1, LEAKY, None, None)
    return "synthetic-token" not in record.getMessage()


def test_the_host_factory_does_not_scrub(host_logging: None) -> None:
    """The control: before anything installs the scrubber, records keep their text."""
    assert not scrubs_new_records()


def test_the_cli_installs_the_scrubber(host_logging: None) -> None:
    result = CliRunner().invoke(cli, ["platforms"])
    assert result.exit_code == 0, result.output
    assert scrubs_new_records()


def test_storelink_serve_installs_the_scrubber_before_it_serves(
    host_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``serve`` command itself installs it (not only the CLI group around it)."""
    import storelink.connect

    seen: list[bool] = []
    monkeypatch.setattr(storelink.connect, "serve", lambda *args, **kwargs: seen.append(scrubs_new_records()))
    result = CliRunner().invoke(serve, ["--port", "0"], obj=CliState())
    assert result.exit_code == 0, result.output
    assert seen == [True]


def test_creating_the_connect_app_leaves_logging_alone(host_logging: None) -> None:
    from storelink.connect import create_app

    async def no_hub() -> Any:
        raise AssertionError("the app was not started")

    create_app(hub_factory=no_hub, public_url="http://127.0.0.1:8000")
    assert logging.getLogRecordFactory() is _host_factory


async def test_a_runtime_leaves_logging_alone_and_its_ctx_log_still_scrubs(host_logging: None) -> None:
    secret = Secret("synthetic-key-for-the-log-test")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("storelink.platform.occ")
    keep = Keep()
    logger.addHandler(keep)
    try:
        async with ConnectionRuntime(
            get_platform("occ"),
            "c1",
            StoreURL(origin="https://store.example.com"),
            Credentials({"application_key": secret}),
            {},
            EgressPolicy.default(),
            HttpConfig(),
        ) as runtime:
            assert logging.getLogRecordFactory() is _host_factory
            runtime.ctx.log.warning("a careless plugin logs %s and %s", secret.reveal(), LEAKY)
    finally:
        logger.removeHandler(keep)
    assert logging.getLogRecordFactory() is _host_factory
    [record] = records
    assert secret.reveal() not in record.getMessage()
    assert "synthetic-token" not in record.getMessage()
    assert "a careless plugin logs ***" in record.getMessage()
