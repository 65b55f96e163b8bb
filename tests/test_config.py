"""Configuration has one home: parley/config.py declares every variable, one process reads
them once, docs/operating.md lists exactly them, and `parley config` hides the secrets."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import msgspec
import pytest

from parley.config import Config
from parley.settings import SettingError, variables

ROOT = Path(__file__).resolve().parents[1]
NAMES = [v.env.name for v in variables(Config)]


def _doc_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    section = text.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.findall(r"`((?:PARLEY_|NATS_|DATABASE_)[A-Z0-9_]+)`", r.split("|")[1]) for r in rows]


def test_every_setting_has_one_variable() -> None:
    assert len(NAMES) == len(msgspec.structs.fields(Config))  # no setting without a variable
    assert len(NAMES) == len(set(NAMES))
    assert all(n.startswith("PARLEY_") or n in ("NATS_URL", "DATABASE_URL") for n in NAMES)


def test_the_operating_table_lists_exactly_the_variables() -> None:
    in_doc = [name for row in _doc_rows() for name in row]
    assert len(in_doc) == len(set(in_doc)), "a variable is in two rows"
    missing, extra = set(NAMES) - set(in_doc), set(in_doc) - set(NAMES)
    assert not missing, f"docs/operating.md, Configuration, lacks {sorted(missing)}"
    assert not extra, f"docs/operating.md, Configuration, lists unknown {sorted(extra)}"


def test_values_are_parsed_by_type_and_empty_means_unset() -> None:
    cfg = Config.from_env(
        {
            "PARLEY_PORT": "9000",
            "PARLEY_OWNER_TTL": "2.5",
            "PARLEY_NATS_PROVISION": "0",
            "PARLEY_END_OF_TURN": "off",
            "PARLEY_ROLES": "edge, session",
            "PARLEY_MODELS": "deterministic",
            "PARLEY_LLM_GGUF": "/m/q.gguf",
            "PARLEY_HOST": "",
        }
    )
    assert (cfg.port, cfg.owner_ttl, cfg.nats_provision, cfg.end_of_turn) == (
        9000,
        2.5,
        False,
        False,
    )
    assert cfg.roles == ("edge", "session") and cfg.models == "deterministic"
    assert cfg.llm_gguf == Path("/m/q.gguf") and cfg.whisper_dir is None
    assert cfg.host == "127.0.0.1"  # empty: the default
    assert Config.from_env({"PARLEY_PORT": "1"}, port=2).port == 2  # a flag wins


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARLEY_PORT", "eighty"),
        ("PARLEY_MODELS", "fast"),
        ("PARLEY_NATS_PROVISION", "maybe"),
        ("PARLEY_LLM_STRUCTURED", "xml"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingError, match=name):
        Config.from_env({name: value})


def test_parley_config_masks_secrets() -> None:
    env = {
        "PARLEY_SECRET": "hmac-key",
        "PARLEY_LLM_API_KEY": "sk-123",
        "NATS_URL": "nats://session:pw1@n1:4222,nats://session:pw1@n2:4222",
        "DATABASE_URL": "postgresql://app:pw2@db/parley",
        "PARLEY_PORT": "9000",
    }
    rows = {name: (value, source) for name, value, source in Config.from_env(env).describe(env)}
    shown = " ".join(value for value, _ in rows.values())
    for secret in ("hmac-key", "sk-123", "pw1", "pw2"):
        assert secret not in shown
    assert rows["PARLEY_SECRET"] == ("***", "env")
    assert rows["NATS_URL"][0] == "nats://session:***@n1:4222,nats://session:***@n2:4222"
    assert rows["PARLEY_PORT"] == ("9000", "env")
    assert rows["PARLEY_HOST"] == ("127.0.0.1", "default")
    assert set(rows) == set(NAMES)


def _environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read the environment (``os.environ.get``, ``os.environ[k]``,
    ``os.getenv``, ``env = os.environ``); handing a copy to a child process
    (``dict(os.environ, ...)``, ``{**os.environ}``) or setting a variable is not reading."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "getenv":
            lines.append(node.lineno)
        if not (isinstance(node, ast.Attribute) and node.attr == "environ"):
            continue
        parent = parents.get(node)
        copied = (isinstance(parent, ast.Call) and node in parent.args) or (
            isinstance(parent, ast.Dict) and None in parent.keys
        )
        written = (isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store)) or (
            isinstance(parent, ast.Attribute) and parent.attr == "setdefault"
        )
        if not (copied or written):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_read_the_environment() -> None:
    allowed = {ROOT / "parley" / "config.py"}
    offenders = {
        str(path.relative_to(ROOT)): lines
        for package in ("actors", "bus", "edge", "persistence", "parley")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in allowed and (lines := _environment_reads(path))
    }
    assert not offenders, f"read the environment outside parley/config.py: {offenders}"
