"""Grounding: find a record's evidence quote and key values in the source document.

Both sides are compared in a *normalised* form: the quote goes through the same
cleaning as the document (pinyin removed, traditional -> simplified, decimal points,
anti-scraping fixes), then whitespace, punctuation and symbols other than ``%`` and
``.`` are dropped and letters are case-folded (NFKC). The normalised document keeps
an index back to the cleaned text, whose offset map leads to the original.

:func:`locate` tries an exact match first, then a CJK-aware fuzzy alignment
(``rapidfuzz.fuzz.partial_ratio_alignment``, character by character) above a
threshold. A quote with an ellipsis (``……``/``...``) may also match part by part.
Only the cleaned text is searched, so quotes from stripped boilerplate (a related
article teaser) are not found.

:func:`apply_grounding_policy` then does what the ``ungrounded`` setting says with the
items whose evidence was not found: keep them, flag them in the notes, or drop them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from rapidfuzz import fuzz

from llmx._config import UngroundedPolicy
from llmx._text.clean import CleanText, clean_text
from llmx._types import GroundingInfo
from llmx.fields import evidence_field, match_keys

__all__ = [
    "DEFAULT_THRESHOLD",
    "GroundIndex",
    "Located",
    "apply_grounding_policy",
    "contains_value",
    "drop_paths",
    "ground_record",
    "is_instruction_like",
    "locate",
    "normalize_for_match",
]

Status = Literal["exact", "fuzzy", "not_found"]
M = TypeVar("M", bound=BaseModel)

#: Minimum fuzzy similarity (0..1) for a quote to count as found.
DEFAULT_THRESHOLD = 0.8
#: Normalised quotes shorter than this are only matched exactly.
MIN_FUZZY_CHARS = 6
_KEEP_SYMBOLS = frozenset("%.")
_ELLIPSIS = re.compile(r"…+|\.{3,}|。{3,}")


@dataclass(frozen=True)
class Located:
    """Where a quote was found; offsets into the original (``clean.source``), end exclusive."""

    status: Status
    start: int | None = None
    end: int | None = None
    score: float = 0.0

    @property
    def found(self) -> bool:
        return self.status != "not_found"


_NOT_FOUND = Located("not_found")


def _norm_char(ch: str) -> str:
    """What one character becomes for matching: itself lower-cased, its NFKC parts, or ''."""
    if ch.isascii():
        if ch.isalnum():
            return ch.lower()
        return ch if ch in _KEEP_SYMBOLS else ""
    return "".join(
        c
        for c in unicodedata.normalize("NFKC", ch).casefold()
        if unicodedata.category(c)[0] in "LN" or c in _KEEP_SYMBOLS
    )


#: :func:`_norm_char` per character seen so far (bounded by the characters in use)
_NORM_CHAR: dict[str, str] = {}


def _normalise(text: str) -> tuple[str, list[int]]:
    """The normalised text and, per normalised character, its index in ``text``."""
    table = _NORM_CHAR
    for ch in set(text).difference(table):
        table[ch] = _norm_char(ch)
    parts = [table[ch] for ch in text]
    return "".join(parts), [i for i, part in enumerate(parts) for _ in part]


def normalize_for_match(text: str) -> str:
    """The normalised form used to compare quotes and values with the document."""
    cleaned = clean_text(text, trim_boilerplate=False).text
    return _normalise(cleaned)[0]


class GroundIndex:
    """A cleaned document prepared for repeated quote and value look-ups."""

    def __init__(self, clean: CleanText) -> None:
        self.clean = clean
        self.norm, self.index = _normalise(clean.text)

    def _to_source(self, nstart: int, nend: int) -> tuple[int, int]:
        cstart = self.index[nstart]
        cend = self.index[nend - 1] + 1
        return self.clean.span_to_source(cstart, cend)

    def _exact(self, q: str) -> tuple[int, int] | None:
        pos = self.norm.find(q)
        return None if pos < 0 else (pos, pos + len(q))

    def _fuzzy(self, q: str, threshold: float) -> tuple[int, int, float] | None:
        if len(q) < MIN_FUZZY_CHARS or len(q) > len(self.norm):
            return None
        res = fuzz.partial_ratio_alignment(q, self.norm, score_cutoff=threshold * 100)
        if res is None or res.dest_end <= res.dest_start:
            return None
        start, end = self._refine(q, res.dest_start, res.dest_end)
        if end <= start:
            return None
        return start, end, res.score / 100.0

    def _refine(self, q: str, start: int, end: int) -> tuple[int, int]:
        """Move the window edges to where the whole quote matches best.

        ``partial_ratio`` scores a window as long as the quote; a quote that drops or
        adds words matches a shorter or longer span, so each edge is moved (start
        first, then end) within a slack of about a fifth of the quote.
        """
        slack = max(3, len(q) // 5)
        n = len(self.norm)

        def score(s: int, e: int) -> float:
            return fuzz.ratio(q, self.norm[s:e]) if e > s else 0.0

        best = score(start, end)
        for s in range(max(0, start - slack), min(end, start + slack + 1)):
            value = score(s, end)
            if value > best or (value == best and s < start):
                best, start = value, s
        for e in range(max(start + 1, end - slack), min(n, end + slack) + 1):
            value = score(start, e)
            if value > best:
                best, end = value, e
        return start, end

    def locate(self, quote: str, *, threshold: float = DEFAULT_THRESHOLD) -> Located:
        """Find ``quote`` in the document: exact, fuzzy, or not found."""
        return self._locate(quote, threshold)[0]

    def _locate(self, quote: str, threshold: float) -> tuple[Located, tuple[int, int]]:
        """:meth:`locate`, and the span of the normalised text it matched."""
        if not self.norm or not quote or not quote.strip():
            return _NOT_FOUND, (0, 0)
        q = normalize_for_match(quote)
        if not q:
            return _NOT_FOUND, (0, 0)
        hit = self._exact(q)
        if hit is not None:
            return Located("exact", *self._to_source(*hit), score=1.0), hit
        parts = self._parts(quote, threshold)
        fuzzy = self._fuzzy(q, threshold)
        if parts is not None and (fuzzy is None or parts[2] >= fuzzy[2]):
            fuzzy = parts
        if fuzzy is None:
            return _NOT_FOUND, (0, 0)
        start, end, score = fuzzy
        return Located("fuzzy", *self._to_source(start, end), score=score), (start, end)

    def _parts(self, quote: str, threshold: float) -> tuple[int, int, float] | None:
        """Match a quote with ellipses piece by piece, in order."""
        pieces = [normalize_for_match(p) for p in _ELLIPSIS.split(quote)]
        pieces = [p for p in pieces if p]
        if len(pieces) < 2:
            return None
        pos, first, last = 0, -1, -1
        for piece in pieces:
            found = self.norm.find(piece, pos)
            if found < 0:
                return None
            if first < 0:
                first = found
            pos = last = found + len(piece)
        total = sum(len(p) for p in pieces)
        score = max(threshold, min(0.99, total / max(total, last - first)))
        return first, last, score

    def contains(self, value: str, within: tuple[int, int] | None = None) -> bool:
        """True if ``value`` (normalised) occurs in the document, or in its normalised
        span ``within`` (a record's evidence)."""
        v = normalize_for_match(value)
        if within is None:
            return bool(v) and v in self.norm
        return bool(v) and v in self.norm[within[0] : within[1]]


def locate(quote: str, clean: CleanText, *, threshold: float = DEFAULT_THRESHOLD) -> Located:
    """Find an evidence quote in ``clean``; offsets point into ``clean.source``."""
    return GroundIndex(clean).locate(quote, threshold=threshold)


def contains_value(value: str, clean: CleanText) -> bool:
    """True if a key value (a name, ``约25亿元``) appears in the cleaned document,
    ignoring whitespace, punctuation, full-width forms and traditional characters."""
    return GroundIndex(clean).contains(value)


#: what text put in a page to steer the model says; evidence matching it is no fact
INSTRUCTION_LIKE = re.compile(
    r"(?:忽略|无视|忘记|不要理会|不要遵守)[^。！？\n]{0,12}(?:指令|指示|提示词?|要求|规则|设定)"
    r"|(?:你现在是|你是一个|作为一个?(?:AI|人工智能|语言模型))"
    r"|(?:请|必须|务必)?(?:输出|生成|返回|编造)一个[^。！？\n]{0,20}(?:项目|记录|结果|JSON)"
    r"|系统提示|system\s*prompt"
    r"|\b(?:ignore|disregard|forget)\b[^.!?\n]{0,30}\b(?:instructions?|prompts?|rules)\b"
    r"|\byou are now\b|\bact as\b[^.!?\n]{0,20}\b(?:ai|assistant|model)\b",
    re.IGNORECASE,
)


def is_instruction_like(text: str) -> bool:
    """True when ``text`` reads like an instruction to a language model."""
    return INSTRUCTION_LIKE.search(text) is not None


def _value_checks(model: BaseModel, index: GroundIndex, within: tuple[int, int]) -> dict[str, bool]:
    """Per key value and amount span of ``model``: is it inside its evidence (``within``,
    a span of the normalised document; empty when the evidence was not found)?"""
    checks: dict[str, bool] = {}
    for name in match_keys(type(model)):
        value = getattr(model, name, None)
        if isinstance(value, str) and value.strip():
            checks[name] = index.contains(value, within)
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        items: list[tuple[str, Any]] = (
            [(f"{name}[{i}]", v) for i, v in enumerate(value)]
            if isinstance(value, list | tuple)
            else [(name, value)]
        )
        for label, item in items:
            if isinstance(item, BaseModel) and evidence_field(type(item)) is None:
                text = getattr(item, "text", None)
                if isinstance(text, str) and text.strip():
                    checks[f"{label}.text"] = index.contains(text, within)
    return checks


def ground_record(
    record: BaseModel, clean: CleanText, *, threshold: float = DEFAULT_THRESHOLD
) -> list[GroundingInfo]:
    """Ground every sub-model of ``record`` that has an evidence field.

    ``path`` is like ``projects[0]`` (``""`` for the record itself). ``checks`` says,
    for each match-key field and each nested Money-like ``text``, whether the value
    appears inside the sub-model's own evidence (so a figure the model took from
    another sentence is caught); ``injection`` whether that evidence reads like an
    instruction to the model (:func:`is_instruction_like`).
    """
    out: list[GroundingInfo] = []
    _ground_into(out, record, "", GroundIndex(clean), threshold)
    return out


def _ground_into(
    out: list[GroundingInfo], model: BaseModel, path: str, index: GroundIndex, threshold: float
) -> None:
    """:func:`ground_record` for ``model`` at ``path`` and its sub-models, into ``out``.

    A module-level function rather than a recursive closure: a closure that calls
    itself is a reference cycle, and one per document is garbage only the cyclic
    collector can free (it stops the event loop to do so).
    """
    ev_name = evidence_field(type(model))
    if ev_name is not None:
        evidence = getattr(model, ev_name, None)
        found, span = (
            index._locate(evidence, threshold)
            if isinstance(evidence, str)
            else (_NOT_FOUND, (0, 0))
        )
        out.append(
            GroundingInfo(
                path=path,
                status=found.status,
                start=found.start,
                end=found.end,
                score=found.score,
                checks=_value_checks(model, index, span),
                injection=isinstance(evidence, str) and is_instruction_like(evidence),
            )
        )
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        sub = f"{path}.{name}" if path else name
        if isinstance(value, BaseModel):
            _ground_into(out, value, sub, index, threshold)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _ground_into(out, item, f"{sub}[{i}]", index, threshold)


# --------------------------------------------------------------------------- policy


def apply_grounding_policy(
    record: M, grounding: list[GroundingInfo], policy: UngroundedPolicy, notes: list[str]
) -> M:
    """``record`` after the ``ungrounded`` policy: ``keep`` it as it is, ``flag`` each
    item whose evidence was not found in ``notes``, or ``drop`` those items (noted)."""
    missing = [g for g in grounding if not g.grounded]
    if not missing or policy == "keep":
        return record
    if policy == "flag":
        notes.extend(f"{g.path}: {g.problem}" for g in missing)
        return record
    notes.extend(f"{g.path}: dropped, {g.problem}" for g in missing)
    return drop_paths(record, [g.path for g in missing])


_PATH_STEP = re.compile(r"([A-Za-z_]\w*)(?:\[(\d+)\])?")


def drop_paths(record: M, paths: list[str]) -> M:
    """Return a copy of ``record`` without the list items named by ``paths``.

    Paths look like ``projects[2]`` or ``a.b[0]`` (as produced by grounding).
    """
    data = record.model_dump()
    targets: dict[tuple[str, ...], set[int]] = {}
    for path in paths:
        steps = [m.groups() for m in _PATH_STEP.finditer(path)]
        if not steps or steps[-1][1] is None:
            continue
        prefix = tuple(f"{n}[{i}]" if i is not None else n for n, i in steps[:-1])
        targets.setdefault((*prefix, steps[-1][0]), set()).add(int(steps[-1][1]))
    for route, indices in targets.items():
        node: Any = data
        for step in route[:-1]:
            m = _PATH_STEP.fullmatch(step)
            assert m is not None
            node = node[m.group(1)]
            if m.group(2) is not None:
                node = node[int(m.group(2))]
        items = node[route[-1]]
        node[route[-1]] = [item for i, item in enumerate(items) if i not in indices]
    return type(record).model_validate(data)
