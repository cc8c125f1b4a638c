"""Find scrape boilerplate in plain text: navigation, widgets, related lists, footers.

Works line by line on (simplified) text and returns spans to delete. It is
conservative: the story body is never cut.

* **Top navigation**: lines before and including a breadcrumb (``当前位置:首页 > 财经 >``)
  among the first lines, if all of them are short (a date/source line among them
  stays); plus known slogan/menu lines (``服务粉丝``, ``新闻门户``) and menu-like lines
  (several short words, no sentence punctuation) before the first paragraph.
* **Widgets** anywhere, as whole short lines: ``分享到``, ``扫一扫``, ``打印本页``,
  ``字号``, ``勋章级别`` ...
* **Tail**: from the first heading-like line such as ``相关阅读``, ``热门文章``,
  ``最新文章``, ``推荐阅读``, ``相关新闻``, ``延伸阅读``, ``相关稿件``, or a footer line
  (``版权所有``, ``版权声明``, ``Copyright``, ``©``, ``联系我们``, ``免责声明``,
  ``责任编辑``, ICP numbers, ``官方微信``) to the end of the text. Only honoured once at
  least one story paragraph has been seen, only as a short line or a line that
  starts with the marker, so ``相关负责人说`` inside a paragraph never cuts anything, and
  only when no story paragraph follows: a byline such as ``编辑：王五`` in the middle of
  an article cuts nothing.
* **Repeats** (:func:`find_repeats`): a run of lines, at least :data:`REPEAT_CHARS` long,
  that repeats earlier lines word for word (a page that holds the same story many times).

:func:`find_trims` labels each span with its kind, so that what was trimmed can be told.
"""

from __future__ import annotations

import re

__all__ = ["REPEAT_CHARS", "find_boilerplate", "find_repeats", "find_trims"]

Span = tuple[int, int]
#: ``(start, end, kind)``; kind is ``navigation``, ``widget``, ``tail`` or ``repeat``
Trim = tuple[int, int, str]

_BREADCRUMB = re.compile(r"(当前位置|您的位置|你的位置|你现在的位置|所在位置)|首页\s*[>》/»]")
_NAV_PHRASES = re.compile(
    r"服务粉丝|我们一直在努力|新闻门户|门户网站|设为首页|加入收藏|网站导航|登录\s*[|/]?\s*注册|"
    r"手机版|无障碍|繁體|简体版|English"
)
_WIDGET = re.compile(
    r"分享到|分享至|扫一扫|扫描二维码|微信扫码|打印本页|打印此页|关闭窗口|【打印】|【关闭】|"
    r"字号[:：]?\s*[大中小T]|勋章级别|点击查看大图|返回顶部|收藏本文|复制链接|阅读原文"
)
_TAIL_HEADINGS = (
    "相关阅读",
    "热门文章",
    "最新文章",
    "推荐阅读",
    "相关新闻",
    "延伸阅读",
    "相关稿件",
    "相关文章",
    "相关链接",
    "相关推荐",
    "猜你喜欢",
    "热点推荐",
    "热门推荐",
    "热门新闻",
    "更多精彩",
    "精彩推荐",
    "往期回顾",
    "大家都在看",
    "为你推荐",
    "今日推荐",
    "热点新闻",
    "所属专题",
)
_HEADING_RE = re.compile(
    r"^[\s·•\-—=\[【<《(（]*(?:" + "|".join(_TAIL_HEADINGS) + r")[\s·•\-—=\]】>》)）:：]*"
    r"(?:更多|more|MORE)?[\s>》»]*$"
)
_FOOTER_START = re.compile(
    r"^[\s·•\-—【\[]*(?:版权所有|版权声明|版权说明|免责声明|责任编辑|编辑[:：]|本文编辑|"
    r"copyright|©|\(c\)|联系我们|关于我们|网站声明|转载声明|(?:[\u4e00-\u9fff]{0,12})版权声明)",
    re.IGNORECASE,
)
_FOOTER_ANYWHERE = re.compile(
    r"版权所有|copyright\s|©|icp备|icp证|公网安备|官方微信|官方微博|违法和不良信息举报",
    re.IGNORECASE,
)
_SENTENCE_PUNCT = re.compile("[，。；！？,;!?]")
_META = re.compile(r"发布|日期|时间|来源|作者|记者|\d{4}\s*[-/.年]\s*\d{1,2}")
_MENU_TOKEN_SPLIT = re.compile(r"[\s|｜/]+")

#: A line at least this long containing sentence punctuation is a story paragraph.
PARAGRAPH_CHARS = 40
#: Lines this short may be headings, menus or footer fragments.
SHORT_LINE = 30
#: Only this many lines at the top are inspected for navigation.
TOP_LINES = 15


def _lines(text: str) -> list[tuple[int, int, str]]:
    """``(start, end_including_newline, stripped_line)`` for every line."""
    out: list[tuple[int, int, str]] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        out.append((pos, pos + len(raw), raw.strip()))
        pos += len(raw)
    return out


def _is_paragraph(line: str) -> bool:
    return len(line) >= PARAGRAPH_CHARS and _SENTENCE_PUNCT.search(line) is not None


