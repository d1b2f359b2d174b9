"""The platform contract kit: what every storelink platform plugin must pass.

A plugin's tests subclass :class:`PlatformContract` and supply fixtures (the platform
slug, a simulator or transport, credentials, golden store URLs, sample orders); the
suite then checks the plugin through the core's real machinery (the registry, the
HTTP runtime with its token handling and retries, the page loop) and reports every
broken rule as a :class:`ContractViolation` that names the hook and what to change.

Also here: :func:`runtime_for` (the core's real HTTP runtime over any transport, for
a plugin's hook tests) and :class:`RecordingTransport`, :class:`FakeClock` (the core's
clock, moved by hand), :class:`Recorder` and :class:`ReplayTransport` (scrubbed
recordings of a real platform, served back), :class:`OAuthSimulator` (what a
simulator offers so the OAuth rules can play the platform's approve step),
:func:`model_problems` (deep validation of a returned model), and the browser kit of
:mod:`storelink.testing.browser` for testing the connect page in headless Chromium:
:func:`chromium_path`, :func:`launch_browser`, :func:`new_page`, :func:`serve_app`,
:class:`ChannelSite`, :class:`PageRecorder` and :func:`run_async` (Playwright, which
it drives, is imported on first use and is not a dependency of storelink).

The names load on first use, so the pytest plugin (:mod:`storelink.testing.pytest_plugin`,
loaded in every pytest run) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storelink.testing.browser import (
        ChannelSite,
        PageRecorder,
        chromium_path,
        launch_browser,
        new_page,
        run_async,
        serve_app,
    )
    from storelink.testing.checks import ContractViolation, UrlCase
    from storelink.testing.contract import PlatformContract
    from storelink.testing.fakes import FakeClock, FaultTransport
    from storelink.testing.oauth import OAuthSimulator
    from storelink.testing.recording import Recorder, ReplayMiss, ReplayTransport, scrub_exchange
    from storelink.testing.runtime import RecordingTransport, runtime_for
    from storelink.testing.validity import model_problems

__all__ = [
    "ChannelSite",
    "ContractViolation",
    "FakeClock",
    "FaultTransport",
    "OAuthSimulator",
    "PageRecorder",
    "PlatformContract",
    "Recorder",
    "RecordingTransport",
    "ReplayMiss",
    "ReplayTransport",
    "UrlCase",
    "chromium_path",
    "launch_browser",
    "model_problems",
    "new_page",
    "run_async",
    "runtime_for",
    "scrub_exchange",
    "serve_app",
]

_HOMES = {
    "ChannelSite": "browser",
    "PageRecorder": "browser",
    "chromium_path": "browser",
    "launch_browser": "browser",
    "new_page": "browser",
    "run_async": "browser",
    "serve_app": "browser",
    "ContractViolation": "checks",
    "UrlCase": "checks",
    "PlatformContract": "contract",
    "FakeClock": "fakes",
    "FaultTransport": "fakes",
    "OAuthSimulator": "oauth",
    "Recorder": "recording",
    "ReplayMiss": "recording",
    "ReplayTransport": "recording",
    "scrub_exchange": "recording",
    "RecordingTransport": "runtime",
    "runtime_for": "runtime",
    "model_problems": "validity",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'storelink.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"storelink.testing.{home}"), name)
