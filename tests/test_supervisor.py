"""The ``parley up`` supervisor: restarts with backoff, a crash loop marks the role down
without spinning, children stop first and never outlive the supervisor (even kill -9)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bus.embedded import free_port
from parley.procs import describe_exit
from parley.supervisor import ChildSpec, RestartPolicy, Supervisor, child_specs
from tests.conftest import REPO, TIME, _tmp_root

FAST = RestartPolicy(
    backoff_min_s=0.05,
    backoff_max_s=0.2,
    stable_after_s=60,
    crash_loop_limit=3,
    crash_loop_cooldown_s=3600,
    stop_grace_s=5,
)

SERVE = "import time; print('parley is up', flush=True); time.sleep(600)"
DIE_AT_LOAD = "import sys; print('loading a bad model file', flush=True); sys.exit(3)"


def _sup(code: dict[str, str], policy: RestartPolicy = FAST) -> tuple[Supervisor, list[str]]:
    lines: list[str] = []
    specs = [ChildSpec((name,)) for name in code]
    sup = Supervisor(
        specs,
        lambda s: [sys.executable, "-c", code[s.name]],
        dict(os.environ),
        policy,
        echo=lines.append,
    )
    return sup, lines


async def _until(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout * TIME
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_child_specs_keep_models_out_of_the_front_process() -> None:
    specs = child_specs(("edge", "session", "stt", "llm", "tts", "embed"))
    assert [s.name for s in specs] == ["edge,session", "stt", "llm", "tts", "embed"]
    assert [s.name for s in child_specs(("llm", "stt"))] == ["stt", "llm"]


def test_backoff_doubles_to_its_cap_then_cools_down() -> None:
    p = RestartPolicy(
        backoff_min_s=1, backoff_max_s=8, crash_loop_limit=6, crash_loop_cooldown_s=300
    )
    assert [p.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 300]


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exit 3"


async def test_a_crashed_child_is_restarted_and_logged_with_its_signal() -> None:
    sup, lines = _sup({"llm": SERVE, "stt": SERVE})
    await sup.start()
    try:
        assert await sup.wait_ready(10 * TIME)
        first = sup.pid("llm")
        other = sup.pid("stt")
        os.kill(first, signal.SIGSEGV)
        await _until(
            lambda: sup.child("llm").restarts == 1 and sup.child("llm").state == "ready",
            10,
            "the restart",
        )
        state = sup.child("llm")
        assert state.last_exit == "killed by SIGSEGV"
        assert state.pid != first
        assert sup.pid("stt") == other  # the neighbour was not touched
        assert sup.child("stt").restarts == 0
        assert any(line.startswith("[llm] parley is up") for line in lines)
    finally:
        await sup.stop()
    assert {s.state for s in sup.states()} == {"stopped"}


async def test_a_crash_loop_marks_the_role_down_and_stops_trying() -> None:
    sup, _ = _sup({"llm": DIE_AT_LOAD, "stt": SERVE})
    await sup.start()
    try:
        await _until(lambda: sup.child("llm").state == "down", 10, "the crash loop")
        state = sup.child("llm")
        assert state.starts == FAST.crash_loop_limit
        assert state.last_exit == "exit 3"
        assert state.since
        # not spinning: no further start during the cooldown
        await asyncio.sleep(1.0)
        assert sup.child("llm").starts == FAST.crash_loop_limit
        # the rest of the node serves
        assert sup.child("stt").state == "ready"
    finally:
        await sup.stop()


async def test_stop_terminates_children_and_kills_the_stubborn() -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('parley is up', flush=True); time.sleep(600)"
    )
    policy = RestartPolicy(stop_grace_s=0.5)
    sup, _ = _sup({"tts": SERVE, "embed": stubborn}, policy)
    await sup.start()
    assert await sup.wait_ready(10 * TIME)
    pids = [sup.pid("tts"), sup.pid("embed")]
    await sup.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _pids_of_tree(root: int) -> set[int]:
    """``root`` and every descendant, from /proc."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        tree.update(kids)
        frontier.extend(kids)
    return tree


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(120)
def test_nothing_outlives_a_killed_supervisor() -> None:
    """kill -9 of ``parley up``: its children, nats-server and Postgres all go away."""
    tmp_path = _tmp_root()  # reachable by the Postgres user: no copy elsewhere
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_NATS_MONITOR_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
    }
    env.pop("NATS_URL", None)
    env.pop("DATABASE_URL", None)
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "up",
                "--models",
                "deterministic",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(free_port()),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        end = time.monotonic() + 60 * TIME
        text = ""
        while "parley is up (roles: edge, session, stt, llm, tts, embed)" not in text:
            assert up.poll() is None and time.monotonic() < end, text[-3000:]
            time.sleep(0.1)
            text = log.read_text(errors="replace")
        # the data dir may have moved somewhere the Postgres user can reach: ask the log
        found = re.search(r"postgres listening on \S+ \(data (\S+)\)", text)
        assert found is not None, text[-3000:]
        pgdata = Path(found[1])
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        tree = _pids_of_tree(up.pid) | {postmaster}
        titles = {
            Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ").strip()
            for p in tree
            if _alive(p)
        }
        for role in ("supervisor", "edge,session", "stt", "llm", "tts", "embed"):
            assert f"parley: {role}" in titles, titles
        assert len(tree) >= 8, titles  # supervisor, 5 children, nats-server, postmaster
        up.kill()
        up.wait(10)
        end = time.monotonic() + 30 * TIME
        while [p for p in tree if _alive(p)] and time.monotonic() < end:
            time.sleep(0.1)
        left = [p for p in tree if _alive(p)]
        assert not left, [Path(f"/proc/{p}/cmdline").read_text() for p in left]
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        shutil.rmtree(tmp_path, ignore_errors=True)


