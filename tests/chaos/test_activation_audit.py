"""The activation audit the chaos tests end with: it reads "active on" / "stopped on"
lines from node logs and must flag two live activations of one session (and only those)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.chaos.harness import Fleet, Proc, assert_one_activation_at_a_time


def _line(t: str, node: str, sid: str, what: str, how: str = "released") -> str:
    tail = f" ({how})" if what == "stopped" else " (restored=False)"
    return f"2026-11-23 10:00:{t} INFO actors.session: session {sid} {what} on {node}{tail}\n"


def _fleet(tmp_path: Path, logs: dict[str, str], killed: dict[str, str] | None = None) -> Fleet:
    fleet = Fleet(tmp_path, "nats://unused", "postgres://unused")
    for name, text in logs.items():
        path = tmp_path / f"{name}.log"
        path.write_text(text)
        done = subprocess.Popen([sys.executable, "-c", "pass"])
        done.wait()
        proc = Proc(name, done, path)
        if killed and name in killed:
            proc.killed_at = datetime.strptime(
                f"2026-11-23 10:00:{killed[name]}", "%Y-%m-%d %H:%M:%S,%f"
            ).timestamp()
        fleet.procs.append(proc)
    return fleet


def test_handover_after_stop_and_after_kill_passes(tmp_path: Path) -> None:
    fleet = _fleet(
        tmp_path,
        {
            "a": _line("01,000", "a", "s1", "active")
            + _line("02,000", "a", "s1", "stopped")
            + _line("03,000", "a", "s2", "active"),
            "b": _line("02,001", "b", "s1", "active") + _line("06,500", "b", "s2", "active"),
        },
        killed={"a": "04,000"},
    )
    acts = assert_one_activation_at_a_time(fleet, at_least=4)
    s2 = sorted((a for a in acts if a.sid == "s2"), key=lambda a: a.start)
    assert [a.how for a in s2] == ["killed", "live"]


def test_overlap_is_flagged(tmp_path: Path) -> None:
    fleet = _fleet(
        tmp_path,
        {
            "a": _line("01,000", "a", "s1", "active")
            + _line("03,000", "a", "s1", "stopped", "lease lost"),
            "b": _line("02,500", "b", "s1", "active"),
        },
    )
    with pytest.raises(AssertionError, match="two live activations"):
        assert_one_activation_at_a_time(fleet)


def test_a_node_still_holding_a_session_is_live(tmp_path: Path) -> None:
    fleet = _fleet(
        tmp_path,
        {
            "a": _line("01,000", "a", "s1", "active"),
            "b": _line("09,000", "b", "s1", "active"),
        },
    )
    with pytest.raises(AssertionError, match="a \\(live"):
        assert_one_activation_at_a_time(fleet)
