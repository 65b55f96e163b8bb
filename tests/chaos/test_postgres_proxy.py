"""Every Postgres connection of the fleet goes through a TCP proxy that resets them all,
four times mid-interview, at the worst moments it can find: a session's write lost on its
way, a write done but its answer lost, new connections stalled, then refused. Snapshot,
turn and report writes are retried; nothing is lost, no actor or process dies, nothing
logs an error."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio

from parley.client import Client
from persistence import reports, snapshots, transcripts
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    timeline,
    wait_until,
)
from tests.chaos.tcpproxy import Cut, TcpProxy
from tests.conftest import TIME, Servers

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]

QUESTIONS = 3
STALL_S = 1.0
REFUSE_S = 2.0
#: the longest wait for the write a fault waits for
WRITE_WITHIN_S = 30.0

#: a log record's first line (``parley up`` logs "time LEVEL logger: message")
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) \S+: ")
#: warnings that may carry a traceback: asyncpg's pool reconnecting in the background
_EXPECTED_TRACEBACK = re.compile(
    r"WARNING asyncpg\.pool: Failed to restore the pool "
    r"connection floor"
)
#: what no process may log: a write given up on, output lost, an actor stopped
_FORBIDDEN = re.compile(
    r"could not persist|output lost|fenced off|lease lost"
    r"|Exception ignored|never retrieved"
)


@pytest_asyncio.fixture
async def pg_proxy(servers: Servers) -> AsyncIterator[TcpProxy]:
    url = urlsplit(servers.dsn)
    assert url.hostname is not None and url.port is not None
    proxy = TcpProxy(url.hostname, url.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def via(proxy: TcpProxy, dsn: str) -> str:
    """``dsn`` with the proxy's port."""
    url = urlsplit(dsn)
    return url._replace(netloc=f"{url.netloc.rpartition(':')[0]}:{proxy.port}").geturl()


def unexpected_lines(log: str) -> list[str]:
    """Error records, forbidden messages, and tracebacks not attached to an expected
    warning (a traceback belongs to the log record above it)."""
    bad: list[str] = []
    tolerated = False
    for line in log.splitlines():
        record = _RECORD.match(line)
        if record:
            tolerated = bool(_EXPECTED_TRACEBACK.search(line))
        if (
            (record and record["level"] in ("ERROR", "CRITICAL"))
            or _FORBIDDEN.search(line)
            or (line.startswith("Traceback") and not tolerated)
        ):
            bad.append(line)
    return bad


async def adversity(proxy: TcpProxy, c: Client, log: list[str]) -> None:
    """One fault at each main question and at the closing one: all connections cut at a
    write of this session (lost on its way), at the answer to one (done, answer lost),
    now with new connections stalled STALL_S, at the report's write with new connections
    refused REFUSE_S."""
    sid = c.session_id.encode()
    # the report is the one JSON document that carries the session id
    report_write = b'"session_id":"' + sid + b'"'
    t0 = time.monotonic()

    async def asked(kind: str, count: int = 1) -> None:
        await c.wait_for(
            "question", count=count, timeout=60 * TIME, where=lambda e: e["kind"] == kind
        )

    async def at(write: bytes, reply_lost: bool = False) -> Cut:
        return await asyncio.wait_for(
            proxy.cut_when(write, reply_lost=reply_lost), WRITE_WITHIN_S * TIME
        )

    def note(what: str, cut: Cut) -> None:
        log.append(
            f"{time.monotonic() - t0:5.2f} s  {what}: cut {cut.connections} "
            f"connections, {cut.mid_request} awaiting an answer"
        )

    await asked("main")
    note("a write lost", await at(sid))
    await asked("main", 2)
    note("a write done, its answer lost", await at(sid, reply_lost=True))
    await asked("main", 3)
    proxy.stall()
    note(f"new connections stalled {STALL_S} s", proxy.cut())
    await asyncio.sleep(STALL_S * TIME)
    await proxy.resume()
    await asked("closing")
    proxy.refuse()  # the open connections serve until the report's write, then none
    note(f"the report's write, new connections refused {REFUSE_S} s", await at(report_write))
    await asyncio.sleep(REFUSE_S * TIME)
    await proxy.resume()
    log.append(f"{time.monotonic() - t0:5.2f} s  accepting again")


async def test_postgres_connections_cut_mid_interview(
    pg_proxy: TcpProxy, fleet: Fleet, servers: Servers
) -> None:
    db = {"DATABASE_URL": via(pg_proxy, servers.dsn)}
    # each LLM job takes 0.5 s: the interview outlasts the adversity, writes go on all along
    procs = [
        fleet.start(
            "models", "stt,llm,tts,embed", env={**db, "PARLEY_DETERMINISTIC_DELAY_MS": "500"}
        ),
        fleet.start("session", "session", env=db),
        fleet.start("edge", "edge", env=db),
    ]
    for p in procs:
        await p.ready()
    c = Client(fleet.edge_url(procs[2]))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": QUESTIONS})
    log: list[str] = []
    started = time.monotonic()
    interview = asyncio.create_task(c.typed_interview(ANSWER, timeout=100 * TIME))
    chaos = asyncio.create_task(adversity(pg_proxy, c, log))
    try:
        report = await interview
        log.append(f"{time.monotonic() - started:5.2f} s after start: report")
        await chaos  # every fault happened (a wait for a write that never came fails here)
    finally:
        print(timeline(c))
        print("\n".join(log))
        for t in (interview, chaos):
            if not t.done():
                t.cancel()
    assert_complete(report, QUESTIONS)
    assert_clean_seqs(c)
    assert_one_activation_at_a_time(fleet)
    await c.close()

    pool = await asyncpg.create_pool(servers.dsn, min_size=1, max_size=1)
    try:
        stored: dict[str, Any] | None = None

        async def report_stored() -> bool:
            nonlocal stored
            stored = await reports.load_report(pool, c.session_id)
            return stored is not None

        await wait_until(report_stored, 40, "the report in Postgres", step=0.1)
        print(
            f"report in Postgres {time.monotonic() - c.rx.of('report')[0]['_t']:.2f} s "
            "after the client had it"
        )
        assert stored is not None and stored["answers"] == report["answers"]
        turns = await transcripts.load_turns(pool, c.session_id)
        assert [t.answer for t in turns] == [a["answer"] for a in report["answers"]]
        assert all(t.assessment for t in turns), turns
        # the last snapshot covers the report: written after it, not given up on
        row = await snapshots.load_snapshot(pool, c.session_id)
        assert row is not None and row.status == "finished", row
        assert row.snapshot_seq >= c.rx.of("report")[0]["seq"], row
    finally:
        await pool.close()

    assert all(p.alive() for p in fleet.procs)
    # one activation: the actor never stopped and came back from its snapshot
    assert procs[1].output().count(f"session {c.session_id} active on") == 1
    for p in fleet.procs:
        bad = unexpected_lines(p.output())
        assert not bad, f"{p.name}:\n" + "\n".join(bad)
