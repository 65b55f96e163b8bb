"""``parley`` command line: ``up`` runs a node, ``bench`` prints measured figures.

::

    parley up                         # everything: embedded NATS + Postgres, all roles, page
    parley up --role session,edge     # a subset, against NATS_URL / DATABASE_URL
    parley bench bus|rag|sessions|models|e2e|load|quality
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path

from parley.config import ALL_ROLES, Config

BENCHES = ("bus", "rag", "sessions", "models", "e2e", "load", "quality")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parley", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run a node (all roles by default)")
    up.add_argument("--role", default=None,
                    help=f"comma-separated roles from {','.join(ALL_ROLES)}")
    up.add_argument("--port", type=int, default=None, help="HTTP/WebSocket port (8080)")
    up.add_argument("--host", default=None)
    up.add_argument("--data-dir", type=Path, default=None)
    up.add_argument("--models", choices=("real", "deterministic"), default=None,
                    help="deterministic is a test backend, never for real interviews")
    up.add_argument("--node-id", default=None)
    up.add_argument("-v", "--verbose", action="store_true")
    bench = sub.add_parser("bench", help="print measured figures")
    bench.add_argument("what", choices=BENCHES)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _config(args: argparse.Namespace) -> Config:
    cfg = Config()
    if args.role:
        cfg.roles = tuple(r.strip() for r in args.role.split(",") if r.strip())
    if args.port is not None:
        cfg.port = args.port
    if args.host:
        cfg.host = args.host
    if args.data_dir:
        cfg.data_dir = args.data_dir.resolve()
    if args.models:
        cfg.models = args.models
    if args.node_id:
        cfg.node_id = args.node_id
    return cfg


async def _up(cfg: Config) -> None:
    from parley.gctune import tune_gc
    from parley.memtrim import HeapTrimmer
    from parley.node import Node

    node = Node(cfg)
    trimmer = HeapTrimmer()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        tune_gc()
        trimmer.start()
        print(f"parley is up (roles: {', '.join(cfg.roles)}); Ctrl-C stops", flush=True)
        await stop.wait()
        print("stopping ...", flush=True)
    finally:
        await trimmer.stop()
        await node.stop()
        print("stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # one line per HTTP request is noise at INFO; keep websockets' warnings
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.command == "up":
        import uvloop

        uvloop.run(_up(_config(args)))
        return 0
    module = importlib.import_module(f"bench.{args.what}")
    module.main(args.rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
