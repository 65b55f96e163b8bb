"""Degradation people can see: while model roles are not ready, the page is told which and
when (the ``warming`` event) and ``/readyz`` says it; the interview starts anyway, and the
page is told again when they are ready. Real NATS and Postgres; the model node is the
deterministic test backend, started late on purpose."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge.warming import WarmingWatch, warming_roles
from parley.client import Client
from parley.config import Config
from parley.node import Node
from tests.conftest import TEST_SECRET, TIME, Servers


def _config(servers: Servers, tmp_path: Path, roles: tuple[str, ...], node_id: str) -> Config:
    return Config(
        nats_url=servers.nats.url,
        nats_credentials=servers.nats_credentials,
        database_url=servers.dsn,
        port=0,
        roles=roles,
        models="deterministic",
        node_id=node_id,
        secret=TEST_SECRET,
        owner_ttl=2.0,
        data_dir=tmp_path,
        max_connections_per_ip=0,
        sessions_per_ip_per_min=0,
    )


def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_warming_roles_take_the_supervisors_estimates() -> None:
    checks = {"nats": True, "session": True, "llm": False, "stt": True, "tts": False}
    supervised = {
        "a/llm": {"state": "starting", "ready_in_s": 41.23},
        "b/llm": {"state": "backoff", "ready_in_s": 9.0},
        "a/tts": {"state": "down", "ready_in_s": None},
        "a/stt": {"state": "ready", "ready_in_s": 0.0},
    }
    assert warming_roles(checks, supervised) == {"llm": 9.0, "tts": None}
    assert warming_roles({"llm": True}, supervised) == {}


async def test_the_watch_tells_only_what_the_page_cannot_count_down_itself() -> None:
    async def probe() -> dict[str, float | None]:
        raise AssertionError("not started: only update() feeds it here")

    watch = WarmingWatch(probe)
    watch.update({"llm": 40.0})
    seen, roles = await watch.wait(0)
    assert roles == {"llm": 40.0}
    watch.update({"llm": 38.0})  # within the drift the page's count-down absorbs
    assert watch.version == seen
    watch.update({"llm": 20.0})  # the estimate moved: tell
    seen, roles = await watch.wait(seen)
    assert roles == {"llm": 20.0}
    watch.update({"llm": 20.0, "stt": None})  # another role
    seen, roles = await watch.wait(seen)
    assert roles == {"llm": 20.0, "stt": None}
    watch.update({})  # all ready
    seen, roles = await watch.wait(seen)
    assert roles == {}


async def test_the_page_is_told_while_models_warm_and_when_they_are_ready(
    servers: Servers, tmp_path: Path
) -> None:
    front = Node(_config(servers, tmp_path, ("edge", "session"), "warm-front"))
    models: Node | None = None
    await front.start()
    c: Client | None = None
    try:
        assert front.edge is not None
        c = Client(f"ws://127.0.0.1:{front.edge.port}/ws")
        await c.connect()
        told = await c.wait_for("warming", timeout=15 * TIME)
        # no supervisor here: which roles, not when
        assert told["roles"] == {"llm": None, "stt": None, "tts": None, "embed": None}
        assert told["seq"] == 0
        internal = front.edge.metrics_port  # /readyz is on the edge's internal port
        assert internal is not None
        status, body = await asyncio.to_thread(_readyz, internal)
        assert status == 503 and body["warming"] == told["roles"], body

        # the interview starts anyway: the greeting and an instant first question
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
        await c.wait_for("question", timeout=30 * TIME, where=lambda e: e["kind"] == "main")

        models = Node(_config(servers, tmp_path, ("stt", "llm", "tts", "embed"), "warm-models"))
        await models.start()
        done = await c.wait_for("warming", timeout=15 * TIME, where=lambda e: not e["roles"])
        assert done["roles"] == {}
        status, body = await asyncio.to_thread(_readyz, internal)
        assert status == 200 and "warming" not in body, body
        assert not c.rx.of("error"), c.rx.events
    finally:
        if c is not None:
            await c.close()
        if models is not None:
            await models.stop()
        await front.stop()
