"""A host application's use of storelink, end to end, against the OCC simulator.

Run it with ``python docs/examples/hub_example.py``: it serves the simulator on
loopback, onboards the store, reads it (streaming, then resumably by pages), creates
an order and replays it, and shows what a revoked key looks like. The same code runs
against a real store with a real application key (and the default egress policy).
It passes ``mypy --strict``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from storelink import (
    ConnectionRevokedError,
    CredentialsError,
    EgressPolicy,
    Hub,
    cursor_from_str,
    cursor_to_str,
    draft_from_jsonable,
    to_jsonable,
)
from storelink.simulation import load, serve_in_thread


async def onboard_and_trade(hub: Hub, store_url: str, credentials: dict[str, str]) -> str:
    """Connect the store, read it, and create an order; return the connection id."""
    validation = await hub.validate("occ", store_url=store_url, credentials=credentials)
    print("normalised store URL:", validation.store_url)
    print("missing permissions:", [c.value for c in validation.report.missing] or "none")
    conn = await hub.connect("occ", store_url=store_url, credentials=credentials, label="Demo store")

    async with hub.session(conn.id) as session:
        # Stream the whole catalog: a few pages in memory at a time, whatever its size.
        first_variant: tuple[str, str] | None = None
        count = 0
        async for product in session.products():
            count += 1
            if first_variant is None and product.variants:
                first_variant = (product.id, product.variants[0].id)
        print("products:", count)
        if first_variant is None:
            raise SystemExit("the store has no product with a variant")

        # A resumable walk: keep the cursor after each page, continue from it later.
        saved: str | None = None
        async for _page, resume in session.pages("products"):
            saved = cursor_to_str(resume) if resume is not None else None
            break  # pretend the process stopped here
        if saved is not None:
            rest = sum([len(page.items) async for page, _ in session.pages("products", cursor_from_str(saved))])
            print("products after the checkpoint:", rest)

        levels = [level async for level in session.inventory([first_variant[1]])]
        print("stock of", first_variant[1], [(lv.location_id, lv.available) for lv in levels])
        shipping = await session.shipping_methods()

        # A channel's order, as it arrives in JSON; its reference is the idempotency key,
        # so a replay makes no second order. A malformed field raises InputError naming it.
        draft = draft_from_jsonable(
            {
                "reference": "chan-1001",
                "lines": [{"product_id": first_variant[0], "sku_id": first_variant[1], "quantity": 2}],
                "shipping_address": {
                    "name": "Ada Lovelace",
                    "line1": "1 Main St",
                    "city": "Syracuse",
                    "region": "NY",
                    "postal_code": "13202",
                    "country": "US",
                },
                "shipping_method_id": shipping[0].id,
                "payment": {"type": "invoice", "po_number": "PO-1"},
            }
        )
        created = await session.create_order(draft)
        replay = await session.create_order(draft)
        print("order", created.order.id, "replayed:", replay.replayed, "same:", replay.order == created.order)
        print("as JSON:", to_jsonable(created.order)["totals"])
    return conn.id


async def main(directory: Path) -> None:
    """Run the example with its database and key file in *directory*."""
    simulator = load("occ")(products=500, token_ttl=30.0)
    credentials = simulator.issue_credentials()
    with serve_in_thread(simulator.app) as base_url:
        # The simulator listens on loopback, which only a test egress policy allows.
        async with await Hub.open(
            database=directory / "storelink.db", keys=directory / "keys", egress=EgressPolicy.for_tests()
        ) as hub:
            connection_id = await onboard_and_trade(hub, base_url.upper() + "/occs-admin/", credentials)

            simulator.revoke_credentials(credentials)  # the merchant resets the key
            try:
                await hub.check(connection_id)
            except CredentialsError as exc:
                print("after the reset:", exc)
            print("status:", (await hub.get(connection_id)).status.value)
            try:
                async with hub.session(connection_id) as session:
                    await session.shipping_methods()
            except ConnectionRevokedError as exc:
                print("refused without a request:", exc.action)

            await hub.reconnect(connection_id, credentials=simulator.issue_credentials())
            print("after reconnecting:", (await hub.get(connection_id)).status.value)
            stats = hub.stats
            print(f"logins {stats.logins}, refreshes {stats.refreshes}, requests {stats.requests}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as temporary:
        asyncio.run(main(Path(temporary)))
