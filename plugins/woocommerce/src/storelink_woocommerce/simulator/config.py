"""What a simulated WooCommerce store holds and how it behaves."""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge, instance_of, le, matches_re

__all__ = ["SimulatorConfig"]

_rate = [ge(0.0), le(1.0)]


@frozen(kw_only=True)
class SimulatorConfig:
    """The simulated store.

    :param products: Catalog size; every third product (1, 4, 7...) is variable, with
        :attr:`variations` variations.
    :param variations: Variations of each variable product.
    :param orders: Orders the store holds at the start.
    :param seed: Decides keys' randomness-free parts, stock and faults.
    :param install_path: Where WordPress is installed on the host (``/shop``), or ``""``.
    :param currency: The ``woocommerce_currency`` setting.
    :param latency: Seconds added to every request (concurrency becomes observable).
    :param fail_rate: Share of requests answered 500, 502, 503 or 504.
    :param rate_limit_rate: Share of requests answered 429 with ``Retry-After`` (a host's limiter).
    :param retry_after: The ``Retry-After`` seconds of a 429.
    :param drop_rate: Share of requests whose connection drops before they are processed.
    :param truncate_rate: Share of responses cut in half.
    """

    products: int = field(default=1000, validator=[instance_of(int), ge(0)])
    variations: int = field(default=3, validator=[instance_of(int), ge(1), le(250)])
    orders: int = field(default=20, validator=[instance_of(int), ge(0)])
    seed: int = 0
    install_path: str = field(default="", validator=matches_re(r"(?:/[A-Za-z0-9._~-]+)*"))
    currency: str = field(default="USD", validator=matches_re(r"[A-Z]{3}"))
    latency: float = field(default=0.0, converter=float, validator=ge(0.0))
    fail_rate: float = field(default=0.0, converter=float, validator=_rate)
    rate_limit_rate: float = field(default=0.0, converter=float, validator=_rate)
    retry_after: float = field(default=1.0, converter=float, validator=ge(0.0))
    drop_rate: float = field(default=0.0, converter=float, validator=_rate)
    truncate_rate: float = field(default=0.0, converter=float, validator=_rate)
