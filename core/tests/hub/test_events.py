"""Events fire from one place: one typed ``Events`` method per event hook, over ``Registry.fire``."""

from __future__ import annotations

import ast
import inspect
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from storelink import hookimpl, hookspecs
from storelink.events import Events
from storelink.models import Connection, ConnectionStatus, StoreURL
from storelink.plugins import Registry

SRC = Path(__file__).resolve().parents[2] / "src" / "storelink"

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONN = Connection(
    id="c1",
    platform="fake",
    store_url=StoreURL(origin="https://shop.example.com"),
    status=ConnectionStatus.ACTIVE,
    created_at=NOW,
    updated_at=NOW,
)


def _methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(Events, inspect.isfunction) if not name.startswith("_")}


def test_every_event_hook_has_exactly_one_firing_method_and_nothing_else() -> None:
    assert _methods() == set(hookspecs.EVENT_HOOKS)


@pytest.mark.parametrize("hook", hookspecs.EVENT_HOOKS)
def test_each_method_takes_its_hooks_arguments(hook: str) -> None:
    spec = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    method = list(inspect.signature(getattr(Events, hook)).parameters)[1:]
    assert method == spec


class Recorder:
    """Listens to every event hook and keeps what each received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def connection_created(self, connection: Connection) -> None:
        self.calls.append(("connection_created", {"connection": connection}))

    @hookimpl
    def connection_status_changed(
        self, connection: Connection, old: ConnectionStatus, new: ConnectionStatus, reason: str | None
    ) -> None:
        self.calls.append(
            ("connection_status_changed", {"connection": connection, "old": old, "new": new, "reason": reason})
        )

    @hookimpl
    def token_refreshed(
        self, connection_id: str, platform: str, audience: str, expires_in: float, renewed: bool
    ) -> None:
        args = {"connection_id": connection_id, "platform": platform, "audience": audience}
        self.calls.append(("token_refreshed", {**args, "expires_in": expires_in, "renewed": renewed}))

    @hookimpl
    def order_created(self, connection: Connection, order: object, replayed: bool) -> None:
        self.calls.append(("order_created", {"connection": connection, "order": order, "replayed": replayed}))


class Broken:
    @hookimpl
    def connection_created(self, connection: Connection) -> None:
        raise RuntimeError("listener failed")


ARGUMENTS: dict[str, dict[str, Any]] = {
    "connection_created": {"connection": CONN},
    "connection_status_changed": {
        "connection": CONN,
        "old": ConnectionStatus.ACTIVE,
        "new": ConnectionStatus.REVOKED,
        "reason": "key rejected",
    },
    "token_refreshed": {
        "connection_id": "c1",
        "platform": "fake",
        "audience": "admin",
        "expires_in": 300.0,
        "renewed": True,
    },
    "order_created": {"connection": CONN, "order": Decimal("1"), "replayed": False},
}


def test_the_arguments_table_covers_every_event_hook() -> None:
    assert set(ARGUMENTS) == set(hookspecs.EVENT_HOOKS)


@pytest.mark.parametrize("hook", hookspecs.EVENT_HOOKS)
def test_each_method_fires_its_hook_with_its_arguments(hook: str) -> None:
    registry = Registry(autoload=False)
    recorder = Recorder()
    registry.register_plugin(recorder, name="recorder")
    getattr(Events(registry), hook)(*ARGUMENTS[hook].values())
    assert recorder.calls == [(hook, ARGUMENTS[hook])]


def test_a_raising_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(autoload=False)
    recorder = Recorder()
    registry.register_plugin(Broken(), name="broken")
    registry.register_plugin(recorder, name="recorder")
    with caplog.at_level(logging.ERROR, logger="storelink.plugins"):
        Events(registry).connection_created(CONN)
    assert recorder.calls == [("connection_created", {"connection": CONN})]
    assert "event hook connection_created of plugin plugin:broken raised" in caplog.text


def _fire_calls(path: Path) -> list[str]:
    """Return the ``.fire(...)`` calls in *path*, as source text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fire"
    ]


def test_only_events_calls_registry_fire() -> None:
    """Nothing else in the core fires an event by its name."""
    firing = {
        str(path.relative_to(SRC)): calls
        for path in SRC.rglob("*.py")
        if (calls := _fire_calls(path)) and path.name != "events.py"
    }
    assert firing == {}
    assert len(_fire_calls(SRC / "events.py")) == len(hookspecs.EVENT_HOOKS)