_LIST_ITEM = re.compile(r"^(?:[•·▪◆■●○◇□①-⑳\-*]|\d{1,2}[.、)）])")
_SENTENCE_CLOSE = re.compile("[。！？!?][”’」』）)]*$")


def _is_story(line: str) -> bool:
    """A whole story paragraph: long, ending a sentence, neither a list item (a teaser
    under 相关阅读 is one, cut short) nor footer text (版权所有 ...)."""
    return (
        _is_paragraph(line)
        and _SENTENCE_CLOSE.search(line) is not None
        and not _LIST_ITEM.match(line)
        and not _FOOTER_START.match(line)
        and not _FOOTER_ANYWHERE.search(line)
    )


def _is_menu(line: str) -> bool:
    """Several short words and no sentence punctuation: ``首页 新闻 财经 体育``."""
    if not line or _SENTENCE_PUNCT.search(line):
        return False
    tokens = [t for t in _MENU_TOKEN_SPLIT.split(line) if t]
    return len(tokens) >= 4 and all(len(t) <= 4 for t in tokens)


def _top_navigation(lines: list[tuple[int, int, str]]) -> list[Span]:
    spans: list[Span] = []
    head = lines[:TOP_LINES]
    # everything up to a breadcrumb, if nothing before it looks like the story
    for k, (_s, e, line) in enumerate(head):
        if _is_paragraph(line) or len(line) > 60:
            break
        if _BREADCRUMB.search(line):
            if all(len(t) <= SHORT_LINE for _, _, t in head[:k]):
                # drop the lines before it too, but keep a date/source metadata line
                spans.extend((ls, le) for ls, le, t in head[:k] if not _META.search(t))
                spans.append((head[k][0], e))
            break
    # known nav phrases and menu lines before the first paragraph
    for s, e, line in head:
        if _is_paragraph(line):
            break
        if line and len(line) <= SHORT_LINE and (_NAV_PHRASES.search(line) or _is_menu(line)):
            spans.append((s, e))
    return spans


def _tail_start(lines: list[tuple[int, int, str]]) -> int | None:
    """Index of the line where trailing boilerplate begins, if any."""
    # story_after[k]: a story paragraph follows line k
    story_after = [False] * (len(lines) + 1)
    for k in range(len(lines) - 1, -1, -1):
        story_after[k] = story_after[k + 1] or _is_story(lines[k][2])
    seen_story = False
    for k, (_s, _e, line) in enumerate(lines):
        if not line:
            continue
        if seen_story and not story_after[k + 1]:
            if _HEADING_RE.match(line):
                return k
            if _FOOTER_START.match(line):
                return k
            if len(line) <= SHORT_LINE * 2 and _FOOTER_ANYWHERE.search(line):
                return k
        if _is_paragraph(line):
            seen_story = True
    return None


def find_trims(text: str) -> list[Trim]:
    """Boilerplate spans of ``text`` with their kinds, sorted, not overlapping."""
    lines = _lines(text)
    if not lines:
        return []
    trims: list[Trim] = [(s, e, "navigation") for s, e in _top_navigation(lines)]
    tail = _tail_start(lines)
    limit = len(lines) if tail is None else tail
    for s, e, line in lines[:limit]:
        if line and len(line) <= SHORT_LINE * 3 and _WIDGET.search(line):
            trims.append((s, e, "widget"))
    if tail is not None:
        trims.append((lines[tail][0], len(text), "tail"))
    return _merge(trims)


def find_boilerplate(text: str) -> list[Span]:
    """Spans ``(start, end)`` of ``text`` that are scrape boilerplate, sorted and merged."""
    return [(s, e) for s, e, _kind in find_trims(text)]


#: a repeated run of lines shorter than this stays (a repeated short line is no copy)
REPEAT_CHARS = 200


def find_repeats(text: str, min_chars: int = REPEAT_CHARS) -> list[Trim]:
    """Spans of ``text`` whose lines repeat, word for word, lines seen earlier.

    A run of consecutive lines equal to an earlier run, together at least ``min_chars``
    long (half that for two or more lines), is a repeat: the same story held several
    times in one page or file. The first copy stays; each later one is a ``repeat``
    span. Linear in the number of lines.
    """
    lines = _lines(text)
    first: dict[str, int] = {}
    spans: list[Trim] = []
    k, n = 0, len(lines)
    while k < n:
        line = lines[k][2]
        j = first.get(line) if line else None
        if j is not None:
            m = 0
            while k + m < n and j + m < k and lines[j + m][2] == lines[k + m][2]:
                m += 1
            start, end = lines[k][0], lines[k + m - 1][1]
            lines_repeated = sum(1 for _s, _e, t in lines[k : k + m] if t)
            if end - start >= min_chars or (lines_repeated >= 2 and end - start >= min_chars // 2):
                spans.append((start, end, "repeat"))
                k += m
                continue
        if line and line not in first:
            first[line] = k
        k += 1
    return spans


def _merge(spans: list[Trim]) -> list[Trim]:
    merged: list[Trim] = []
    for s, e, kind in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e), merged[-1][2])
        else:
            merged.append((s, e, kind))
    return merged