async def test_stop_during_backoff_or_start_leaves_nothing_running() -> None:
    slow_start = "import time; time.sleep(600)"  # never says it is up
    policy = RestartPolicy(backoff_min_s=30, crash_loop_limit=5, stop_grace_s=2)
    sup, _ = _sup({"llm": DIE_AT_LOAD, "stt": slow_start}, policy)
    await sup.start()
    await _until(lambda: sup.child("llm").state == "backoff", 10, "the backoff")
    await _until(lambda: sup.pid("stt") != 0, 10, "the slow child's start")
    slow = sup.pid("stt")
    await sup.stop()
    assert {s.state for s in sup.states()} == {"stopped"}
    assert not _alive(slow)


async def test_engines_run_at_a_lower_priority_than_the_front_process() -> None:
    assert child_specs(("edge", "session"))[0].nice == 0
    assert all(s.nice > 0 for s in child_specs(("stt", "llm", "tts", "embed")))
    sup, _ = _sup({"llm": SERVE})
    await sup.start()
    try:
        assert await sup.wait_ready(10 * TIME)
        assert os.getpriority(os.PRIO_PROCESS, sup.pid("llm")) == (
            os.getpriority(os.PRIO_PROCESS, 0) + ChildSpec(("llm",)).nice
        )
    finally:
        await sup.stop()


async def test_a_starting_child_says_when_it_will_be_ready() -> None:
    """A model child announces its estimate; the supervisor counts it down, remembers how
    long the start took, and reports every change (what ``parley up`` prints from)."""
    warming = (
        "import time; print('model llm    warming up (warm start): ready in about 30 s', "
        "flush=True); time.sleep(0.5); print('parley is up', flush=True); time.sleep(600)"
    )
    changes: list[tuple[str, str]] = []
    sup = Supervisor(
        [ChildSpec(("llm",))],
        lambda s: [sys.executable, "-c", warming],
        dict(os.environ),
        FAST,
        echo=lambda _line: None,
        on_change=lambda st: changes.append((st.name, st.state)),
    )
    assert sup.states()[0].ready_in_s is None  # nothing announced yet
    await sup.start()
    try:
        await _until(lambda: (sup.states()[0].ready_in_s or 0) > 0, 10, "the estimate")
        eta = sup.states()[0].ready_in_s
        assert eta is not None and 25 <= eta <= 30, eta
        assert await sup.wait_ready(10 * TIME)
        state = sup.states()[0]
        assert state.ready_in_s == 0.0
        assert 0.4 <= state.last_ready_s < 10 * TIME, state
        assert changes == [("llm", "ready")]
        os.kill(state.pid, signal.SIGSEGV)
        await _until(lambda: len(changes) >= 3, 10, "the exit and the restart")
        assert changes[1:3] == [("llm", "backoff"), ("llm", "ready")]
    finally:
        await sup.stop()


def test_parley_up_says_what_interviews_get_while_a_role_warms() -> None:
    from parley.supervisor import ChildState
    from parley.up import readiness_note

    llm = ChildState(name="llm", state="starting", starts=1, ready_in_s=6.4)
    front = ChildState(name="edge,session", state="ready", starts=1)
    note = readiness_note(front, [front, llm])
    assert note is not None and "about 6 s" in note and "bank questions" in note
    ready = ChildState(name="llm", state="ready", starts=1, last_ready_s=6.8)
    assert readiness_note(ready, [front, ready]) == (
        "llm ready 6.8 s after its start: interviews get model-made questions and scores"
    )
    crashed = ChildState(
        name="llm", state="backoff", starts=1, last_exit="killed by SIGSEGV", ready_in_s=7.0
    )
    note = readiness_note(crashed, [front, crashed])
    assert note is not None and note.startswith("llm is down (killed by SIGSEGV)"), note
    back = ChildState(name="llm", state="ready", starts=2, last_ready_s=4.3)
    note = readiness_note(back, [front, back])
    assert note is not None and "ready again 4.3 s" in note
    # the front process coming up with the llm ready says nothing more
    assert readiness_note(front, [front, ready]) is None
    # another role's first start has its own line already
    assert readiness_note(ChildState(name="stt", state="ready", starts=1), [front]) is None
