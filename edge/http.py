"""The small HTTP surface beside the WebSocket: a bare health check, reports and the
static page. Served through ``websockets``' ``process_request`` hook on the same port;
``/ws`` continues to the WebSocket handshake once admitted (see :mod:`edge.admission`).
Readiness and metrics (node names, PIDs, counters) are on the internal port only
(:meth:`HttpRoutes.internal`).

Every request first has its headers checked (:func:`edge.admission.header_problem`): a
duplicate ``Host`` or ``Origin``, or a ``Host`` that is not one of this edge's names
(DNS rebinding), gets 400 and one log line. Only ``GET`` and ``HEAD`` are served
(anything else: 405; ``HEAD`` gets the headers without the body). Every response carries a
strict Content-Security-Policy with ``frame-ancestors 'none'`` (the request's ``Host`` is
never copied into it), ``nosniff``, ``no-referrer``, ``Permissions-Policy:
microphone=(self)`` and ``Cross-Origin-Opener-Policy: same-origin``.

Reports and tokens (checked by :class:`edge.tokens.Tokens`: a deleted session's tokens are
refused): ``GET /sessions/<id>/report`` takes a session token or a read-only report
token (``?token=`` or ``Authorization: Bearer``): JSON, or for a browser (``Accept:
text/html``) the page itself, which shows the report in the same view as at the end of an
interview; ``GET /sessions/<id>/answers/<turn>`` is one spoken answer's audio (WAV) for
replay, with the session token or a short-lived replay token (never the report token);
``GET /sessions/<id>/share`` takes the session token (Authorization header only) and
returns a report token and its link, and a replay token; ``DELETE /sessions/<id>``
(session token, Authorization header only) asks the session nodes to delete the
interview (its answer audio, turns and report; its tokens are revoked). ``DELETE`` is
served on that path only. Every token failure is the same 401."""

from __future__ import annotations

__all__ = [
    "PAGE_CSP",
    "HttpRoutes",
    "json_response",
    "text_response",
    "without_body",
]

import asyncio
import logging
import mimetypes
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client
from nats.js.object_store import ObjectStore
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bus import activation, subjects
from bus.replay import load_answer
from edge import auth
from edge.admission import header_problem
from edge.errors import RevocationUnavailable, TokenError
from edge.metrics import Metrics
from edge.tokens import Tokens
from edge.warming import warming_roles
from persistence import reports

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MODEL_SERVICES = ("stt", "llm", "tts", "embed")


#: the page, its scripts and styles: everything from this origin, nothing inline,
#: never framed (the page uses the microphone). ``connect-src 'self'`` covers the page's
#: own ws:/wss: origin (CSP 3); no request header is ever copied in.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: everything else (JSON, text, the HTML report): nothing may load at all
STRICT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
ALLOWED_METHODS = ("GET", "HEAD")
_ANSWER = re.compile(r"^/sessions/([^/]+)/answers/(\d{1,5})$")
_SESSION = re.compile(r"^/sessions/([^/]+)$")


def _response(
    status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> Response:
    fields = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Content-Security-Policy": STRICT_CSP,
        **(extra or {}),
    }
    headers = Headers()  # a multi-dict: setting a name twice would send it twice
    for k, v in fields.items():
        headers[k] = v
    return Response(status, HTTPStatus(status).phrase, headers, body)


def text_response(status: int, text: str, extra: dict[str, str] | None = None) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8", extra)


def without_body(response: Response) -> Response:
    """The same response without its body (Content-Length still tells its size)."""
    return Response(response.status_code, response.reason_phrase, response.headers, b"")


def json_response(status: int, data: Any, extra: dict[str, str] | None = None) -> Response:
    return _response(status, msgspec.json.encode(data), "application/json", extra)


