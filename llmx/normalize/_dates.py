"""Resolve Chinese date and period expressions to ISO 8601 strings.

Two entry points:

* :func:`resolve_date` for the date of an event, at the precision the text gives:
  ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``.
* :func:`resolve_period` for the period a statistic covers: ``2023-01``, ``2023-Q1``,
  ``2023-H1``, ``2024-01/2024-09`` (cumulative months), ``2023`` or an event date.

Relative expressions (``6日``, ``5月17日``, ``今年``, ``去年``, ``一季度``) are resolved
against the publication date. Without a publication date, an expression that does not
name its year resolves to ``None``: a guessed year is worse than no year, because a wrong
value costs a false positive and a false negative while a missing one costs only the
latter.

Year rules: an explicit year (``2021年``, ``二〇二一年``, ``2021-``) wins; ``今年``/``本年``
is the published year, ``去年``/``上年`` the year before, ``前年`` two before, ``明年``
the next. A month or day without a year takes the published year (and month); no attempt
is made to guess that ``12月`` in a February article meant last December.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from llmx.normalize._money import parse_chinese_number

__all__ = ["resolve_date", "resolve_period"]

_CN = "零〇○一二两三四五六七八九十"
_NUM = rf"(?:\d{{1,4}}|[{_CN}]{{1,4}})"
_RELATIVE_YEARS = {
    "今年": 0,
    "本年": 0,
    "当年": 0,
    "去年": -1,
    "上年": -1,
    "上一年": -1,
    "前年": -2,
    "明年": 1,
    "来年": 1,
}
_REL_ALT = "|".join(sorted(_RELATIVE_YEARS, key=len, reverse=True))
_YEAR_RE = re.compile(rf"(?P<y>\d{{4}}|[{_CN}]{{4}})\s*年|(?P<rel>{_REL_ALT})")


def _num(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    return parse_chinese_number(text)


def _clean(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip()
    s = s.replace("頭部", "头部").replace("號", "号")
    # anti-scraping substitution: 头部季度 -> 第一季度
    s = s.replace("头部季度", "第一季度")
    return re.sub(r"\s+", "", s)


def _year(s: str, published: date | None) -> tuple[int | None, bool]:
    """The year named in ``s`` (or the published year) and whether ``s`` named one."""
    m = _YEAR_RE.search(s)
    if m is not None:
        if m.group("y"):
            y = _num(m.group("y"))
            if y is not None and 1900 <= y <= 2100:
                return y, True
        elif m.group("rel") and published is not None:
            return published.year + _RELATIVE_YEARS[m.group("rel")], True
        elif m.group("rel"):
            return None, True
    return (published.year if published else None), False


def _valid(y: int, mo: int, d: int | None = None) -> bool:
    if not 1 <= mo <= 12:
        return False
    if d is None:
        return True
    try:
        date(y, mo, d)
    except ValueError:
        return False
    return True


_ISO_RE = re.compile(r"(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?!\d)")
_ISO_YEAR_RE = re.compile(r"(\d{4})")
_MD_RE = re.compile(rf"(?P<m>{_NUM})\s*月(?:份)?(?:(?P<d>{_NUM})\s*[日号])?")
_D_RE = re.compile(rf"(?<![\d{_CN}月])(?P<d>{_NUM})\s*[日号]")


def _iso(y: int, mo: int | None = None, d: int | None = None) -> str:
    if mo is None:
        return f"{y:04d}"
    if d is None:
        return f"{y:04d}-{mo:02d}"
    return f"{y:04d}-{mo:02d}-{d:02d}"


def resolve_date(text: str, published: date | None) -> str | None:
    """ISO date of ``text`` at the precision it gives, or ``None``.

    >>> resolve_date("2020年2月21日", None)
    '2020-02-21'
    >>> resolve_date("6日", date(2023, 2, 7))
    '2023-02-06'
    """
    if not text:
        return None
    s = _clean(text)
    m = _ISO_RE.fullmatch(s) or _ISO_RE.match(s)
    if m is not None:
        y, mo = int(m.group(1)), int(m.group(2))
        d = int(m.group(3)) if m.group(3) else None
        return _iso(y, mo, d) if _valid(y, mo, d) else None
    if re.fullmatch(r"\d{4}", s):
        return s
    year, named = _year(s, published)
    md = _MD_RE.search(s)
    if md is not None:
        month = _num(md.group("m"))
        day = _num(md.group("d")) if md.group("d") else None
        if year is None or month is None or not _valid(year, month, day):
            return None
        return _iso(year, month, day)
    dm = _D_RE.search(s)
    if dm is not None and not named:
        d = _num(dm.group("d"))
        if published is None or d is None or not _valid(published.year, published.month, d):
            return None
        return _iso(published.year, published.month, d)
    if year is not None and (named or _period_words(s)):
        return _iso(year)
    return None


def _period_words(s: str) -> bool:
    return bool(re.search(r"季度|半年|全年|年初|年底|年末|年中", s))


_QUARTERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_ISO_PERIOD_RE = re.compile(r"(\d{4})-(?:Q([1-4])|H([12]))", re.IGNORECASE)
_ISO_RANGE_RE = re.compile(r"(\d{4})-(\d{1,2})\s*/\s*(\d{4})-(\d{1,2})")
_MONTH_RANGE_RE = re.compile(
    rf"(?P<a>{_NUM})\s*(?:月份?)?\s*(?:-|—|–|－|~|～|至|到)\s*(?P<b>{_NUM})\s*月"
)
_FIRST_N_RE = re.compile(rf"前(?P<n>{_NUM})(?:个)?(?P<kind>月|季度)")
_QUARTER_RE = re.compile(r"(?:第)?([一二三四1-4])\s*季度|Q([1-4])", re.IGNORECASE)


def resolve_period(text: str, published: date | None) -> str | None:
    """Period of a statistic in the contract's forms, or ``None``.

    >>> resolve_period("今年一季度", date(2023, 4, 12))
    '2023-Q1'
    >>> resolve_period("1至9月", date(2024, 10, 20))
    '2024-01/2024-09'
    """
    if not text:
        return None
    s = _clean(text)
    m = _ISO_PERIOD_RE.fullmatch(s)
    if m is not None:
        return f"{m.group(1)}-Q{m.group(2)}" if m.group(2) else f"{m.group(1)}-H{m.group(3)}"
    r = _ISO_RANGE_RE.fullmatch(s)
    if r is not None:
        y1, m1, y2, m2 = (int(g) for g in r.groups())
        if _valid(y1, m1) and _valid(y2, m2):
            return f"{_iso(y1, m1)}/{_iso(y2, m2)}"
        return None
    if _ISO_RE.match(s) or re.fullmatch(r"\d{4}", s):
        return resolve_date(s, published)

    year, named = _year(s, published)
    if year is None:
        return None

    mr = _MONTH_RANGE_RE.search(s)
    if mr is not None:
        a, b = _num(mr.group("a")), _num(mr.group("b"))
        if a is None or b is None or not (_valid(year, a) and _valid(year, b)) or a > b:
            return None
        return f"{_iso(year, a)}/{_iso(year, b)}"
    fn = _FIRST_N_RE.search(s)
    if fn is not None:
        n = _num(fn.group("n"))
        if n is None:
            return None
        months = n * 3 if fn.group("kind") == "季度" else n
        if not 1 <= months <= 12:
            return None
        return f"{_iso(year, 1)}/{_iso(year, months)}"
    q = _QUARTER_RE.search(s)
    if q is not None:
        return f"{year:04d}-Q{_QUARTERS[q.group(1) or q.group(2)]}"
    if "上半年" in s:
        return f"{year:04d}-H1"
    if "下半年" in s:
        return f"{year:04d}-H2"
    if _MD_RE.search(s) or _D_RE.search(s):
        return resolve_date(s, published)
    if named or re.search(r"全年|年度|今年以来|年初以来", s):
        return f"{year:04d}"
    return None


_CN_DIGITS = "零一二三四五六七八九"


def _cn_number(n: int) -> str:
    """1..31 in Chinese numerals: 7 -> 七, 12 -> 十二, 21 -> 二十一."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
    return head + (_CN_DIGITS[ones] if ones else "")


