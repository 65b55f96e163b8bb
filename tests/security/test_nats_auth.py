"""Attacks on the bus of a real ``parley up`` (embedded nats-server with auth, deterministic
models): each credential may do only what its role needs (``bus/auth.py``,
docs/operating.md "Security")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as Nats

from bus import subjects
from bus.auth import ADMIN, OPERATOR, Credentials, inbox_prefix, user_for_roles
from bus.connection import NatsAuthError, connect
from bus.embedded import EmbeddedNats, free_port
from parley.client import Client
from tests.conftest import REPO, TIME, _tmp_root

pytestmark = pytest.mark.timeout(180)

SID = "victim-session-0001"


@dataclass
class Up:
    """A running ``parley up`` with its embedded servers."""

    popen: subprocess.Popen[bytes]
    data: Path
    log: Path
    nats_port: int
    monitor_port: int
    web_port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def creds(self) -> Credentials:
        return Credentials.load(self.data / "nats-credentials.json")

    def url_for(self, user: str) -> str:
        return self.creds.url(self.url, user)

    def nats_log(self) -> str:
        return (self.data / f"nats-{self.nats_port}.log").read_text(errors="replace")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    # reachable by the Postgres user (no copy under /var/lib/parley-pg), removed afterwards
    root = _tmp_root()
    ports = [free_port() for _ in range(4)]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PARLEY_NATS_PORT": str(ports[0]),
        "PARLEY_NATS_MONITOR_PORT": str(ports[1]),
        "PARLEY_PG_PORT": str(ports[2]),
        "PARLEY_SECRET": "security-secret",
    }
    for name in ("NATS_URL", "DATABASE_URL", "PARLEY_NATS_CREDENTIALS"):
        env.pop(name, None)
    log = root / "up.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "up",
                "--models",
                "deterministic",
                "--data-dir",
                str(root / "data"),
                "--port",
                str(ports[3]),
                "--node-id",
                "sec",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    u = Up(popen, root / "data", log, ports[0], ports[1], ports[3])
    try:
        end = time.monotonic() + 90 * TIME
        while "\nparley is up (roles:" not in u.output():  # the supervisor, all children up
            assert popen.poll() is None and time.monotonic() < end, u.output()[-3000:]
            time.sleep(0.1)
        yield u
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)
        shutil.rmtree(root, ignore_errors=True)


class Probe:
    """A raw client as some user, collecting the server's asynchronous errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Nats | None = None

    async def open(self, url: str, user: str | None) -> Probe:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        self.nc = await nats.connect(
            url,
            name=f"probe-{user}",
            error_cb=on_error,
            inbox_prefix=inbox_prefix(user),
            allow_reconnect=False,
            connect_timeout=3,
        )
        return self

    async def refused(self, what: str, timeout: float = 3.0) -> None:
        """Wait for the server's permissions violation naming ``what``."""
        assert self.nc is not None
        await self.nc.flush(math.ceil(timeout))
        end = asyncio.get_running_loop().time() + timeout
        while not any("permissions violation" in e and what.lower() in e for e in self.errors):
            assert asyncio.get_running_loop().time() < end, (what, self.errors)
            await asyncio.sleep(0.02)

    async def allowed(self) -> None:
        """No violation so far (after a round trip to the server)."""
        assert self.nc is not None
        await self.nc.flush(3)
        await asyncio.sleep(0.1)
        assert not [e for e in self.errors if "violation" in e], self.errors


@pytest_asyncio.fixture
async def probes() -> AsyncIterator[list[Probe]]:
    made: list[Probe] = []
    yield made
    for p in made:
        if p.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.nc.close(), 5)


async def probe(probes: list[Probe], up: Up, user: str) -> Probe:
    p = await Probe().open(up.url_for(user), user)
    probes.append(p)
    return p


@pytest_asyncio.fixture
async def admin(up: Up) -> AsyncIterator[Nats]:
    nc = await connect(up.url_for(ADMIN), "test-admin")
    try:
        yield nc
    finally:
        await nc.drain()


