"""Postgres least privilege: no trust, no superuser for Parley, no shell from SQL, no
root groups in the server (issue 15, point 2). Against the fixture's embedded Postgres,
started by the same code as ``parley up``."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from persistence.embedded import APP_USER, EmbeddedPostgres, app_setup_sql
from persistence.migrate import migrate
from tests.conftest import Servers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")


def _as(
    user: str,
    args: list[str],
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    pw = pwd.getpwnam(user)
    base = {"PATH": "/usr/bin:/bin", "HOME": "/", "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(
        args,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        user=pw.pw_uid,
        group=pw.pw_gid,
        extra_groups=[],
        cwd="/",
    )


def _psql_as(
    user: str, pg: EmbeddedPostgres, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return _as(
        user,
        [
            str(pg.bin_dir() / "psql"),
            "-X",
            "-w",
            "-p",
            str(pg.port),
            "-d",
            "parley",
            "-c",
            "SELECT count(*) FROM sessions",
            *args,
        ],
        env,
    )


def test_psql_as_another_os_user_is_refused(servers: Servers) -> None:
    pg = servers.pg
    for user in ("nobody", pg.run_as or "nobody"):
        for host in ("127.0.0.1", str(pg.socket_dir)):
            for role in (APP_USER, "postgres"):
                res = _psql_as(user, pg, "-h", host, "-U", role)
                assert res.returncode != 0, (user, host, role, res.stdout)
                assert "count" not in res.stdout
    # a wrong password is refused too (over TCP: the socket dir is closed to others)
    res = _psql_as("nobody", pg, "-h", "127.0.0.1", "-U", APP_USER, env={"PGPASSWORD": "guess"})
    assert res.returncode != 0 and "password authentication failed" in res.stderr


def test_password_files_are_private(servers: Servers) -> None:
    pg = servers.pg
    for path in (pg.app_passfile, pg.superuser_passfile):
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.stat().st_uid == os.geteuid()
        res = _as("nobody", ["cat", str(path)])
        assert res.returncode != 0 and not res.stdout
    assert "passfile=" in pg.dsn and (urlsplit(pg.dsn).password or "") == ""


async def test_app_role_has_no_superuser_powers(servers: Servers) -> None:
    conn = await asyncpg.connect(servers.dsn)
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert row is not None and not any(row.values())
        assert not await conn.fetchval(
            "SELECT pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')"
        )
        for sql in (
            "COPY sessions (id) FROM PROGRAM 'id'",
            "COPY (SELECT 1) TO PROGRAM 'id'",
            "COPY sessions (id) FROM '/etc/passwd'",
            "CREATE DATABASE stolen",
            "CREATE ROLE intruder SUPERUSER",
            "ALTER ROLE current_user SUPERUSER",
            "CREATE TABLE public.planted (x int)",
            "SELECT pg_read_file('/etc/passwd')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        # it owns Parley's schema and its tables, nothing else
        owners = {
            r["tableowner"]
            for r in await conn.fetch(
                "SELECT tableowner FROM pg_tables WHERE schemaname = 'parley'"
            )
        }
        assert owners == {APP_USER}
    finally:
        await conn.close()
    other = servers.dsn.replace("/parley?", "/postgres?")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(other)


def test_server_runs_without_root_groups(servers: Servers) -> None:
    pg = servers.pg
    pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    text = Path(f"/proc/{pid}/status").read_text()
    status = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    uid = pwd.getpwnam(pg.run_as or "root").pw_uid
    assert int(status["Uid"].split()[0]) == uid != 0
    gids = {int(g) for g in status["Gid"].split()} | {int(g) for g in status["Groups"].split()}
    assert 0 not in gids, status["Groups"]
    assert gids == {pwd.getpwnam(pg.run_as or "root").pw_gid}


async def test_external_postgres_with_the_documented_setup(
    servers: Servers, tmp_path: Path
) -> None:
    """``DATABASE_URL`` to a Postgres set up by an operator with the SQL of
    docs/operating.md: migrations and the app run as a non-superuser role."""
    pg = servers.pg
    role, db, password = "parley_ext", "parley_ext", "ext-password-1"
    pg.superuser_sql(
        "postgres",
        f"""
        DROP DATABASE IF EXISTS {db};
        DROP ROLE IF EXISTS {role};
        CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS PASSWORD '{password}';
        CREATE DATABASE {db};
        REVOKE ALL ON DATABASE {db} FROM PUBLIC;
        GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role};""",
    )
    pg.superuser_sql(db, app_setup_sql(role, db))
    dsn = f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{db}"
    try:
        assert await migrate(dsn) == ["0001_init.sql", "0002_revoked_sessions.sql"]
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_schema()") == "parley"
            await conn.execute("INSERT INTO sessions (id) VALUES ('extSession01')")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("COPY sessions (id) FROM PROGRAM 'id'")
        finally:
            await conn.close()
    finally:
        pg.superuser_sql(
            "postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE); DROP ROLE IF EXISTS {role};"
        )