def _mentions(text: str, n: int, units: str) -> bool:
    forms = {str(n), f"{n:02d}", _cn_number(n)}
    if n == 1:
        forms.add("头部")  # an anti-scraping stand-in for 第一 that cleaning may leave
    return any(f"{form}{unit}" in text for form in forms for unit in units)


def date_supported(value: str, text: str, published: date | None) -> bool:
    """Whether the story can back an ISO date or period the model produced.

    Small models copy dates from their prompt or invent them. A date is kept only
    when its year is written in ``text`` (or is the publication year or the year
    before, which 今年/去年 and bare month-day dates resolve to) and its month and
    day, where given, are written too (``5月17日``, ``五月``, ``2021-05-17``).
    Quarters and halves need 季度/季/半年 in the text.
    """
    start = value.split("/", 1)[0]
    end = value.split("/", 1)[1] if "/" in value else None
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}|Q[1-4]|H[12]))?(?:-(\d{2}))?", start)
    if m is None:
        return False
    year = int(m.group(1))
    if value in text or start in text:
        return True
    year_ok = str(year) in text or f"{year % 100:02d}年" in text
    if not year_ok and published is not None:
        year_ok = year in (published.year, published.year - 1)
    if not year_ok:
        return False
    part, day = m.group(2), m.group(3)
    if part is None:
        return True
    if part.startswith("Q"):
        return "季" in text
    if part.startswith("H"):
        return "半年" in text
    if end is not None:  # a cumulative range: 1至9月, 1-11月份, 前三季度
        end_month = end.split("-")[-1]
        if not end_month.isdigit():
            return False
        return _mentions(text, int(end_month), "月") or (int(end_month) % 3 == 0 and "季度" in text)
    same_month = published is not None and (year, int(part)) == (published.year, published.month)
    if not same_month and not _mentions(text, int(part), "月") and f"-{part}-" not in text:
        return False
    return day is None or _mentions(text, int(day), "日号")
