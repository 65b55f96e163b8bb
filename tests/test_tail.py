"""Stream tails (bus/tail.py) against a real nats-server: order, start sequence, and
recovery from a reset, a deleted consumer and a dropped delivery, each without a loss
or a duplicate."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus import subjects
from bus.provision import BusLayout
from bus.tail import Tail, Tails, delivery_seqs


class Sink:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.more = asyncio.Event()

    async def __call__(self, msg: Msg) -> None:
        self.got.append(msg.data)
        self.more.set()

    async def wait(self, n: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.got) < n:
                self.more.clear()
                await self.more.wait()


async def _publish(nc: Client, subject: str, payloads: list[bytes]) -> list[int]:
    js = nc.jetstream()
    return [(await js.publish(subject, p, timeout=2.0)).seq for p in payloads]


def test_delivery_seqs_reads_both_reply_forms() -> None:
    assert delivery_seqs("$JS.ACK.RESULTS.c1.1.42.7.1700000000000000000.0") == (42, 7)
    assert delivery_seqs("$JS.ACK.dom.ACCHASH.RESULTS.c1.1.42.7.1700000000000000000.0.xyz") == (
        42,
        7,
    )
    assert delivery_seqs("_INBOX.abc") is None
    assert delivery_seqs("$JS.ACK.RESULTS.c1.1.x.7.1.0") is None


async def test_tail_starts_at_a_sequence_and_keeps_order(nc: Client, layout: BusLayout) -> None:
    subject = subjects.session_result("tail-order")
    seqs = await _publish(nc, subject, [b"a", b"b", b"c"])
    tails = Tails(nc)
    sink = Sink()
    try:
        tail = await tails.open(subjects.STREAM_RESULTS, subject, seqs[1], sink)
        await sink.wait(2)
        await _publish(nc, subject, [b"d", b"e"])
        await sink.wait(4)
        await asyncio.sleep(0.2)
        assert sink.got == [b"b", b"c", b"d", b"e"]
        assert tail.last_seq > seqs[2]
    finally:
        await tails.close()


async def _publish_while(nc: Client, subject: str, n: int, during: asyncio.Event) -> None:
    for i in range(n):
        await _publish(nc, subject, [str(i).encode()])
        if i == n // 3:
            during.set()
        await asyncio.sleep(0.005)


async def test_reset_mid_stream_loses_and_repeats_nothing(nc: Client, layout: BusLayout) -> None:
    subject = subjects.session_result("tail-reset")
    tails = Tails(nc)
    sink = Sink()
    try:
        tail = await tails.open(subjects.STREAM_RESULTS, subject, 1, sink)
        mid = asyncio.Event()
        pub = asyncio.create_task(_publish_while(nc, subject, 150, mid))
        await mid.wait()
        first = tail.consumer
        tail.reset("test")
        tail.reset("test again")  # one reset at a time
        await pub
        await sink.wait(150)
        await asyncio.sleep(0.2)
        assert sink.got == [str(i).encode() for i in range(150)]
        assert tail.resets == 1 and tail.consumer != first
    finally:
        await tails.close()


async def test_a_deleted_consumer_is_noticed_and_replaced(nc: Client, layout: BusLayout) -> None:
    subject = subjects.session_result("tail-deleted")
    tails = Tails(nc, heartbeat=0.5)
    sink = Sink()
    try:
        tail = await tails.open(subjects.STREAM_RESULTS, subject, 1, sink)
        await _publish(nc, subject, [b"1"])
        await sink.wait(1)
        assert tail.consumer is not None
        await nc.jetstream().delete_consumer(subjects.STREAM_RESULTS, tail.consumer)
        await _publish(nc, subject, [b"2", b"3"])  # nobody pushes these until the reset
        await sink.wait(3, timeout=10.0)  # heartbeats stopped: the sweep re-creates it
        assert sink.got == [b"1", b"2", b"3"]
        assert tail.resets == 1
    finally:
        await tails.close()


async def test_a_dropped_delivery_is_a_gap_that_is_refilled(nc: Client, layout: BusLayout) -> None:
    """A message lost between server and callback (what a slow subscription's overflow
    does): the next delivery's consumer sequence shows the gap, the tail re-reads it."""
    subject = subjects.session_result("tail-gap")
    tails = Tails(nc)
    sink = Sink()
    try:
        tail: Tail = await tails.open(subjects.STREAM_RESULTS, subject, 1, sink)
        original = tail._on_msg
        dropped: list[bytes] = []

        async def lossy(msg: Msg) -> None:
            if msg.data == b"2" and not dropped:
                dropped.append(msg.data)
                return  # as if the client library had dropped it
            await original(msg)

        tail._on_msg = lossy  # type: ignore[method-assign]
        await _publish(nc, subject, [b"1", b"2", b"3", b"4"])
        await sink.wait(4)
        await asyncio.sleep(0.2)
        assert dropped == [b"2"]
        assert sink.got == [b"1", b"2", b"3", b"4"]
        assert tail.resets == 1
    finally:
        await tails.close()


@pytest.mark.parametrize("closed_twice", [False, True])
async def test_close_is_idempotent_and_ends_the_watcher(
    nc: Client, layout: BusLayout, closed_twice: bool
) -> None:
    tails = Tails(nc)
    tail = await tails.open(
        subjects.STREAM_RESULTS, subjects.session_result("tail-close"), 1, Sink()
    )
    await tail.close()
    if closed_twice:
        await tail.close()
    assert len(tails) == 0
    await tails.close()  # the no-leaked-tasks check of conftest runs after this
