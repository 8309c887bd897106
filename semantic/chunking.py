"""Split long note text into overlapping chunks that fit the model's window.

all-MiniLM-L6-v2 reads at most 256 word pieces and ignores the rest, so a
long note is embedded chunk by chunk and scored by its best chunk
(`semantic.selectors`). Chunks are counted in words, not word pieces, so the
hashing embedder (no tokenizer) chunks the same way; English prose averages
1.3-1.5 word pieces a word, scientific text a little more, so CHUNK_WORDS
words stay inside the window. CHUNK_WORDS and CHUNK_OVERLAP were chosen on
the tuning half of the evaluation claims (bench/search_quality.py).
"""

from __future__ import annotations

import re

CHUNK_WORDS = 150
CHUNK_OVERLAP = 30

_WORD = re.compile(r"\S+")


def chunk_spans(text: str, *, words: int | None = None, overlap: int | None = None) -> list[tuple[int, int]]:
    """Character spans `(start, end)` of the chunks; one span (the whole text) when it fits."""
    words = words or CHUNK_WORDS
    overlap = CHUNK_OVERLAP if overlap is None else overlap
    spans = [m.span() for m in _WORD.finditer(text)]
    if len(spans) <= words:
        return [(0, len(text))]
    step = max(1, words - overlap)
    out = []
    for first in range(0, len(spans), step):
        last = min(first + words, len(spans)) - 1
        out.append((spans[first][0], spans[last][1]))
        if last == len(spans) - 1:
            break
    return out


def chunk_text(text: str, **sizes) -> list[str]:
    """The chunks of `text` (see `chunk_spans`)."""
    return [text[start:end] for start, end in chunk_spans(text, **sizes)]
