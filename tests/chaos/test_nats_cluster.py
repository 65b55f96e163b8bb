"""A three-server NATS cluster on loopback, streams and KV with three replicas: kill -9 of
the server leading the OUT stream mid-interview loses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bus import subjects
from parley.client import Client
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    NatsCluster,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    bus_client,
    decode,
    ready_everywhere,
    timeline,
    wait_until,
)
from tests.conftest import TIME, Servers

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


async def test_kill_one_of_three_nats_servers_mid_interview(
    cluster: NatsCluster, servers: Servers, tmp_path: Path
) -> None:
    nc = await bus_client(cluster.url)
    try:

        async def jetstream_up() -> bool:
            try:
                await nc.jetstream().account_info()
                return True
            except Exception:
                return False

        await wait_until(jetstream_up, 30, "a JetStream meta leader", step=0.2)
        fleet = Fleet(
            tmp_path / "fleet",
            cluster.url,
            servers.dsn,
            env={"PARLEY_NATS_REPLICAS": "3"},
            nats_credentials=cluster.credentials,
        )
        try:
            procs = [
                fleet.start("models", "stt,llm,tts,embed"),
                fleet.start("session", "session"),
                fleet.start("edge", "edge"),
            ]
            for p in procs:
                await p.ready(60)
            await ready_everywhere(nc, ("session", "stt", "llm", "tts", "embed"))
            js = nc.jetstream()
            for stream in (
                subjects.STREAM_OUT,
                subjects.STREAM_JOBS,
                subjects.STREAM_RESULTS,
                f"KV_{subjects.KV_OWNERS}",
            ):
                info = await js.stream_info(stream)
                assert info.config.num_replicas == 3, (stream, info.config)
            c = Client(fleet.edge_url(procs[2]))
            await c.connect()
            await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
            interview = asyncio.create_task(c.typed_interview(ANSWER, timeout=120 * TIME))
            try:
                await c.wait_for("transcript", timeout=60 * TIME, where=lambda e: e["final"])
                leader = (await js.stream_info(subjects.STREAM_OUT)).cluster
                assert leader is not None and leader.leader
                victim = cluster.servers[int(leader.leader.removeprefix("n")) - 1]
                victim.kill()
                killed = time.monotonic()
                report = await interview
                print(
                    f"killed {leader.leader} (OUT leader); interview finished "
                    f"{time.monotonic() - killed:.1f} s later"
                )
            finally:
                print(timeline(c))
                if not interview.done():
                    interview.cancel()
            assert_complete(report, 2)
            assert_clean_seqs(c)
            assert_one_activation_at_a_time(fleet)
            # the OUT stream kept every event the client saw, on the surviving replicas
            last = await js.get_last_msg(subjects.STREAM_OUT, subjects.session_out(c.session_id))
            assert last.data is not None
            report_seq = c.rx.of("report")[0]["seq"]
            assert decode(last.data)["seq"] >= report_seq
            assert all(p.alive() for p in fleet.procs)
            await c.close()
        finally:
            fleet.close()
            print(fleet.logs())
    finally:
        await nc.close()
