"""storelink: one API over every commerce platform.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

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
    RejectedError,
    RetryableError,
    StorelinkError,
    StoreURLError,
    UnknownKeyError,
    VaultError,
)
from storelink.hookspecs import hookimpl
from storelink.http import ConnectionRuntime, EgressPolicy, HttpConfig
from storelink.hub import Hub
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
from storelink.plugins import Platform, Registry, default_registry
from storelink.store import ConnectionStore, open_store
from storelink.syncapi import SyncHub
from storelink.vault import KeyRing, Vault

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
