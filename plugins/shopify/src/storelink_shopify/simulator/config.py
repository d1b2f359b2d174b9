"""The knobs of the Shopify simulator."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import field, frozen
from attrs.validators import and_, ge, gt, instance_of, le, min_len

from storelink_shopify.api import API_VERSION

__all__ = ["SimulatorConfig"]

_rate = and_(instance_of(float), ge(0.0), le(1.0))


def _optional_tuple(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("granted_scopes must be a sequence of scope names, not one string")
    return tuple(str(v) for v in value)


@frozen(kw_only=True)
class SimulatorConfig:
    """How the simulated shop looks and misbehaves.

    :param products: Catalog size (products; each has 1 to 3 variants).
    :param orders: Orders to seed the shop with.
    :param seed: Decides the catalog, the stock, the orders and the fault sequence.
    :param currency: The shop's currency.
    :param locations: Names of the shop's inventory locations.
    :param api_versions: The Admin API versions served (the plugin's pinned one); others answer 404.
    :param bucket_size: The cost bucket's ``maximumAvailable`` (points).
    :param restore_rate: Points the bucket regains per second (``restoreRate``).
    :param max_query_cost: The largest requested cost of one query; above it the answer
        is ``MAX_COST_EXCEEDED``, whatever the bucket holds (Shopify: 1,000).
    :param latency: Seconds added to every request.
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param rate_limit_rate: Share of requests answered HTTP 429 with ``Retry-After``.
    :param retry_after: The ``Retry-After`` seconds of a 429.
    :param drop_rate: Share of requests whose connection drops before they are processed.
    :param truncate_rate: Share of responses cut in half.
    :param granted_scopes: The scopes an OAuth approval grants (``None``: every scope
        the app asks for), to play a shop that grants the app less.
    """

    products: int = field(default=1000, validator=and_(instance_of(int), ge(0)))
    orders: int = field(default=50, validator=and_(instance_of(int), ge(0)))
    seed: int = 0
    currency: str = "USD"
    locations: tuple[str, ...] = field(
        default=("Main warehouse", "Downtown store"), converter=tuple, validator=min_len(1)
    )
    api_versions: tuple[str, ...] = field(default=(API_VERSION,), converter=tuple, validator=min_len(1))
    bucket_size: float = field(default=1000.0, converter=float, validator=gt(0.0))
    restore_rate: float = field(default=100.0, converter=float, validator=gt(0.0))
    max_query_cost: float = field(default=1000.0, converter=float, validator=gt(0.0))
    latency: float = field(default=0.0, converter=float, validator=ge(0.0))
    fail_rate: float = field(default=0.0, converter=float, validator=_rate)
    rate_limit_rate: float = field(default=0.0, converter=float, validator=_rate)
    retry_after: float = field(default=1.0, converter=float, validator=ge(0.0))
    drop_rate: float = field(default=0.0, converter=float, validator=_rate)
    truncate_rate: float = field(default=0.0, converter=float, validator=_rate)
    granted_scopes: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
