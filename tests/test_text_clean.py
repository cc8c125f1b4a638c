"""Cleaning steps, one by one, and the offset map they build."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmx._text.clean import (
    CleanText,
    TextBuilder,
    anti_scraping_edits,
    clean_text,
    decimal_point_edits,
    doubled_punctuation_edits,
    fullwidth_edits,
    is_pinyin,
    pinyin_edits,
    simplified_edits,
    whitespace_edits,
)
from llmx.normalize._chinese import opencc_t2s
from tests.support import SEED_DIR

SEEDS = sorted(SEED_DIR.glob("[0-9]*.txt"))


def seed(prefix: str) -> str:
    return next(SEED_DIR.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def run(fn: object, text: str) -> str:
    builder = TextBuilder(text)
    builder.step(fn)  # type: ignore[arg-type]
    return builder.text


def assert_offsets_consistent(clean: CleanText) -> None:
    """Every cleaned character comes from the same character in the source, or from its
    traditional / full-width / decimal-point / anti-scraping original."""
    allowed_subs = {("最", "蕞"), (".", "。"), (".", "．"), (" ", "\u3000"), (" ", "\t")}
    assert len(clean.starts) == len(clean.ends) == len(clean.text)
    for i, ch in enumerate(clean.text):
        s, e = clean.starts[i], clean.ends[i]
        assert 0 <= s < e <= len(clean.source)
        src = clean.source[s:e]
        if src == ch:
            continue
        if len(src) == 1:
            if unicodedata.normalize("NFKC", src) == ch or opencc_t2s(src) == ch:
                continue
            if (ch, src) in allowed_subs or (ch == " " and src.isspace()):
                continue
            if ch in "第一" and src in "头部":
                continue
        if ch == "\n" and src.strip() == "":
            continue
        raise AssertionError(f"cleaned {ch!r} at {i} maps to source {src!r} at {s}")
    # monotone
    assert list(clean.starts) == sorted(clean.starts)


# --------------------------------------------------------------------------- steps


def test_fullwidth_letters_digits_but_not_chinese_punctuation() -> None:
    assert (
        run(fullwidth_edits, "ＧＤＰ增长５．２％，达到１２３亿元。“好”")
        == "GDP增长5.2%，达到123亿元。“好”"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("項(xiàng)目", "項目"),
        ("業(yè)", "業"),
        ("產（chǎn）業", "產業"),
        ("綠(lǜ)色", "綠色"),
        ("區(qū)域", "區域"),
        ("發(fā)展", "發展"),
        ("中國(zhōng guó)", "中國"),
        ("鏈(liàn)和環(huán)節(jié)", "鏈和環節"),
    ],
)
def test_pinyin_removed(text: str, expected: str) -> None:
    assert run(pinyin_edits, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "国内生产总值(GDP)增长",
        "公司(ABC)签约",
        "项目(一期)开工",
        "英文(abc)缩写",
        "率(gdp)",
        "增长(5%)",
        "项目 (xiàng) 前有空格",
        "text(xiàng)",
        "金额(約25億元)",
    ],
)
def test_genuine_parentheses_kept(text: str) -> None:
    assert run(pinyin_edits, text) == text


def test_is_pinyin() -> None:
    assert is_pinyin("xiàng") and is_pinyin("lǜ") and is_pinyin("zhōng guó") and is_pinyin("de")
    assert not is_pinyin("abc") and not is_pinyin("gdp") and not is_pinyin("Xiàng")
    assert not is_pinyin("") and not is_pinyin("in")


def test_seed_001_pinyin_gone() -> None:
    clean = clean_text(seed("001"))
    assert "(yè)" not in clean.text and "(" + "xiàng)" not in clean.text
    assert clean.text.startswith("衢州先进制造业再添新成员。")
    assert "业(" not in clean.text


def test_traditional_to_simplified() -> None:
    assert run(simplified_edits, "衢州舉行智造新城招商引資項目集中簽約儀式") == (
        "衢州举行智造新城招商引资项目集中签约仪式"
    )


def test_simplified_keeps_length_per_character_fallback() -> None:
    text = "總投資約25億元\n" * 3
    out = run(simplified_edits, text)
    assert out == "总投资约25亿元\n" * 3
    assert len(out) == len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("總投資57。6億元", "總投資57.6億元"),
        ("總投資12。5億元,", "總投資12.5億元,"),
        ("增长3．5%", "增长3.5%"),
        ("项目28个。2023年", "项目28个。2023年"),
        ("共5。6月份开工", "共5。6月份开工"),
        ("达到2023。2024年起", "达到2023。2024年起"),
        ("结束。6日签约", "结束。6日签约"),
    ],
)
def test_decimal_points(text: str, expected: str) -> None:
    assert run(decimal_point_edits, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一場常州之行,,宿州", "一場常州之行,宿州"),
        ("之行，，宿州", "之行，宿州"),
        ("结束。。下一", "结束。下一"),
        ("收獲頗豐,。", "收獲頗豐。"),
        ("儲能項目,、芯片", "儲能項目、芯片"),
        ("近30億元,!", "近30億元!"),
        ("签署协议……一次次", "签署协议……一次次"),
        ("常相会——2024", "常相会——2024"),
        ("1,268亿元", "1,268亿元"),
        ("A,,,。B", "A。B"),
    ],
)
def test_doubled_punctuation(text: str, expected: str) -> None:
    assert run(doubled_punctuation_edits, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("智能化程度蕞高", "智能化程度最高"),
        ("全球单体蕞大", "全球单体最大"),
        ("蕞有力的诠释", "最有力的诠释"),
        ("蕞尔小国", "蕞尔小国"),
        ("头部时间收集", "第一时间收集"),
        ("头部批企业", "第一批企业"),
        ("头部个项目", "第一个项目"),
        ("刚刚过去的头部季度", "刚刚过去的第一季度"),
        ("只是头部步", "只是第一步"),
        ("主席台头部排就座", "主席台第一排就座"),
        ("新春头部会上", "新春第一会上"),
        ("围绕‘争头部、创唯一’", "围绕‘争第一、创唯一’"),
        ("招引头部企业", "招引头部企业"),
        ("引头部项目", "引头部项目"),
        ("引头部时间", "引头部时间"),
        ("行业头部企业", "行业头部企业"),
        ("头部效应", "头部效应"),
    ],
)
def test_anti_scraping(text: str, expected: str) -> None:
    assert run(anti_scraping_edits, text) == expected


def test_whitespace() -> None:
    text = "  标题  \n\n\n\n  正文   第一段  \t\n \n \n\n第二段\n\n\n"
    assert run(whitespace_edits, text) == "标题\n\n正文 第一段 \t\n\n第二段"
    assert clean_text(text, trim_boilerplate=False).text == "标题\n\n正文 第一段\n\n第二段"


def test_controls_and_crlf() -> None:
    clean = clean_text("第一行\r\n第二\u200b行\u3000完\r\n", trim_boilerplate=False)
    assert clean.text == "第一行\n第二行 完"


# --------------------------------------------------------------------------- seeds


def test_seed_004_anti_scraping() -> None:
    text = clean_text(seed("004")).text
    assert "蕞" not in text
    assert "智能化程度最高" in text and "全球单体最大" in text
    assert "第一季度" in text and "第一时间" in text and "第一步" in text
    assert "头部" not in text  # every 头部 in this seed is a substitution


def test_seed_003_punctuation_and_traditional() -> None:
    text = clean_text(seed("003")).text
    assert ",," not in text and ",。" not in text and ",、" not in text
    assert text.startswith("宿州经开区招商引资磁力满满\n一场常州之行,宿州经开区收获颇丰。")
    assert "投资总额近30亿元!" in text


def test_decimal_in_case_file() -> None:
    text = clean_text(next(SEED_DIR.glob("case_traditional_pinyin.txt")).read_text()).text
    assert "57.6亿元" in text and "12.5亿元" in text


# --------------------------------------------------------------------------- offsets


@pytest.mark.parametrize("path", SEEDS + sorted(SEED_DIR.glob("case_*.txt")), ids=lambda p: p.name)
def test_offset_round_trip_on_seeds(path: Path) -> None:
    assert_offsets_consistent(clean_text(path.read_text(encoding="utf-8")))
    assert_offsets_consistent(clean_text(path.read_text(encoding="utf-8"), trim_boilerplate=False))


def test_span_to_source_finds_original_wording() -> None:
    clean = clean_text(seed("001"))
    i = clean.text.index("总投资662.32亿元")
    s, e = clean.span_to_source(i, i + len("总投资662.32亿元"))
    assert clean.source[s:e] == "總投資662.32億元"
    j = clean.text.index("制造业再添")
    assert clean.source_span(j, j + 5) == "制造業(yè)再添"


def test_to_source_bounds() -> None:
    clean = clean_text("  abc  ", trim_boilerplate=False)
    assert clean.text == "abc"
    assert clean.to_source(0) == 2
    assert clean.to_source(3) == 5
    assert clean.span_to_source(1, 1) == (3, 3)
    with pytest.raises(IndexError):
        clean.to_source(4)
    with pytest.raises(IndexError):
        clean.span_to_source(2, 1)
    empty = clean_text("   ")
    assert empty.text == "" and empty.to_source(0) == 3


def test_builder_composes_edits() -> None:
    b = TextBuilder("ab12cd")
    b.apply([(2, 4, "X")])  # shrink
    assert b.text == "abXcd" and (b.starts[2], b.ends[2]) == (2, 4)
    b.apply([(0, 0, ">>"), (5, 5, "<")])  # insertions
    assert b.text == ">>abXcd<"
    assert b.build().span_to_source(2, 7) == (0, 6)
    b.apply([(4, 5, "YZ")])  # grow
    assert b.text == ">>abYZcd<"
    assert b.build().span_to_source(4, 6) == (2, 4)
    with pytest.raises(ValueError):
        b.apply([(0, 3, ""), (2, 4, "")])


_ALPHABET = st.sampled_from(
    list("項目業產區總投資億元蕞头部时间引企业57。6,，、.()（）xiàngyèzh ABC\n\t\u3000Ｇ５％")
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=80).map("".join), st.booleans())
def test_offsets_property(text: str, trim: bool) -> None:
    clean = clean_text(text, trim_boilerplate=trim)
    assert_offsets_consistent(clean)
    for start in range(0, len(clean.text) + 1, 3):
        for end in range(start, len(clean.text) + 1, 5):
            s, e = clean.span_to_source(start, end)
            assert 0 <= s <= e <= len(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_clean_never_crashes(text: str) -> None:
    clean = clean_text(text)
    assert len(clean.starts) == len(clean.text)
