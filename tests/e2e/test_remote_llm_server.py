"""The LLM on an external OpenAI-compatible server: llama-cpp-python's own server, started
as a separate process on loopback with the same packaged GGUF, serves every LLM job of a
node whose ``PARLEY_LLM_URL`` points at it. A typed interview runs through it (an LLM-written
question, a follow-up, model-scored answers), and the interview goes on when the server is
killed mid-stream (the job is retried, or the session falls back) and comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.models.service import RemoteLlmActor
from actors.session.config import CoreConfig
from parley.client import Client
from parley.config import Config
from parley.llm_server import LlamaServer, llama_server, start_llama_server
from parley.node import Node
from tests.conftest import Servers

pytestmark = [pytest.mark.models, pytest.mark.e2e, pytest.mark.timeout(900)]

# Vague on purpose: no example, no own actions, no result, so the interviewer follows up.
VAGUE = "I worked on the backend of our shop and it went well."


@pytest.fixture
def llm_server() -> Iterator[LlamaServer]:
    with llama_server(n_ctx=2048) as server:
        yield server


def _node(servers: Servers, tmp: Path, core: CoreConfig, server: LlamaServer) -> Node:
    cfg = Config(
        nats_url=servers.nats.url,
        nats_credentials=servers.nats_credentials,
        database_url=servers.dsn,
        port=0,
        models="real",
        node_id="remote-llm",
        secret="e2e-secret",
        data_dir=tmp,
        llm_url=server.url,
        llm_structured="gbnf",  # llama.cpp's grammar field
        llm_concurrency=2,
    )
    return Node(cfg, core_config=core)


def _remote(node: Node) -> RemoteLlmActor:
    actors = [a for a in node.models if isinstance(a, RemoteLlmActor)]
    assert actors, "llm_url set: the node runs the remote LLM actor"
    return actors[0]


async def _interview(node: Node, questions: int, timeout: float) -> tuple[Client, dict[str, Any]]:
    assert node.edge is not None
    c = Client(f"ws://127.0.0.1:{node.edge.port}/ws")
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": questions})
    report = await c.typed_interview(VAGUE, timeout=timeout)
    await c.close()
    return c, report


async def test_typed_interview_through_the_server(
    llm_server: LlamaServer, servers: Servers, tmp_path: Path
) -> None:
    # Deadlines stretched for a shared 2-core machine: this test is about the engine, and
    # "nothing estimated" must not depend on how busy the machine is.
    core = CoreConfig(
        llm_unplanned_questions=True,
        deadline_llm_s=240,
        llm_wait_s=240,
        deadline_followup_s=240,
        deadline_assess_s=600,
        report_wait_s=600,
    )
    node = _node(servers, tmp_path, core, llm_server)
    await node.start()
    try:
        actor = _remote(node)
        c, report = await _interview(node, questions=1, timeout=800)
        stats = actor.stats()
    finally:
        await node.stop()

    kinds = [e["kind"] for e in c.rx.of("question")]
    assert "main" in kinds and "followup" in kinds, kinds
    assert all(e["text"].strip() for e in c.rx.of("question"))
    assert stats["jobs_done"] >= 3, stats  # question, follow-up, assessments
    assert stats["deltas"] > 0 and stats["structured"] == "gbnf"
    assert len(report["answers"]) == 2
    assert report["estimated"] is False and report["fallback_count"] == 0, report
    assert all(a["fallback"] is False for a in report["answers"])
    assert report["overall"] is not None


async def test_server_killed_mid_stream_and_back(servers: Servers, tmp_path: Path) -> None:
    server = start_llama_server(n_ctx=2048)
    try:
        core = CoreConfig(
            llm_unplanned_questions=True, max_followups=0, deadline_assess_s=600, report_wait_s=600
        )
        node = _node(servers, tmp_path, core, server)
        await node.start()
        try:
            actor = _remote(node)
            engine = actor.engine
            task = asyncio.create_task(_interview(node, questions=1, timeout=800))
            end = time.monotonic() + 300
            while not (engine.deltas > 0 and engine.in_flight > 0):  # mid-stream
                assert time.monotonic() < end and not task.done(), "no stream began"
                await asyncio.sleep(0.01)
            await asyncio.to_thread(server.kill)
            server.stop()  # already dead: removes its log
            # Back on the same port, as a supervisor would restart it.
            server = await asyncio.to_thread(start_llama_server, port=server.port, n_ctx=2048)
            c, report = await task
            stats = actor.stats()
        finally:
            await node.stop()
    finally:
        server.stop()

    mains = [e for e in c.rx.of("question") if e["kind"] == "main"]
    assert mains and mains[0]["text"].strip(), "the interview went on with a question"
    assert len(report["answers"]) == 1
    # The assessment reached the restarted server: retried, not estimated.
    assert report["answers"][0]["fallback"] is False, report["answers"][0]
    assert stats["jobs_done"] >= 2, stats
