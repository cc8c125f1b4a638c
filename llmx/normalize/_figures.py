"""Find figures in Chinese text: project counts, 同比 changes, dates and periods, places.

Pure functions over one string, with offsets into it (end exclusive), for schemas whose
candidate finders need them. Money has its own module (:func:`find_money_spans`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmx.normalize._gazetteer import Gazetteer
from llmx.normalize._money import parse_chinese_number

__all__ = [
    "Figure",
    "find_dates",
    "find_periods",
    "find_places",
    "find_project_counts",
    "find_yoy",
]

_CN = "零〇一二两三四五六七八九十百千"
_INT = rf"(?:\d+|[{_CN}]+)"


@dataclass(frozen=True)
class Figure:
    """A figure found in a text: ``text[start:end]`` read as ``value``."""

    start: int
    end: int
    text: str
    value: float | str


def _int(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else parse_chinese_number(raw)


# 28个项目, 7个投资项目, 47个签约项目, 项目28个, 重大产业项目20个, 项目达26个
_COUNT_AFTER = re.compile(rf"(?P<n>{_INT})(?:余|多)?个(?P<mid>[^，,。；;、：:\d]{{0,6}}?)项目")
_COUNT_BEFORE = re.compile(
    rf"项目(?P<mid>共计|合计|总数|共|达到|达|已达|数)?(?P<n>{_INT})(?:余|多)?个"
)


def find_project_counts(text: str) -> list[Figure]:
    """Counts of projects (``28个项目``, ``项目28个``), value the count."""
    out: dict[int, Figure] = {}
    for pattern in (_COUNT_AFTER, _COUNT_BEFORE):
        for m in pattern.finditer(text):
            n = _int(m.group("n"))
            if n is None:
                continue
            start, end = m.span("n")
            end = m.end() if pattern is _COUNT_BEFORE else end + 1  # include 个
            out.setdefault(start, Figure(start, end, text[start:end], float(n)))
    return sorted(out.values(), key=lambda f: f.start)


_YOY = re.compile(
    r"同比(?:分别)?(?P<dir>增长|增加|上升|提高|提升|下降|减少|下滑|回落|降低)?了?\s*"
    r"(?P<num>[-+－−]?\d+(?:\.\d+)?)\s*(?:%|％|个百分点)"
)
_DOWN = ("下降", "减少", "下滑", "回落", "降低")


def find_yoy(text: str) -> list[Figure]:
    """同比 changes in percent (``同比增长21.7%`` -> 21.7, ``同比下降3%`` -> -3.0)."""
    out: list[Figure] = []
    for m in _YOY.finditer(text):
        if "百分点" in m.group(0):
            continue
        value = float(m.group("num").replace("－", "-").replace("−", "-"))
        if m.group("dir") in _DOWN and value > 0:
            value = -value
        out.append(Figure(m.start(), m.end(), m.group(0), value))
    return out


_YEAR = r"(?:\d{4}年|今年|去年|上年|本年|前年)?"
_PERIOD = re.compile(
    _YEAR
    + r"(?:"
    + rf"{_INT}\s*(?:月份?)?\s*(?:-|—|–|－|~|～|至|到)\s*{_INT}\s*月份?"  # 1-11月份
    + r"|前[一二三四五六七八九十\d]+(?:个)?(?:月|季度)"
    + r"|(?:第)?[一二三四1-4]\s*季度|头部季度"
    + r"|[上下]半年"
    + rf"|{_INT}月份|\d{{1,2}}月(?!\d{{1,2}}日|[一二三]?[十]?[一二三四五六七八九]日)"
    + r"|全年|年初以来|今年以来"
    + r")"
    + r"|\d{4}年(?!\d|底|末)"
)


def find_periods(text: str) -> list[Figure]:
    """Period expressions (``一月份``, ``今年一季度``, ``1-11月份``, ``上半年``, ``2023年``)."""
    return [Figure(m.start(), m.end(), m.group(0), m.group(0)) for m in _PERIOD.finditer(text)]


_DATE = re.compile(
    r"(?:\d{4}年)?\d{1,2}月\d{1,2}日"
    r"|(?:\d{4}年)?\d{1,2}月(?:上旬|中旬|下旬|初|底|末)?(?!份|\d)"
    r"|(?<![月\d])\d{1,2}日"
    r"|\d{4}年(?!\d)"
)


def find_dates(text: str) -> list[Figure]:
    """Date expressions (``5月17日``, ``2023年4月``, ``6日``), for events."""
    return [Figure(m.start(), m.end(), m.group(0), m.group(0)) for m in _DATE.finditer(text)]


_ZONE_SUFFIX = re.compile(
    r"(?:经济技术开发区|经济开发区|高新技术产业开发区|高新区|经开区|开发区|新区|新城|产业园区|"
    r"产业园|工业园区|工业园|园区|小镇|保税区|港区|合作区|街道|镇|乡)"
)
# a zone's name starts after punctuation, a particle or a verb of place
_NAME_BOUNDARY = re.compile(
    r"(?:[^\u4e00-\u9fffA-Za-z0-9（）()]|落户|位于|入驻|进驻|来到|走进|看到|记者|建设|签约|"
    r"举行|举办|召开|引进|在|于|的|和|与|及|是|了|将|把|到|向|从|为|个|还|让|由)$"
)
_NOT_ZONE = {"开发区", "园区", "新区", "产业园", "工业园", "小镇", "新城", "街道", "乡镇", "城镇"}


def _zone_start(text: str, end: int, lo: int) -> int:
    """Where the zone name ending at ``end`` starts: after the nearest boundary."""
    start = end
    while (
        start > lo
        and end - start < 12
        and not _NAME_BOUNDARY.search(text[max(0, start - 2) : start])
    ):
        start -= 1
    return start


def find_places(text: str) -> list[Figure]:
    """Administrative divisions (by the gazetteer) and named zones, parks and towns
    (``南太湖新区``, ``吴兴美妆小镇``), value the name as written."""
    out: list[Figure] = []
    for start, name in Gazetteer.load().scanner.finditer(text):
        out.append(Figure(start, start + len(name), name, name))
    for m in _ZONE_SUFFIX.finditer(text):
        if len(m.group(0)) == 1 and m.start() and text[m.start() - 1] in "城乡村":
            continue
        start = _zone_start(text, m.start(), 0)
        name = text[start : m.end()]
        if len(name) >= 3 and name not in _NOT_ZONE:
            out.append(Figure(start, m.end(), name, name))
    return sorted(out, key=lambda f: (f.start, -f.end))
