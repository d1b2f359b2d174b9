"""How the HTTP layer behaves: timeouts, deadline, limits and the retry policy.

The defaults: ``httpx.Timeout(connect=5, read=30, write=30, pool=5)``, a 60 s overall
deadline per operation, 8 connections per store, at most 4 attempts with full-jitter
exponential back-off (0.5 s base, 20 s cap) and a retry budget of 20 % of a store's
requests plus a floor of 10. ``docs/http.md`` ("Configuration" and "Retries, deadline
and budget") explains each.
"""

from __future__ import annotations

import ssl

import httpx
from attrs import field, frozen
from attrs.validators import ge, gt, instance_of, le, optional

from storelink._version import __version__

__all__ = ["HttpConfig", "RetryConfig"]


@frozen(kw_only=True)
class RetryConfig:
    """When and how often a failed request is sent again.

    :param attempts: Most attempts per operation, the first one included.
    :param backoff_base: Upper bound of the first back-off, in seconds; the bound
        doubles with each retry (the delay is drawn uniformly below it: full jitter).
    :param backoff_cap: The bound never exceeds this.
    :param budget_ratio: Retries a store earns per request made (0.2: at most one
        retry per five requests once the floor is spent).
    :param budget_floor: Retries a store may spend at once; also the bucket's size.
    """

    attempts: int = field(default=4, validator=ge(1))
    backoff_base: float = field(default=0.5, validator=gt(0.0))
    backoff_cap: float = field(default=20.0, validator=gt(0.0))
    budget_ratio: float = field(default=0.2, validator=[ge(0.0), le(1.0)])
    budget_floor: int = field(default=10, validator=ge(0))


@frozen(kw_only=True)
class HttpConfig:
    """Settings of every connection's HTTP client.

    :param connect_timeout: Seconds to open a connection (DNS, TCP and TLS).
    :param read_timeout: Seconds of silence allowed while reading a response.
    :param write_timeout: Seconds allowed per write of the request.
    :param pool_timeout: Seconds to wait for a free pooled connection.
    :param deadline: Seconds for one whole operation, retries and back-off included;
        a store that dribbles its answer is cut off here.
    :param max_connections_per_store: Requests in flight to one store at once; more
        wait their turn (within the deadline).
    :param max_response_bytes: Largest decoded response body accepted.
    :param retry: The retry policy.
    :param user_agent: Sent with every request.
    :param revoked_probe_after: Seconds after a rejected login before one new login
        is tried (``None``: never, until the connection is re-onboarded).
    :param ssl_context: Trust store for TLS; ``None`` uses the system defaults
        (certifi). Tests pass a context trusting their own CA.
    """

    connect_timeout: float = field(default=5.0, validator=gt(0.0))
    read_timeout: float = field(default=30.0, validator=gt(0.0))
    write_timeout: float = field(default=30.0, validator=gt(0.0))
    pool_timeout: float = field(default=5.0, validator=gt(0.0))
    deadline: float = field(default=60.0, validator=gt(0.0))
    max_connections_per_store: int = field(default=8, validator=ge(1))
    max_response_bytes: int = field(default=32 * 1024 * 1024, validator=ge(1))
    retry: RetryConfig = field(factory=RetryConfig, validator=instance_of(RetryConfig))
    user_agent: str = f"storelink/{__version__}"
    revoked_probe_after: float | None = field(default=900.0, validator=optional(gt(0.0)))  # type: ignore[arg-type]  # attrs types optional() loosely
    ssl_context: ssl.SSLContext | None = field(default=None, eq=False, repr=False)

    @property
    def timeout(self) -> httpx.Timeout:
        """The four httpx timeouts."""
        return httpx.Timeout(
            connect=self.connect_timeout, read=self.read_timeout, write=self.write_timeout, pool=self.pool_timeout
        )
