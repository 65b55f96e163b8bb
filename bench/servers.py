"""Throwaway embedded servers for benchmarks (the same code as ``parley up``)."""

from __future__ import annotations

__all__ = ["bench_servers", "percentile"]

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bus.auth import ADMIN
from bus.embedded import EmbeddedNats
from parley.config import REPO
from persistence.embedded import EmbeddedPostgres


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@contextlib.contextmanager
def bench_servers(nats: bool = True, postgres: bool = True) -> Iterator[tuple[str, str]]:
    """Yield (nats_url, dsn) of fresh servers on free loopback ports; removed afterwards.
    The nats-server runs with auth on, like ``parley up``'s; the URL holds the ``admin``
    credentials (benchmarks provision and drive the bus themselves)."""
    root = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    root.chmod(0o755)
    n = EmbeddedNats(root / "nats", config=REPO / "nats.conf") if nats else None
    pg = EmbeddedPostgres(root / "pg", durable=False) if postgres else None
    try:
        if n:
            n.start()
        if pg:
            pg.start()
        yield (n.url_for(ADMIN) if n else "", pg.dsn if pg else "")
    finally:
        if pg:
            pg.stop()
        if n:
            n.stop()
        shutil.rmtree(root, ignore_errors=True)
