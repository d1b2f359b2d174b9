"""Plugin discovery, validation and routing."""

from __future__ import annotations

import itertools
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from storelink import (
    AccessToken,
    Capability,
    CredentialField,
    CredentialSchema,
    Page,
    PlatformInfo,
    PluginError,
    Product,
    Registry,
    Secret,
    StoreURL,
    StoreURLError,
    hookimpl,
)
from storelink.hookspecs import EVENT_HOOKS, PLATFORM_HOOKS

SCHEMA = CredentialSchema(fields=[CredentialField(name="key", label="Key", secret=True)])


def make_platform(slug: str, calls: list[str] | None = None) -> ModuleType:
    """Build a platform plugin module whose hooks record which platform was called."""
    seen = calls if calls is not None else []
    module = ModuleType(f"fake_{slug}")

    @hookimpl
    def platform_info() -> PlatformInfo:
        return PlatformInfo(slug=slug, title=slug.title(), credential_schema=SCHEMA, capabilities={Capability.PRODUCTS})

    @hookimpl
    def normalize_store_url(raw: str) -> StoreURL:
        seen.append(f"{slug}:normalize")
        if "bad" in raw:
            raise StoreURLError("bad store URL")
        return StoreURL(origin=f"https://{raw.strip().lower()}")

    @hookimpl
    async def fetch_products(cursor: Any) -> Page[Product]:
        seen.append(f"{slug}:fetch_products")
        return Page(items=[Product(id=f"{slug}-1", title="One")])

    @hookimpl
    async def authenticate(audience: str) -> AccessToken:
        seen.append(f"{slug}:authenticate")
        return AccessToken(value=Secret(f"token-{slug}"), expires_in=300, audience=audience)

    module.platform_info = platform_info  # type: ignore[attr-defined]
    module.normalize_store_url = normalize_store_url  # type: ignore[attr-defined]
    module.fetch_products = fetch_products  # type: ignore[attr-defined]
    module.authenticate = authenticate  # type: ignore[attr-defined]
    return module


def test_two_platforms_never_see_each_others_calls() -> None:
    calls: list[str] = []
    registry = Registry(autoload=False)
    alpha = registry.register_platform(make_platform("alpha", calls))
    beta = registry.register_platform(make_platform("beta", calls))
    assert alpha.normalize_store_url("Shop.Example.com").origin == "https://shop.example.com"
    assert calls == ["alpha:normalize"]
    beta.normalize_store_url("b.example.com")
    assert calls == ["alpha:normalize", "beta:normalize"]


def test_a_platform_registered_after_another_was_called_never_takes_its_calls() -> None:
    # The defect: pluggy returns the unfiltered caller while no other platform implements
    # a hook; cached, it let a later platform answer the first one's calls.
    calls: list[str] = []
    registry = Registry(autoload=False)
    alpha = registry.register_platform(make_platform("alpha", calls))
    alpha.normalize_store_url("a.example.com")
    registry.register_platform(make_platform("beta", calls))
    alpha.normalize_store_url("a.example.com")
    assert calls == ["alpha:normalize", "alpha:normalize"]


@pytest.mark.parametrize("order", list(itertools.permutations(["aaa", "bbb", "ccc"])))
async def test_routing_holds_for_every_order_of_registration_and_calls(order: tuple[str, ...]) -> None:
    # Register one platform at a time and, after each registration, call every platform
    # registered so far (in every rotation), so each hook is cached before the next arrives.
    registry = Registry(autoload=False)
    handles = {}
    for step, slug in enumerate(order):
        calls: list[str] = []
        handles[slug] = (registry.register_platform(make_platform(slug, calls)), calls)
        registered = list(order[: step + 1])
        for shift in range(len(registered)):
            for name in registered[shift:] + registered[:shift]:
                handle, seen = handles[name]
                seen.clear()
                assert handle.normalize_store_url(f"{name}.example.com").origin == f"https://{name}.example.com"
                page = await handle.fetch_products(ctx=None, cursor=None)  # type: ignore[arg-type]
                assert [p.id for p in page.items] == [f"{name}-1"]
                assert seen == [f"{name}:normalize", f"{name}:fetch_products"]


def test_routing_holds_under_concurrent_registration() -> None:
    registry = Registry(autoload=False)
    first_calls: list[str] = []
    first = registry.register_platform(make_platform("first", first_calls))
    stop = threading.Event()
    others: list[list[str]] = []
    made: list[int] = []

    def call_first() -> None:
        while not stop.is_set():
            first.normalize_store_url("first.example.com")
            made.append(1)

    callers = [threading.Thread(target=call_first) for _ in range(4)]
    for t in callers:
        t.start()
    try:
        for i in range(40):
            seen: list[str] = []
            others.append(seen)
            registry.register_platform(make_platform(f"p{i:02d}", seen))
            # Let the callers run between registrations (event-ordered, not timed).
            before = len(made)
            while len(made) < before + 8 and all(t.is_alive() for t in callers):
                time.sleep(0)
    finally:
        stop.set()
        for t in callers:
            t.join()
    assert first_calls
    assert set(first_calls) == {"first:normalize"}
    assert [seen for seen in others if seen] == []
    assert len(registry.available()) == 41


