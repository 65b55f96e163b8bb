"""Create or update the JetStream streams, consumers, KV bucket and object store.

Idempotent: a node calls :func:`provision` at start; a changed configuration is applied
with an update. ``replicas=3`` is for a three-server cluster. Provisioning needs a NATS
identity that may create and update streams (the ``admin`` user of :mod:`bus.auth`): with
auth on, ``parley up`` provisions as admin before it starts its children, and they only
look up what they use (:func:`attach_owners`, :func:`attach_audio`).
"""

from __future__ import annotations

__all__ = [
    "ACK_WAIT",
    "BusLayout",
    "ReplayLimits",
    "attach_audio",
    "attach_owners",
    "attach_replay",
    "ensure_consumer",
    "provision",
    "provision_as",
]

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from bus import subjects
from bus.connection import connect
from bus.requests import TRANSIENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusLayout:
    """Handles to the provisioned KV bucket and object store."""

    owners: KeyValue
    audio: ObjectStore
    replay: ObjectStore | None = None


#: Streams read only through short-lived consumers (OUT by the edge, RESULTS by session
#: actors, the answer store by the edge's replays): a consumer nobody listens to is gone
#: after this, and none may ask to live longer, so no role can leave one behind.
CONSUMER_IDLE_S = 60.0
_EPHEMERAL_ONLY = api.StreamConsumerLimits(inactive_threshold=CONSUMER_IDLE_S)


async def _ensure_stream(js: JetStreamContext, cfg: api.StreamConfig) -> None:
    assert cfg.name is not None
    try:
        await js.stream_info(cfg.name)
    except NotFoundError:
        try:
            await js.add_stream(cfg)
            log.info("created stream %s", cfg.name)
            return
        except BadRequestError as exc:
            if exc.err_code != 10058:  # "name already in use": another node was first
                raise
    await js.update_stream(cfg)


#: How long a job may go without an ack or an ``in_progress()`` pulse before JetStream
#: hands it to another worker: this is how fast a dead worker's job is redelivered.
#: Workers pulse every third of it, so long jobs are never redelivered while alive.
ACK_WAIT: dict[str, float] = {"stt": 6.0, "tts": 6.0, "embed": 6.0, "llm": 10.0, "assess": 20.0}


async def ensure_consumer(
    js: JetStreamContext,
    kind: str,
    *,
    max_ack_pending: int = 64,
    ack_wait: float | None = None,
    max_deliver: int = 5,
) -> None:
    """The durable pull consumer shared by every worker of ``kind``."""
    if ack_wait is None:
        ack_wait = ACK_WAIT.get(kind, 30.0)
    durable = subjects.job_consumer(kind)
    cfg = api.ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=subjects.job(kind),
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
        max_waiting=512,
    )
    try:
        await js.consumer_info(subjects.STREAM_JOBS, durable)
    except NotFoundError:
        await js.add_consumer(subjects.STREAM_JOBS, cfg)
        return
    try:
        await js.add_consumer(subjects.STREAM_JOBS, cfg)  # same name: an update
    except BadRequestError as exc:
        log.warning("consumer %s kept its old config: %s", durable, exc)


