"""How long a model actor expects to take to be ready, and telling the supervisor.

Each start's measured load time is remembered per kind and *variant* (``warm`` or ``cold``
for the LLM, whose warm start restores its evaluated prompts from disk; ``start`` for the
others) in a small JSON file in the model cache. The next start of the same kind and
variant expects about that long; with no history, :data:`DEFAULT_S` guesses.

Before it loads, an actor prints one :func:`estimate_line` on stdout. ``parley up``'s
supervisor reads it (:func:`parse_estimate`) to tell ``/readyz`` and the page when the role
will be ready; without a supervisor the line is only a log line.
"""

from __future__ import annotations

__all__ = ["DEFAULT_S", "LoadHistory", "estimate_line", "parse_estimate"]

import contextlib
import json
import re
from pathlib import Path

from actors.models.engines.atomic import write_atomic

#: Guesses for a first start (seconds) by ``kind:variant``; any other: :data:`_FALLBACK_S`.
DEFAULT_S = {"llm:cold": 90.0, "llm:warm": 8.0}
_FALLBACK_S = 5.0
_LINE = re.compile(
    r"model (?P<kind>\w+)\s+warming up(?: \((?P<variant>\w+) start\))?: "
    r"ready in about (?P<s>\d+) s"
)


def estimate_line(kind: str, variant: str, seconds: float) -> str:
    """``model llm    warming up (warm start): ready in about 6 s`` (no parenthesis for
    the plain ``start`` variant)."""
    how = "" if variant == "start" else f" ({variant} start)"
    return f"model {kind:<6} warming up{how}: ready in about {max(1, round(seconds))} s"


def parse_estimate(line: str) -> tuple[str, float] | None:
    """(kind, seconds) from a line containing an :func:`estimate_line`, else None."""
    m = _LINE.search(line)
    return (m["kind"], float(m["s"])) if m else None


class LoadHistory:
    """Measured load times by ``kind:variant``, in ``path`` (a JSON object). Trouble
    reading or writing it only costs the estimate."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}

    def expect(self, kind: str, variant: str) -> float:
        """Seconds the next load of ``kind``/``variant`` is expected to take."""
        key = f"{kind}:{variant}"
        known = self._read()
        if key in known:
            return known[key]
        return DEFAULT_S.get(key, _FALLBACK_S)

    def record(self, kind: str, variant: str, seconds: float) -> None:
        """Remember a measured load (the last one wins: the machine's load changes)."""
        data = self._read()
        data[f"{kind}:{variant}"] = round(seconds, 2)
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())