def test_a_wrapper_on_an_event_hook_is_refused_at_registration() -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def connection_created(self, connection: Any) -> Iterator[None]:
            yield

    registry = Registry(autoload=False)
    with pytest.raises(PluginError, match="event hooks take no wrappers") as info:
        registry.register_plugin(Wrapping(), name="wrapping")
    assert info.value.hook == "connection_created"
    assert not any(isinstance(p, Wrapping) for p in registry.pm.get_plugins())


async def test_async_platform_hooks_are_routed_and_awaited() -> None:
    calls: list[str] = []
    registry = Registry(autoload=False)
    registry.register_platform(make_platform("alpha", calls))
    beta = registry.register_platform(make_platform("beta", calls))
    page = await beta.fetch_products(ctx=None, cursor=None)  # type: ignore[arg-type]
    assert [p.id for p in page.items] == ["beta-1"]
    assert calls == ["beta:fetch_products"]


async def test_cross_cutting_wrappers_still_apply_to_routed_calls() -> None:
    seen: list[str] = []

    class Recorder:
        @hookimpl(wrapper=True)
        def fetch_products(self) -> Iterator[Any]:
            seen.append("before")
            result = yield
            seen.append("after")
            return result

    registry = Registry(autoload=False)
    registry.register_platform(make_platform("alpha"))
    beta = registry.register_platform(make_platform("beta"))
    registry.register_plugin(Recorder(), name="recorder")
    await beta.fetch_products(ctx=None, cursor=None)  # type: ignore[arg-type]
    assert seen == ["before", "after"]


def test_a_misspelled_hookimpl_fails_with_its_name() -> None:
    module = make_platform("alpha")

    @hookimpl
    def fetch_prodcuts() -> None:
        """Misspelled on purpose."""

    module.fetch_prodcuts = fetch_prodcuts  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="fetch_prodcuts") as info:
        Registry(autoload=False).register_platform(module)
    assert "unknown hook" in str(info.value)


def test_a_hookimpl_with_a_wrong_argument_name_fails() -> None:
    module = make_platform("alpha")

    @hookimpl
    async def fetch_orders(ctx: Any, page: Any) -> None:
        """Takes 'page', which the spec does not have."""

    module.fetch_orders = fetch_orders  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="fetch_orders"):
        Registry(autoload=False).register_platform(module)


def test_a_sync_implementation_of_an_async_hook_fails() -> None:
    module = make_platform("alpha")

    @hookimpl
    def fetch_shipping_methods(ctx: Any) -> list[Any]:
        return []

    module.fetch_shipping_methods = fetch_shipping_methods  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match=r"fetch_shipping_methods.*async def"):
        Registry(autoload=False).register_platform(module)


async def test_a_hook_returning_the_wrong_type_is_a_plugin_error() -> None:
    module = make_platform("alpha")

    @hookimpl
    async def fetch_products(cursor: Any) -> Any:
        return Page(items=["not a product"])

    module.fetch_products = fetch_products  # type: ignore[attr-defined]
    platform = Registry(autoload=False).register_platform(module)
    with pytest.raises(PluginError, match=r"'fetch_products'.*page item 0 is str"):
        await platform.fetch_products(ctx=None, cursor=None)  # type: ignore[arg-type]


async def test_an_unimplemented_hook_is_named() -> None:
    platform = Registry(autoload=False).register_platform(make_platform("alpha"))
    with pytest.raises(PluginError, match="'get_order': is not implemented"):
        await platform.get_order(ctx=None, order_id="1")  # type: ignore[arg-type]


async def test_a_non_storelink_exception_becomes_a_plugin_error() -> None:
    module = make_platform("alpha")

    @hookimpl
    async def fetch_products(cursor: Any) -> Any:
        raise KeyError("items")

    module.fetch_products = fetch_products  # type: ignore[attr-defined]
    platform = Registry(autoload=False).register_platform(module)
    with pytest.raises(PluginError, match="raised KeyError") as info:
        await platform.fetch_products(ctx=None, cursor=None)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, KeyError)


def test_store_url_errors_pass_through_with_their_message() -> None:
    platform = Registry(autoload=False).register_platform(make_platform("alpha"))
    with pytest.raises(StoreURLError, match="bad store URL"):
        platform.normalize_store_url("bad")


def test_a_slug_can_be_registered_once() -> None:
    registry = Registry(autoload=False)
    registry.register_platform(make_platform("alpha"))
    with pytest.raises(PluginError, match="already registered"):
        registry.register_platform(make_platform("alpha"))


