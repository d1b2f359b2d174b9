"""Platform-agnostic value objects.

Every model is an attrs class: frozen, keyword-only, slotted. Money is a
:class:`~decimal.Decimal` with an ISO 4217 currency, never a float. Datetimes are
timezone-aware. Collections are tuples. Whatever a platform sends that the common
model has no field for goes to ``extra``. Models do no I/O and parse no wire format:
plugins map payloads with named functions (``product_from_occ(payload)``).
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen
from attrs.validators import and_, ge, gt, instance_of, le, matches_re, max_len, min_len, optional

from storelink.credentials import ApprovalFlow, CredentialSchema, OAuthFlow, Secret

__all__ = [
    "AccessReport",
    "AccessToken",
    "Address",
    "Capability",
    "CapabilityCheck",
    "Connection",
    "ConnectionStatus",
    "Cursor",
    "Customer",
    "ErrorDetail",
    "Image",
    "InventoryLevel",
    "Money",
    "OffsetCursor",
    "Order",
    "OrderDraft",
    "OrderLine",
    "OrderTotals",
    "Page",
    "Payment",
    "PlatformInfo",
    "Product",
    "ShippingMethod",
    "ShippingRate",
    "StoreURL",
    "TokenCursor",
    "Variant",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """Convert *value* to a finite :class:`Decimal`.

    A float (as JSON parsers produce) goes through its shortest ``repr``, so ``4.75``
    becomes ``Decimal("4.75")``, not the binary expansion. Booleans, NaN and infinities
    are refused.
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"amount must be finite, not {value!r}")
        value = repr(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal amount") from None
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise TypeError(f"cannot make an amount from {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"amount must be finite, not {value}")
    return value


def _opt_decimal(value: Decimal | int | float | str | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _aware(_inst: object, attr: Any, value: Any) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attr.name} must be timezone-aware, got {value.isoformat()}")


def _tuple_of(kind: type) -> Any:
    def check(_inst: object, attr: Any, value: tuple[Any, ...]) -> None:
        for i, item in enumerate(value):
            if not isinstance(item, kind):
                raise TypeError(f"{attr.name}[{i}] must be {kind.__name__}, got {type(item).__name__}")

    return check


def _strs(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _images(value: Iterable[Image]) -> tuple[Image, ...]:
    return tuple(value)


def _variants(value: Iterable[Variant]) -> tuple[Variant, ...]:
    return tuple(value)


def _rates(value: Iterable[ShippingRate]) -> tuple[ShippingRate, ...]:
    return tuple(value)


def _lines(value: Iterable[OrderLine]) -> tuple[OrderLine, ...]:
    return tuple(value)


def _items(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _checks(value: Iterable[CapabilityCheck]) -> tuple[CapabilityCheck, ...]:
    return tuple(value)


def _capabilities(value: Iterable[Capability]) -> frozenset[Capability]:
    return frozenset(value)


_NON_EMPTY = and_(instance_of(str), min_len(1))

# --------------------------------------------------------------------------- bounds
#
# What a model accepts, whoever builds it: a plugin mapping a store's payload or a
# channel writing a draft. Beyond these a value is a mistake (or an attack), never
# a real order or catalog: refusing it names the field; a store's record that breaks
# one is a mapping error naming the record.

#: Amounts: at most this in magnitude (a thousand trillion, in any currency)...
MAX_AMOUNT = Decimal("1e15")
#: ... and at most this many decimal places.
MAX_AMOUNT_PLACES = 8
#: Units of one order line.
MAX_QUANTITY = 1_000_000
#: Units of stock of one SKU at one location.
MAX_STOCK = 10**12
#: Lines of one order.
MAX_LINES = 1_000
#: Characters of an id (product, SKU, shipping method...) in a draft.
MAX_ID = 256
#: Characters of any other text of a draft (address lines, names, notes).
MAX_TEXT = 1_000
#: Size of a draft's or payment's ``extra``, as compact JSON, and its nesting depth.
MAX_EXTRA_BYTES = 64 * 1024
MAX_EXTRA_DEPTH = 16


def _no_control(_inst: object, attr: Any, value: str | None) -> None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{attr.name} must not contain control characters (line breaks, tabs, NUL...)")


def _text(limit: int, *, required: bool) -> Any:
    """Return a validator of draft text: at most *limit* characters, no control characters."""
    if required:
        return and_(instance_of(str), min_len(1), max_len(limit), _no_control)
    return optional(and_(instance_of(str), max_len(limit), _no_control))


def _non_negative(_inst: object, attr: Any, value: Money | None) -> None:
    if value is not None and value.amount < 0:
        raise ValueError(f"{attr.name} must not be negative, got {value.amount}")


def _bounded_extra(_inst: object, attr: Any, value: Mapping[str, Any]) -> None:
    def depth(item: Any, level: int) -> None:
        if level > MAX_EXTRA_DEPTH:
            raise ValueError(f"{attr.name} is nested more than {MAX_EXTRA_DEPTH} levels deep")
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list | tuple) else ()
        for child in children:
            depth(child, level + 1)

    depth(value, 1)
    size = len(json.dumps(value, default=str, separators=(",", ":")).encode())
    if size > MAX_EXTRA_BYTES:
        raise ValueError(f"{attr.name} is {size:,} bytes as JSON; at most {MAX_EXTRA_BYTES:,} are allowed")


def _amount_in_range(_inst: object, attr: Any, value: Decimal) -> None:
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{attr.name} {value} is out of range: amounts must be below {MAX_AMOUNT:,.0f}")
    exponent = value.normalize().as_tuple().exponent  # 1.50 has 1 place, 1.5E-9 has 10
    if isinstance(exponent, int) and -exponent > MAX_AMOUNT_PLACES:
        raise ValueError(f"{attr.name} {value} has more than {MAX_AMOUNT_PLACES} decimal places")


# --------------------------------------------------------------------------- trusted construction


_MISSING = object()


def trusted_constructor(cls: type[T]) -> Callable[..., T]:
    """Return a constructor of the model *cls* that runs none of its converters or validators.

    For a plugin's mapping, on the hot path, with values it has already checked and
    put in their final form: tuples for the collections, read-only mappings
    (:class:`types.MappingProxyType`) for ``options`` and ``extra``, :class:`Money`
    built by its own constructor. What it builds is equal to what ``cls(**values)``
    builds from the same values; given anything else, it builds a model that breaks
    the model's invariants, so everyone else uses ``cls(**values)``.

    Keyword arguments only; a field left out takes its default (a factory's,
    converted, made once and shared: a converter's result is immutable).

    :raises TypeError: *cls* is not an attrs class, or (when called) a keyword is not
        a field of it or a field without a default is missing.
    """
    if not attrs.has(cls):
        raise TypeError(f"expected an attrs model class, got {cls!r}")
    names = tuple(a.name for a in attrs.fields(cls))
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for a in attrs.fields(cls):
        if a.default is attrs.NOTHING:
            continue
        if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]  # attrs types Factory as a function
            factory: Any = a.default
            if factory.takes_self:
                raise TypeError(f"{cls.__name__}.{a.name} has a factory that takes self")
            if a.converter is None:  # a fresh (mutable) value per model
                factories[a.name] = factory.factory
                continue
            defaults[a.name] = a.converter(factory.factory())
        else:
            defaults[a.name] = a.default if a.converter is None else a.converter(a.default)
    # Generated, as attrs generates __init__: one keyword parameter per field, so that
    # a wrong or missing keyword is Python's own TypeError and no loop runs per model.
    # Names of the generated code start with _sl_, so that no field name shadows them.
    namespace: dict[str, Any] = {"_sl_new": object.__new__, "_sl_put": object.__setattr__, "_sl_cls": cls}
    namespace["_sl_missing"] = _MISSING
    params, body = [], []
    for i, name in enumerate(names):
        if name in defaults:
            namespace[f"_sl_d{i}"] = defaults[name]
            params.append(f"{name}=_sl_d{i}")
        elif name in factories:
            namespace[f"_sl_f{i}"] = factories[name]
            params.append(f"{name}=_sl_missing")
            body.append(f"    if {name} is _sl_missing:\n        {name} = _sl_f{i}()")
        else:
            params.append(name)
        body.append(f"    _sl_put(_sl_model, {name!r}, {name})")
    function = f"trusted_{cls.__name__}"
    source = (
        f"def {function}(*, {', '.join(params)}):\n    _sl_model = _sl_new(_sl_cls)\n"
        + "\n".join(body)
        + "\n    return _sl_model\n"
    )
    exec(source, namespace)  # noqa: S102  # the source is made of the class's own field names
    build: Callable[..., T] = namespace[function]
    return build


# --------------------------------------------------------------------------- money


@frozen(kw_only=True)
class Money:
    """An amount in a currency."""

    amount: Decimal = field(converter=to_decimal, validator=_amount_in_range)
    currency: str = field(validator=matches_re(r"[A-Z]{3}"))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


# --------------------------------------------------------------------------- catalog


@frozen(kw_only=True)
class Image:
    """A product or variant image, by absolute URL."""

    url: str = field(validator=matches_re(r"https?://\S+"))
    alt: str | None = None
    role: str | None = None


@frozen(kw_only=True)
class Variant:
    """A sellable unit of a product (a SKU)."""

    id: str = field(validator=_NON_EMPTY)
    sku: str | None = None
    title: str | None = None
    price: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])
    sale_price: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])
    barcode: str | None = None
    active: bool = True
    options: Mapping[str, str] = field(factory=dict, converter=_freeze)
    images: tuple[Image, ...] = field(default=(), converter=_images, validator=_tuple_of(Image))
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze)


