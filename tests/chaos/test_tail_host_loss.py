"""Stream tails in a three-server cluster: a tail whose consumer lives on a server other
than its connection's is re-created elsewhere when that server dies (found by the host
probe, not by missed heartbeats), and delivers on without a loss or a duplicate."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import api

from bus.auth import url_credentials
from bus.tail import Tail, Tails
from tests.chaos.harness import NatsCluster, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

#: so long that only the host probe can notice a lost consumer within the test
HEARTBEAT_S = 60.0


async def test_tail_moves_off_a_killed_consumer_host(cluster: NatsCluster) -> None:
    urls = cluster.url.split(",")
    user, password = url_credentials(cluster.url)  # announced members come without them
    observer = await nats.connect(urls, max_reconnect_attempts=-1, user=user, password=password)
    # one connection pinned to each server (it reconnects to that server only)
    pinned = [
        await nats.connect([u], max_reconnect_attempts=-1, user=user, password=password)
        for u in urls
    ]
    registries = [Tails(nc, heartbeat=HEARTBEAT_S) for nc in pinned]
    got: dict[str, list[bytes]] = {}
    try:
        js = observer.jetstream()

        async def stream_made() -> bool:
            try:
                await js.add_stream(
                    api.StreamConfig(name="TAILHOST", subjects=["th.>"], num_replicas=3)
                )
                return True
            except Exception:
                return False

        await wait_until(stream_made, 30, "an R3 stream (needs a meta leader)", step=0.2)

        def sink(subject: str) -> object:
            got[subject] = []

            async def cb(msg: Msg) -> None:
                got[subject].append(msg.data)

            return cb

        # tails on every connection until one's consumer is on another server
        tails: list[tuple[int, Tail]] = []
        off_host: tuple[int, Tail] | None = None
        for n in range(30):
            i = n % len(pinned)
            subject = f"th.{n}"
            tail = await registries[i].open("TAILHOST", subject, 1, sink(subject))  # type: ignore[arg-type]
            tails.append((i, tail))
            if tail.host and tail.host != f"n{i + 1}":
                off_host = (i, tail)
                break
        assert off_host is not None, [(i, t.host) for i, t in tails]
        victim = off_host[1].host
        assert victim is not None
        survivors = [(i, t) for i, t in tails if f"n{i + 1}" != victim]
        for _, t in survivors:
            for k in range(3):
                await js.publish(t.subject, b"%d" % k, timeout=5)
        await wait_until(
            lambda: all(len(got[t.subject]) == 3 for _, t in survivors),
            20,
            "the first three messages on every tail",
        )

        cluster.servers[int(victim.removeprefix("n")) - 1].kill()

        async def publish_after(subject: str, k: int) -> bool:
            try:
                await js.publish(subject, b"%d" % k, timeout=2)
                return True
            except Exception:
                return False

        for _, t in survivors:
            for k in range(3, 6):
                await wait_until(
                    lambda s=t.subject, k=k: publish_after(s, k),
                    30,
                    "a publish after the kill",
                    step=0.2,
                )
        # well before two heartbeats (120 s) could have revealed the lost consumer
        await wait_until(
            lambda: all(len(got[t.subject]) >= 6 for _, t in survivors),
            30,
            "every message on every surviving tail",
        )
        await asyncio.sleep(0.5)
        for _, t in survivors:
            assert got[t.subject] == [b"%d" % k for k in range(6)], (t.subject, got[t.subject])
        i, moved = off_host
        assert moved.resets >= 1 and moved.host != victim
        assert registries[i].lost_hosts >= 1
    finally:
        for r in registries:
            await r.close()
        for nc in [*pinned, observer]:
            await nc.close()
