"""Serve one or more OCC simulators on loopback with uvicorn, in this process.

Run by the benchmarks as a child process, so that the server's CPU is not the
client's::

    python -m bench.simserver --products 10000 --latencies-ms 0,20 --token-ttl 300 --stores 1 --memoize

``--fault NAME=VALUE`` (repeatable) passes a fault option to each simulator
(``fail_rate``, ``rate_limit_rate``, ``retry_after``, ``drop_rate``, ``fault_paths``).

Each store is its own simulator (own catalog, own application key), served on one
port per latency: a request to a store's 20 ms port waits 20 ms before the simulator
sees it, exactly as the simulator's own ``latency`` option does (which this process
leaves at 0). The first line printed is JSON: ``{"pid": ..., "stores": [{"urls":
{"0": ..., "20": ...}, "credentials": {...}}, ...]}``. ``GET /__bench__/stats`` on a
store's port answers that store's simulator stats and the number of requests per path
it has seen (the benchmarks use them to check that each contender made the same
requests).

``--memoize``: the simulator computes each product from the seed on every request
(about 0.1 ms per product, more than the client spends on it), which would make the
server the bottleneck of every throughput figure. With this flag each simulator's
``Catalog.product`` is memoized and warmed for the whole catalog before the server
starts: the responses are byte for byte the same, only cheaper to produce.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from storelink.simulation import Simulator, load

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STATS_PATH = "/__bench__/stats"


class Dispatcher:
    """Route each request to the simulator of the port it arrived on."""

    def __init__(self, sims: dict[int, Simulator], latency: dict[int, float]) -> None:
        self.sims = sims
        self.latency = latency
        self.paths: dict[int, Counter[str]] = {}
        shared: dict[int, Counter[str]] = {}  # id(simulator) -> its counter, shared by its ports
        for port, sim in sims.items():
            self.paths[port] = shared.setdefault(id(sim), Counter())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        port = int(scope["server"][1])
        if scope["type"] == "http" and scope["path"] == STATS_PATH:
            body = json.dumps({"stats": dict(self.sims[port].stats), "paths": dict(self.paths[port])}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http":
            self.paths[port][scope["path"]] += 1
            if self.latency[port] > 0:
                await asyncio.sleep(self.latency[port])
        await self.sims[port].app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The simulators are plain request handlers: nothing to start or stop.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def memoize(sim: Simulator, products: int) -> None:
    """Memoize *sim*'s generated products and compute them all now."""
    catalog = sim.catalog  # type: ignore[attr-defined]  # the OCC simulator's catalog
    catalog.product = functools.lru_cache(maxsize=None)(catalog.product)
    for index in range(products):
        catalog.product(index)


def fault_options(items: list[str]) -> dict[str, Any]:
    """Parse ``--fault NAME=VALUE`` items: ``fault_paths`` is comma-separated, the rest are numbers."""
    options: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--fault {item!r}: expected NAME=VALUE")
        options[name] = tuple(value.split(",")) if name == "fault_paths" else float(value)
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve OCC simulators on loopback for the benchmarks.")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--latencies-ms", default="0", help="comma-separated: one port per latency, per store")
    parser.add_argument("--token-ttl", type=float, default=300.0, help="access token lifetime, seconds")
    parser.add_argument("--stores", type=int, default=1, help="simulators, each on its own port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memoize", action="store_true", help="memoize and warm the generated catalog")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a simulator fault option (fail_rate=0.03, retry_after=1, fault_paths=/ccadmin/v1/products,...)",
    )
    args = parser.parse_args(argv)
    latencies = [float(x) for x in args.latencies_ms.split(",")]
    faults = fault_options(args.fault)

    create = load("occ")
    sims: dict[int, Simulator] = {}
    latency: dict[int, float] = {}
    sockets: list[socket.socket] = []
    stores: list[dict[str, Any]] = []
    for i in range(args.stores):
        sim = create(products=args.products, seed=args.seed + i, token_ttl=args.token_ttl, **faults)
        if args.memoize:
            memoize(sim, args.products)
        urls: dict[str, str] = {}
        for ms in latencies:
            # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets
            # whose proto says TCP; with proto 0, a response written in two sends (headers,
            # then body) waits ~40 ms for the client's delayed ACK.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            sims[port], latency[port] = sim, ms / 1000
            sockets.append(sock)
            urls[f"{ms:g}"] = f"http://127.0.0.1:{port}"
        stores.append({"urls": urls, "credentials": sim.issue_credentials()})
    print(json.dumps({"pid": os.getpid(), "stores": stores}), flush=True)

    config = uvicorn.Config(
        Dispatcher(sims, latency),
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        backlog=4096,
        limit_concurrency=None,
        timeout_keep_alive=60,
    )
    uvicorn.Server(config).run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
