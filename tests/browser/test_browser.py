"""A spoken interview in a real browser: Debian's headless chromium opens the page of a
node running every role with the real models, and a WAV file is its microphone.

The WAV is a few seconds of silence, an English answer spoken by espeak-ng with fillers
("um", "uh") and a long pause in the middle, and more silence (Chrome's fake capture
device loops the file). ``drive.mjs`` (playwright-core) picks English / backend / 1
question, starts, waits for the first question, unmutes the page's microphone while the
interviewer listens so the whole answer is heard once, waits for a final transcript with
the spoken words, takes a screenshot, then waits for the report: it shows the delivery
measures, the STAR checklist, the answer's timeline and a replay whose duration matches
the spoken answer. Then "practise this question again" starts a second interview with the
same question, answered by typing; after its report the history shows both interviews
and their charts. Screenshots and the driver's log land in ``tests/artifacts/``;
``PARLEY_UPDATE_SCREENSHOTS=1`` also copies them to ``docs/`` for the README.

Needs ``make browser-deps`` (chromium, chromium-driver, playwright-core) and espeak-ng +
sox; skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pytest

from parley.config import Config
from parley.node import Node
from persistence import reports
from tests.conftest import REPO, TIME, Servers

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(__file__).with_name("drive.mjs")
ARTIFACTS = REPO / "tests" / "artifacts"
DOCS = REPO / "docs"

#: The whole test, model loading included (scaled by PARLEY_TEST_TIME on slow machines).
TEST_TIMEOUT_S = 420 * TIME
#: The answer in two parts with a long pause between them: the first part ends mid
#: sentence, so the pause (longer than PAUSE_S, shorter than the turn's 2.4 s fallback)
#: stays inside the answer.
ANSWER = (
    "Um, I built a payment service in Python and",
    "uh, it handled ten thousand requests per second.",
)
PAUSE_S = 2.2
WORDS = ("payment", "service", "python", "requests", "second")
LEAD_S = 3.0
#: Silence after the answer: the interviewer moves on before the loop speaks again.
TRAIL_S = 11.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.models,
    pytest.mark.e2e,
    pytest.mark.timeout(TEST_TIMEOUT_S),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser-deps)"),
]


def _answer_wav(path: Path) -> tuple[float, float, float, float]:
    """Write the microphone file: 48 kHz mono 16-bit, silence, the answer's first part,
    PAUSE_S of silence, its second part, silence. Returns (speech starts at, speech lasts
    with the pause, loop length, voiced seconds) in seconds."""
    parts = []
    for i, text in enumerate(ANSWER):
        raw, trimmed = path.with_name(f"part{i}.wav"), path.with_name(f"part{i}-trim.wav")
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "140", "-g", "4", "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        # espeak's own leading and trailing silence would lengthen the pause
        subprocess.run(
            [
                "sox",
                str(raw),
                "-r",
                "48000",
                "-c",
                "1",
                "-b",
                "16",
                str(trimmed),
                "silence",
                "1",
                "0.02",
                "0.5%",
                "reverse",
                "silence",
                "1",
                "0.02",
                "0.5%",
                "reverse",
            ],
            check=True,
            capture_output=True,
        )
        parts.append(trimmed)
    gap = path.with_name("gap.wav")
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(gap), "trim", "0", str(PAUSE_S)],
        check=True,
        capture_output=True,
    )
    spoken = path.with_name("spoken.wav")
    subprocess.run(
        ["sox", str(parts[0]), str(gap), str(parts[1]), str(spoken)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", str(spoken), str(path), "pad", str(LEAD_S), str(TRAIL_S)],
        check=True,
        capture_output=True,
    )
    voiced = 0.0
    for part in parts:
        with wave.open(str(part)) as w:
            voiced += w.getnframes() / w.getframerate()
    with wave.open(str(spoken)) as w:
        speech_s = w.getnframes() / w.getframerate()
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        loop_s = w.getnframes() / w.getframerate()
    return LEAD_S, speech_s, loop_s, voiced


def _config(servers: Servers, data_dir: Path) -> Config:
    return Config(
        nats_url=servers.nats.url,
        nats_credentials=servers.nats_credentials,
        database_url=servers.dsn,
        port=0,
        roles=("edge", "session", "stt", "llm", "tts", "embed"),
        models="real",
        node_id="browser-node",
        secret="browser-test-secret",
        data_dir=data_dir,
    )


async def _drive(args: list[str], timeout_s: float, log_path: Path) -> dict[str, Any]:
    """Run the driver; return its JSON result. Its progress log goes to ``log_path``."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            *args,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s + 30)
        except TimeoutError:
            proc.terminate()  # playwright closes chromium on SIGTERM
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            pytest.fail(f"the browser driver did not finish; log:\n{_tail(log_path)}")
    lines = out.decode(errors="replace").strip().splitlines()
    if not lines:
        pytest.fail(
            f"the browser driver printed no result (exit {proc.returncode}); "
            f"log:\n{_tail(log_path)}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("ok"):
        pytest.fail(
            f"the browser run failed at {result.get('step')}: {result.get('error')}\n"
            f"page log: {result.get('log')}\ndriver log:\n{_tail(log_path)}"
        )
    return result


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _http_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


async def test_spoken_interview_in_chromium(servers: Servers, tmp_path: Path) -> None:
    assert shutil.which("node"), "node is missing (apt-get install nodejs)"
    assert (REPO / "node_modules" / "playwright-core").is_dir(), (
        "playwright-core is missing: run `make browser-deps`"
    )
    assert shutil.which("espeak-ng") and shutil.which("sox"), "needs espeak-ng and sox"
    started = time.monotonic()
    wav = tmp_path / "answer.wav"
    speech_at, speech_s, loop_s, _voiced_s = await asyncio.to_thread(_answer_wav, wav)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-interview.png"
    report_shot = ARTIFACTS / "browser-report.png"
    history_shot = ARTIFACTS / "browser-history.png"
    for old in (shot, report_shot, history_shot, ARTIFACTS / "browser-interview-failure.png"):
        old.unlink(missing_ok=True)

    threads_before = set(threading.enumerate())
    node = Node(_config(servers, tmp_path / "data"))
    try:
        await node.start()
        assert node.edge is not None and node.pool is not None
        base = f"http://127.0.0.1:{node.edge.port}"
        print(f"node with real models up in {time.monotonic() - started:.1f} s", flush=True)
        # What is left of the test's time, less a margin for stopping the node.
        budget = TEST_TIMEOUT_S - (time.monotonic() - started) - 45
        assert budget > 60, f"models took too long to load ({time.monotonic() - started:.0f} s)"
        result = await _drive(
            [
                "--url",
                f"{base}/",
                "--wav",
                str(wav),
                "--speech-at",
                f"{speech_at:.3f}",
                "--speech-s",
                f"{speech_s:.3f}",
                "--loop-s",
                f"{loop_s:.3f}",
                "--profile",
                str(tmp_path / "profile"),
                "--shot",
                str(shot),
                "--report-shot",
                str(report_shot),
                "--second",
                "--history-shot",
                str(history_shot),
                "--words",
                ",".join(WORDS),
                "--min-words",
                "2",
                "--timeout-s",
                f"{budget:.0f}",
            ],
            budget,
            ARTIFACTS / "browser-drive.log",
        )

        print(f"browser run: {result['timings']}; transcript {result['transcript']!r}", flush=True)
        # The page showed a final transcript of the spoken answer.
        transcript = str(result["transcript"]).lower()
        heard = [w for w in WORDS if w in transcript]
        assert len(heard) >= 2, f"transcript {result['transcript']!r} has too few spoken words"
        counters = result["counters"]
        assert counters["audioChunksSent"] > 0, counters
        assert counters["audioChunksReceived"] > 0, "the interviewer's speech reached the page"
        assert counters["errors"] == 0 and counters["reconnects"] == 0, counters
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # The page showed the report, and it is the one stored, readable with the token.
        report = result["report"]
        assert report_shot.stat().st_size > 10_000
        answers = report["answers"]
        assert answers and answers[0]["answer"] == result["transcript"]
        assert answers[0]["source"] == "speech"
        stored = await reports.load_report(node.pool, report["session_id"])
        # (a stronger answer's outline may have been added to the stored one since)
        assert stored is not None and _sans_outline(stored["answers"]) == _sans_outline(answers)
        page_log = result["log"]
        assert any(e["who"] == "interviewer" and e["text"] == result["question"] for e in page_log)
        link = await asyncio.to_thread(_http_json, f"{base}{_report_path(result)}")
        assert _sans_outline(link["answers"]) == _sans_outline(answers)

        # Delivery: measured from the spoken answer, shown with the STAR checklist, the
        # timeline and a replay as long as the answer's voiced audio.
        delivery = answers[0]["delivery"]
        print(f"delivery of the spoken answer: {delivery}", flush=True)
        assert delivery["spoken"] is True and delivery["rate"] > 0
        assert delivery["fillers"], f"no filler kept in {answers[0]['answer']!r}"
        assert [p for p in delivery["pauses"] if p["length"] > 2.0], delivery["pauses"]
        shown = result["shown"]
        print(f"report shows: {shown}", flush=True)
        assert shown["summaryMeasures"] >= 2 and shown["answerMeasures"] >= 4, shown
        assert shown["star"] >= 4 and shown["timelines"] >= 1, shown
        assert shown["audio"] and shown["duration"] is not None, shown
        # the taped answer is the answer as the segments cut it: the spoken parts with the
        # pause between them, from the onset's pre-roll to the cut after the last word
        assert speech_s - 1.0 <= shown["duration"] <= speech_s + 1.5, (shown, speech_s)

        # The report's link opens the same report view (not a server-rendered page).
        linked = result["linked"]
        assert linked["cards"] == len(answers) and linked["measures"] == shown["answerMeasures"]
        # ... without the replay: the link's report token does not fetch the answers' audio
        assert linked["replays"] == 0 and linked["setupHidden"] and linked["lang"] == "en"

        # A second interview practising the same question: the history has both, charted.
        assert result["question2"] == result["question"]
        assert result["report2"]["session_id"] != report["session_id"]
        history = result["history"]
        assert history["entries"] == 2 and history["charts"] >= 5, history
        assert history["dots"] >= 2 * 5, history
        assert history_shot.stat().st_size > 10_000
    finally:
        await node.stop()
        stopped = time.monotonic() - started
        left = TEST_TIMEOUT_S - stopped - 20
        idle = await _engines_idle(node, threads_before, min(90 * TIME, left))
        print(
            f"node stopped at {stopped:.1f} s; model threads "
            f"{'idle' if idle else 'still busy'} at {time.monotonic() - started:.1f} s",
            flush=True,
        )

    if os.environ.get("PARLEY_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOCS / "screenshot.png")
        shutil.copyfile(report_shot, DOCS / "screenshot-report.png")
        shutil.copyfile(history_shot, DOCS / "screenshot-history.png")


async def _engines_idle(node: Node, before: set[threading.Thread], timeout_s: float) -> bool:
    """Wait (at most ``timeout_s``) for the node's model threads to end. A job already
    running on an engine thread (say, an answer assessment the report stopped waiting for)
    outlives ``Node.stop()``; better it finishes here than while the next tests run."""
    prefixes = tuple(f"{actor.kind}-engine" for actor in node.models)

    def join() -> bool:
        end = time.monotonic() + timeout_s
        busy = [t for t in threading.enumerate() if t not in before and t.name.startswith(prefixes)]
        for t in busy:
            t.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in busy)

    return await asyncio.to_thread(join)


def _sans_outline(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k != "outline"} for a in answers]


def _report_path(result: dict[str, Any]) -> str:
    path = result.get("reportUrl")
    assert isinstance(path, str) and path.startswith("/sessions/"), result.get("reportUrl")
    return path
