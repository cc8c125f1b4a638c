"""Sentence-aware chunking with offsets into the input text."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk_text", "split_sentences"]

# A sentence ends after 。！？；!?; (plus closing quotes/brackets right after them) or at
# a newline; the newline run belongs to the sentence before it.
_SENTENCE_END = re.compile(r"[。！？；!?;…]+[”’」』）)\]】\"']*\n*|\n+")


@dataclass(frozen=True)
class Chunk:
    """``text == source[start:end]`` of the text that was chunked."""

    index: int
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of sentences; together they cover ``text`` exactly."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > pos:
            spans.append((pos, m.end()))
            pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def _hard_split(start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    return [(s, min(s + max_chars, end)) for s in range(start, end, max_chars)]


def chunk_text(text: str, *, max_chars: int, overlap_chars: int = 200) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_chars`` characters.

    Consecutive chunks overlap by whole sentences totalling at most ``overlap_chars``
    (never so much that a chunk would make no progress). A sentence longer than
    ``max_chars`` is hard-split. Text that fits yields one chunk; empty text none.
    """
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    if overlap_chars < 0:
        raise ValueError("overlap_chars must not be negative")
    if not text:
        return []
    if len(text) <= max_chars:
        return [Chunk(0, text, 0, len(text))]

    units: list[tuple[int, int]] = []
    for s, e in split_sentences(text):
        units.extend(_hard_split(s, e, max_chars) if e - s > max_chars else [(s, e)])

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        start = units[i][0]
        j = i
        while j + 1 < len(units) and units[j + 1][1] - start <= max_chars:
            j += 1
        end = units[j][1]
        chunks.append(Chunk(len(chunks), text[start:end], start, end))
        if j + 1 >= len(units):
            break
        # next chunk starts with trailing sentences of this one, up to overlap_chars,
        # but always after this chunk's first unit so the loop advances
        k = j + 1
        while k - 1 > i and end - units[k - 1][0] <= overlap_chars:
            k -= 1
        # the overlap plus the next unit must still fit in one chunk
        while k <= j and units[j + 1][1] - units[k][0] > max_chars:
            k += 1
        i = k
    return chunks
