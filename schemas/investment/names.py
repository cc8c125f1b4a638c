"""How names of projects, companies and regions compare in 招商引资 news (the
investment schema's ``__llmx_match__`` rules, see ``llmx._names``): used when one
document's items are merged and when mentions are matched across documents."""

from __future__ import annotations

import re
from functools import cache

from llmx.normalize import Gazetteer, to_simplified

_GENERIC_WORDS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份公司",
    "集团",
    "公司",
    "项目",
    "工程",
)
_GENERIC_HEADS = frozenset(
    {
        "新能源",
        "新材料",
        "高端",
        "智能",
        "新型",
        "年产",
        "高效",
        "生物",
        "医药",
        "电子",
        "数字",
        "绿色",
        "光伏",
        "总部",
        "国际",
        "中国",
        "现代",
        "产业",
    }
)


@cache
def _leading_places() -> frozenset[str]:
    """Province- and city-level names (full and short) a name may start with."""
    gaz = Gazetteer.load()
    names = {n for n, ds in gaz.full.items() if any(d.level < 3 for d in ds)}
    names |= {n for n, ds in gaz.short.items() if any(d.level < 3 for d in ds)}
    return frozenset(n for n in names if len(n) >= 2)


class ChineseNames:
    """Names of Chinese companies, projects and regions: 湖州卫蓝固态电池项目 and
    卫蓝新能源固态电池項目 are one project, 天合光能一期项目 and 二期项目 are two."""

    #: a phase: 一期, 二期, 3期
    variant = re.compile(r"[一二三四五六七八九十\d]+期")

    @staticmethod
    def fold(text: str) -> str:
        return to_simplified(text)

    @staticmethod
    def drop_generic(text: str) -> str:
        """Company forms and 项目/工程, wherever they stand."""
        for word in _GENERIC_WORDS:
            text = text.replace(word, "")
        return text

    @staticmethod
    def drop_leading(text: str) -> str:
        """Up to three leading province or city names, leaving two characters at least
        (宁波拓烯新材料 -> 拓烯新材料, 浙江省湖州市 -> 湖州市)."""
        places = _leading_places()
        for _ in range(3):
            for n in range(min(len(text) - 2, 8), 1, -1):
                if text[:n] in places:
                    text = text[n:]
                    break
            else:
                break
        return text

    @staticmethod
    def is_generic_head(head: str) -> bool:
        """新能源, 新材料 ...: a shared start that names a sector, not a company."""
        return head in _GENERIC_HEADS


class StatNames(ChineseNames):
    """A statistic's region and scope compare as names; mentions across documents are one
    statistic only when they state the same period."""

    agree = ("period",)
