"""Shared fixtures: real nats-server and Postgres+pgvector on free loopback ports, started
by the same code as ``parley up``; a leak check after every async test."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from nats.aio.client import Client

from bus.auth import ADMIN, user_for_roles
from bus.connection import connect
from bus.embedded import EmbeddedNats
from bus.provision import BusLayout, provision
from parley.config import Config
from parley.node import Node
from persistence.embedded import EmbeddedPostgres
from persistence.migrate import migrate
from persistence.pool import create_pool

REPO = Path(__file__).resolve().parents[1]

#: Scale for durations in tests, so a slow machine can stretch them (PARLEY_TEST_TIME=2).
TIME = float(os.environ.get("PARLEY_TEST_TIME", "1"))


@dataclass
class Servers:
    root: Path
    nats: EmbeddedNats
    pg: EmbeddedPostgres

    @property
    def nats_url(self) -> str:
        """The URL with the ``admin`` credentials: the tests' own view of the bus (a
        Parley process gets :meth:`nats_url_for` its roles, or the credentials file)."""
        return self.nats.url_for(ADMIN)

    def nats_url_for(self, *roles: str) -> str:
        """The URL with the credentials of the NATS user of ``roles``."""
        return self.nats.url_for(user_for_roles(roles))

    @property
    def nats_credentials(self) -> str:
        """Path of the credentials file (``PARLEY_NATS_CREDENTIALS``)."""
        assert self.nats.credentials is not None
        return str(self.nats.credentials.path)

    @property
    def dsn(self) -> str:
        return self.pg.dsn


def _tmp_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="parley-test-"))
    root.chmod(0o755)  # the unprivileged Postgres user must reach its data dir
    return root


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    root = _tmp_root()
    nats = EmbeddedNats(root / "nats" / "js", config=REPO / "nats.conf")
    pg = EmbeddedPostgres(root / "pg", durable=False)
    nats.start()
    try:
        pg.start()
        asyncio.run(migrate(pg.dsn))
        yield Servers(root, nats, pg)
    finally:
        pg.stop()
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_permission_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test during which a client of the shared nats-server was refused a publish or
    a subscription: every Parley process must get by with its role's permissions."""
    if "servers" not in request.fixturenames:
        yield
        return
    servers: Servers = request.getfixturevalue("servers")
    since = servers.nats.log_offset()
    yield
    found = servers.nats.violations(since)
    assert not found, "NATS permission violations:\n" + "\n".join(found[:20])


#: The token secret of :func:`det_node`.
TEST_SECRET = "test-secret"


@pytest_asyncio.fixture
async def det_node(servers: Servers, tmp_path: Path) -> AsyncIterator[Node]:
    """One in-process node with every role on the deterministic test backend, on the
    fixture's NATS and Postgres, its edge on a free port."""
    node = Node(
        Config(
            nats_url=servers.nats.url,
            nats_credentials=servers.nats_credentials,
            database_url=servers.dsn,
            port=0,
            roles=("edge", "session", "stt", "llm", "tts", "embed"),
            models="deterministic",
            node_id="test-node",
            secret=TEST_SECRET,
            owner_ttl=2.0,
            data_dir=tmp_path,
            # every test client comes from 127.0.0.1 (tests/security checks these limits)
            max_connections_per_ip=0,
            sessions_per_ip_per_min=0,
        )
    )
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


def ws_url(node: Node) -> str:
    assert node.edge is not None
    return f"ws://127.0.0.1:{node.edge.port}/ws"


@pytest_asyncio.fixture
async def nc(servers: Servers) -> AsyncIterator[Client]:
    client = await connect(servers.nats_url, "test")
    try:
        yield client
    finally:
        await client.drain()


@pytest_asyncio.fixture
async def layout(nc: Client) -> BusLayout:
    return await provision(nc.jetstream(), owner_ttl=2.0)


@pytest_asyncio.fixture
async def pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(servers.dsn, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await asyncio.wait_for(p.close(), 10)


#: Fixtures that keep a node running across tests; they check for leaks themselves, when
#: they stop (see :func:`assert_no_new_tasks`).
SHARED_FIXTURES = frozenset({"real_node"})


async def assert_no_new_tasks(before: set[asyncio.Task[object]], what: str) -> None:
    current = asyncio.current_task()
    leaked: list[asyncio.Task[object]] = []
    for _ in range(100):
        leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not leaked:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} left tasks running: {leaked}")


@pytest_asyncio.fixture(autouse=True)
async def _no_leaked_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test that leaves a task running or lets a task die with an exception."""
    if SHARED_FIXTURES & set(request.fixturenames):
        yield
        return
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(50):
        leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not leaked:
            break
        await asyncio.sleep(0.02)
    loop.set_exception_handler(previous)
    assert not leaked, f"tasks left running: {leaked}"
    assert not errors, f"unhandled errors in tasks: {errors}"