@frozen(kw_only=True)
class Product:
    """A product with its variants."""

    id: str = field(validator=_NON_EMPTY)
    title: str
    description: str | None = None
    url: str | None = None
    active: bool = True
    brand: str | None = None
    price: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])
    sale_price: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])
    variants: tuple[Variant, ...] = field(default=(), converter=_variants, validator=_tuple_of(Variant))
    images: tuple[Image, ...] = field(default=(), converter=_images, validator=_tuple_of(Image))
    categories: tuple[str, ...] = field(default=(), converter=_strs)
    created_at: datetime | None = field(default=None, validator=_aware)
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze)


@frozen(kw_only=True)
class InventoryLevel:
    """Stock of one SKU at one location (``location_id`` ``None`` is the default one)."""

    sku_id: str = field(validator=_NON_EMPTY)
    location_id: str | None = None
    available: int = field(validator=and_(instance_of(int), ge(0), le(MAX_STOCK)))
    threshold: int | None = None
    backorderable: int | None = None
    status: str | None = None
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze)


@frozen(kw_only=True)
class ShippingRate:
    """A price that applies when the order subtotal lies in ``[min_subtotal, max_subtotal]``.

    ``max_subtotal`` ``None`` means open-ended.
    """

    id: str | None = None
    amount: Money = field(validator=[instance_of(Money), _non_negative])
    min_subtotal: Decimal | None = field(default=None, converter=_opt_decimal)
    max_subtotal: Decimal | None = field(default=None, converter=_opt_decimal)

    def __attrs_post_init__(self) -> None:
        lo, hi = self.min_subtotal, self.max_subtotal
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"shipping rate range is inverted: {lo} > {hi}")


