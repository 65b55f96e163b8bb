"""``python -m bench WHAT [ARGS...]``: what ``parley bench WHAT`` runs.

``bench`` imports ``parley`` (to start nodes and servers) and ``parley`` never imports
``bench``: the ``parley bench`` command starts this module in a process of its own.
"""

from __future__ import annotations

__all__ = ["BENCHES", "main"]

import importlib
import sys

BENCHES = ("bus", "rag", "sessions", "models", "e2e", "load", "quality", "flood")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in BENCHES:
        print(f"usage: parley bench {{{','.join(BENCHES)}}} [ARGS...]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{args[0]}")
    module.main(args[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
