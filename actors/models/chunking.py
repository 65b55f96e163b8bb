"""Chunking of uploaded documents (résumés, job postings) for retrieval."""

from __future__ import annotations

__all__ = ["MAX_CHUNKS", "chunk_text"]

#: At most this many chunks are kept per document (the rest is dropped).
MAX_CHUNKS = 64


def chunk_text(text: str, max_chars: int = 500) -> list[str]:
    """Split a document into paragraph-ish chunks of at most ``max_chars`` (at most
    :data:`MAX_CHUNKS`; a word longer than ``max_chars`` is one chunk by itself)."""
    out: list[str] = []
    for para in (p.strip() for p in text.replace("\r", "").split("\n\n")):
        if not para:
            continue
        words = para.split()
        cur = ""
        for w in words:
            if len(cur) + len(w) + 1 > max_chars and cur:
                out.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}".strip()
        if cur:
            out.append(cur)
    return out[:MAX_CHUNKS]
