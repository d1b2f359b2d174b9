"""One contract test's view of a plugin: its platform, its transport, runtimes to call it.

:class:`Harness` builds :class:`~storelink.http.ConnectionRuntime` objects, the core's
real per-connection machinery (egress check, token manager, retries, error mapping),
over the plugin's transport, with a :class:`~storelink.testing.FakeClock` and a
:class:`~storelink.testing.FaultTransport` in between. It remembers every token the
core obtained and every exception a hook raised, so the suite can look for leaked
secrets in them, and it captures every log record emitted meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from storelink.credentials import Credentials
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig, RetryConfig
from storelink.models import AccessToken, StoreURL
from storelink.plugins import Platform
from storelink.testing.fakes import FakeClock, FaultTransport

__all__ = ["Harness", "LogCapture"]

T = TypeVar("T")


class LogCapture(logging.Handler):
    """Keep every record logged anywhere, formatted, while installed on the root logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        #: The hook being called (``"core"`` between calls), and each record as formatted.
        self.lines: list[tuple[str, str]] = []
        self.hook = "core"
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Format and keep *record* (its traceback and ``extra`` values included)."""
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS}
        self.lines.append((self.hook, self.format(record) + (f" {extras!r}" if extras else "")))

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        """Capture at DEBUG on the root logger for the duration of the block."""
        root = logging.getLogger()
        level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            root.removeHandler(self)
            root.setLevel(level)


_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Harness:
    """Runtimes and calls for one contract test.

    :param platform: The plugin, loaded through the registry.
    :param transport: Where requests go: a simulator, a replay, or a live transport.
    :param store_url: The test store's canonical origin.
    :param credentials: Credentials the platform accepts.
    :param invalid_credentials: Well-formed credentials the platform rejects.
    :param settings: The connection's settings.
    :param clock: The clock of the core (and of the simulator, when it takes one).
    """

    def __init__(
        self,
        *,
        platform: Platform,
        transport: httpx.AsyncBaseTransport,
        store_url: StoreURL,
        credentials: Credentials,
        invalid_credentials: Credentials,
        settings: Mapping[str, str],
        clock: FakeClock,
    ) -> None:
        self.platform = platform
        self.faults = FaultTransport(transport)
        self.store_url = store_url
        self.credentials = credentials
        self.invalid_credentials = invalid_credentials
        self.settings = settings
        self.clock = clock
        #: Every token the core obtained, with whether ``refresh_token`` renewed it.
        self.tokens: list[tuple[AccessToken, bool]] = []
        #: Every exception a call through :meth:`call` raised.
        self.errors: list[BaseException] = []
        self.logs = LogCapture()

    @property
    def slug(self) -> str:
        """The platform's slug."""
        return self.platform.slug

    def current_token(self) -> str | None:
        """Return the value of the last token the core obtained, if any."""
        return self.tokens[-1][0].value.reveal() if self.tokens else None

    def _on_token(self, _audience: str, token: AccessToken, renewed: bool) -> None:
        self.tokens.append((token, renewed))

    def runtime(self, *, credentials: Credentials | None = None, attempts: int = 2) -> ConnectionRuntime:
        """Return a new runtime for the test store (close it with ``async with``).

        :param credentials: Defaults to the valid ones; ``Credentials({})`` opens a runtime
            without any, as the core's for an OAuth code exchange.
        :param attempts: Attempts per operation; the fake clock makes back-off instant.
        """
        return ConnectionRuntime(
            platform=self.platform,
            connection_id="contract",
            store_url=self.store_url,
            credentials=self.credentials if credentials is None else credentials,
            settings=self.settings,
            egress=EgressPolicy.for_tests(),
            config=HttpConfig(retry=RetryConfig(attempts=attempts)),
            clock=self.clock,
            transport=self.faults,
            on_token=self._on_token,
        )

    async def call(self, runtime: ConnectionRuntime, hook: str, **kwargs: Any) -> Any:
        """Call *hook* through the platform facade with *runtime*'s context, noting any error."""
        method: Callable[..., Awaitable[Any]] = getattr(self.platform, hook)
        self.logs.hook = hook
        try:
            return await method(runtime.ctx, **kwargs)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.logs.hook = "core"

    def secret_values(self) -> list[str]:
        """Return every secret the test handled: credential values and the tokens issued."""
        values = [v.reveal() for creds in (self.credentials, self.invalid_credentials) for v in _secrets(creds)]
        values += [token.value.reveal() for token, _ in self.tokens]
        return sorted({v for v in values if len(v) >= 8}, key=len, reverse=True)


def _secrets(credentials: Credentials) -> list[Any]:
    return [credentials.secret(name) for name, value in credentials.items() if not isinstance(value, str)]
