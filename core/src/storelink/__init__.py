"""storelink: one API over every commerce platform.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING
from typing import Any as _Any

from storelink._version import __version__
from storelink.context import PlatformContext, PlatformHTTP
from storelink.credentials import CredentialField, Credentials, CredentialSchema, Secret
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
    StorelinkError,
    StoreURLError,
    UnknownKeyError,
    VaultError,
)
from storelink.hookspecs import hookimpl
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
from storelink.plugins import Platform, Registry, default_registry

if TYPE_CHECKING:
    from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig
    from storelink.hub import Hub
    from storelink.ledger import OrderResult
    from storelink.store import ConnectionStore, open_store
    from storelink.syncapi import SyncHub
    from storelink.vault import KeyRing, Vault

#: Public names whose modules are imported on first use, so that ``import storelink``
#: (and every CLI command) stays cheap: the HTTP stack, the store and the vault load
#: only when a host reaches for them.
_LAZY = {
    "ConnectionRuntime": "storelink.http",
    "ConnectionStore": "storelink.store",
    "EgressPolicy": "storelink.http",
    "HttpConfig": "storelink.http",
    "Hub": "storelink.hub",
    "KeyRing": "storelink.vault",
    "OrderResult": "storelink.ledger",
    "SyncHub": "storelink.syncapi",
    "Vault": "storelink.vault",
    "open_store": "storelink.store",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'storelink' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AccessReport",
    "AccessToken",
    "Address",
    "AuthorizationError",
    "Capability",
    "CapabilityCheck",
    "ConfigurationError",
    "ConflictError",
    "Connection",
    "ConnectionRevokedError",
    "ConnectionRuntime",
    "ConnectionStateError",
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
    "Image",
    "InputError",
    "InventoryLevel",
    "KeyRing",
    "MappingError",
    "Money",
    "NotFoundError",
    "OffsetCursor",
    "Order",
    "OrderDraft",
    "OrderLine",
    "OrderOutcomeUnknown",
    "OrderResult",
    "OrderTotals",
    "Page",
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
    "RetryableError",
    "Secret",
    "ShippingMethod",
    "ShippingRate",
    "StoreURL",
    "StoreURLError",
    "StorelinkError",
    "SyncHub",
    "TokenCursor",
    "UnknownKeyError",
    "Variant",
    "Vault",
    "VaultError",
    "__version__",
    "default_registry",
    "get_platform",
    "hookimpl",
    "list_platforms",
    "open_store",
]


def get_platform(slug: str) -> Platform:
    """Return the installed platform *slug* (its ``.info`` and ``.normalize_store_url``).

    :raises PluginError: It is not installed or failed to load.
    """
    return default_registry().platform(slug)


def list_platforms() -> list[PlatformInfo]:
    """Return the info of every installed platform, sorted by slug."""
    return [p.info for p in default_registry().platforms()]
