"""The remote LLM actor over a real nats-server, its engine talking to a tiny real HTTP
server on loopback (tests/models/test_remote_llm.py): jobs from different sessions are in
flight at the same time, up to the configured concurrency (the embedded engine: one)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.aio.client import Client as Nats

from actors.models.remote.config import RemoteConfig
from actors.models.remote.llm_openai import OpenAiLlm
from actors.models.service import RemoteLlmActor
from bus import jobs, subjects
from bus.provision import BusLayout
from bus.requests import request_job
from tests.models.test_remote_llm import FakeServer, Reader, Writer, _respond, _sse, fake
from tests.test_model_actors import _results

__all__ = ["fake"]  # the fixture, imported for use here


async def test_jobs_of_several_sessions_are_in_flight_together(
    nc: Nats, layout: BusLayout, fake: FakeServer
) -> None:
    active = 0
    peak = 0
    all_in = asyncio.Event()

    async def held(_req: dict[str, Any], _r: Reader, w: Writer) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 3:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), 5)  # one at a time would time out here
        except TimeoutError:
            pass
        await _respond(w, 200, _sse("What did you ", "measure?"), content_type="text/event-stream")
        active -= 1

    fake.fallback = held
    engine = OpenAiLlm(RemoteConfig(url=f"http://127.0.0.1:{fake.port}", concurrency=3))
    actor = RemoteLlmActor(nc, engine)
    await actor.start()
    try:
        js = nc.jetstream()
        sids = [f"remote{n}x" for n in range(3)]
        for sid in sids:
            job = jobs.LlmJob(
                job_id=f"{sid}:1:llm",
                session_id=sid,
                task="question",
                language="en",
                role="backend developer",
                max_tokens=32,
            )
            await request_job(
                js, "llm", job, reply_to=subjects.session_result(sid), deadline=time.time() + 60
            )
        for sid in sids:
            done = [r for r in await _results(nc, sid, 3.0) if isinstance(r, jobs.LlmDone)]
            assert len(done) == 1 and done[0].text == "What did you measure?", done
        assert peak == 3, f"{peak} request(s) in flight at once, wanted 3"
        stats = actor.stats()
        assert stats["engine"] == "openai:tiny" and stats["in_flight"] == 0
    finally:
        await actor.stop()