async def test_anonymous_and_wrong_password_are_refused(up: Up) -> None:
    with pytest.raises(NatsAuthError):
        await asyncio.wait_for(connect(up.url, "anonymous"), 10)
    wrong = up.url.replace("nats://", "nats://edge:not-the-password@")
    with pytest.raises(NatsAuthError):
        await asyncio.wait_for(connect(wrong, "guesser"), 10)
    # one role's password is not another's
    crossed = up.url.replace("nats://", f"nats://admin:{up.creds.password('edge')}@")
    with pytest.raises(NatsAuthError):
        await asyncio.wait_for(connect(crossed, "crossed"), 10)


def test_credentials_file_is_private_and_never_printed(up: Up) -> None:
    for name in ("nats-credentials.json", "nats-server.conf"):
        assert (up.data / name).stat().st_mode & 0o777 == 0o600, name
    out = up.output()
    for user in ("admin", "edge", "session", "llm", "supervisor"):
        assert up.creds.password(user) not in out, user
    # the server's config holds hashes: no password in it, and no plaintext warning
    config = (up.data / "nats-server.conf").read_text()
    for user in ("admin", "edge", "session", "llm", "supervisor", "operator"):
        assert up.creds.password(user) not in config, user
    assert "Plaintext passwords" not in up.nats_log()
    # each child got a file with its own users only (never admin)
    front = Credentials.load(up.data / "run" / "nats-edge-session.json")
    assert {u for u in ("edge", "session", "admin", "llm") if front.has(u)} == {"edge", "session"}
    assert front.path.stat().st_mode & 0o777 == 0o600


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def test_monitor_port_is_on_loopback(up: Up) -> None:
    varz = _get_json(f"http://127.0.0.1:{up.monitor_port}/varz")
    assert varz["http_host"] == "127.0.0.1"
    assert varz["auth_required"] is True


async def test_each_process_runs_as_its_role_and_an_interview_needs_nothing_more(up: Up) -> None:
    since = len(up.nats_log())
    c = Client(f"ws://127.0.0.1:{up.web_port}/ws")
    await c.connect()
    try:
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
        report = await c.typed_interview(
            "I designed a sharded queue and measured it.", timeout=90 * TIME
        )
        assert report
    finally:
        await c.close()
    violations = [line for line in up.nats_log()[since:].splitlines() if "Violation" in line]
    assert not violations, violations
    connz = await asyncio.to_thread(
        _get_json, f"http://127.0.0.1:{up.monitor_port}/connz?auth=1&limit=100"
    )
    conns = connz["connections"]
    users = {c["name"]: c.get("authorized_user") for c in conns if c.get("name")}
    expected = {
        # one process, two connections: the edge's rights and the session's, never both
        "parley-sec-edge-session-edge": "edge",
        "parley-sec-edge-session-session": "session",
        "parley-sec-stt": "stt",
        "parley-sec-llm": "llm",
        "parley-sec-tts": "tts",
        "parley-sec-embed": "embed",
        "parley-supervisor-sec": "supervisor",
    }
    for name, user in expected.items():
        assert users.get(name) == user, (name, users)
    assert "admin" not in {u for n, u in users.items() if n.startswith("parley-")}, users


async def test_edge_cannot_forge_results_write_leases_or_drop_streams(
    up: Up, admin: Nats, probes: list[Probe]
) -> None:
    seen: list[bytes] = []
    sub = await admin.subscribe(subjects.session_result(SID), cb=_collect(seen))
    edge = await probe(probes, up, "edge")
    assert edge.nc is not None
    await edge.nc.publish(subjects.session_result(SID), b"forged result")
    await edge.refused(f'publish to "{subjects.session_result(SID)}"')
    await edge.nc.publish(f"$KV.{subjects.KV_OWNERS}.{SID}", b"attacker-node")
    await edge.refused(f"$kv.{subjects.KV_OWNERS}")
    for api in (
        "STREAM.PURGE.OUT",
        "STREAM.DELETE.JOBS",
        "STREAM.CREATE.EVIL",
        f"STREAM.INFO.KV_{subjects.KV_OWNERS}",
    ):
        await edge.nc.publish(f"$JS.API.{api}", b"{}")
        await edge.refused(api)
    await edge.nc.subscribe("interview.session.*.result")
    await edge.refused('subscription to "interview.session.*.result"')
    await edge.nc.subscribe("_INBOX_front.>")  # another role's replies and deliveries
    await edge.refused("_inbox_front")
    await admin.flush()
    await asyncio.sleep(0.2)
    assert seen == []
    await sub.unsubscribe()
    kv = await admin.jetstream().key_value(subjects.KV_OWNERS)
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get(SID)


