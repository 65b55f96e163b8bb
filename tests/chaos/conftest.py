"""Fixtures of the chaos tests: a fleet of ``parley up`` processes that is killed in the
end whatever happened (its logs are printed then, shown by pytest when a test failed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import Fleet, NatsCluster
from tests.conftest import Servers


@pytest.fixture
def fleet(servers: Servers, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path, servers.nats_url, servers.dsn, nats_credentials=servers.nats_credentials)
    try:
        yield f
    finally:
        f.close()
        print(f.logs())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three nats-servers in one cluster, killed in the end."""
    c = NatsCluster(tmp_path / "cluster")
    try:
        c.start()
        yield c
    finally:
        c.stop()
