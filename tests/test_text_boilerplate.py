"""Boilerplate spans: navigation, widgets, related lists and footers; the story stays."""

from __future__ import annotations

import pytest

from llmx._text.boilerplate import find_boilerplate
from llmx._text.clean import clean_text
from tests.support import SEED_DIR


def seed(prefix: str) -> str:
    return next(SEED_DIR.glob(f"{prefix}*.txt")).read_text(encoding="utf-8")


def strip(text: str) -> str:
    out, pos = [], 0
    for s, e in find_boilerplate(text):
        out.append(text[pos:s])
        pos = e
    out.append(text[pos:])
    return "".join(out)


def test_seed_000_nav_and_related_teasers_removed() -> None:
    clean = clean_text(seed("000"))
    text = clean.text
    assert "庚彩化工" not in text
    assert "相关阅读" not in text and "热门文章" not in text and "最新文章" not in text
    assert "服务粉丝" not in text and "当前位置" not in text and "我们一直在努力" not in text
    assert text.startswith("湖州五百“特战队员”盯着产业链去招商")
    # the story, including its last paragraph, is intact
    assert "总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区" in text
    assert text.endswith("支持项目引进推进、投产达产。")
    assert "卫蓝新能源相关负责人说" in text  # "相关" inside a paragraph cuts nothing
    # the teaser is still in the source, so grounding can tell it was boilerplate
    assert "庚彩化工" in clean.source


def test_seed_002_footer_and_slogan_removed() -> None:
    text = clean_text(seed("002")).text
    assert "新闻门户" not in text
    assert "版权声明" not in text and "官方微信" not in text and "联系电话" not in text
    assert "2017年04月12日 08:25来源" in text
    assert text.endswith("办理服务事项近50个。")


def test_seed_003_copyright_and_recommended_removed() -> None:
    text = clean_text(seed("003")).text
    assert "版权声明" not in text and "推荐阅读" not in text and "棚改" not in text
    assert text.endswith("一定能赢得更加美好的未来。记者 刘文晴")


def test_seed_004_widget_and_footer_removed() -> None:
    text = clean_text(seed("004")).text
    assert "勋章级别" not in text
    assert "版权声明" not in text and "400-0123-021" not in text
    assert text.startswith("不到100天淮安招引投资超千亿元\n原标题:")
    assert text.endswith("行稳致远!")


def test_seed_001_nothing_to_remove() -> None:
    text = seed("001")
    assert find_boilerplate(clean_text(text, trim_boilerplate=False).text) == []


def test_case_related_teaser_keeps_date_line() -> None:
    text = clean_text(seed("case_related_teaser")).text
    assert text.startswith("发布时间：2023-06-20\n临平经开区引进高端医疗器械项目")
    assert "恒通新能源" not in text and "瓯海" not in text and "版权所有" not in text
    assert text.endswith("将为项目落地提供全程帮办服务。")


PARA = "近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区，项目建成后将形成完整产业链。"


def test_heading_before_any_story_is_not_a_tail() -> None:
    text = "相关新闻\n" + PARA + "\n" + PARA
    assert strip(text) == text


def test_related_word_inside_paragraph_kept() -> None:
    text = (
        PARA
        + "\n相关阅读材料显示，该项目总投资达到139亿元，是当地今年引进的最大项目之一，意义重大。\n"
        + PARA
    )
    assert strip(text) == text


@pytest.mark.parametrize(
    "heading",
    [
        "相关阅读",
        "热门文章",
        "最新文章",
        "推荐阅读",
        "相关新闻",
        "延伸阅读",
        "【相关新闻】",
        "· 相关阅读 ·",
    ],
)
def test_tail_headings(heading: str) -> None:
    text = f"{PARA}\n{heading}\n其他城市总投资55亿元的项目开工\n另一条新闻"
    assert strip(text) == PARA + "\n"


@pytest.mark.parametrize(
    "footer",
    [
        "版权所有 © 某某新闻网",
        "Copyright © 2023 Example News. All rights reserved.",
        "责任编辑：王五",
        "免责声明：本文仅代表作者观点",
        "联系我们 | 关于我们",
        "浙ICP备12345678号",
    ],
)
def test_footers(footer: str) -> None:
    text = f"{PARA}\n{footer}\n更多内容"
    assert strip(text) == PARA + "\n"


def test_share_widgets_removed_anywhere() -> None:
    text = f"{PARA}\n分享到：微信 微博 QQ空间\n{PARA}\n扫一扫 在手机打开当前页\n{PARA}"
    assert strip(text) == f"{PARA}\n{PARA}\n{PARA}"


def test_top_breadcrumb_and_menu() -> None:
    text = f"首页 新闻 财经 体育 科技\n当前位置：首页 > 财经 > 正文\n标题在这里\n{PARA}"
    assert strip(text) == f"标题在这里\n{PARA}"


def test_breadcrumb_after_long_line_is_not_navigation() -> None:
    text = f"{PARA}\n当前位置：首页 > 财经\n{PARA}"
    assert "当前位置" in strip(text)


def test_empty() -> None:
    assert find_boilerplate("") == []