async def provision(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    owner_ttl: float = 5.0,
    duplicate_window: float = 120.0,
    budget: float = 60.0,
    replay: ReplayLimits | None = None,
) -> BusLayout:
    """Make sure every stream, consumer, bucket and store exists, then return handles.

    Retries timeouts and "JetStream unavailable" for up to ``budget`` seconds: on a
    cluster that is still electing its leaders, or while other nodes provision at the
    same moment, creating a replicated stream can take longer than one API timeout.
    Every step is idempotent, so a retry after a create that did land is harmless.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        stop=stop_after_delay(budget),
        wait=wait_exponential_jitter(multiplier=0.2, max=3.0),
        before_sleep=lambda rs: log.warning(
            "provisioning JetStream: %r, retrying", rs.outcome.exception() if rs.outcome else None
        ),
        reraise=True,
    ):
        with attempt:
            layout = await _provision(js, replicas, owner_ttl, duplicate_window)
            store = await _ensure_replay(js, replay or ReplayLimits(), replicas)
            return dataclasses.replace(layout, replay=store)
    raise AssertionError("unreachable")  # pragma: no cover


async def _provision(
    js: JetStreamContext, replicas: int, owner_ttl: float, duplicate_window: float
) -> BusLayout:
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=subjects.STREAM_JOBS,
            subjects=[subjects.ALL_JOBS],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.NEW,
            max_msgs=100_000,
            max_bytes=1 << 30,
            max_age=600.0,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
        ),
    )
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=subjects.STREAM_RESULTS,
            subjects=[subjects.ALL_SESSION_RESULTS],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_bytes=2 << 30,
            max_age=3600.0,
            max_msgs_per_subject=5_000,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            consumer_limits=_EPHEMERAL_ONLY,
        ),
    )
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=subjects.STREAM_OUT,
            subjects=[subjects.ALL_SESSION_OUT],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_bytes=512 << 20,
            max_age=6 * 3600.0,
            max_msgs_per_subject=1_000,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            consumer_limits=_EPHEMERAL_ONLY,
        ),
    )
    for kind in subjects.JOB_KINDS:
        await ensure_consumer(js, kind)
    owners = await _ensure_owners(js, owner_ttl, replicas)
    try:
        audio = await js.object_store(subjects.OBJ_AUDIO)
    except NotFoundError:
        audio = await js.create_object_store(
            bucket=subjects.OBJ_AUDIO,
            config=api.ObjectStoreConfig(
                bucket=subjects.OBJ_AUDIO,
                description="TTS cache by hash of (engine, voice, text)",
                ttl=7 * 24 * 3600.0,
                max_bytes=2 << 30,
                replicas=replicas,
            ),
        )
    return BusLayout(owners=owners, audio=audio)


@dataclass(frozen=True)
class ReplayLimits:
    """How long answer audio is kept for replay and how much of it at most. Enforced by
    the object store's stream (``max_age``, ``max_bytes``; a full store refuses new
    answers rather than dropping old ones early), not by a sweep."""

    ttl_s: float = 7 * 86_400.0
    max_bytes: int = 1 << 30


async def _ensure_replay(js: JetStreamContext, limits: ReplayLimits, replicas: int) -> ObjectStore:
    """The replay object store; an existing one gets ``limits`` applied."""
    try:
        store = await js.object_store(subjects.OBJ_REPLAY)
    except NotFoundError:
        store = await js.create_object_store(
            bucket=subjects.OBJ_REPLAY,
            config=api.ObjectStoreConfig(
                bucket=subjects.OBJ_REPLAY,
                description="each spoken answer's audio, for replay from the report",
                ttl=limits.ttl_s,
                max_bytes=limits.max_bytes,
                replicas=replicas,
            ),
        )
    stream = f"OBJ_{subjects.OBJ_REPLAY}"
    cfg = (await js.stream_info(stream)).config
    idle = cfg.consumer_limits.inactive_threshold if cfg.consumer_limits else None
    if cfg.max_age != limits.ttl_s or cfg.max_bytes != limits.max_bytes or idle != CONSUMER_IDLE_S:
        cfg.max_age, cfg.max_bytes = limits.ttl_s, limits.max_bytes
        cfg.consumer_limits = _EPHEMERAL_ONLY
        await js.update_stream(cfg)
        log.info("replay store limits set to %.0f s, %d bytes", limits.ttl_s, limits.max_bytes)
    return store


async def _ensure_owners(js: JetStreamContext, ttl: float, replicas: int) -> KeyValue:
    """The lease bucket; an existing one gets ``ttl`` applied (an operator changed it)."""
    try:
        kv = await js.key_value(subjects.KV_OWNERS)
    except (NotFoundError, BucketNotFoundError):
        return await js.create_key_value(
            bucket=subjects.KV_OWNERS,
            ttl=ttl,
            history=1,
            replicas=replicas,
            description="session id -> owning node; the revision fences snapshot writes",
        )
    stream = f"KV_{subjects.KV_OWNERS}"
    cfg = (await js.stream_info(stream)).config
    if cfg.max_age is None or abs(cfg.max_age - ttl) > 1e-3:
        cfg.max_age = ttl
        cfg.duplicate_window = min(cfg.duplicate_window or ttl, ttl)
        await js.update_stream(cfg)
        log.info("lease TTL of %s set to %.1fs", subjects.KV_OWNERS, ttl)
    return kv


async def _attach(what: str, lookup: Any, budget: float) -> Any:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((*TRANSIENT, NotFoundError, BucketNotFoundError)),
        stop=stop_after_delay(budget),
        wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
        before_sleep=lambda rs: log.warning(
            "waiting for %s to be provisioned: %r",
            what,
            rs.outcome.exception() if rs.outcome else None,
        ),
        reraise=True,
    ):
        with attempt:
            return await lookup()
    raise AssertionError("unreachable")  # pragma: no cover


async def attach_owners(js: JetStreamContext, *, budget: float = 60.0) -> KeyValue:
    """The lease bucket, provisioned by someone else; waits up to ``budget`` s for it.
    Needs only ``$JS.API.STREAM.INFO.KV_session_owners``."""
    kv: KeyValue = await _attach(
        subjects.KV_OWNERS, lambda: js.key_value(subjects.KV_OWNERS), budget
    )
    return kv


async def attach_audio(js: JetStreamContext, *, budget: float = 60.0) -> ObjectStore:
    """The TTS audio object store, provisioned by someone else; waits up to ``budget`` s."""
    store: ObjectStore = await _attach(
        subjects.OBJ_AUDIO, lambda: js.object_store(subjects.OBJ_AUDIO), budget
    )
    return store


async def attach_replay(js: JetStreamContext, *, budget: float = 60.0) -> ObjectStore:
    """The replay object store (answer audio), provisioned by someone else."""
    store: ObjectStore = await _attach(
        subjects.OBJ_REPLAY, lambda: js.object_store(subjects.OBJ_REPLAY), budget
    )
    return store


async def provision_as(
    url: str,
    name: str,
    *,
    replicas: int = 1,
    owner_ttl: float = 5.0,
    replay: ReplayLimits | None = None,
    tls_ca: str | Path | None = None,
) -> None:
    """:func:`provision` over a connection of its own to ``url`` (the admin's
    credentials), closed afterwards: the admin identity is held only while provisioning."""
    nc = await connect(url, name, tls_ca=tls_ca)
    try:
        await provision(nc.jetstream(), replicas=replicas, owner_ttl=owner_ttl, replay=replay)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.drain(), 5.0)
