"""Clean scraped (mostly Chinese) news text while keeping an exact offset map.

:func:`clean_text` applies a fixed series of rewriting steps. Each step is a list of
non-overlapping edits ``(start, end, replacement)`` over the *current* text; the
:class:`TextBuilder` applies them and composes the offset maps, so every character of
the final text knows the span of the original text it came from.

Steps, in order:

1. ``normalize_controls``: ``\\r\\n``/``\\r`` -> ``\\n``, zero-width characters and soft
   hyphens removed, no-break/ideographic/odd spaces -> ``" "``, tabs -> ``" "``.
2. ``fullwidth_ascii``: full-width ASCII letters and digits (and ``％＋－．／＠＃＆``)
   -> their ASCII forms. Chinese punctuation (，。、“”：；！？) stays as is.
3. ``remove_pinyin``: pinyin inserted by broken conversions right after a CJK
   character, ``項(xiàng)目`` -> ``項目``, with ASCII or full-width parentheses. Only
   lowercase strings made of valid pinyin syllables go; ``(ABC)``, ``(GDP)`` stay.
4. ``to_simplified``: traditional -> simplified with OpenCC ``t2s``, character for
   character (a line whose conversion changes length is converted per character).
5. ``decimal_points``: a full stop between digits is a decimal point,
   ``57。6億元`` -> ``57.6亿元`` (not when the right side is a date: ``5。6月``).
6. ``doubled_punctuation``: ``,,`` ``，，`` ``。。`` ``、、`` ``;;`` ``：：`` -> one; a comma
   directly before another clause mark (``,。`` ``,、`` ``,！``) is dropped.
   Ellipses and dashes (``……`` ``——``) are never touched.
7. ``anti_scraping``: substitutions some sites use against scrapers, undone only in
   the contexts of :data:`ANTI_SCRAPING_RULES` (``蕞高`` -> ``最高``, ``头部时间`` ->
   ``第一时间``; ``引头部``/``头部企业`` stay).
8. ``whitespace``: runs of spaces -> one, spaces at line starts/ends dropped, two or
   more blank lines -> one, leading/trailing blank lines dropped.
9. ``boilerplate`` (optional): passages repeating earlier ones word for word
   (:func:`llmx._text.boilerplate.find_repeats`), then the spans found by
   :func:`llmx._text.boilerplate.find_trims`, are deleted, then step 8 runs again. Each
   deletion is kept in :attr:`CleanText.trimmed` (what, and where in the source), so a
   document's notes can tell what the model did not see.

Why one module: the steps and the :class:`TextBuilder` that composes their offset maps
are one contract (each step returns edits over the current text, the builder alone
turns them into offsets), and the steps are read in the order above, one short pure
function each. Split, a reader would have to hold two files open to check that a step
keeps the map exact.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llmx._text.meta import find_published
from llmx.normalize._chinese import opencc_t2s

__all__ = [
    "ANTI_SCRAPING_RULES",
    "CleanText",
    "Edit",
    "TextBuilder",
    "Trimmed",
    "anti_scraping_edits",
    "clean_text",
    "decimal_point_edits",
    "doubled_punctuation_edits",
    "find_published",
    "fullwidth_edits",
    "is_pinyin",
    "pinyin_edits",
    "simplified_edits",
    "whitespace_edits",
]

#: ``(start, end, replacement)`` over the current text, end exclusive.
Edit = tuple[int, int, str]


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Trimmed:
    """One passage cleaning removed: its kind (``navigation``, ``widget``, ``tail``,
    ``repeat``), its span of the original text, and how it began."""

    kind: str
    start: int
    end: int
    preview: str

    def describe(self) -> str:
        return f"{self.kind} at source chars {self.start}-{self.end}: {self.preview!r}"


#: characters of a trimmed passage quoted in its note
PREVIEW_CHARS = 30


@dataclass(frozen=True)
class CleanText:
    """Cleaned text plus the map back to the original.

    ``starts[i]``/``ends[i]`` give the span of ``source`` that cleaned character ``i``
    came from (one character for most characters; a wider span where several source
    characters were merged into one).
    """

    text: str
    source: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    #: passages removed as boilerplate or repeats, in order
    trimmed: tuple[Trimmed, ...] = ()

    def __len__(self) -> int:
        return len(self.text)

    def trim_notes(self) -> list[str]:
        """One note per trimmed passage (repeats summed up in one), for a result's notes."""
        notes = [
            f"trimmed before extraction: {t.describe()}" for t in self.trimmed if t.kind != "repeat"
        ]
        repeats = [t for t in self.trimmed if t.kind == "repeat"]
        if repeats:
            chars = sum(t.end - t.start for t in repeats)
            notes.append(
                f"trimmed before extraction: {chars} source chars repeating earlier text word "
                f"for word, between source chars {repeats[0].start} and {repeats[-1].end}, "
                f"starting {repeats[0].preview!r}"
            )
        return notes

    def to_source(self, i: int) -> int:
        """Offset in ``source`` of cleaned offset ``i`` (``0 <= i <= len(text)``).

        ``len(text)`` maps to the end of the last character's source span.
        """
        n = len(self.text)
        if not 0 <= i <= n:
            raise IndexError(f"offset {i} outside 0..{n}")
        if i < n:
            return self.starts[i]
        return self.ends[-1] if n else len(self.source)

    def span_to_source(self, start: int, end: int) -> tuple[int, int]:
        """Map the cleaned span ``[start, end)`` to a span of ``source`` (end exclusive)."""
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise IndexError(f"span {start}..{end} outside 0..{n}")
        if start == end:
            pos = self.to_source(start)
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    def source_span(self, start: int, end: int) -> str:
        """The original text behind the cleaned span ``[start, end)``."""
        s, e = self.span_to_source(start, end)
        return self.source[s:e]