def test_a_platform_without_platform_info_is_refused() -> None:
    module = ModuleType("empty")
    with pytest.raises(PluginError, match="must implement platform_info"):
        Registry(autoload=False).register_platform(module)


def test_event_hooks_reach_every_plugin_and_a_failing_one_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[str] = []

    class Broken:
        @hookimpl
        def connection_created(self, connection: Any) -> None:
            raise RuntimeError("boom")

    class Listener:
        @hookimpl
        def connection_created(self, connection: Any) -> None:
            got.append(connection)

    registry = Registry(autoload=False)
    registry.register_plugin(Broken(), name="broken")
    registry.register_plugin(Listener(), name="listener")
    registry.fire("connection_created", connection="c1")
    assert got == ["c1"]
    assert "connection_created of plugin plugin:broken raised" in caplog.text


def test_every_hook_has_a_spec_and_is_classified() -> None:
    from storelink import hookspecs

    assert set(PLATFORM_HOOKS) | set(EVENT_HOOKS) == {
        name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "storelink_spec")
    }


# --------------------------------------------------------------------------- entry points


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests install throwaway distributions."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def install_dist(site: Path, name: str, module_source: str, group: str = "storelink.platforms", slug: str = "") -> None:
    """Write a module and a dist-info declaring it as an entry point."""
    module = f"sl_test_{name}"
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{slug or name} = {module}\n")
    sys.modules.pop(module, None)


GOOD_PLATFORM = """
from storelink import Capability, CredentialField, CredentialSchema, PlatformInfo, hookimpl

@hookimpl
def platform_info():
    return PlatformInfo(slug="{slug}", title="{slug} shop",
                        credential_schema=CredentialSchema(fields=[CredentialField(name="key", label="Key")]),
                        capabilities=[Capability.PRODUCTS])
"""


def test_platforms_load_from_entry_points_lazily(site: Path) -> None:
    install_dist(site, "lazyone", GOOD_PLATFORM.format(slug="lazyone"))
    install_dist(site, "lazytwo", GOOD_PLATFORM.format(slug="lazytwo"))
    registry = Registry(autoload=True)
    assert {"lazyone", "lazytwo"} <= set(registry.available())
    assert registry.platform("lazyone").info.title == "lazyone shop"
    assert "sl_test_lazyone" in sys.modules
    assert "sl_test_lazytwo" not in sys.modules


def test_a_platform_that_raises_on_import_fails_loudly_with_its_name(site: Path) -> None:
    install_dist(site, "broken", "raise ImportError('needs libfoo')\n")
    with pytest.raises(PluginError, match=r"plugin 'broken'.*ImportError: needs libfoo"):
        Registry(autoload=True).platform("broken")


def test_a_slug_that_does_not_match_the_entry_point_is_refused(site: Path) -> None:
    install_dist(site, "misnamed", GOOD_PLATFORM.format(slug="other"))
    with pytest.raises(PluginError, match="registered as 'misnamed'"):
        Registry(autoload=True).platform("misnamed")


def test_an_unknown_platform_says_what_is_installed(site: Path) -> None:
    install_dist(site, "known", GOOD_PLATFORM.format(slug="known"))
    with pytest.raises(PluginError, match=r"no platform 'nosuch' is installed \(installed: .*known"):
        Registry(autoload=True).platform("nosuch")


def test_a_broken_cross_cutting_plugin_is_not_skipped(site: Path) -> None:
    install_dist(site, "okplatform", GOOD_PLATFORM.format(slug="okplatform"))
    install_dist(site, "badplugin", "import nonexistent_module_xyz\n", group="storelink.plugins")
    with pytest.raises(PluginError, match="badplugin"):
        Registry(autoload=True).platform("okplatform")


def test_autoload_can_be_switched_off(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_dist(site, "hidden", GOOD_PLATFORM.format(slug="hidden"))
    monkeypatch.setenv("STORELINK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry()
    assert "hidden" not in registry.available()
    with pytest.raises(PluginError, match="autoload is off"):
        registry.platform("hidden")


def test_credentials_expire_at_is_optional_and_must_be_aware() -> None:
    from datetime import datetime

    plain = Registry(autoload=False).register_platform(make_platform("alpha"))
    creds = SCHEMA.parse({"key": "k"})
    assert plain.credentials_expire_at(creds) is None

    module = make_platform("beta")

    @hookimpl
    def credentials_expire_at(credentials: Any) -> datetime:
        return datetime(2030, 1, 1)  # naive on purpose

    module.credentials_expire_at = credentials_expire_at  # type: ignore[attr-defined]
    naive = Registry(autoload=False).register_platform(module)
    with pytest.raises(PluginError, match=r"credentials_expire_at.*naive"):
        naive.credentials_expire_at(creds)
