"""docs/protocol.md's error table lists exactly the codes a client can receive."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from bus.events import ErrorCode

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def _documented_codes() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_error_table_matches_the_error_code_type() -> None:
    documented = _documented_codes()
    codes = set(get_args(ErrorCode))
    assert documented - codes == set(), "documented but not an ErrorCode"
    assert codes - documented == set(), "an ErrorCode missing from docs/protocol.md"
