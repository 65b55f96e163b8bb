"""The edge connection's state machine (:mod:`edge.link`) in memory: hello, resume, the
frame budget, what is forwarded to the bus, error limits, the start and idle deadlines."""

from __future__ import annotations

import json

import pytest

from bus import events
from edge.limits import Limits
from edge.link import (
    Action,
    Close,
    Count,
    Forward,
    ForwardAudio,
    FrameKind,
    Link,
    Phase,
    Reply,
)

LIMITS = Limits(start_timeout_s=30.0, idle_timeout_s=600.0)


def _open(limits: Limits = LIMITS, *, resumed: bool = False, now: float = 0.0) -> Link:
    link = Link(limits, now, "conn")
    hello = link.first(json.dumps({"type": "hello"}))
    assert isinstance(hello, events.Hello)
    link.opened("session-0001", now, resumed=resumed)
    return link


def _codes(actions: list[Action]) -> list[str]:
    codes: list[str] = [a.error.code for a in actions if isinstance(a, Reply)]
    return codes + [a.error.code for a in actions if isinstance(a, Close) and a.error is not None]


def _closes(actions: list[Action]) -> list[Close]:
    return [a for a in actions if isinstance(a, Close)]


# --- hello ---------------------------------------------------------------------------


def test_first_message_must_be_hello() -> None:
    for first, code in (
        (None, "bad_message"),
        (b"\x00\x00", "not_started"),
        ("{nope", "bad_json"),
        (json.dumps({"type": "start"}), "not_started"),
        (json.dumps({"type": "hello", "evil": 1}), "bad_message"),
    ):
        link = Link(LIMITS, 0.0, "c")
        out = link.first(first)
        assert isinstance(out, list), first
        (close,) = _closes(out)
        assert close.code == 1008 and close.error is not None and close.error.code == code
        assert link.phase is Phase.CLOSING
        assert link.message(json.dumps({"type": "end"}), 1.0) == []  # nothing after a close


def test_hello_resumes_with_last_seq_and_events_are_not_repeated() -> None:
    link = Link(LIMITS, 0.0, "c")
    hello = link.first(json.dumps({"type": "hello", "session_id": "abcdefgh", "last_seq": 7}))
    assert isinstance(hello, events.Hello) and hello.last_seq == 7
    link.opened("abcdefgh", 0.0, resumed=True, last_seq=hello.last_seq)
    assert link.started  # a resumed session is the node's to judge
    assert not link.event(b'{"type":"state","state":"asking","seq":7}', 1.0)
    assert link.event(b'{"type":"state","state":"asking","seq":8}', 1.0)
    assert not link.event(b'{"type":"state","state":"asking","seq":8}', 1.0)
    assert not link.event(b"not json", 1.0)
    assert not link.finished
    assert link.event(b'{"type":"report","report":{},"seq":9}', 1.0)
    assert link.finished
    assert link.quiet_for(3.0) == 2.0


# --- what reaches the bus ------------------------------------------------------------


def test_only_audio_and_client_events_are_forwarded() -> None:
    link = _open()
    assert link.message(b"\x01\x00" * 320, 1.0)[-1] == ForwardAudio(b"\x01\x00" * 320)
    for bad in (b"", b"\x01", b"\x01\x00\x02"):
        out = link.message(bad, 1.0)
        assert not [a for a in out if isinstance(a, ForwardAudio | Forward)], bad
        assert _codes(out) == ["bad_message"], bad
    for edge_only in ("hello", "attach", "detach", "probe"):
        out = link.message(json.dumps({"type": edge_only}), 1.0)
        assert not [a for a in out if isinstance(a, Forward)], edge_only
    out = link.message(json.dumps({"type": "answer_text", "text": "a\x00b\u202e"}), 1.0)
    (fwd,) = [a for a in out if isinstance(a, Forward)]
    assert fwd.event == events.AnswerText(text="ab") and fwd.in_id == "conn:1"
    (pong,) = link.message(json.dumps({"type": "pong", "id": 3}), 1.0)
    assert pong == Forward(events.Pong(id=3))  # no dedup id: pongs are not acknowledged


