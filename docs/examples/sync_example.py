"""A host syncing a store to JSON Lines files with storelink.SyncJob, against the OCC simulator.

Run it with ``python docs/examples/sync_example.py``: it serves the simulator on
loopback, onboards the store, syncs its products under a bound the catalog passes (the
job stops before the page that would pass it, keeping what it wrote), then syncs every
kind, resuming the products from the stored checkpoint. It passes ``mypy --strict``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from storelink import EgressPolicy, Hub, SyncJob, SyncLimitError, SyncProgress, SyncResult
from storelink.simulation import load, serve_in_thread


class PrintProgress(SyncProgress):
    """Say when each kind starts and ends; a task queue's worker would update its task's state."""

    def started(self, kind: str, *, items: int, resumed: bool) -> None:
        print(f"{kind}: resuming after {items}" if resumed else f"{kind}: starting")

    def finished(self, result: SyncResult) -> None:
        print(f"{result.kind}: {result.items} items in {Path(result.file).name}")


async def sync_store(hub: Hub, connection_id: str, directory: Path) -> list[SyncResult]:
    """Sync the connection's store to *directory*; return what each kind did."""
    async with hub.session(connection_id) as session:
        bounded = SyncJob.from_hub(hub, session, directory, PrintProgress(), max_items=300)
        try:
            await bounded.run_kind("products")
        except SyncLimitError as exc:
            print(f"stopped at {exc.bound}={exc.limit}: {exc.items} items kept in {Path(exc.file).name}")

        # The same directory, a job without that bound: products resume from the checkpoint.
        job = SyncJob.from_hub(hub, session, directory, PrintProgress())
        return await job.run()


async def main(directory: Path) -> None:
    """Run the example with its database, key file and synced files in *directory*."""
    simulator = load("occ")(products=1000)
    with serve_in_thread(simulator.app) as base_url:
        # The simulator listens on loopback, which only a test egress policy allows.
        async with await Hub.open(
            database=directory / "storelink.db", keys=directory / "keys", egress=EgressPolicy.for_tests()
        ) as hub:
            conn = await hub.connect("occ", store_url=base_url, credentials=simulator.issue_credentials())
            for result in await sync_store(hub, conn.id, directory / "out"):
                print(f"{result.kind}: {result.items} items, resumed after {result.resumed_after}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as temporary:
        asyncio.run(main(Path(temporary)))
