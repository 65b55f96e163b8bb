"""The small HTTP surface beside the WebSocket: health, readiness, metrics, reports and
the static page. Served through ``websockets``' ``process_request`` hook on the same port
(GET only); ``/ws`` continues to the WebSocket handshake."""

from __future__ import annotations

__all__ = ["HttpRoutes", "render_report_html"]

import asyncio
import html
import logging
import mimetypes
import urllib.parse
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bus import subjects
from edge import auth
from edge.metrics import Metrics
from persistence import reports

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MODEL_SERVICES = ("stt", "llm", "tts", "embed")


def _response(status: int, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> Response:
    headers = Headers()
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = "no-store"
    headers["X-Content-Type-Options"] = "nosniff"
    for k, v in (extra or {}).items():
        headers[k] = v
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _json(status: int, data: Any) -> Response:
    return _response(status, msgspec.json.encode(data), "application/json")


class HttpRoutes:
    """``__call__`` is the ``process_request`` hook."""

    def __init__(self, nc: Client, pool: asyncpg.Pool | None, secret: bytes, metrics: Metrics,
                 gauges: Callable[[], dict[str, float]] | None = None,
                 required_services: tuple[str, ...] = ("session", *MODEL_SERVICES)) -> None:
        self.nc = nc
        self.pool = pool
        self.secret = secret
        self.metrics = metrics
        self.gauges = gauges or dict
        self.required_services = required_services
        self.static = {p.name: p for p in STATIC_DIR.glob("*") if p.is_file()}

    async def __call__(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        path = url.path
        if path == "/ws":
            return None
        self.metrics.inc("http_requests_total")
        try:
            handler = self._route(path)
            if handler is None:
                return _response(404, b"not found\n", "text/plain; charset=utf-8")
            return await handler(request, url)
        except Exception:
            log.exception("http %s failed", path)
            return _response(500, b"internal error\n", "text/plain; charset=utf-8")

    def _route(self, path: str) -> Callable[[Request, Any], Awaitable[Response]] | None:
        if path == "/healthz":
            return self._healthz
        if path == "/readyz":
            return self._readyz
        if path == "/metrics":
            return self._metrics
        if path.startswith("/sessions/") and path.endswith("/report"):
            return self._report
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if name in self.static:
            return lambda _r, _u: self._static(name)
        return None

    async def _static(self, name: str) -> Response:
        body = await asyncio.to_thread(self.static[name].read_bytes)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript",):
            ctype += "; charset=utf-8"
        return _response(200, body, ctype)

    async def _healthz(self, _r: Request, _u: Any) -> Response:
        return _json(200, {"ok": True})

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {"nats": self.nc.is_connected}
        if self.pool is not None:
            try:
                one = await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2.0)
                checks["postgres"] = one == 1
            except Exception:
                checks["postgres"] = False
        for svc in self.required_services:
            try:
                await self.nc.request(f"$SRV.PING.parley-{svc}", b"", timeout=1.0)
                checks[svc] = True
            except Exception:
                checks[svc] = False
        return checks

    async def _readyz(self, _r: Request, _u: Any) -> Response:
        checks = await self.readiness()
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        roles = await self.supervised_roles()
        if roles:
            body["roles"] = roles
        return _json(200 if ok else 503, body)

    async def supervised_roles(self) -> dict[str, Any]:
        """Every ``parley up`` supervisor's children: ``{"<node>/<roles>": {"state": "down",
        "since": ..., "last_exit": "killed by SIGSEGV", "restarts": 3, ...}}``."""
        out: dict[str, Any] = {}
        for data in await self._gather("$SRV.STATS.parley-supervisor", 0.3, 64):
            try:
                stats = msgspec.json.decode(data)
                for ep in stats.get("endpoints") or []:
                    extra = ep.get("data") or {}
                    for name, state in (extra.get("roles") or {}).items():
                        out[f"{extra.get('node', '?')}/{name}"] = state
            except (msgspec.DecodeError, AttributeError):
                continue
        return out

    async def _gather(self, subject: str, window_s: float, limit: int) -> list[bytes]:
        """Publish an empty request to ``subject`` and collect the replies that arrive
        within ``window_s`` (at most ``limit``)."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        replies: list[bytes] = []
        try:
            await self.nc.publish(subject, b"", reply=inbox)
            loop = asyncio.get_running_loop()
            end = loop.time() + window_s
            while len(replies) < limit:
                remaining = end - loop.time()
                if remaining <= 0:
                    break
                try:
                    msg = await sub.next_msg(timeout=remaining)
                except Exception:
                    break
                replies.append(msg.data)
        finally:
            await sub.unsubscribe()
        return replies

    async def _metrics(self, _r: Request, _u: Any) -> Response:
        text = self.metrics.render(self.gauges())
        text += await self._service_metrics()
        return _response(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    async def _service_metrics(self) -> str:
        """Stats of every parley micro service on the bus, as gauges."""
        lines: list[str] = []
        for data in await self._gather("$SRV.STATS", 0.3, 200):
            lines.extend(_stats_lines(data))
        return "\n".join(lines) + ("\n" if lines else "")

    async def _report(self, request: Request, url: Any) -> Response:
        sid = url.path[len("/sessions/"):-len("/report")]
        token = urllib.parse.parse_qs(url.query).get("token", [""])[0]
        if not token:
            auth_header = request.headers.get("Authorization", "")
            token = auth_header.removeprefix("Bearer ").strip()
        if not subjects.valid_session_id(sid):
            return _json(404, {"error": "unknown_session"})
        try:
            auth.verify(self.secret, token, sid)
        except auth.TokenError as exc:
            return _json(401, {"error": "bad_token", "message": str(exc)})
        if self.pool is None:
            return _json(503, {"error": "unavailable"})
        report = await reports.load_report(self.pool, sid)
        if report is None:
            return _json(404, {"error": "no_report", "message": "the report is not ready"})
        if "text/html" in request.headers.get("Accept", ""):
            csp = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
            return _response(200, render_report_html(report).encode(),
                             "text/html; charset=utf-8", csp)
        return _json(200, report)


def _stats_lines(data: bytes) -> list[str]:
    try:
        stats = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return []
    name = str(stats.get("name", ""))
    if not name.startswith("parley-"):
        return []
    sid = str(stats.get("id", ""))[:24]
    lines = []
    for ep in stats.get("endpoints") or []:
        extra = ep.get("data") or {}
        for key, value in extra.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metric = "".join(c if c.isalnum() else "_" for c in f"{name}_{key}")
                lines.append(f'parley_svc_{metric}{{instance="{sid}"}} {value}')
    return lines


def render_report_html(report: dict[str, Any]) -> str:
    """A readable, static HTML page of the report. Every value is escaped."""
    e = html.escape
    scores = dict(report.get("scores") or {})
    scores["overall"] = report.get("overall")
    rows = "".join(
        f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in scores.items()
    )
    answers = []
    for i, a in enumerate(report.get("answers") or [], 1):
        chips = ", ".join(f"{e(str(k))}: {e(str(v))}" for k, v in (a.get("scores") or {}).items())
        answers.append(
            f"<section><h3>{i}. {e(str(a.get('question', '')))}</h3>"
            f"<p class=answer>{e(str(a.get('answer', '')))}</p><p>{chips}</p>"
            f"<p>{e(str(a.get('feedback', '')))}</p>"
            f"<p><b>+</b> {e('; '.join(map(str, a.get('strengths') or [])))}</p>"
            f"<p><b>→</b> {e('; '.join(map(str, a.get('improvements') or [])))}</p></section>"
        )
    lists = ""
    for key in ("strengths", "improvements"):
        items = "".join(f"<li>{e(str(x))}</li>" for x in report.get(key) or [])
        lists += f"<h2>{e(key.title())}</h2><ul>{items}</ul>"
    lang = "ko" if report.get("language") == "ko" else "en"
    return (
        f"<!doctype html><html lang={lang}><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        "<title>Parley report</title><style>body{font:16px/1.5 system-ui,sans-serif;"
        "max-width:760px;margin:2em auto;padding:0 1em}.answer{color:#444;white-space:pre-wrap}"
        "section{border-top:1px solid #ddd;padding-top:.5em}</style>"
        f"<h1>Parley — {e(str(report.get('role', '')))}</h1>"
        f"<p>{e(str(report.get('summary', '')))}</p><table>{rows}</table>{lists}"
        f"<h2>Answers</h2>{''.join(answers)}</html>"
    )
