"""One worker process of ``test_shared_tokens.py``: its own hub on the shared database.

Run as ``python shared_tokens_worker.py DATABASE CONNECTION_ID READS EVERY [LEASE]``,
with ``STORELINK_KEYS`` and ``STORELINK_SHARE_TOKENS`` (``1``/``0``) in the environment.
It opens the hub and the session, prints ``ready``, waits for a line on stdin, makes
*READS* reads *EVERY* seconds apart, and prints one JSON line: the tokens it obtained
(logins and refreshes), its failed reads and how long the reads took.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


async def main(database: str, connection_id: str, reads: int, every: float, lease: float | None) -> None:
    import storelink.http.tokenstore as tokenstore
    from storelink.http import EgressPolicy
    from storelink.hub import Hub

    if lease is not None:
        tokenstore.DEFAULT_LEASE = lease  # a short lease, so the crashed-holder test is quick
    share = os.environ.get("STORELINK_SHARE_TOKENS", "1") == "1"
    hub = await Hub.open(database=database, egress=EgressPolicy.for_tests(), share_tokens=share)
    async with hub, hub.session(connection_id) as session:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started = time.monotonic()
        failures: list[str] = []
        for n in range(reads):
            try:
                await session.shipping_methods()
            except Exception as exc:
                failures.append(type(exc).__name__)
            if n < reads - 1:
                await asyncio.sleep(every)
        seconds = time.monotonic() - started
        tokens = hub.stats.logins + hub.stats.refreshes
        print(json.dumps({"tokens": tokens, "failures": failures, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], int(args[2]), float(args[3]), float(args[4]) if len(args) > 4 else None))
