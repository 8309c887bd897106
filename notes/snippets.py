"""Snippets: the part of a note's text around the densest run of the query's words, those words marked."""

from __future__ import annotations

import html

from notes.search import WORD

SNIPPET_CHARS = 200

_SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    """A crude English stem, enough to mark "dogs" for the query "dog" in a snippet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def snippet_around(text: str, *, words: list[str], start: int | None = None) -> tuple[str, str]:
    """`(snippet, highlight)`: about SNIPPET_CHARS of `text` around the densest run of `words`.

    `highlight` is the same snippet HTML-escaped with each matched word in
    `<mark>`. Without matches the snippet starts at `start` (the best chunk of a
    semantic match) or at the beginning.
    """
    stems = {_stem(w) for w in words}
    hits = [m for m in WORD.finditer(text) if _stem(m.group().lower()) in stems] if stems else []
    if hits:
        # The window starting at each hit, and how many hits it holds (hits are in text order).
        best, best_count, after = hits[0].start(), 0, 0
        for i, hit in enumerate(hits):
            after = max(after, i)
            while after < len(hits) and hits[after].start() < hit.start() + SNIPPET_CHARS - 40:
                after += 1
            if after - i > best_count:
                best, best_count = hit.start(), after - i
        begin = max(0, best - 40)
    else:
        begin = start or 0
    if begin:
        space = text.find(" ", begin, begin + 30)
        begin = space + 1 if space != -1 else begin
    end = min(len(text), begin + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", begin, end)
        end = space if space > begin else end
    snippet = text[begin:end]
    marked, last = [], 0
    for hit in hits:
        if hit.start() < begin or hit.end() > end:
            continue
        marked.append(html.escape(text[last if last > begin else begin : hit.start()]))
        marked.append(f"<mark>{html.escape(hit.group())}</mark>")
        last = hit.end()
    marked.append(html.escape(text[max(last, begin) : end]))
    prefix, suffix = ("…" if begin else ""), ("…" if end < len(text) else "")
    return f"{prefix}{snippet}{suffix}", f"{prefix}{''.join(marked)}{suffix}"