async def test_edge_cannot_forge_or_wipe_answer_audio_or_keep_consumers(
    up: Up, admin: Nats, probes: list[Probe]
) -> None:
    """Issue 23, point 2: the edge reads replay audio; it may not write it (a forged
    answer), purge it (everyone's), act as the session role, or leave a consumer behind."""
    edge = await probe(probes, up, "edge")
    assert edge.nc is not None
    store = f"OBJ_{subjects.OBJ_REPLAY}"
    await edge.nc.publish(f"$O.{subjects.OBJ_REPLAY}.C.forged", b"forged audio")
    await edge.refused(f"$o.{subjects.OBJ_REPLAY}.c.forged")
    for api in (f"STREAM.PURGE.{store}", f"CONSUMER.DELETE.{store}.x", "STREAM.PURGE.OUT"):
        await edge.nc.publish(f"$JS.API.{api}", b"{}")
        await edge.refused(api)
    # the session role's subjects: a forged question to a victim, a résumé off .in
    await edge.nc.publish(subjects.session_out(SID), b'{"type":"question","seq":1000000000}')
    await edge.refused(f'publish to "{subjects.session_out(SID)}"')
    await edge.nc.subscribe(subjects.session_in(SID))
    await edge.refused(f'subscription to "{subjects.session_in(SID)}"')
    # a durable consumer on OUT: refused by the permissions (named subjects) ...
    for api in ("CONSUMER.DURABLE.CREATE.OUT.keep", "CONSUMER.CREATE.OUT.keep"):
        await edge.nc.publish(f"$JS.API.{api}", b"{}")
        await edge.refused(api)
    # ... and by the server on the one create subject the edge has
    inbox = f"{inbox_prefix('edge')}.deliver"
    for config, why in (
        ({"durable_name": "keep", "deliver_subject": inbox}, "durable"),
        ({"deliver_subject": inbox, "inactive_threshold": 10**18}, "inactive threshold"),
    ):
        reply = await edge.nc.request(
            f"$JS.API.CONSUMER.CREATE.{subjects.STREAM_OUT}",
            json.dumps({"stream_name": subjects.STREAM_OUT, "config": config}).encode(),
            timeout=5,
        )
        assert "error" in json.loads(reply.data), (why, reply.data)
    names = [c.name for c in await admin.jetstream().consumers_info(subjects.STREAM_OUT)]
    assert "keep" not in names


def test_monitoring_is_off_unless_asked_for(tmp_path: Path) -> None:
    srv = EmbeddedNats(tmp_path / "nats" / "js", config=REPO / "nats.conf")
    assert srv.monitor_url is None
    assert "http" not in " ".join(srv.command())
    config = srv.write_config()
    assert config is not None and "\nhttp" not in config.read_text()
    assert "\nhttp" not in (REPO / "nats.conf").read_text()


async def test_edge_may_do_its_own_job(up: Up, probes: list[Probe]) -> None:
    edge = await probe(probes, up, "edge")
    assert edge.nc is not None
    await edge.nc.subscribe(subjects.session_audio(SID))
    reply = await edge.nc.request("$SRV.PING.parley-session", b"", timeout=3)
    assert json.loads(reply.data)["name"] == "parley-session"
    await edge.allowed()