@frozen(kw_only=True)
class ShippingMethod:
    """A shipping method the store offers."""

    id: str = field(validator=_NON_EMPTY)
    title: str
    description: str | None = None
    enabled: bool = True
    rates: tuple[ShippingRate, ...] = field(default=(), converter=_rates, validator=_tuple_of(ShippingRate))
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze)


# --------------------------------------------------------------------------- orders


@frozen(kw_only=True)
class Address:
    """A postal address with its contact."""

    name: str = field(validator=_text(MAX_TEXT, required=True))
    line1: str = field(validator=_text(MAX_TEXT, required=True))
    line2: str | None = field(default=None, validator=_text(MAX_TEXT, required=False))
    city: str = field(validator=_text(MAX_TEXT, required=True))
    region: str | None = field(default=None, validator=_text(MAX_TEXT, required=False))
    postal_code: str | None = field(default=None, validator=_text(MAX_ID, required=False))
    country: str = field(validator=matches_re(r"[A-Z]{2}"))
    email: str | None = field(
        default=None, validator=[_text(MAX_ID, required=False), optional(matches_re(r"[^@\s]+@[^@\s]+"))]
    )
    phone: str | None = field(default=None, validator=_text(MAX_ID, required=False))


@frozen(kw_only=True)
class Customer:
    """Who ordered, as far as the channel knows."""

    id: str | None = field(default=None, validator=_text(MAX_ID, required=False))
    email: str | None = field(
        default=None, validator=[_text(MAX_ID, required=False), optional(matches_re(r"[^@\s]+@[^@\s]+"))]
    )
    name: str | None = field(default=None, validator=_text(MAX_TEXT, required=False))


