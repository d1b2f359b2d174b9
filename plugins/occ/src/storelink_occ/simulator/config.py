"""The knobs of the OCC simulator."""

from __future__ import annotations

from typing import Literal

from attrs import field, frozen
from attrs.validators import and_, ge, gt, in_, instance_of, le, min_len

__all__ = ["SimulatorConfig"]

_rate = and_(instance_of(float), ge(0.0), le(1.0))


@frozen(kw_only=True)
class SimulatorConfig:
    """How the simulated store looks and misbehaves.

    :param products: Catalog size (products; each has 1 to 5 SKUs).
    :param seed: Decides the catalog, the stock and the fault sequence.
    :param token_ttl: Access-token lifetime in seconds (OCC: 300 for application keys).
    :param include_expires_in: Send ``expires_in`` in login and refresh responses (older
        OCC versions did not).
    :param currency: The currency of prices and orders.
    :param locations: Inventory locations besides the default one.
    :param shipping_shape: ``listShippingMethods`` as a bare JSON list (OCC 17.12) or
        as ``{"items": [...]}`` (OCC 17.10).
    :param max_limit: The largest ``limit`` honoured; larger ones are clamped.
    :param orders: Historical orders to seed the store with.
    :param sites: The instance's site ids; the first is the default site.
    :param key_encoding: Issue application keys in ``base64url`` or padded ``base64``.
    :param require_asset_language: Refuse requests without ``X-CCAsset-Language``
        (error 82001), as OCC does for its write endpoints.
    :param latency: Seconds added to every request.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param rate_limit_rate: Share of requests answered 429 with ``Retry-After``.
    :param retry_after: The ``Retry-After`` seconds of a 429.
    :param drop_rate: Share of requests whose connection drops before they are processed.
    :param truncate_rate: Share of responses (other than order creation) cut in half.
    :param lose_order_rate: Share of order creations committed whose response is lost.
    :param fault_paths: Only paths starting with one of these get faults; empty: all.
    """

    products: int = field(default=1000, validator=and_(instance_of(int), ge(0)))
    seed: int = 0
    token_ttl: float = field(default=300.0, converter=float, validator=gt(0.0))
    include_expires_in: bool = True
    currency: str = "USD"
    locations: tuple[str, ...] = field(default=("warehouse-east", "warehouse-west"), converter=tuple)
    shipping_shape: Literal["list", "items"] = field(default="items", validator=in_(("list", "items")))
    max_limit: int = field(default=250, validator=and_(instance_of(int), gt(0)))
    orders: int = field(default=0, validator=and_(instance_of(int), ge(0)))
    sites: tuple[str, ...] = field(default=("siteUS",), converter=tuple, validator=min_len(1))
    key_encoding: Literal["base64url", "base64"] = field(default="base64url", validator=in_(("base64url", "base64")))
    require_asset_language: bool = False
    latency: float = field(default=0.0, converter=float, validator=ge(0.0))
    fail_rate: float = field(default=0.0, converter=float, validator=_rate)
    rate_limit_rate: float = field(default=0.0, converter=float, validator=_rate)
    retry_after: float = field(default=1.0, converter=float, validator=ge(0.0))
    drop_rate: float = field(default=0.0, converter=float, validator=_rate)
    truncate_rate: float = field(default=0.0, converter=float, validator=_rate)
    lose_order_rate: float = field(default=0.0, converter=float, validator=_rate)
    fault_paths: tuple[str, ...] = field(default=(), converter=tuple)
