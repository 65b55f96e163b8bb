"""The session lease on the real KV bucket: a renewal that timed out but landed is still
ours; a key another node created is not."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as Nats
from nats.js.errors import KeyNotFoundError

from actors.runtime import Lease, LeaseKeeper, LeaseLost
from bus.provision import BusLayout


async def test_renewal_that_landed_after_a_timeout_keeps_the_lease(layout: BusLayout) -> None:
    lease = Lease(layout.owners, "lease-test-0001", "node-a", 2.0)
    first = await lease.claim()
    # the server applied an update whose reply never reached us (timed out here)
    landed = await layout.owners.update("lease-test-0001", b"node-a", last=first)
    assert await lease.renew(timeout=1.0) == landed  # adopted: it was our update
    assert await lease.renew(timeout=1.0) > landed  # and renewing goes on from it
    await lease.release()


async def test_a_key_another_node_created_is_lost(layout: BusLayout) -> None:
    lease = Lease(layout.owners, "lease-test-0002", "node-a", 2.0)
    await lease.claim()
    await layout.owners.delete("lease-test-0002")
    await layout.owners.create("lease-test-0002", b"node-b")
    with pytest.raises(LeaseLost):
        await lease.renew(timeout=1.0)
    await layout.owners.delete("lease-test-0002")


async def test_keeper_renews_spread_leases_and_reports_a_takeover(
    nc: Nats, layout: BusLayout
) -> None:
    keeper = LeaseKeeper(nc, ttl=2.0)  # the bucket's TTL in these tests
    await keeper.start()
    lost: list[str] = []
    leases = [Lease(layout.owners, f"lease-keep-{i:04d}", "node-a", 2.0) for i in range(20)]
    try:
        for lease in leases:
            await lease.claim()

            async def on_lost(key: str = lease.key) -> None:
                lost.append(key)

            keeper.hold(lease, on_lost)
        first = {lease.key: lease.revision for lease in leases}
        await asyncio.sleep(2.5)  # past the bucket's TTL: only renewals keep the keys
        for lease in leases:
            entry = await layout.owners.get(lease.key)
            assert entry.value == b"node-a" and entry.revision == lease.revision
            assert lease.revision > first[lease.key]
        # another node takes one over (as if our key had expired): reported, not renewed
        taken = leases[3]
        await layout.owners.delete(taken.key)
        await layout.owners.create(taken.key, b"node-b")
        for _ in range(60):
            if lost:
                break
            await asyncio.sleep(0.05)
        assert lost == [taken.key]
        assert (await layout.owners.get(taken.key)).value == b"node-b"
        # a dropped lease is no longer renewed: it expires
        keeper.drop(leases[0])
        await asyncio.sleep(2.5)
        with pytest.raises(KeyNotFoundError):
            await layout.owners.get(leases[0].key)
        assert (await layout.owners.get(leases[1].key)).value == b"node-a"
    finally:
        await keeper.stop()
        for lease in leases:
            await lease.release()
