"""storelink: one API over every commerce platform.

The public API is what ``__all__`` lists: import it from here (``from storelink import
Hub, PagingConfig``). Every type a public signature names is among it. The modules
behind it (``storelink.hub``, ``storelink.session``, ``storelink.models``...) are
implementation; the few public modules are listed in ``docs/concepts.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storelink._lazy import lazy_exports as _lazy_exports
from storelink._version import __version__
from storelink.errors import (
    AuthorizationError,
    ConfigurationError,
    ConflictError,
    ConnectionRevokedError,
    ConnectionStateError,
    CredentialsError,
    EgressError,
    InputError,
    MappingError,
    NotFoundError,
    OrderOutcomeUnknown,
    PlatformError,
    PluginError,
    ReadInterruptedError,
    RejectedError,
    RetryableError,
    StoreBusyError,
    StorelinkError,
    StoreURLError,
    UnknownKeyError,
    VaultError,
)

if TYPE_CHECKING:
    from storelink.blocking import BlockingIterator, SyncHub, SyncSession
    from storelink.codec import (
        cursor_from_str,
        cursor_to_str,
        draft_from_jsonable,
        order_from_jsonable,
        payload_hash,
        to_jsonable,
    )
    from storelink.context import PlatformContext, PlatformHTTP
    from storelink.credentials import (
        ApprovalFlow,
        CredentialField,
        Credentials,
        CredentialSchema,
        OAuthFlow,
        Secret,
        SettingsSchema,
    )
    from storelink.hookspecs import hookimpl
    from storelink.http import (
        Clock,
        ConnectionRuntime,
        EgressPolicy,
        HttpConfig,
        Resolver,
        RetryConfig,
        StaticResolver,
        SystemClock,
    )
    from storelink.hub import Hub, Validation
    from storelink.ledger import OrderResult
    from storelink.models import (
        AccessReport,
        AccessToken,
        Address,
        Capability,
        CapabilityCheck,
        Connection,
        ConnectionStatus,
        Cursor,
        Customer,
        ErrorDetail,
        Image,
        InventoryLevel,
        Money,
        OffsetCursor,
        Order,
        OrderDraft,
        OrderLine,
        OrderTotals,
        Page,
        Payment,
        PlatformInfo,
        Product,
        ShippingMethod,
        ShippingRate,
        StoreURL,
        TokenCursor,
        Variant,
    )
    from storelink.paging import (
        PagingConfig,
        cursor_token,
        next_offset,
        numbered_page,
        offset_page,
        offset_start,
        page_number_start,
        token_page,
    )
    from storelink.plugins import Platform, Registry, default_registry
    from storelink.runtimes import ConnectionStats, HubStats
    from storelink.session import Session
    from storelink.store import ConnectionStore, Submission, SubmissionState, open_store
    from storelink.sync import (
        SyncBusyError,
        SyncJob,
        SyncLimitError,
        SyncProgress,
        SyncResult,
        SyncStoppedError,
        SyncTargetError,
        SyncWriteError,
    )
    from storelink.vault import KeyRing, Vault

#: Public names whose modules are imported on first use, so that ``import storelink``
#: (and ``storelink --help``) stays cheap: the models (attrs), the plugin machinery
#: (pluggy, stevedore, the entry-point scan), the HTTP stack, the store and the vault
#: load only when a host or a plugin reaches for them. The errors load with the package.
_LAZY = {
    "AccessReport": "storelink.models",
    "AccessToken": "storelink.models",
    "Address": "storelink.models",
    "BlockingIterator": "storelink.blocking",
    "Capability": "storelink.models",
    "CapabilityCheck": "storelink.models",
    "Clock": "storelink.http",
    "Connection": "storelink.models",
    "ConnectionRuntime": "storelink.http",
    "ConnectionStats": "storelink.runtimes",
    "ConnectionStatus": "storelink.models",
    "ConnectionStore": "storelink.store",
    "CredentialField": "storelink.credentials",
    "CredentialSchema": "storelink.credentials",
    "Credentials": "storelink.credentials",
    "Cursor": "storelink.models",
    "Customer": "storelink.models",
    "EgressPolicy": "storelink.http",
    "ErrorDetail": "storelink.models",
    "HttpConfig": "storelink.http",
    "Hub": "storelink.hub",
    "HubStats": "storelink.runtimes",
    "Image": "storelink.models",
    "InventoryLevel": "storelink.models",
    "KeyRing": "storelink.vault",
    "Money": "storelink.models",
    "ApprovalFlow": "storelink.credentials",
    "OAuthFlow": "storelink.credentials",
    "OffsetCursor": "storelink.models",
    "Order": "storelink.models",
    "OrderDraft": "storelink.models",
    "OrderLine": "storelink.models",
    "OrderResult": "storelink.ledger",
    "OrderTotals": "storelink.models",
    "Page": "storelink.models",
    "PagingConfig": "storelink.paging",
    "Payment": "storelink.models",
    "Platform": "storelink.plugins",
    "PlatformContext": "storelink.context",
    "PlatformHTTP": "storelink.context",
    "PlatformInfo": "storelink.models",
    "Product": "storelink.models",
    "Registry": "storelink.plugins",
    "Resolver": "storelink.http",
    "RetryConfig": "storelink.http",
    "Secret": "storelink.credentials",
    "Session": "storelink.session",
    "SettingsSchema": "storelink.credentials",
    "ShippingMethod": "storelink.models",
    "ShippingRate": "storelink.models",
    "StaticResolver": "storelink.http",
    "StoreURL": "storelink.models",
    "Submission": "storelink.store",
    "SubmissionState": "storelink.store",
    "SyncBusyError": "storelink.sync",
    "SyncHub": "storelink.blocking",
    "SyncJob": "storelink.sync",
    "SyncLimitError": "storelink.sync",
    "SyncProgress": "storelink.sync",
    "SyncResult": "storelink.sync",
    "SyncSession": "storelink.blocking",
    "SyncStoppedError": "storelink.sync",
    "SyncTargetError": "storelink.sync",
    "SyncWriteError": "storelink.sync",
    "SystemClock": "storelink.http",
    "TokenCursor": "storelink.models",
    "Validation": "storelink.hub",
    "Variant": "storelink.models",
    "Vault": "storelink.vault",
    "cursor_from_str": "storelink.codec",
    "cursor_to_str": "storelink.codec",
    "cursor_token": "storelink.paging",
    "default_registry": "storelink.plugins",
    "draft_from_jsonable": "storelink.codec",
    "hookimpl": "storelink.hookspecs",
    "next_offset": "storelink.paging",
    "numbered_page": "storelink.paging",
    "offset_page": "storelink.paging",
    "offset_start": "storelink.paging",
    "open_store": "storelink.store",
    "order_from_jsonable": "storelink.codec",
    "page_number_start": "storelink.paging",
    "payload_hash": "storelink.codec",
    "to_jsonable": "storelink.codec",
    "token_page": "storelink.paging",
}


__getattr__, __dir__ = _lazy_exports("storelink", _LAZY, globals())


__all__ = [
    "AccessReport",
    "AccessToken",
    "Address",
    "ApprovalFlow",
    "AuthorizationError",
    "BlockingIterator",
    "Capability",
    "CapabilityCheck",
    "Clock",
    "ConfigurationError",
    "ConflictError",
    "Connection",
    "ConnectionRevokedError",
    "ConnectionRuntime",
    "ConnectionStateError",
    "ConnectionStats",
    "ConnectionStatus",
    "ConnectionStore",
    "CredentialField",
    "CredentialSchema",
    "Credentials",
    "CredentialsError",
    "Cursor",
    "Customer",
    "EgressError",
    "EgressPolicy",
    "ErrorDetail",
    "HttpConfig",
    "Hub",
    "HubStats",
    "Image",
    "InputError",
    "InventoryLevel",
    "KeyRing",
    "MappingError",
    "Money",
    "NotFoundError",
    "OAuthFlow",
    "OffsetCursor",
    "Order",
    "OrderDraft",
    "OrderLine",
    "OrderOutcomeUnknown",
    "OrderResult",
    "OrderTotals",
    "Page",
    "PagingConfig",
    "Payment",
    "Platform",
    "PlatformContext",
    "PlatformError",
    "PlatformHTTP",
    "PlatformInfo",
    "PluginError",
    "Product",
    "ReadInterruptedError",
    "Registry",
    "RejectedError",
    "Resolver",
    "RetryConfig",
    "RetryableError",
    "Secret",
    "Session",
    "SettingsSchema",
    "ShippingMethod",
    "ShippingRate",
    "StaticResolver",
    "StoreBusyError",
    "StoreURL",
    "StoreURLError",
    "StorelinkError",
    "Submission",
    "SubmissionState",
    "SyncBusyError",
    "SyncHub",
    "SyncJob",
    "SyncLimitError",
    "SyncProgress",
    "SyncResult",
    "SyncSession",
    "SyncStoppedError",
    "SyncTargetError",
    "SyncWriteError",
    "SystemClock",
    "TokenCursor",
    "UnknownKeyError",
    "Validation",
    "Variant",
    "Vault",
    "VaultError",
    "__version__",
    "cursor_from_str",
    "cursor_to_str",
    "cursor_token",
    "default_registry",
    "draft_from_jsonable",
    "get_platform",
    "hookimpl",
    "list_platforms",
    "next_offset",
    "numbered_page",
    "offset_page",
    "offset_start",
    "open_store",
    "order_from_jsonable",
    "page_number_start",
    "payload_hash",
    "to_jsonable",
    "token_page",
]


def get_platform(slug: str) -> Platform:
    """Return the installed platform *slug* (its ``.info`` and ``.normalize_store_url``).

    :raises PluginError: It is not installed or failed to load.
    """
    from storelink.plugins import default_registry

    return default_registry().platform(slug)


def list_platforms() -> list[PlatformInfo]:
    """Return the info of every installed platform, sorted by slug."""
    from storelink.plugins import default_registry

    return [p.info for p in default_registry().platforms()]
