"""Page metadata found in the text itself: the publication date."""

from __future__ import annotations

import re
from datetime import date

__all__ = ["find_published"]

_LABEL = (
    r"(?:发布时间|發布時間|发布日期|發布日期|发表时间|發表時間|发表日期|發表日期|更新时间|更新時間|"
    r"时间|時間|日期|来源|來源|发布|發布)"
)
_DATE = (
    r"(?<!\d)(?P<y>(?:19|20)\d\d)\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*(?:[-/.]|月)\s*"
    r"(?P<d>\d{1,2})(?!\d)(?:[ \t]*日)?"
)
_DATE_RE = re.compile(_DATE)
_TIME_AFTER = re.compile(r"\s*\d{1,2}[:：]\d\d")
_LABEL_BEFORE = re.compile(_LABEL + r"[^\n]{0,40}$")
_SENTENCE_PUNCT = re.compile("[，。；！？,;!?]")

#: Dates this far into the text count as "near the top".
TOP_CHARS = 1500


def _valid(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def find_published(text: str) -> date | None:
    """The page's publication date, if the text states one.

    Looks for full dates (``2024-04-28``, ``2023/02/07``, ``2021年05月18日``). A date
    counts when it is labelled on its line (``发布时间:``, ``日期:``, ``时间：``,
    ``来源:... 2023-02-08``), followed by a clock time (``2017年04月12日 08:25``), or
    alone on a short metadata-like line. Dates inside body sentences are ignored.
    Labelled dates near the top win, then timed ones, then bare ones; earlier wins ties.
    """
    best: tuple[int, int, date] | None = None
    for m in _DATE_RE.finditer(text):
        found = _valid(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        if found is None:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        before = text[line_start : m.start()]
        line = text[line_start:line_end]
        if _LABEL_BEFORE.search(before):
            rank = 0
        elif _TIME_AFTER.match(text, m.end()):
            rank = 1
        elif len(line.strip()) <= 40 and not _SENTENCE_PUNCT.search(line):
            rank = 2
        else:
            continue
        if m.start() > TOP_CHARS:
            rank += 3
        key = (rank, m.start(), found)
        if best is None or key[:2] < best[:2]:
            best = key
    return best[2] if best is not None else None
