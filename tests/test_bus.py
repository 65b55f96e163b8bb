"""The bus against a real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError

from bus import events, jobs, subjects
from bus.errors import BadMessage
from bus.provision import BusLayout, provision
from bus.requests import request_job
from bus.worker import BadJob, JobContext, JobWorker
from tests.conftest import TIME


def _tts(job_id: str, sid: str = "sess-0001") -> jobs.TtsJob:
    return jobs.TtsJob(job_id=job_id, session_id=sid, language="en", text="Hello there.")


async def test_duplicate_job_ids_collapse(nc: Client, layout: BusLayout) -> None:
    js = nc.jetstream()
    before = (await js.stream_info(subjects.STREAM_JOBS)).state.messages
    reply = subjects.session_result("sess-dup-1")
    dl = time.time() + 30
    first = await request_job(js, "tts", _tts("sess-dup-1:1:tts"), reply_to=reply, deadline=dl)
    second = await request_job(js, "tts", _tts("sess-dup-1:1:tts"), reply_to=reply, deadline=dl)
    third = await request_job(js, "tts", _tts("sess-dup-1:2:tts"), reply_to=reply, deadline=dl)
    assert (first, second, third) == (False, True, False)
    after = (await js.stream_info(subjects.STREAM_JOBS)).state.messages
    assert after - before == 2
    # drain what we queued so later tests start from an empty queue
    sub = await js.pull_subscribe_bind(
        durable=subjects.job_consumer("tts"), stream=subjects.STREAM_JOBS
    )
    msgs = await sub.fetch(10, timeout=2)
    for m in msgs:
        await m.term()
    await sub.unsubscribe()


async def test_provision_is_idempotent(nc: Client) -> None:
    js = nc.jetstream()
    await provision(js, owner_ttl=2.0)
    await provision(js, owner_ttl=2.0)
    names = {s.config.name for s in await js.streams_info()}
    assert {subjects.STREAM_JOBS, subjects.STREAM_RESULTS, subjects.STREAM_OUT} <= names
    for kind in subjects.JOB_KINDS:
        info = await js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer(kind))
        assert info.config.filter_subject == subjects.job(kind)


async def test_kv_lease_create_renew_expire(nc: Client, layout: BusLayout) -> None:
    kv = layout.owners
    rev = await kv.create("sess-lease-1", b"node-a")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("sess-lease-1", b"node-b")  # held: a second owner cannot claim
    rev2 = await kv.update("sess-lease-1", b"node-a", last=rev)
    assert rev2 > rev
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.update("sess-lease-1", b"node-a", last=rev)  # stale revision
    await asyncio.sleep(2.6 * TIME)  # bucket TTL is 2 s in tests: the lease expires
    rev3 = await kv.create("sess-lease-1", b"node-b")
    assert rev3 > rev2  # the new owner's fencing token is higher


async def _echo_handler(job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
    if not isinstance(job, jobs.TtsJob):
        raise BadJob("not a tts job")
    if job.text == "bad":
        raise BadJob("refusing bad text")
    yield jobs.TtsChunk(job_id=job.job_id, index=0, sample_rate=16000, pcm=b"\x00\x01" * 4)
    yield jobs.TtsDone(job_id=job.job_id, chunks=1)


async def _collect(nc: Client, subject: str, n: int, timeout: float) -> list[jobs.Result]:
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True)
    out: list[jobs.Result] = []
    try:
        while len(out) < n:
            msg = await sub.next_msg(timeout=timeout)
            out.append(jobs.decode_result(msg.data))
    finally:
        await sub.unsubscribe()
    return out


async def test_worker_round_trip_and_bad_input(nc: Client, layout: BusLayout) -> None:
    js = nc.jetstream()
    worker = JobWorker(js, "tts", _echo_handler, concurrency=2)
    await worker.start()
    try:
        sid = "sess-work-1"
        reply = subjects.session_result(sid)
        dl = time.time() + 30
        await request_job(js, "tts", _tts(f"{sid}:1:tts", sid), reply_to=reply, deadline=dl)
        bad = jobs.TtsJob(job_id=f"{sid}:2:tts", session_id=sid, language="en", text="bad")
        await request_job(js, "tts", bad, reply_to=reply, deadline=dl)
        results = await _collect(nc, reply, 3, timeout=5 * TIME)
        by_job: dict[str, list[str]] = {}
        for r in results:
            by_job.setdefault(r.job_id, []).append(type(r).__name__)
        assert by_job[f"{sid}:1:tts"] == ["TtsChunk", "TtsDone"]
        assert by_job[f"{sid}:2:tts"] == ["JobError"]
    finally:
        await worker.stop()


async def test_expired_job_is_not_run(nc: Client, layout: BusLayout) -> None:
    js = nc.jetstream()
    ran: list[str] = []

    async def handler(job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        ran.append(job.job_id)
        yield jobs.TtsDone(job_id=job.job_id, chunks=0)

    sid = "sess-expired"
    await request_job(
        js,
        "tts",
        _tts(f"{sid}:1:tts", sid),
        reply_to=subjects.session_result(sid),
        deadline=time.time() + 0.3,
    )
    await asyncio.sleep(0.5 * TIME)
    worker = JobWorker(js, "tts", handler)
    await worker.start()
    try:
        for _ in range(40):
            if worker.stats.expired:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert worker.stats.expired == 1 and ran == []


def test_client_events_reject_malformed_and_unknown() -> None:
    with pytest.raises(BadMessage) as e1:
        events.decode_client_event(b"{not json")
    assert e1.value.code == "bad_json"
    with pytest.raises(BadMessage) as e2:
        events.decode_client_event(b'{"type": "launch_missiles"}')
    assert e2.value.code == "bad_message" and "type" in e2.value.reason
    with pytest.raises(BadMessage):
        events.decode_client_event(b'{"type": "start", "language": "fr"}')
    with pytest.raises(BadMessage):
        events.decode_client_event(b'{"type": "answer_text", "text": "' + b"x" * 5000 + b'"}')
    with pytest.raises(BadMessage):
        events.decode_client_event(b'{"type": "pong", "id": 1, "extra": true}')
    ok = events.decode_client_event(b'{"type": "start", "language": "ko", "role": "data"}')
    assert isinstance(ok, events.Start) and ok.language == "ko"


def test_job_messages_reject_garbage() -> None:
    with pytest.raises(BadMessage):
        jobs.decode_job(b"\xc1\xff garbage")
    with pytest.raises(BadMessage):
        jobs.decode_job(jobs.encode(jobs.TtsDone(job_id="x", chunks=1)))  # a result, not a job
    job = jobs.SttJob(job_id="a:1:stt", session_id="a" * 8, language="ko", pcm=b"\0\0")
    assert jobs.decode_job(jobs.encode(job)) == job


def test_subjects_refuse_unsafe_session_ids() -> None:
    assert subjects.session_in("abcdEFGH-123_x") == "interview.session.abcdEFGH-123_x.in"
    for bad in ("a.b.c.d.e", "short", "x" * 80, "abc*defgh", "abc >defgh"):
        with pytest.raises(ValueError):
            subjects.session_in(bad)
