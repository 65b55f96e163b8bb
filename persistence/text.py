"""Text made safe to store, embed and show: the one sanitiser every layer uses.

:func:`clean_text` is applied once, at the edge, to every text field a client sends; from
then on the text is data everywhere (prompts, the grader, Postgres, the report page).
:func:`scrub` applies the same to every string inside a JSON-like value: the session
actor's last resort when Postgres refuses a write as bad input (text that came from a
model rather than a client).

Removed: NUL and every other C0/C1 control character except newline and tab (a carriage
return becomes a newline), lone UTF-16 surrogates (not encodable as UTF-8), the
bidirectional embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069: they
make a report read differently from what was said), and the noncharacters U+FFFE/U+FFFF.
Everything else is kept verbatim (no normalisation): 4-byte emoji, combining marks,
zero-width characters, right-to-left scripts and the implicit LRM/RLM marks.
"""

from __future__ import annotations

__all__ = ["clean_text", "scrub"]

import re
from typing import Any

_DROP = {c: None for c in range(0x20) if c not in (0x09, 0x0A)}
_DROP.update({c: None for c in range(0x7F, 0xA0)})
_DROP.update({c: None for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_DROP.update({0xFFFE: None, 0xFFFF: None})
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without the characters listed in the module docstring."""
    if text.isascii() and text.isprintable():
        return text  # the common case, unchanged
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub("", text).translate(_DROP)


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings, numbers) with
    :func:`clean_text` applied to every string, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
