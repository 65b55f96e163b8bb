"""The model layer's layout is a rule: synchronous engines never touch the bus or the loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parents[2] / "actors" / "models" / "engines"
FORBIDDEN = ("nats", "asyncpg", "asyncio", "bus.worker", "bus.requests", "persistence")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(ENGINES.glob("*.py")), ids=lambda p: p.name)
def test_engine_modules_import_no_bus_or_event_loop(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}: engines are synchronous and bus-free"


MODELS = ENGINES.parent
#: The remote engines may await (they are HTTP clients) but never touch the bus either; the
#: engine-independent interviewer logic touches nothing at all.
BUS_FREE = {
    "remote": ("nats", "asyncpg", "bus.worker", "bus.requests", "persistence"),
    "llm": FORBIDDEN,
}


@pytest.mark.parametrize(
    "path",
    sorted(p for folder in BUS_FREE for p in (MODELS / folder).glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_remote_engines_and_interviewer_logic_import_no_bus(path: Path) -> None:
    forbidden = BUS_FREE[path.parent.name]
    bad = {n for n in _imports(path) if n.split(".")[0] in forbidden or n.startswith(forbidden)}
    assert not bad, f"{path.parent.name}/{path.name} imports {sorted(bad)}"