async def test_model_worker_cannot_drive_sessions_or_read_their_events(
    up: Up, admin: Nats, probes: list[Probe]
) -> None:
    seen: list[bytes] = []
    sub = await admin.subscribe(subjects.session_in(SID), cb=_collect(seen))
    llm = await probe(probes, up, "llm")
    assert llm.nc is not None
    await llm.nc.publish(subjects.session_in(SID), b'{"type":"end"}')
    await llm.refused(f'publish to "{subjects.session_in(SID)}"')
    await llm.nc.publish(subjects.ACTIVATE, b"{}")
    await llm.refused(subjects.ACTIVATE)
    for pattern in (
        "interview.session.*.out",
        "interview.session.>",
        "_INBOX.>",
        "_INBOX_front.>",
        "interview.jobs.*",
    ):
        await llm.nc.subscribe(pattern)
        await llm.refused(f'subscription to "{pattern.lower()}"')
    for api in (
        "CONSUMER.CREATE.OUT",
        "STREAM.MSG.GET.OUT",
        "CONSUMER.CREATE.RESULTS",
        "CONSUMER.MSG.NEXT.JOBS.workers-stt",
        "STREAM.PURGE.JOBS",
    ):
        await llm.nc.publish(f"$JS.API.{api}", b"{}")
        await llm.refused(api)
    await admin.flush()
    await asyncio.sleep(0.2)
    assert seen == []
    await sub.unsubscribe()
    # what it needs: its own consumer and the result subjects
    llm.errors.clear()
    info = await llm.nc.jetstream().consumer_info(subjects.STREAM_JOBS, "workers-llm")
    assert info.name == "workers-llm"
    await llm.allowed()


async def test_operator_can_inspect_but_not_act(up: Up, probes: list[Probe]) -> None:
    op = await probe(probes, up, OPERATOR)
    assert op.nc is not None
    raw: list[bytes] = []
    inbox = op.nc.new_inbox()
    await op.nc.subscribe(inbox, cb=_collect(raw))
    await op.nc.publish("$SRV.PING", b"", reply=inbox)  # what `nats micro ls` sends
    end = asyncio.get_running_loop().time() + 5
    wanted = {"parley-session", "parley-llm", "parley-supervisor"}
    while not wanted <= {json.loads(d)["name"] for d in raw}:
        assert asyncio.get_running_loop().time() < end, raw
        await asyncio.sleep(0.05)
    js = op.nc.jetstream()
    names = {s.config.name for s in await js.streams_info()}  # $JS.API.STREAM.LIST
    assert {"JOBS", "RESULTS", "OUT"} <= names
    assert (await js.stream_info("OUT")).config.name == "OUT"
    await op.allowed()
    await op.nc.publish(subjects.session_in(SID), b'{"type":"end"}')
    await op.refused('publish to "interview.session.')
    await op.nc.publish(subjects.ACTIVATE, b"{}")
    await op.refused(subjects.ACTIVATE)
    for api in ("STREAM.MSG.GET.OUT", "CONSUMER.CREATE.OUT", "STREAM.DELETE.OUT"):
        await op.nc.publish(f"$JS.API.{api}", b"{}")
        await op.refused(api)
    await op.nc.subscribe("interview.session.*.out")
    await op.refused('subscription to "interview.session.*.out"')


async def test_session_node_cannot_drop_streams(up: Up, probes: list[Probe]) -> None:
    sess = await probe(probes, up, user_for_roles(["session"]))
    assert sess.nc is not None
    for api in (
        "STREAM.DELETE.JOBS",
        "STREAM.PURGE.RESULTS",
        "STREAM.UPDATE.OUT",
        f"STREAM.DELETE.KV_{subjects.KV_OWNERS}",
    ):
        await sess.nc.publish(f"$JS.API.{api}", b"{}")
        await sess.refused(api)
    await sess.nc.publish(subjects.session_result(SID), b"forged")
    await sess.refused('publish to "interview.session.')


def _collect(into: list[bytes]) -> Any:
    async def cb(msg: Any) -> None:
        into.append(msg.data)

    return cb


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def test_tls_when_configured(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    """With a certificate the server speaks TLS only: a client that trusts the CA gets in
    (with its credentials), a plain-text client does not."""
    cert, key = certificate
    srv = EmbeddedNats(
        tmp_path / "nats" / "js", config=REPO / "nats.conf", tls_cert=cert, tls_key=key
    )
    srv.start()
    try:
        assert srv.url.startswith("tls://")
        nc = await connect(srv.url_for("operator"), "tls-operator", tls_ca=cert)
        try:
            assert nc.is_connected
            await nc.jetstream().account_info()
        finally:
            await nc.close()
        plain = srv.url_for("operator").replace("tls://", "nats://")
        with pytest.raises(Exception):  # noqa: B017 - refused, whichever way nats-py says it
            await asyncio.wait_for(
                nats.connect(plain, allow_reconnect=False, connect_timeout=2), 10
            )
    finally:
        srv.stop()
