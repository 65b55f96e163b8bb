"""The session lease on the real KV bucket: a renewal that timed out but landed is still
ours; a key another node created is not."""

from __future__ import annotations

import pytest

from actors.runtime import Lease, LeaseLost
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
