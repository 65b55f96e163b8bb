"""The report at its link is the real report: a Korean interview's link, opened in
headless chromium, shows the same report view as the page, in Korean, with human labels,
the STAR checklist, and a print stylesheet that leaves only the report. Deterministic
models (the view is what is tested, not the models)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest

from parley.client import Client
from parley.node import Node
from tests.conftest import REPO, ws_url
from tests.security.conftest import get

CHROMIUM = Path("/usr/bin/chromium")
HANGUL = re.compile(r"[\uac00-\ud7a3]")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


async def test_korean_report_link_shows_the_report_in_korean(det_node: Node) -> None:
    assert shutil.which("node") and (REPO / "node_modules" / "playwright-core").is_dir()
    assert det_node.edge is not None
    port = det_node.edge.port
    c = Client(ws_url(det_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "ko", "questions": 1})
    report = await c.typed_interview(
        "저는 당시 결제 서비스 장애를 맡아 캐시를 도입했고 결과적으로 지연이 절반으로 줄었습니다."
    )
    await c.close()
    share = await get(
        port, f"/sessions/{c.session_id}/share", extra=f"Authorization: Bearer {c.token}\n"
    )
    path = msgspec.json.decode(share.body)["path"]
    done = await asyncio.to_thread(
        subprocess.run,
        ["node", str(Path(__file__).with_name("linked.mjs")), f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
    )
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["errors"] == [], shown["errors"]
    assert shown["lang"] == "ko" and HANGUL.search(shown["title"])
    assert shown["headings"][0] == "면접 피드백"
    assert all(HANGUL.search(h) for h in shown["headings"]), shown["headings"]
    text = shown["text"]
    for english in ("Strengths", "Improvements", "Answers", "role_fit", "data"):
        assert english not in text, english
    assert "직무 적합도" in text and "STAR" in text
    assert shown["cards"] == len(report["answers"]) and shown["star"] == 4 * shown["cards"]
    assert shown["printHides"] is True


async def test_delete_my_interview_from_the_report_page(det_node: Node) -> None:
    assert det_node.edge is not None and det_node.pool is not None
    done = await asyncio.to_thread(
        subprocess.run,
        [
            "node",
            str(Path(__file__).with_name("delete.mjs")),
            f"http://127.0.0.1:{det_node.edge.port}/",
        ],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=REPO,
    )
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["errors"] == [], shown
    assert shown["historyBefore"] == 1 and shown["historyAfter"] == 0
    assert "deleted" in shown["toast"]
    sid = shown["sessionId"]
    for table in ("turns", "reports", "chunks"):
        n = await det_node.pool.fetchval(f"SELECT count(*) FROM {table} WHERE session_id = $1", sid)
        assert n == 0, table
    snapshot = await det_node.pool.fetchval("SELECT snapshot FROM sessions WHERE id = $1", sid)
    assert snapshot is None