class HttpRoutes:
    """``__call__`` is the public port's ``process_request`` hook, :meth:`internal` the
    internal port's."""

    def __init__(
        self,
        nc: Client,
        pool: asyncpg.Pool | None,
        tokens: Tokens,
        metrics: Metrics,
        gauges: Callable[[], dict[str, float]] | None = None,
        required_services: tuple[str, ...] = ("session", *MODEL_SERVICES),
        *,
        admit: Callable[[ServerConnection, Request], Response | None] | None = None,
        replay: ObjectStore | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        """``admit`` decides about a WebSocket handshake on ``/ws`` (None: go ahead, or
        the refusal); ``replay`` is the answer-audio store (None: no replay);
        ``allowed_hosts``: the ``Host`` names served besides IP literals and localhost."""
        self.admit = admit
        self.replay = replay
        self.nc = nc
        self.pool = pool
        self.tokens = tokens
        self.metrics = metrics
        self.gauges = gauges or dict
        self.required_services = required_services
        self.allowed_hosts = allowed_hosts
        self.static = {p.name: p for p in STATIC_DIR.glob("*") if p.is_file()}

    def _bad_headers(self, conn: ServerConnection, request: Request) -> Response | None:
        """400 and one log line for duplicate or foreign ``Host``/``Origin`` headers."""
        problem = header_problem(request.headers, self.allowed_hosts)
        if problem is None:
            return None
        self.metrics.inc("http_bad_headers_total")
        peer = conn.remote_address[0] if conn.remote_address else "?"
        log.warning("refused %r from %s: %s", request.path[:100], peer, problem)
        return text_response(400, "bad request\n")

    async def __call__(self, conn: ServerConnection, request: Request) -> Response | None:
        bad = self._bad_headers(conn, request)
        if bad is not None:
            return bad
        url = urllib.parse.urlsplit(request.path)
        path = url.path
        if request.method == "DELETE" and _SESSION.match(path):
            self.metrics.inc("http_requests_total")
            return await self._guarded(path, self._delete(request, path))
        if request.method not in ALLOWED_METHODS:
            self.metrics.inc("http_method_refused_total")
            return text_response(405, "method not allowed\n", {"Allow": ", ".join(ALLOWED_METHODS)})
        if path == "/ws":
            return self.admit(conn, request) if self.admit is not None else None
        self.metrics.inc("http_requests_total")
        handler = self._route(path)
        if handler is None:
            response = text_response(404, "not found\n")
        else:
            response = await self._guarded(path, handler(request, url))
        return without_body(response) if request.method == "HEAD" else response

    async def internal(self, conn: ServerConnection, request: Request) -> Response:
        """The internal port: ``/healthz``, ``/readyz`` and ``/metrics``, nothing else
        (never a WebSocket)."""
        bad = self._bad_headers(conn, request)
        if bad is not None:
            return bad
        url = urllib.parse.urlsplit(request.path)
        if request.method not in ALLOWED_METHODS:
            return text_response(405, "method not allowed\n", {"Allow": ", ".join(ALLOWED_METHODS)})
        handler = {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics}
        route = handler.get(url.path)
        if route is None:
            return text_response(404, "not found\n")
        response = await self._guarded(url.path, route(request, url))
        return without_body(response) if request.method == "HEAD" else response

    async def _guarded(self, path: str, work: Awaitable[Response]) -> Response:
        """``work``'s response; 503 when the token check could not reach Postgres, 500
        (logged) on anything unexpected."""
        try:
            return await work
        except RevocationUnavailable:
            return json_response(503, {"error": "unavailable"}, {"Retry-After": "5"})
        except Exception:
            log.exception("http %s failed", path)
            return text_response(500, "internal error\n")

    def _route(self, path: str) -> Callable[[Request, Any], Awaitable[Response]] | None:
        if path == "/healthz":
            return self._healthz
        if path.startswith("/sessions/") and path.endswith("/report"):
            return self._report
        if path.startswith("/sessions/") and path.endswith("/share"):
            return self._share
        if _ANSWER.match(path):
            return self._answer_audio
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if name in self.static:
            return lambda r, _u: self._static(name, r)
        return None

    async def _static(self, name: str, request: Request) -> Response:
        body = await asyncio.to_thread(self.static[name].read_bytes)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript",):
            ctype += "; charset=utf-8"
        return _response(200, body, ctype, {"Content-Security-Policy": PAGE_CSP})

    async def _healthz(self, _r: Request, _u: Any) -> Response:
        return json_response(200, {"ok": True})

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {"nats": self.nc.is_connected}
        if self.pool is not None:
            try:
                one = await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2.0)
                checks["postgres"] = one == 1
            except Exception:
                checks["postgres"] = False
        checks.update(await self.pings(self.required_services))
        return checks

    async def pings(self, services: tuple[str, ...]) -> dict[str, bool]:
        """Whether some ``parley-<service>`` answers a ping, for each (concurrently)."""

        async def ping(svc: str) -> bool:
            try:
                await self.nc.request(f"$SRV.PING.parley-{svc}", b"", timeout=1.0)
                return True
            except Exception:
                return False

        answers = await asyncio.gather(*(ping(s) for s in services))
        return dict(zip(services, answers, strict=True))

    async def warming(self) -> dict[str, float | None]:
        """The model roles not ready and when they should be (:mod:`edge.warming`)."""
        wanted = tuple(s for s in self.required_services if s in MODEL_SERVICES)
        checks = await self.pings(wanted)
        if all(checks.values()):
            return {}
        return warming_roles(checks, await self.supervised_roles())

    async def _readyz(self, _r: Request, _u: Any) -> Response:
        checks = await self.readiness()
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        roles = await self.supervised_roles()
        if roles:
            body["roles"] = roles
        warming = warming_roles(checks, roles)
        if warming:
            # which model role is warming up and when it should be ready (s; null: unknown)
            body["warming"] = warming
        return json_response(200 if ok else 503, body)

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
        """The stored report (session or report token)."""
        sid = url.path[len("/sessions/") : -len("/report")]
        refused = await self._verified(sid, _token(request, url), (auth.SESSION, auth.REPORT))
        if refused is not None:
            return refused
        if self.pool is None:
            return json_response(503, {"error": "unavailable"})
        report = await reports.load_report(self.pool, sid)
        if report is None:
            return json_response(404, {"error": "no_report", "message": "the report is not ready"})
        if "text/html" in ",".join(request.headers.get_all("Accept")):
            # The page shows the report itself (report-page.js), as at the end of an
            # interview; this response only proves the token and the report are good.
            return await self._static("index.html", request)
        return json_response(200, report)

    async def _verified(
        self, sid: str, token: str, kinds: tuple[auth.Kind, ...]
    ) -> Response | None:
        """None if ``token`` is good for ``sid`` (and the session not revoked), else the
        one refusal."""
        if not subjects.valid_session_id(sid):
            return json_response(404, {"error": "unknown_session"})
        try:
            await self.tokens.check(token, sid, kinds)
        except TokenError:
            return _unauthorized()
        return None

    async def _answer_audio(self, request: Request, url: Any) -> Response:
        """One spoken answer's audio: the session token or a replay token, never the
        report token (a shared link reads the report and nothing else)."""
        m = _ANSWER.match(url.path)
        assert m is not None
        sid, turn = m.group(1), int(m.group(2))
        refused = await self._verified(sid, _token(request, url), (auth.SESSION, auth.REPLAY))
        if refused is not None:
            return refused
        wav = None if self.replay is None else await load_answer(self.replay, sid, turn)
        if wav is None:
            return json_response(404, {"error": "no_audio"})
        return _response(200, wav, "audio/wav", {"Cache-Control": "private, max-age=600"})

    async def _delete(self, request: Request, path: str) -> Response:
        """Delete an interview with its session token: the session nodes delete its answer
        audio, turns and report and revoke its tokens (the edge may not delete audio)."""
        m = _SESSION.match(path)
        assert m is not None
        sid = m.group(1)
        refused = await self._verified(sid, _bearer(request), (auth.SESSION,))
        if refused is not None:
            return refused
        payload = activation.encode(activation.DeleteRequest(session_id=sid))
        try:
            msg = await self.nc.request(subjects.DELETE, payload, timeout=30.0)
            reply = activation.decode_delete_reply(msg.data)
        except Exception as exc:
            log.warning("session %s: delete not answered: %r", sid, exc)
            return json_response(503, {"error": "unavailable"}, {"Retry-After": "5"})
        if not reply.ok:
            return json_response(503, {"error": "unavailable", "message": reply.message})
        return json_response(200, {"deleted": reply.deleted, "audio": reply.audio})

    async def _share(self, request: Request, url: Any) -> Response:
        """A read-only report token and a short-lived replay token for the session whose
        session token is presented."""
        sid = url.path[len("/sessions/") : -len("/share")]
        refused = await self._verified(sid, _bearer(request), (auth.SESSION,))
        if refused is not None:
            return refused
        token = self.tokens.issue(sid, auth.REPORT)
        return json_response(
            200,
            {
                "report_token": token,
                "path": f"/sessions/{sid}/report?token={token}",
                "replay_token": self.tokens.issue(sid, auth.REPLAY),
                "replay_expires_in": int(self.tokens.ttl[auth.REPLAY]),
            },
        )


def _token(request: Request, url: Any) -> str:
    """The token of a request: exactly one ``?token=``, else ``Authorization: Bearer``."""
    tokens = urllib.parse.parse_qs(url.query).get("token", [])
    if tokens:
        return tokens[0] if len(tokens) == 1 else ""
    return _bearer(request)


def _bearer(request: Request) -> str:
    """The bearer token of the one ``Authorization`` header ("" for none or several)."""
    values = request.headers.get_all("Authorization")
    value = values[0] if len(values) == 1 else ""
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


def _unauthorized() -> Response:
    """The one answer to every token failure: it does not say which check failed."""
    return json_response(401, {"error": "bad_token", "message": "invalid or expired token"})


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