# --------------------------------------------------------------------------- builder


class TextBuilder:
    """Applies successive edit lists to a text while composing the offset map."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = source
        self.starts: list[int] = list(range(len(source)))
        self.ends: list[int] = list(range(1, len(source) + 1))

    def apply(self, edits: Iterable[Edit]) -> TextBuilder:
        """Apply non-overlapping edits given in offsets of the current text.

        A replacement as long as the span it replaces maps character for character;
        a shorter one maps its last character to the rest of the span; a longer one
        maps its extra characters to the span's last character; an insertion maps to
        an empty span at its position.
        """
        ordered = sorted(edits, key=lambda e: (e[0], e[1]))
        if not ordered:
            return self
        text, starts, ends = self.text, self.starts, self.ends
        out: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        pos = 0
        for start, end, rep in ordered:
            if start < pos or end < start or end > len(text):
                raise ValueError(f"bad or overlapping edit {start}..{end} at {pos}")
            out.append(text[pos:start])
            new_starts.extend(starts[pos:start])
            new_ends.extend(ends[pos:start])
            m, n = end - start, len(rep)
            if n:
                out.append(rep)
                if m == 0:
                    anchor = starts[start] if start < len(text) else self._end_anchor(start)
                    new_starts.extend([anchor] * n)
                    new_ends.extend([anchor] * n)
                else:
                    for k in range(n):
                        j = start + min(k, m - 1)
                        new_starts.append(starts[j])
                        new_ends.append(ends[end - 1] if k == n - 1 else ends[j])
            pos = end
        out.append(text[pos:])
        new_starts.extend(starts[pos:])
        new_ends.extend(ends[pos:])
        self.text = "".join(out)
        self.starts, self.ends = new_starts, new_ends
        return self

    def _end_anchor(self, pos: int) -> int:
        return self.ends[pos - 1] if pos > 0 else 0

    def step(self, fn: Callable[[str], Sequence[Edit]]) -> TextBuilder:
        """Apply the edits ``fn`` computes from the current text."""
        return self.apply(fn(self.text))

    def build(self, trimmed: Sequence[Trimmed] = ()) -> CleanText:
        return CleanText(
            self.text, self.source, tuple(self.starts), tuple(self.ends), tuple(trimmed)
        )

    def delete(self, spans: Sequence[tuple[int, int, str]]) -> list[Trimmed]:
        """Delete ``(start, end, kind)`` spans of the current text; what each was."""
        trimmed = []
        for start, end, kind in spans:
            if end <= start:
                continue
            gone = self.text[start:end].strip()
            preview = gone[:PREVIEW_CHARS] + ("…" if len(gone) > PREVIEW_CHARS else "")
            trimmed.append(Trimmed(kind, self.starts[start], self.ends[end - 1], preview))
        self.apply((s, e, "") for s, e, _kind in spans)
        return trimmed


def regex_edits(
    pattern: re.Pattern[str], text: str, repl: str | Callable[[Any], str]
) -> list[Edit]:
    """Edits replacing every match of ``pattern`` (a callable gets the match)."""
    edits: list[Edit] = []
    for m in pattern.finditer(text):
        rep = repl(m) if callable(repl) else m.expand(repl)
        if rep != m.group(0):
            edits.append((m.start(), m.end(), rep))
    return edits


# --------------------------------------------------------------------------- steps

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_ODD_SPACES = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_CRLF = re.compile(r"\r\n?")


def control_edits(text: str) -> list[Edit]:
    """Newlines to ``\\n``, zero-width characters dropped, odd spaces to ``" "``."""
    edits = regex_edits(_CRLF, text, "\n")
    edits += regex_edits(_ZERO_WIDTH, text, "")
    edits += regex_edits(_ODD_SPACES, text, " ")
    return edits


_FULLWIDTH_KEEP = set("％＋－．／＠＃＆")


def fullwidth_edits(text: str) -> list[Edit]:
    """Full-width ASCII letters/digits (and a few symbols) -> ASCII."""
    edits: list[Edit] = []
    for i, ch in enumerate(text):
        o = ord(ch)
        if 0xFF01 <= o <= 0xFF5E and (ch.isalnum() or ch in _FULLWIDTH_KEEP):
            edits.append((i, i + 1, chr(o - 0xFEE0)))
    return edits


# pinyin --------------------------------------------------------------------

_INITIALS = "(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])"
_FINALS_ANY = (
    "(?:iang|iong|uang|ueng|iao|ian|ing|uai|uan|van|ang|eng|ong|iou|uei|uen|"
    "ia|ie|iu|in|ua|uo|ui|un|ue|ve|vn|ai|ei|ao|ou|an|en|er|a|o|e|i|u|v)"
)
_FINALS_BARE = "(?:ang|eng|ai|ei|ao|ou|an|en|er|a|o|e)"
_SYLLABLE = re.compile(f"(?:{_INITIALS}{_FINALS_ANY}|{_FINALS_BARE}|m|n|ng|hm|hng)")
_PINYIN_WORD = re.compile(rf"{_SYLLABLE.pattern}(?: ?{_SYLLABLE.pattern}){{0,3}}")
_TONE_LETTERS = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
_PINYIN_CANDIDATE = re.compile(
    r"(?<=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"
    rf"[(（]([a-z{_TONE_LETTERS} ]{{1,24}})[)）]"
)


def _strip_tones(s: str) -> str:
    s = s.replace("ü", "v").replace("Ü", "v")
    decomposed = unicodedata.normalize("NFD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_pinyin(s: str) -> bool:
    """True if ``s`` is lowercase pinyin (1-4 syllables, tone marks or ``ü`` allowed)."""
    if not s or s != s.lower() or s.strip() != s:
        return False
    return _PINYIN_WORD.fullmatch(_strip_tones(s)) is not None


def pinyin_edits(text: str) -> list[Edit]:
    """Remove ``(xiàng)`` inserted directly after a CJK character."""
    edits: list[Edit] = []
    for m in _PINYIN_CANDIDATE.finditer(text):
        if is_pinyin(m.group(1)):
            edits.append((m.start(), m.end(), ""))
    return edits


# traditional -> simplified ---------------------------------------------------


def simplified_edits(text: str) -> list[Edit]:
    """Per-character edits turning traditional into simplified characters.

    OpenCC converts phrases, so whole lines are converted first; a line whose length
    changes falls back to per-character conversion so offsets stay exact.
    """
    edits: list[Edit] = []
    offset = 0
    for line in text.split("\n"):
        if line and not line.isascii():
            converted = opencc_t2s(line)
            if len(converted) == len(line):
                for k, (a, b) in enumerate(zip(line, converted, strict=True)):
                    if a != b:
                        edits.append((offset + k, offset + k + 1, b))
            else:
                for k, ch in enumerate(line):
                    b = opencc_t2s(ch) if ord(ch) > 0x2E7F else ch
                    if b != ch:
                        edits.append((offset + k, offset + k + 1, b))
        offset += len(line) + 1
    return edits


# numbers and punctuation -------------------------------------------------------

_DECIMAL = re.compile(r"(?<=\d)[。．](?=\d)(?!\d*\s*[年月日号時时])")


def decimal_point_edits(text: str) -> list[Edit]:
    """``57。6`` -> ``57.6`` (a full stop between digits, not before a date unit)."""
    return regex_edits(_DECIMAL, text, ".")


_DOUBLED = re.compile(r"([,，。、;；:：])\1+")
_COMMA_BEFORE_MARK = re.compile(r"[,，]+(?=[。、！？!?；;])")


def doubled_punctuation_edits(text: str) -> list[Edit]:
    """Collapse doubled punctuation; drop a comma stuck before another clause mark."""
    edits: list[Edit] = []
    for m in _DOUBLED.finditer(text):
        edits.append((m.start() + 1, m.end(), ""))
    covered = {i for s, e, _ in edits for i in range(s, e)}
    for m in _COMMA_BEFORE_MARK.finditer(text):
        span = range(m.start(), m.end())
        keep = [i for i in span if i not in covered]
        for i in keep:
            edits.append((i, i + 1, ""))
    return edits


# anti-scraping ------------------------------------------------------------------

#: ``(pattern, replacement for the matched text, note)``. Patterns use look-arounds so
#: only the substituted characters are matched. Deliberately small and conservative.
ANTI_SCRAPING_RULES: tuple[tuple[str, str, str], ...] = (
    ("蕞(?!尔)", "最", "蕞高/蕞大/蕞多/蕞好 -> 最...; 蕞尔 (small) is genuine"),
    (
        "(?<!引)头部(?=(?:时间|季度|批|个|步|次|排|名|棒|轮|天|站|届|期|阶段|梯队|方阵))",
        "第一",
        "头部时间/头部批/头部个/头部季度... -> 第一...; 引头部/头部企业 stay",
    ),
    ("(?<=[春年])头部(?=会)", "第一", "新春头部会/开年头部会 -> 第一会"),
    ("(?<=[争夺])头部(?=[^\u4e00-\u9fff]|$)", "第一", "争头部、 -> 争第一、"),
)

_ANTI_SCRAPING = tuple((re.compile(p), r) for p, r, _ in ANTI_SCRAPING_RULES)


def anti_scraping_edits(text: str) -> list[Edit]:
    """Undo anti-scraping substitutions where the context shows them."""
    edits: list[Edit] = []
    taken: set[int] = set()
    for pattern, rep in _ANTI_SCRAPING:
        for m in pattern.finditer(text):
            if m.start() in taken:
                continue
            taken.update(range(m.start(), m.end()))
            edits.append((m.start(), m.end(), rep))
    return edits


# whitespace -----------------------------------------------------------------------

_SPACE_RUN = re.compile(r" {2,}")
_LINE_EDGE_SPACES = re.compile(r"(?m)^ +| +$")
_BLANK_LINES = re.compile(r"\n(?: *\n){2,}")
_LEADING = re.compile(r"\A\s+")
_TRAILING = re.compile(r"\s+\Z")


def whitespace_edits(text: str) -> list[Edit]:
    """Collapse space runs, strip line edges, collapse blank lines, trim the ends."""
    edits: list[Edit] = []
    covered = [False] * (len(text) + 1)

    def add(start: int, end: int, rep: str) -> None:
        if any(covered[start:end]):
            return
        for k in range(start, end):
            covered[k] = True
        edits.append((start, end, rep))

    for m in _LEADING.finditer(text):
        add(m.start(), m.end(), "")
    for m in _TRAILING.finditer(text):
        add(m.start(), m.end(), "")
    for m in _BLANK_LINES.finditer(text):
        add(m.start(), m.end(), "\n\n")  # keep one blank line
    for m in _LINE_EDGE_SPACES.finditer(text):
        add(m.start(), m.end(), "")
    for m in _SPACE_RUN.finditer(text):
        add(m.start() + 1, m.end(), "")
    return edits


# --------------------------------------------------------------------------- driver

#: the edit steps, in the order the module docstring lists them
STEPS: tuple[Callable[[str], Sequence[Edit]], ...] = (
    control_edits,
    fullwidth_edits,
    pinyin_edits,
    simplified_edits,
    decimal_point_edits,
    doubled_punctuation_edits,
    anti_scraping_edits,
    whitespace_edits,
)


def clean_text(source: str, *, trim_boilerplate: bool = True) -> CleanText:
    """Clean ``source`` (see the module docstring for the steps) keeping an offset map."""
    builder = TextBuilder(source)
    for step in STEPS:
        builder.step(step)
    trimmed: list[Trimmed] = []
    if trim_boilerplate:
        from llmx._text.boilerplate import find_repeats, find_trims

        for find in (find_repeats, find_trims):
            spans = find(builder.text)
            if spans:
                trimmed += builder.delete(spans)
                builder.step(whitespace_edits)
    return builder.build(trimmed)
