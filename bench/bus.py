"""``parley bench bus``: job round trip through JetStream on loopback.

A job is published with :func:`bus.requests.request_job` (dedup id), a :class:`JobWorker`
pulls it and publishes a result to the session's result stream, and the requester
receives it: p50/p99 of that round trip, jobs/s with 8 in flight, and the cost of a
duplicate publish (JetStream answers ``duplicate=True`` and stores nothing).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

from bench.servers import bench_servers, percentile
from bus import jobs, subjects
from bus.connection import connect
from bus.provision import provision
from bus.requests import request_job
from bus.worker import JobContext, JobWorker


async def _echo(job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
    yield jobs.TtsDone(job_id=job.job_id, chunks=0)


async def _run(n: int) -> None:
    with bench_servers(postgres=False) as (url, _):
        nc = await connect(url, "bench-bus")
        js = nc.jetstream()
        await provision(js)
        worker = JobWorker(js, "tts", _echo, concurrency=8)
        await worker.start()
        sid = "bench-bus-0001"
        reply = subjects.session_result(sid)
        waiters: dict[str, asyncio.Future[float]] = {}

        async def on_result(msg: object) -> None:
            r = jobs.decode_result(msg.data)  # type: ignore[attr-defined]
            fut = waiters.pop(r.job_id, None)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

        sub = await js.subscribe(
            reply, ordered_consumer=True, cb=on_result, stream=subjects.STREAM_RESULTS
        )

        async def one(i: int) -> float:
            job = jobs.TtsJob(job_id=f"{sid}:{i}:tts", session_id=sid, language="en", text="x")
            fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiters[job.job_id] = fut
            t0 = time.perf_counter()
            await request_job(js, "tts", job, reply_to=reply, deadline=time.time() + 30)
            return (await asyncio.wait_for(fut, 10)) - t0

        for i in range(50):  # warm-up
            await one(-i - 1)
        lat = [await one(i) for i in range(n)]
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(8)

        async def bounded(i: int) -> float:
            async with sem:
                return await one(n + i)

        await asyncio.gather(*(bounded(i) for i in range(n)))
        rate = n / (time.perf_counter() - t0)
        dup = []
        job = jobs.TtsJob(job_id=f"{sid}:dup:tts", session_id=sid, language="en", text="x")
        await request_job(js, "tts", job, reply_to=reply, deadline=time.time() + 30)
        for _ in range(n):
            t = time.perf_counter()
            assert await request_job(js, "tts", job, reply_to=reply, deadline=time.time() + 30)
            dup.append(time.perf_counter() - t)
        await sub.unsubscribe()
        await worker.stop()
        await nc.drain()
    print(
        f"job round trip (sequential, n={n}): p50 {us(percentile(lat, 0.5))}, "
        f"p99 {us(percentile(lat, 0.99))}"
    )
    print(f"throughput, 8 in flight: {rate:,.0f} jobs/s")
    print(
        f"duplicate publish (dropped by JetStream): p50 {us(percentile(dup, 0.5))}, "
        f"p99 {us(percentile(dup, 0.99))}"
    )


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="parley bench bus")
    p.add_argument("-n", type=int, default=1000)
    asyncio.run(_run(p.parse_args(argv).n))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
