"""The non-secret settings of an OCC connection.

They are declared as :data:`SETTINGS_SCHEMA` (``PlatformInfo.settings_schema``), so the
connect page and the CLI can ask for them; the core parses them once per connection
into :class:`OccSettings`, which hooks read with ``ctx.typed_settings(SETTINGS_SCHEMA)``.
Every setting is optional; the defaults fit a single-site store whose storefront shares
the admin host's origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from attrs import field, frozen

from storelink import CredentialField, CredentialsError, SettingsSchema, StoreURLError
from storelink_occ.urls import normalize_store_url

__all__ = ["SETTINGS_SCHEMA", "OccSettings"]

DEFAULT_LANGUAGE = "en"
DEFAULT_REFERENCE_PROPERTY = "x_storelink_reference"
DEFAULT_CURRENCY = "USD"
DEFAULT_ORDER_DATE_PROPERTY = "submittedDate"

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# Property names travel inside SCIM filters, so they must be plain identifiers.
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _matching(pattern: re.Pattern[str], name: str, what: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not pattern.fullmatch(value):
            raise CredentialsError(f"{what} is not valid; see the example", field=name)

    return check


def _check_agent_base_url(value: str) -> None:
    try:
        normalize_store_url(value, allow_loopback=True)
    except StoreURLError as exc:
        raise CredentialsError(f"Storefront URL: {exc}", field="agent_base_url") from None


def _origin(value: str | None) -> str | None:
    return normalize_store_url(value, allow_loopback=True).origin if value else None


@frozen(kw_only=True)
class OccSettings:
    """A connection's settings, validated, with their defaults applied.

    :param asset_language: Sent as ``X-CCAsset-Language`` on every request.
    :param site_id: Sent as ``x-ccsite`` when set.
    :param agent_base_url: The origin of ``/ccappagent``; ``None`` means the store URL.
    :param reference_property: The order property carrying ``OrderDraft.reference``
        (the ``order_reference_property`` setting).
    :param currency: The currency of catalog prices and shipping rates.
    :param order_date_property: The order date incremental reads filter and sort on.
    """

    asset_language: str = DEFAULT_LANGUAGE
    site_id: str | None = None
    agent_base_url: str | None = field(default=None, converter=_origin)
    reference_property: str = field(default=DEFAULT_REFERENCE_PROPERTY, alias="order_reference_property")
    currency: str = DEFAULT_CURRENCY
    order_date_property: str = DEFAULT_ORDER_DATE_PROPERTY


SETTINGS_SCHEMA = SettingsSchema(
    model=OccSettings,
    fields=(
        CredentialField(
            name="asset_language",
            label="Asset language",
            required=False,
            help="The language OCC returns names and descriptions in (X-CCAsset-Language). Defaults to 'en'.",
            example="en_US",
            validator=_matching(_LANGUAGE, "asset_language", "The asset language"),
        ),
        CredentialField(
            name="site_id",
            label="Site ID",
            required=False,
            help="For a multi-site instance: the site to read orders from and create them on (x-ccsite). "
            "Leave empty for the whole instance.",
            example="siteUS",
            validator=_matching(_SITE, "site_id", "The site ID"),
        ),
        CredentialField(
            name="agent_base_url",
            label="Storefront URL",
            required=False,
            help="The storefront host that serves /ccappagent, where orders are created. Defaults to the store URL.",
            example="https://www.example-store.com",
            validator=_check_agent_base_url,
        ),
        CredentialField(
            name="order_reference_property",
            label="Order reference property",
            required=False,
            help="The custom order property that holds the channel's order reference. "
            f"Defaults to '{DEFAULT_REFERENCE_PROPERTY}'.",
            example=DEFAULT_REFERENCE_PROPERTY,
            validator=_matching(_PROPERTY, "order_reference_property", "The order reference property"),
        ),
        CredentialField(
            name="currency",
            label="Store currency",
            required=False,
            help="The ISO currency of catalog prices and shipping rates. Defaults to 'USD'.",
            example="EUR",
            validator=_matching(_CURRENCY, "currency", "The currency"),
        ),
        CredentialField(
            name="order_date_property",
            label="Order date property",
            required=False,
            help="The order date that incremental order reads filter and sort on. "
            f"Defaults to '{DEFAULT_ORDER_DATE_PROPERTY}'; 'lastModifiedDate' also catches changed orders.",
            example="lastModifiedDate",
            validator=_matching(_PROPERTY, "order_date_property", "The order date property"),
        ),
    ),
)
