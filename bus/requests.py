"""Publishing jobs to the model actors, deduplicated by JetStream.

:func:`request_job` is the only way a session asks for work. The job id is the
``Nats-Msg-Id``: publishing the same id twice inside the stream's duplicate window stores
one message and the second :class:`nats.js.api.PubAck` says ``duplicate=True``.
"""

from __future__ import annotations

__all__ = ["TRANSIENT", "publish_retrying", "request_job"]

import asyncio
import time

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from bus import subjects
from bus.errors import JobRejected
from bus.jobs import Job, encode

#: Errors worth retrying: the server or the connection may come back within the deadline.
TRANSIENT: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    ServiceUnavailableError,
    # a publish nobody acknowledged: the stream has no leader yet (a cluster electing one
    # after a server died, or a server restarting)
    NoStreamResponseError,
)


async def publish_retrying(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    headers: dict[str, str],
    *,
    budget: float,
    attempt_timeout: float = 2.0,
) -> PubAck:
    """JetStream publish with backoff on transient errors, giving up after ``budget`` s."""
    budget = max(budget, 0.05)
    started = time.monotonic()
    try:  # the common case, without building a retry loop (hot: every event of a session)
        return await js.publish(
            subject, payload, timeout=min(attempt_timeout, budget), headers=headers
        )
    except TRANSIENT:
        budget -= time.monotonic() - started + 0.05
        if budget <= 0:
            raise
        await asyncio.sleep(0.05)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        stop=stop_after_delay(budget),
        wait=wait_exponential_jitter(multiplier=0.05, max=1.0),
        reraise=True,
    ):
        with attempt:
            return await js.publish(
                subject, payload, timeout=min(attempt_timeout, budget), headers=headers
            )
    raise AssertionError("unreachable")  # pragma: no cover


async def request_job(
    js: JetStreamContext,
    kind: str,
    job: Job,
    *,
    reply_to: str,
    deadline: float,
) -> bool:
    """Publish ``job`` to ``interview.jobs.<kind>``; return True if it was a duplicate.

    ``deadline`` is wall-clock epoch seconds: workers drop a job whose deadline passed.
    Retries transient failures until the deadline; raises :class:`JobRejected` when the
    server refuses the job and the last transient error when time runs out.
    """
    headers = {
        subjects.HDR_MSG_ID: job.job_id,
        subjects.HDR_REPLY_TO: reply_to,
        subjects.HDR_DEADLINE: f"{deadline:.3f}",
        subjects.HDR_JOB_KIND: kind,
    }
    budget = min(deadline - time.time(), 10.0)
    try:
        ack = await publish_retrying(js, subjects.job(kind), encode(job), headers, budget=budget)
    except nats.js.errors.APIError as exc:
        raise JobRejected(f"{kind} job {job.job_id} refused: {exc}") from exc
    return bool(ack.duplicate)
