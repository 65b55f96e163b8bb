"""The embedded servers never outlive the process that started them, even when it dies by
SIGKILL (a crashed test run, a killed supervisor): nats-server gets the parent-death
signal, Postgres is stopped by its watchdog."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TIME, _tmp_root

STARTER = """
import os, sys, time
from pathlib import Path
from bus.embedded import EmbeddedNats
from persistence.embedded import EmbeddedPostgres
root = Path(sys.argv[1])
nats = EmbeddedNats(root / "nats")
pg = EmbeddedPostgres(root / "pg", durable=False)
nats.start()
pg.start()
print(nats.proc.pid, pg.data_dir, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(120)
def test_servers_die_with_a_killed_parent() -> None:
    tmp_path = _tmp_root()  # reachable by the Postgres user: no copy elsewhere
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert starter.stdout is not None
        nats_pid_s, pgdata = starter.stdout.readline().split()
        postmaster = int((Path(pgdata) / "postmaster.pid").read_text().split()[0])
        nats_pid = int(nats_pid_s)
        assert _alive(nats_pid) and _alive(postmaster)
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(10)
        end = time.monotonic() + 30 * TIME
        while (_alive(nats_pid) or _alive(postmaster)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(nats_pid), "nats-server outlived its parent"
        assert not _alive(postmaster), "postgres outlived its parent"
    finally:
        if starter.poll() is None:
            os.killpg(starter.pid, signal.SIGKILL)
            starter.wait(10)
        if starter.stdout is not None:
            starter.stdout.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