@frozen(kw_only=True)
class Payment:
    """How the order is paid. Card data never travels through storelink."""

    type: str = field(validator=matches_re(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}"))
    po_number: str | None = field(default=None, validator=_text(MAX_ID, required=False))
    amount: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze, validator=_bounded_extra)


@frozen(kw_only=True)
class OrderLine:
    """One line of an order: a SKU of a product, a quantity, and its price when known."""

    product_id: str = field(validator=_text(MAX_ID, required=True))
    sku_id: str = field(validator=_text(MAX_ID, required=True))
    quantity: int = field(validator=and_(instance_of(int), gt(0), le(MAX_QUANTITY)))
    price: Money | None = field(default=None, validator=[optional(instance_of(Money)), _non_negative])


_REFERENCE = r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}"


@frozen(kw_only=True)
class OrderDraft:
    """An order a channel asks a store to create.

    ``reference`` is the channel's own id for the order and its idempotency key: the
    same reference never makes two orders.
    """

    reference: str = field(validator=matches_re(_REFERENCE))
    lines: tuple[OrderLine, ...] = field(
        converter=_lines, validator=and_(_tuple_of(OrderLine), min_len(1), max_len(MAX_LINES))
    )
    shipping_address: Address = field(validator=instance_of(Address))
    billing_address: Address | None = field(default=None, validator=optional(instance_of(Address)))
    shipping_method_id: str = field(validator=_text(MAX_ID, required=True))
    payment: Payment | None = field(default=None, validator=optional(instance_of(Payment)))
    customer: Customer | None = field(default=None, validator=optional(instance_of(Customer)))
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze, validator=_bounded_extra)


@frozen(kw_only=True)
class OrderTotals:
    """Totals of an order, all in one currency."""

    subtotal: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    total: Money = field(validator=instance_of(Money))


@frozen(kw_only=True)
class Order:
    """An order as the store holds it. ``state`` is the platform's, as an open string."""

    id: str = field(validator=_NON_EMPTY)
    reference: str | None = None
    state: str = field(validator=_NON_EMPTY)
    lines: tuple[OrderLine, ...] = field(default=(), converter=_lines, validator=_tuple_of(OrderLine))
    totals: OrderTotals | None = field(default=None, validator=optional(instance_of(OrderTotals)))
    shipping_address: Address | None = None
    created_at: datetime | None = field(default=None, validator=_aware)
    updated_at: datetime | None = field(default=None, validator=_aware)
    extra: Mapping[str, Any] = field(factory=dict, converter=_freeze)


# --------------------------------------------------------------------------- paging


@frozen(kw_only=True)
class TokenCursor:
    """An opaque continuation token given by the platform."""

    token: str = field(validator=_NON_EMPTY)


@frozen(kw_only=True)
class OffsetCursor:
    """An offset into a list the platform pages by offset and limit."""

    offset: int = field(validator=and_(instance_of(int), ge(0)))
    limit: int = field(validator=and_(instance_of(int), gt(0)))


Cursor = TokenCursor | OffsetCursor


@frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list: its items, where the next page starts, the total if known.

    ``next`` is ``None`` on the last page. ``total`` is the number of items in the
    whole list when the platform reports it; with an :class:`OffsetCursor` it lets the
    core fetch the remaining pages in parallel.
    """

    items: tuple[T, ...] = field(converter=_items)
    next: Cursor | None = field(default=None, validator=optional(instance_of((TokenCursor, OffsetCursor))))
    total: int | None = field(default=None, validator=optional([instance_of(int), ge(0)]))


# --------------------------------------------------------------------------- platforms


class Capability(enum.StrEnum):
    """Something a platform plugin can do for a connection."""

    PRODUCTS = "products"
    ORDERS = "orders"
    CREATE_ORDERS = "create_orders"
    INVENTORY = "inventory"
    SHIPPING_METHODS = "shipping_methods"


#: The hook that provides each capability (checked by the contract suite).
CAPABILITY_HOOKS: Mapping[Capability, tuple[str, ...]] = MappingProxyType(
    {
        Capability.PRODUCTS: ("fetch_products",),
        Capability.ORDERS: ("fetch_orders", "get_order"),
        Capability.CREATE_ORDERS: ("create_order", "find_order"),
        Capability.INVENTORY: ("fetch_inventory",),
        Capability.SHIPPING_METHODS: ("fetch_shipping_methods",),
    }
)

_SLUG = r"[a-z][a-z0-9_]{1,31}"


@frozen(kw_only=True)
class PlatformInfo:
    """What a platform plugin is and what it needs.

    :param slug: Short machine name, also the entry-point name (``occ``).
    :param title: Human name (``Oracle Commerce Cloud``).
    :param credential_schema: What the merchant enters.
    :param capabilities: What the plugin implements.
    :param setup_guide: Steps for the merchant (where to find the key and the URL,
        how to revoke), one step per line, shown on the connect page.
    :param audiences: The token audiences the platform uses (first is the default).
    :param settings_schema: Non-secret per-connection settings (site, language).
    :param docs_url: Where the merchant can read more.
    :param token_header: The request header the core puts the access token in (and
        the ``bearer=`` secret of a login call): ``Authorization`` unless the
        platform's API reads another one.
    :param token_prefix: What precedes the secret in that header: ``"Bearer "``, or
        ``""`` for a header that carries the bare value.
    :param oauth: How the merchant onboards: ``None`` (the default) for the form made
        from *credential_schema*; an :class:`~storelink.OAuthFlow` for an
        OAuth authorization-code install, whose code exchange returns credentials that
        fit *credential_schema*.
    :param approval: A second way to onboard beside the form: an
        :class:`~storelink.ApprovalFlow`, where the merchant approves the channel in the
        store and the platform POSTs credentials that fit *credential_schema*. The
        connect page then offers both. Not with *oauth*.
    """

    slug: str = field(validator=matches_re(_SLUG))
    title: str = field(validator=_NON_EMPTY)
    credential_schema: CredentialSchema = field(validator=instance_of(CredentialSchema))
    capabilities: frozenset[Capability] = field(converter=_capabilities)
    setup_guide: tuple[str, ...] = field(default=(), converter=_strs)
    audiences: tuple[str, ...] = field(default=("default",), converter=_strs, validator=min_len(1))
    settings_schema: CredentialSchema = field(factory=lambda: CredentialSchema(fields=()))
    store_url_example: str = "https://store.example.com"
    docs_url: str | None = None
    oauth: OAuthFlow | None = field(default=None, validator=optional(instance_of(OAuthFlow)))
    approval: ApprovalFlow | None = field(default=None, validator=optional(instance_of(ApprovalFlow)))
    token_header: str = field(default="Authorization", validator=matches_re(r"[A-Za-z][A-Za-z0-9\-]{0,63}"))
    token_prefix: str = field(default="Bearer ", validator=matches_re(r"(?:[A-Za-z][A-Za-z0-9\-]* )?"))

    @capabilities.validator
    def _check_caps(self, _attr: object, value: frozenset[Any]) -> None:
        for cap in value:
            if not isinstance(cap, Capability):
                raise TypeError(f"capability {cap!r} is not a storelink.Capability")

    @approval.validator
    def _check_approval(self, _attr: object, value: ApprovalFlow | None) -> None:
        if value is not None and self.oauth is not None:
            raise ValueError("declare either oauth (no key form) or approval (beside the key form), not both")


@frozen(kw_only=True)
class CapabilityCheck:
    """The outcome of probing one capability."""

    capability: Capability
    ok: bool
    detail: str | None = None


@frozen(kw_only=True)
class AccessReport:
    """What a connection's credentials may do, capability by capability."""

    checks: tuple[CapabilityCheck, ...] = field(converter=_checks, validator=_tuple_of(CapabilityCheck))

    @property
    def ok(self) -> bool:
        """Whether every probed capability is allowed."""
        return all(c.ok for c in self.checks)

    @property
    def missing(self) -> tuple[Capability, ...]:
        """The capabilities that were denied."""
        return tuple(c.capability for c in self.checks if not c.ok)


