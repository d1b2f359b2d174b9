"""Finding, loading and calling plugins.

Platforms are entry points in the ``storelink.platforms`` group (name = slug) and
cross-cutting plugins in ``storelink.plugins``. Both are loaded with stevedore, and
lazily: asking for the ``occ`` platform imports only the OCC plugin (and the
cross-cutting ones). A plugin that fails to import, or whose hookimpls do not match the
specs, raises :class:`~storelink.PluginError` naming it; nothing is skipped silently.

Set ``STORELINK_DISABLE_PLUGIN_AUTOLOAD=1`` to load no entry point at all; then
register plugins in-process with :meth:`Registry.register_platform` and
:meth:`Registry.register_plugin`.

The rest of the core calls platforms through :class:`Platform`, a typed facade:
nothing outside this module writes ``pm.hook.x(...)``. Events are fired through
:class:`storelink.events.Events`, one typed method per event hook, over
:meth:`Registry.fire`.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy
from stevedore import ExtensionManager, NamedExtensionManager

from storelink import hookspecs

if TYPE_CHECKING:
    import httpx

from storelink.context import PlatformContext, running_hook
from storelink.credentials import Credentials, Secret
from storelink.errors import PluginError, StorelinkError, StoreURLError
from storelink.models import (
    AccessReport,
    AccessToken,
    Cursor,
    ErrorDetail,
    InventoryLevel,
    Order,
    OrderDraft,
    Page,
    PlatformInfo,
    Product,
    ShippingMethod,
    StoreURL,
)

__all__ = ["PLATFORM_GROUP", "PLUGIN_GROUP", "Platform", "Registry", "default_registry"]

PLATFORM_GROUP = "storelink.platforms"
PLUGIN_GROUP = "storelink.plugins"
AUTOLOAD_ENV = "STORELINK_DISABLE_PLUGIN_AUTOLOAD"

log = logging.getLogger("storelink.plugins")
T = TypeVar("T")


def _raise_load_failure(_manager: object, entrypoint: importlib.metadata.EntryPoint, exc: BaseException) -> None:
    raise PluginError(
        f"failed to load entry point {entrypoint.value!r}: {type(exc).__name__}: {exc}", plugin=entrypoint.name
    ) from exc


class Registry:
    """The plugin manager of one host: which platforms and plugins are loaded.

    :param autoload: Load entry points on demand. Defaults to ``True`` unless
        ``STORELINK_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """

    def __init__(self, *, autoload: bool | None = None) -> None:
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        self.autoload = autoload
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._platforms: dict[str, object] = {}
        self._handles: dict[str, Platform] = {}
        self._cross_loaded = False
        self._scan: dict[str, list[str]] | None = None
        self._lock = threading.RLock()
        # Bumped on every registration change: a platform's cached hook callers are
        # only valid for the set of platforms they were built against.
        self.generation = 0
        # stevedore memoises entry points per group for the life of the process; a new
        # registry must see what is installed now (a plugin installed since start-up).
        for group in (PLATFORM_GROUP, PLUGIN_GROUP):
            ExtensionManager.ENTRY_POINT_CACHE.pop(group, None)

    # ------------------------------------------------------------------ registration

    def register_platform(self, plugin: object, *, slug: str | None = None) -> Platform:
        """Register a platform plugin in-process (a module or an object with hookimpls).

        :param slug: Defaults to the slug its ``platform_info`` returns.
        :raises PluginError: The plugin breaks the hook contract, or its slug is taken.
        """
        with self._lock:
            name = slug or getattr(plugin, "__name__", None) or type(plugin).__name__
            self._register(plugin, f"platform:{name}", name)
            try:
                info = self._call_info(plugin, name)
            except BaseException:
                self.pm.unregister(plugin)
                raise
            if slug is not None and info.slug != slug:
                self.pm.unregister(plugin)
                raise PluginError(f"platform_info() says slug {info.slug!r}, registered as {slug!r}", plugin=slug)
            if info.slug in self._platforms:
                self.pm.unregister(plugin)
                raise PluginError("a platform with this slug is already registered", plugin=info.slug)
            self._platforms[info.slug] = plugin
            self._handles.pop(info.slug, None)
            return self.platform(info.slug)

    def register_plugin(self, plugin: object, *, name: str | None = None) -> None:
        """Register a cross-cutting plugin (event hooks, wrappers) in-process."""
        with self._lock:
            label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            self._register(plugin, f"plugin:{label}", label)
            self._handles.clear()

    def _register(self, plugin: object, registered_name: str, label: str) -> None:
        self.generation += 1
        try:
            self.pm.register(plugin, name=registered_name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise PluginError(str(exc), plugin=label) from exc
        except ValueError as exc:  # already registered
            raise PluginError(str(exc), plugin=label) from exc
        for name in dir(plugin):
            if not name.startswith("_") and self.pm.parse_hookimpl_opts(plugin, name) is not None:
                self._check_kind(plugin, name, label)

    def _check_kind(self, plugin: object, name: str, label: str) -> None:
        impl = getattr(plugin, name)
        async_hooks = set(hookspecs.PLATFORM_HOOKS) - set(hookspecs.PURE_HOOKS)
        opts: Any = self.pm.parse_hookimpl_opts(plugin, name) or {}
        if opts.get("wrapper") or opts.get("hookwrapper"):
            if name in hookspecs.EVENT_HOOKS:
                self.pm.unregister(plugin)
                raise PluginError(
                    "event hooks take no wrappers (each listener is called on its own, so a wrapper "
                    "would never run); implement it as a plain @hookimpl",
                    plugin=label,
                    hook=name,
                )
            return
        if name in async_hooks and not inspect.iscoroutinefunction(impl):
            self.pm.unregister(plugin)
            raise PluginError("must be declared 'async def'", plugin=label, hook=name)
        if name not in async_hooks and inspect.iscoroutinefunction(impl):
            self.pm.unregister(plugin)
            raise PluginError("must be a plain function, not 'async def'", plugin=label, hook=name)

    # ------------------------------------------------------------------ discovery

    def _installed(self, group: str) -> list[str]:
        """Return the entry-point names of *group*, from one scan of the installed distributions.

        Scanning reads every distribution's metadata, so a registry does it once for
        both groups; the cost of loading one platform then does not grow with what
        else is installed.
        """
        if self._scan is None:
            found = importlib.metadata.entry_points()
            self._scan = {g: sorted({ep.name for ep in found.select(group=g)}) for g in (PLATFORM_GROUP, PLUGIN_GROUP)}
        return self._scan[group]

    def available(self) -> list[str]:
        """Return the slugs of every platform: registered, or installed as an entry point."""
        names = set(self._platforms)
        if self.autoload:
            names.update(self._installed(PLATFORM_GROUP))
        return sorted(names)

    def _load_cross_cutting(self) -> None:
        if self._cross_loaded or not self.autoload:
            return
        self._cross_loaded = True
        names = self._installed(PLUGIN_GROUP)
        if not names:
            return
        manager: Any = NamedExtensionManager(
            PLUGIN_GROUP, names=names, on_load_failure_callback=_raise_load_failure, invoke_on_load=False
        )
        for ext in manager:
            self.register_plugin(ext.plugin, name=ext.name)

    def _load_platform(self, slug: str) -> None:
        if not self.autoload:
            raise PluginError(f"no platform {slug!r} is registered (autoload is off)", plugin=slug)
        installed = set(self._installed(PLATFORM_GROUP))
        if slug not in installed:
            choices = ", ".join(sorted(installed | set(self._platforms))) or "none"
            raise PluginError(
                f"no platform {slug!r} is installed (installed: {choices}); pip install storelink-{slug}", plugin=slug
            )
        manager: Any = NamedExtensionManager(
            PLATFORM_GROUP,
            names=[slug],
            on_load_failure_callback=_raise_load_failure,
            invoke_on_load=False,
            name_order=True,
        )
        for ext in manager:
            self.register_platform(ext.plugin, slug=ext.name)

    def platform(self, slug: str) -> Platform:
        """Return the handle of platform *slug*, loading its plugin if needed.

        :raises PluginError: It is not installed, failed to load, or breaks the contract.
        """
        with self._lock:
            handle = self._handles.get(slug)
            if handle is not None:
                return handle
            self._load_cross_cutting()
            if slug not in self._platforms:
                self._load_platform(slug)
            handle = Platform(self, slug, self._platforms[slug])
            self._handles[slug] = handle
            return handle

    def platforms(self) -> list[Platform]:
        """Load and return every available platform, sorted by slug."""
        return [self.platform(slug) for slug in self.available()]

    # ------------------------------------------------------------------ calling

    def _call_info(self, plugin: object, label: str) -> PlatformInfo:
        impl = getattr(plugin, "platform_info", None)
        if impl is None or self.pm.parse_hookimpl_opts(plugin, "platform_info") is None:
            raise PluginError("a platform plugin must implement platform_info", plugin=label, hook="platform_info")
        try:
            info = impl()
        except StorelinkError:
            raise
        except Exception as exc:
            raise PluginError(f"raised {type(exc).__name__}: {exc}", plugin=label, hook="platform_info") from exc
        if not isinstance(info, PlatformInfo):
            raise PluginError(
                f"returned {type(info).__name__}, expected PlatformInfo", plugin=label, hook="platform_info"
            )
        return info

    def caller(self, slug: str, hook: str) -> Callable[..., Any]:
        """Return a caller of *hook* that reaches platform *slug* and cross-cutting plugins only.

        The caller is valid for the platforms registered now (see :attr:`generation`):
        pluggy hands back the unfiltered caller while no other platform implements
        *hook*, so a platform registered later would otherwise be reached too.
        """
        with self._lock:
            others = [p for s, p in self._platforms.items() if s != slug]
            return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def call(self, slug: str, hook: str, cache: dict[str, tuple[int, Callable[..., Any]]], **kwargs: Any) -> Any:
        """Call *hook* routed to platform *slug*, with callers cached in *cache* per generation.

        The lookup and the call hold the registry's lock, so a registration on another
        thread can never slip another platform's implementation into this call. For
        async hooks the call only creates the coroutine; it is awaited outside the lock.
        """
        with self._lock:
            cached = cache.get(hook)
            if cached is None or cached[0] != self.generation:
                cached = (self.generation, self.caller(slug, hook))
                cache[hook] = cached
            return cached[1](**kwargs)

    def fire(self, hook: str, **kwargs: Any) -> None:
        """Call event *hook* on every plugin; an exception in one is logged, not raised.

        The core fires through :class:`storelink.events.Events`, which names each
        event and types its arguments; event hooks take no wrappers (refused at
        registration), so each listener is called on its own.
        """
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            accepted = {k: v for k, v in kwargs.items() if k in impl.argnames}
            try:
                impl.function(**accepted)
            except Exception:
                log.exception("event hook %s of plugin %s raised", hook, impl.plugin_name)


class Platform:
    """A typed handle on one platform's hooks.

    Every call checks the contract: a hook that is missing, returns ``None`` where a
    value is required, returns the wrong type, or raises a non-storelink exception
    becomes a :class:`PluginError` naming the platform and the hook.
    """

    def __init__(self, registry: Registry, slug: str, plugin: object) -> None:
        self.registry = registry
        self.slug = slug
        self.plugin = plugin
        self.info: PlatformInfo = registry._call_info(plugin, slug)
        self._callers: dict[str, tuple[int, Callable[..., Any]]] = {}

    def __repr__(self) -> str:
        return f"<Platform {self.slug}: {self.info.title}>"

    def implements(self, hook: str) -> bool:
        """Whether the platform plugin itself implements *hook*."""
        return self.registry.pm.parse_hookimpl_opts(self.plugin, hook) is not None and hasattr(self.plugin, hook)

    def _call(self, hook: str, **kwargs: Any) -> Any:
        return self.registry.call(self.slug, hook, self._callers, **kwargs)

    def _fail(self, hook: str, problem: str) -> PluginError:
        return PluginError(problem, plugin=self.slug, hook=hook)

    def _sync(self, hook: str, kinds: type | tuple[type, ...] | None, **kwargs: Any) -> Any:
        try:
            result = self._call(hook, **kwargs)
        except StorelinkError:
            raise
        except Exception as exc:
            raise self._fail(hook, f"raised {type(exc).__name__}: {exc}") from exc
        if kinds is not None and not isinstance(result, kinds):
            raise self._fail(hook, f"returned {type(result).__name__}, expected {_names(kinds)}")
        return result

    async def _async(self, hook: str, kinds: type | tuple[type, ...] | None, required: bool, **kwargs: Any) -> Any:
        if required and not self.implements(hook):
            raise self._fail(hook, "is not implemented by this platform")
        try:
            with running_hook(hook):  # the hook's requests are named after it
                pending = self._call(hook, **kwargs)
                if pending is None:
                    result = None
                elif inspect.isawaitable(pending):
                    result = await pending
                else:
                    raise self._fail(hook, f"returned {type(pending).__name__}; platform hooks must be 'async def'")
        except StorelinkError:
            raise
        except Exception as exc:
            raise self._fail(hook, f"raised {type(exc).__name__}: {exc}") from exc
        if result is None:
            if required:
                raise self._fail(hook, f"returned None, expected {_names(kinds)}")
            return None
        if kinds is not None and not isinstance(result, kinds):
            raise self._fail(hook, f"returned {type(result).__name__}, expected {_names(kinds)}")
        return result

    async def _page(self, hook: str, item: type[T], **kwargs: Any) -> Page[T]:
        page = await self._async(hook, Page, True, **kwargs)
        for i, obj in enumerate(page.items):
            if not isinstance(obj, item):
                raise self._fail(hook, f"page item {i} is {type(obj).__name__}, expected {item.__name__}")
        return cast(Page[T], page)

    # ------------------------------------------------------------------ pure hooks

    def normalize_store_url(self, raw: str, *, allow_loopback: bool = False) -> StoreURL:
        """Return the canonical store URL for *raw*.

        :raises StoreURLError: The URL is not acceptable; the message says why.
        """
        if not isinstance(raw, str):
            raise StoreURLError("the store URL must be text")
        try:
            result = self._call("normalize_store_url", raw=raw, allow_loopback=allow_loopback)
        except StoreURLError:
            raise
        except StorelinkError as exc:
            problem = f"raised {type(exc).__name__}; only StoreURLError may escape"
            raise self._fail("normalize_store_url", problem) from exc
        except Exception as exc:
            raise self._fail("normalize_store_url", f"raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, StoreURL):
            raise self._fail("normalize_store_url", f"returned {type(result).__name__}, expected StoreURL")
        return result

    def describe_error(self, response: httpx.Response) -> ErrorDetail | None:
        """Decode *response*'s error body with the platform's ``describe_error``, if any."""
        if not self.implements("describe_error"):
            return None
        result = self._sync("describe_error", (ErrorDetail, type(None)), response=response)
        return cast("ErrorDetail | None", result)

    def credentials_expire_at(self, credentials: Credentials) -> datetime | None:
        """Return when *credentials* expire, or ``None`` (also when the hook is not implemented)."""
        if not self.implements("credentials_expire_at"):
            return None
        result = self._sync("credentials_expire_at", (datetime, type(None)), credentials=credentials)
        if result is not None and result.tzinfo is None:
            raise self._fail("credentials_expire_at", "returned a naive datetime; return an aware one")
        return cast("datetime | None", result)

    def build_authorization_url(
        self,
        store_url: StoreURL,
        *,
        client_id: str,
        scopes: tuple[str, ...],
        state: str,
        redirect_uri: str,
        code_challenge: str | None,
        callback_url: str | None = None,
    ) -> str:
        """Return the platform's authorization URL (see :func:`storelink.hookspecs.build_authorization_url`)."""
        hook = "build_authorization_url"
        if not self.implements(hook):
            raise self._fail(hook, "is not implemented, but platform_info declares an OAuth or approval flow")
        result = self._sync(
            hook,
            str,
            store_url=store_url,
            client_id=client_id,
            scopes=scopes,
            state=state,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            callback_url=callback_url,
        )
        return cast(str, result)

    def verify_callback(self, query: str, params: Mapping[str, str], app_credentials: Credentials) -> bool:
        """Whether the platform accepts the callback; ``True`` when it does not implement the check."""
        if not self.implements("verify_callback"):
            return True
        result = self._sync("verify_callback", bool, query=query, params=params, app_credentials=app_credentials)
        return cast(bool, result)

    def receive_credentials(self, body: Mapping[str, object], headers: Mapping[str, str]) -> tuple[str, Credentials]:
        """Read an approval flow's POST (see :func:`storelink.hookspecs.receive_credentials`).

        :raises CredentialsError: The plugin refused the body.
        :raises PluginError: Not implemented, or it returned something else than
            ``(state, Credentials)``.
        """
        hook = "receive_credentials"
        if not self.implements(hook):
            raise self._fail(hook, "is not implemented, but platform_info declares an approval flow")
        result = self._sync(hook, tuple, body=body, headers=headers)
        if len(result) != 2 or not isinstance(result[0], str) or not isinstance(result[1], Credentials):
            raise self._fail(hook, "must return (state, Credentials)")
        return cast("tuple[str, Credentials]", result)

    # ------------------------------------------------------------------ async hooks

    async def complete_authorization(
        self,
        ctx: PlatformContext,
        *,
        params: Mapping[str, str],
        app_credentials: Credentials,
        redirect_uri: str,
        code_verifier: Secret | None,
    ) -> Credentials:
        """Exchange the callback's code for credentials (see :func:`storelink.hookspecs.complete_authorization`)."""
        result = await self._async(
            "complete_authorization",
            Credentials,
            True,
            ctx=ctx,
            params=params,
            app_credentials=app_credentials,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )
        return cast(Credentials, result)

    async def authenticate(self, ctx: PlatformContext, audience: str) -> AccessToken:
        """Exchange credentials for a token (see :func:`storelink.hookspecs.authenticate`)."""
        token = await self._async("authenticate", AccessToken, True, ctx=ctx, audience=audience)
        return cast(AccessToken, token)

    async def refresh_token(self, ctx: PlatformContext, token: AccessToken) -> AccessToken | None:
        """Renew *token*, or ``None`` when the platform has no refresh."""
        if not self.implements("refresh_token"):
            return None
        return cast("AccessToken | None", await self._async("refresh_token", AccessToken, False, ctx=ctx, token=token))

    async def check_access(self, ctx: PlatformContext) -> AccessReport:
        """Probe each capability."""
        return cast(AccessReport, await self._async("check_access", AccessReport, True, ctx=ctx))

    async def fetch_products(self, ctx: PlatformContext, cursor: Cursor | None) -> Page[Product]:
        """Return one page of products."""
        return await self._page("fetch_products", Product, ctx=ctx, cursor=cursor)

    async def fetch_orders(self, ctx: PlatformContext, cursor: Cursor | None, since: datetime | None) -> Page[Order]:
        """Return one page of orders changed since *since*."""
        return await self._page("fetch_orders", Order, ctx=ctx, cursor=cursor, since=since)

    async def get_order(self, ctx: PlatformContext, order_id: str) -> Order:
        """Return one order by id."""
        return cast(Order, await self._async("get_order", Order, True, ctx=ctx, order_id=order_id))

    async def fetch_inventory(
        self, ctx: PlatformContext, cursor: Cursor | None, sku_ids: tuple[str, ...] | None
    ) -> Page[InventoryLevel]:
        """Return one page of inventory levels."""
        return await self._page("fetch_inventory", InventoryLevel, ctx=ctx, cursor=cursor, sku_ids=sku_ids)

    async def fetch_shipping_methods(self, ctx: PlatformContext) -> list[ShippingMethod]:
        """Return every shipping method."""
        methods = await self._async("fetch_shipping_methods", list, True, ctx=ctx)
        for i, m in enumerate(methods):
            if not isinstance(m, ShippingMethod):
                raise self._fail("fetch_shipping_methods", f"item {i} is {type(m).__name__}, expected ShippingMethod")
        return cast(list[ShippingMethod], methods)

    async def create_order(self, ctx: PlatformContext, draft: OrderDraft) -> Order:
        """Create an order (the ledger in :mod:`storelink.hub` guards idempotency)."""
        return cast(Order, await self._async("create_order", Order, True, ctx=ctx, draft=draft))

    async def find_order(self, ctx: PlatformContext, reference: str) -> Order | None:
        """Find the order made for *reference*."""
        return cast("Order | None", await self._async("find_order", Order, False, ctx=ctx, reference=reference))


def _names(kinds: type | tuple[type, ...] | None) -> str:
    if kinds is None:
        return "a value"
    if isinstance(kinds, tuple):
        return " or ".join(k.__name__ for k in kinds if k is not type(None))
    return kinds.__name__


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """Return the process-wide registry used by :func:`storelink.get_platform`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default
