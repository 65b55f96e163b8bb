"""The module map of docs/design.md is a rule: each package imports only what the map allows.

Every import of every module of Parley's packages (top-level, inside functions and under
``TYPE_CHECKING`` alike) is read with :mod:`ast` and its target resolved to a group of the
map. A group may import itself and what :data:`MAY_IMPORT` lists (groups, or module
prefixes where the map names single modules, e.g. the bus types the session core uses).
The session core, which the map calls sans-I/O, may moreover import nothing but msgspec and
the pure parts of the standard library.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("actors", "bus", "edge", "persistence", "parley", "bench")

#: Modules of ``actors/session/`` that are the shell (they do I/O); the rest is the core.
SESSION_SHELL = frozenset(
    {"actor", "outbox", "writer", "seam", "live", "memory", "snapshot", "node", "replay", "erase"}
)

_EVERYTHING = (
    "bus",
    "persistence",
    "actors",
    "actors.errors",
    "actors.runtime",
    "actors.interview",
    "actors.bank",
    "actors.session.core",
    "actors.session.shell",
    "actors.models",
    "edge",
)

#: docs/design.md, "Module map", as data: group -> what it may import besides itself.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "bus": (),
    "persistence": (),
    "actors": (),
    "actors.errors": ("bus",),
    "actors.runtime": ("bus", "actors.errors"),
    "actors.interview": (),
    "actors.bank": ("bus",),
    "actors.session.core": ("bus.events", "bus.jobs", "bus.subjects", "actors.interview"),
    "actors.session.shell": (
        "actors.session.core",
        "bus",
        "persistence",
        "actors.runtime",
        "actors.errors",
        "actors.bank",
        "actors.models.engines",  # the engines' protocols (VAD, end of turn)
        "actors.models.audio",  # the WAV of an answer's replay
    ),
    "actors.models": ("bus", "persistence", "actors.errors", "actors.interview"),
    "edge": ("bus", "persistence"),
    "parley": _EVERYTHING,
    "bench": (*_EVERYTHING, "parley"),
}

#: Imports that still break the map, each with the change that removes it. An entry that
#: no longer happens fails the test: delete it then.
KNOWN_BREAKS: dict[tuple[str, str], str] = {}

#: Standard-library modules that do I/O or read a clock or randomness: not in the core.
IMPURE_STDLIB = frozenset(
    {
        "asyncio",
        "concurrent",
        "datetime",
        "http",
        "io",
        "logging",
        "multiprocessing",
        "os",
        "pathlib",
        "random",
        "secrets",
        "select",
        "selectors",
        "shutil",
        "signal",
        "socket",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def group(module: str) -> str:
    """The map's group of ``module`` (a dotted name inside Parley)."""
    parts = module.split(".")
    if parts[:2] == ["actors", "session"]:
        shell = len(parts) > 2 and parts[2] in SESSION_SHELL
        return "actors.session.shell" if shell else "actors.session.core"
    if parts[0] == "actors" and len(parts) > 1:
        # actors.runtime / actors.errors / actors.bank / actors.interview / actors.models
        return f"actors.{parts[1]}"
    return parts[0]


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of everything ``module`` imports (``from x import y`` gives ``x.y``
    when ``x.y`` is a module of Parley, else ``x``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                names.add(sub if sub in MODULES else base)
    return names


def _allowed(source: str, target: str) -> bool:
    own, theirs = group(source), group(target)
    if own == theirs:
        return True
    for rule in MAY_IMPORT[own]:
        if theirs == rule or target == rule or target.startswith(rule + "."):
            return True
    return False


@functools.cache
def _parley_imports() -> list[tuple[str, str]]:
    pairs = []
    for module, path in MODULES.items():
        for target in sorted(_imports(module, path)):
            if target.split(".")[0] in PACKAGES:
                pairs.append((module, target))
    return pairs


def test_every_module_belongs_to_a_group_of_the_map() -> None:
    assert {group(m) for m in MODULES} <= set(MAY_IMPORT)
    assert "actors.session.core" in {group(m) for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_module_map(module: str) -> None:
    bad = [
        f"{target} ({group(target)})"
        for source, target in _parley_imports()
        if source == module
        and not _allowed(source, target)
        and (source, target) not in KNOWN_BREAKS
    ]
    assert not bad, (
        f"{module} ({group(module)}) may import {MAY_IMPORT[group(module)]}, not {bad}: "
        "see docs/design.md, Module map"
    )


def test_known_breaks_still_exist() -> None:
    """A listed break that was fixed must leave the list, so the list stays the truth."""
    pairs = set(_parley_imports())
    gone = [pair for pair in KNOWN_BREAKS if pair not in pairs]
    assert not gone, f"fixed, delete from KNOWN_BREAKS: {gone}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if group(m) == "actors.session.core"))
def test_the_session_core_imports_no_io(module: str) -> None:
    outside = {
        name.split(".")[0]
        for name in _imports(module, MODULES[module])
        if name.split(".")[0] not in PACKAGES
    }
    impure = sorted(outside & IMPURE_STDLIB)
    foreign = sorted(
        n
        for n in outside
        if n not in sys.stdlib_module_names and n not in ("msgspec", "__future__")
    )
    assert not impure and not foreign, f"{module} imports {impure + foreign}: the core is sans-I/O"


def test_the_rules_catch_a_break() -> None:
    """The checker itself: a core module importing the shell or the bus connection, a bus
    module importing persistence, and the edge importing the session are all refused."""
    assert not _allowed("actors.session.flow", "actors.session.live")
    assert not _allowed("actors.session.flow", "bus.connection")
    assert not _allowed("bus.worker", "persistence.pool")
    assert not _allowed("edge.gateway", "actors.session.replay")
    assert not _allowed("actors.models.rubric", "actors.session.plan")
    assert _allowed("actors.session.node", "actors.session.core")
    assert _allowed("actors.session.flow", "bus.events")