def test_audio_faster_than_real_time_is_refused_then_closed() -> None:
    link = _open()
    second = b"\x00\x00" * 16000
    forwarded = 0
    out: list[Action] = []
    for i in range(400):  # 400 s of audio within 4 s
        out = link.message(second, 1.0 + i / 100)
        forwarded += sum(isinstance(a, ForwardAudio) for a in out)
        if _closes(out):
            break
    assert 3 <= forwarded <= 10
    (close,) = _closes(out)
    assert close.code == 1008 and close.abusive
    assert Count("ws_closed_for_abuse_total") in out


# --- one budget for every frame ------------------------------------------------------


@pytest.mark.parametrize("kind", list(FrameKind))
def test_every_kind_of_frame_counts_against_one_budget(kind: FrameKind) -> None:
    limits = Limits(frames_per_s=100.0, frame_burst=300.0)
    link = Link(limits, 0.0, "c")
    out: list[Action] = []
    n = 0
    while not out and n < 10_000:  # 10,000 frames within a millisecond
        out = link.frame(kind, 0, n * 1e-7)
        n += 1
    assert n == 301
    (close,) = _closes(out)
    assert close.abusive and close.code == 1008
    assert close.error is not None and close.error.code == "rate_limited"
    assert Count("ws_frame_budget_exceeded_total") in out
    assert link.phase is Phase.CLOSING
    assert link.frame(kind, 0, 1.0) == []


def test_a_browser_pace_never_runs_out() -> None:
    link = Link(Limits(), 0.0, "c")
    for i in range(50 * 600):  # 50 frames a second for ten minutes, a pong every 10 s
        assert link.frame(FrameKind.BINARY, 1280, i / 50) == []
        if i % 500 == 0:
            assert link.frame(FrameKind.PONG, 4, i / 50) == []


def test_error_events_are_limited_and_malformed_floods_close() -> None:
    link = _open(Limits(messages_per_s=1e9, message_burst=1e9))
    replies = suppressed = 0
    out: list[Action] = []
    for i in range(2000):
        out = link.message("{junk", 1.0 + i * 1e-4)
        replies += sum(isinstance(a, Reply) for a in out)
        suppressed += sum(a == Count("ws_errors_suppressed_total") for a in out)
        if _closes(out):
            break
    assert replies <= Limits().error_burst + 1
    assert suppressed > 0
    assert _closes(out)[0].abusive


# --- deadlines -----------------------------------------------------------------------


def test_a_new_session_must_start_in_time() -> None:
    link = _open()
    assert link.next_tick() == 30.0
    assert link.tick(29.0) == []
    out = link.tick(30.0)
    assert Count("ws_start_timeout_total") in out
    (close,) = _closes(out)
    assert close.code == 1008 and close.error is not None
    assert close.error.code == "start_timeout" and not close.abusive


def test_a_started_session_that_goes_silent_is_closed() -> None:
    link = _open()
    (fwd,) = link.message(json.dumps({"type": "start"}), 1.0)
    assert isinstance(fwd, Forward)
    assert link.answered(fwd.event, None, 1.1) == []
    assert link.started and link.next_tick() == 601.0
    # pongs keep a connection alive but are no interview input
    link.message(json.dumps({"type": "pong", "id": 1}), 300.0)
    link.message(b"\x00\x00" * 320, 400.0)  # audio is
    assert link.tick(601.0) == []
    assert link.next_tick() == 1000.0
    out = link.tick(1000.0)
    (close,) = _closes(out)
    assert close.error is not None and close.error.code == "idle_timeout"
    assert Count("ws_idle_timeout_total") in out


def test_session_refusals_after_open() -> None:
    link = _open()
    (fwd,) = link.message(json.dumps({"type": "end"}), 1.0)
    assert isinstance(fwd, Forward)
    out = link.answered(fwd.event, events.Error(code="not_started", message="x"), 1.0)
    assert _codes(out) == ["not_started"] and not _closes(out)
    out = link.refused("unknown_session", "no such session", 4404)
    assert _closes(out)[0].code == 4404