@frozen(kw_only=True)
class ErrorDetail:
    """What a platform said in an error response, as a plugin decodes it."""

    message: str | None = None
    code: str | None = None
    request_id: str | None = None


@frozen(kw_only=True)
class AccessToken:
    """A token the platform issued, with its lifetime in seconds from when it was issued."""

    value: Secret = field(validator=instance_of(Secret))
    expires_in: float = field(converter=float, validator=gt(0.0))
    audience: str = "default"
    token_type: str = "bearer"  # noqa: S105  # the OAuth token type, not a secret


# --------------------------------------------------------------------------- connections


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


_INSTALL_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+){1,16}")


@frozen(kw_only=True)
class StoreURL:
    """The canonical address of a store: ``https://host[:port]``, and an install path if any.

    Plugins produce it in ``normalize_store_url``. ``http`` is accepted only for
    loopback hosts, which only a development egress policy lets through. ``origin``
    is always an origin (no path); ``path`` is where a self-hosted store is installed
    on that host (``/shop`` for a WordPress site under ``example.com/shop``), or ``""``.
    Paths of platform requests are relative to it (:meth:`join`).
    """

    origin: str = field()
    path: str = field(default="")

    @origin.validator
    def _check(self, _attr: object, value: str) -> None:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"store URL must be an https origin, got {value!r}")
        if parts.username or parts.password or parts.path or parts.query or parts.fragment:
            raise ValueError(f"store URL must be an origin only (no path, query or userinfo), got {value!r}")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(f"store URL must use https, got {value!r}")
        if value != value.lower():
            raise ValueError(f"store URL must be lower case, got {value!r}")

    @path.validator
    def _check_path(self, _attr: object, value: str) -> None:
        if value == "":
            return
        segments = value.split("/")[1:]
        if (
            len(value) > 200
            or not _INSTALL_PATH.fullmatch(value)
            or any(s in (".", "..") for s in segments)
            or re.search(r"%(?![0-9A-F]{2})", value)
        ):
            raise ValueError(
                "store URL path must be '' or '/segment[/segment...]' (no trailing slash, dot segments, "
                f"query or fragment; percent escapes in upper case), got {value!r}"
            )

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Split a canonical store URL (``str(store_url)``) back into origin and path.

        :raises ValueError: *url* is not a canonical store URL.
        """
        parts = urlsplit(url)
        path = parts.path
        origin = url[: len(url) - len(path)] if path and url.endswith(path) else url
        return cls(origin=origin, path=path)

    @property
    def url(self) -> str:
        """The store's address: its origin followed by its install path."""
        return self.origin + self.path

    @property
    def host(self) -> str:
        """The host name (IPv6 literals without brackets)."""
        return urlsplit(self.origin).hostname or ""

    @property
    def port(self) -> int:
        """The port, explicit or the scheme's default."""
        parts = urlsplit(self.origin)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def scheme(self) -> str:
        """``https`` (or ``http`` for a loopback development store)."""
        return urlsplit(self.origin).scheme

    def join(self, path: str) -> str:
        """Return the absolute URL of *path* (which must start with ``/``) under the store's install path."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return self.origin + self.path + path

    def __str__(self) -> str:
        return self.url


class ConnectionStatus(enum.StrEnum):
    """Where a connection stands.

    ``active``: usable. ``needs_attention``: a capability probe failed or transient
    errors repeat. ``revoked``: the platform rejected the credentials; no call is made
    until it is reconnected. ``removed``: deleted, credentials erased.
    """

    ACTIVE = "active"
    NEEDS_ATTENTION = "needs_attention"
    REVOKED = "revoked"
    REMOVED = "removed"


@frozen(kw_only=True)
class Connection:
    """A merchant's store linked to storelink. Never holds the credentials."""

    id: str = field(validator=_NON_EMPTY)
    platform: str = field(validator=matches_re(_SLUG))
    store_url: StoreURL = field(validator=instance_of(StoreURL))
    status: ConnectionStatus = field(converter=ConnectionStatus)
    created_at: datetime = field(validator=_aware)
    updated_at: datetime = field(validator=_aware)
    settings: Mapping[str, str] = field(factory=dict, converter=_freeze)
    last_error: str | None = None
    credentials_expire_at: datetime | None = field(default=None, validator=_aware)
    label: str | None = None
