"""Money parsing: the model reads the span, code computes the number."""

from __future__ import annotations

import pytest

from llmx.normalize._money import (
    find_money_spans,
    parse_chinese_number,
    parse_money,
    parse_number,
    reconcile_money,
)


@pytest.mark.parametrize(
    ("span", "value", "currency", "qualifier"),
    [
        ("139亿元", 1.39e10, "CNY", "exact"),
        ("1.2万元", 12000, "CNY", "exact"),
        ("约25亿元", 2.5e9, "CNY", "approx"),
        ("超百亿元", 1e10, "CNY", "at_least"),
        ("1亿美元", 1e8, "USD", "exact"),
        ("总投资20亿元", 2e9, "CNY", "exact"),
        ("一百三十九亿元", 1.39e10, "CNY", "exact"),
        ("十二亿元", 1.2e9, "CNY", "exact"),
        ("两亿元", 2e8, "CNY", "exact"),
        ("1,200万元", 1.2e7, "CNY", "exact"),
        ("57.6亿元", 5.76e9, "CNY", "exact"),
        ("57。6億元", 5.76e9, "CNY", "exact"),
        ("5千万元", 5e7, "CNY", "exact"),
        ("300百万元", 3e8, "CNY", "exact"),
        ("2万亿元", 2e12, "CNY", "exact"),
        ("5千元", 5000, "CNY", "exact"),
        ("人民币3亿元", 3e8, "CNY", "exact"),
        ("2亿欧元", 2e8, "EUR", "exact"),
        ("10亿港元", 1e9, "HKD", "exact"),
        ("5亿港币", 5e8, "HKD", "exact"),
        ("100亿日元", 1e10, "JPY", "exact"),
        ("近30亿元", 3e9, "CNY", "approx"),
        ("大约3亿元", 3e8, "CNY", "approx"),
        ("将近3亿元", 3e8, "CNY", "approx"),
        ("3亿元左右", 3e8, "CNY", "approx"),
        ("3亿元以上", 3e8, "CNY", "at_least"),
        ("超过3亿元", 3e8, "CNY", "at_least"),
        ("逾3亿元", 3e8, "CNY", "at_least"),
        ("十余亿元", 1e9, "CNY", "at_least"),
        ("1亿多元", 1e8, "CNY", "at_least"),
        ("突破千亿元", 1e11, "CNY", "at_least"),
        ("3亿元以下", 3e8, "CNY", "at_most"),
        ("不到100万元", 1e6, "CNY", "at_most"),
        ("不超过5亿元", 5e8, "CNY", "at_most"),
        ("未满1亿元", 1e8, "CNY", "at_most"),
        ("２０亿元", 2e9, "CNY", "exact"),
    ],
)
def test_parse_money(span: str, value: float, currency: str, qualifier: str) -> None:
    parsed = parse_money(span)
    assert parsed is not None
    assert parsed.value == pytest.approx(value)
    assert parsed.currency == currency
    assert parsed.qualifier == qualifier
    assert parsed.text == span


def test_whole_units_are_exact_floats() -> None:
    parsed = parse_money("1.2万元")
    assert parsed is not None and parsed.value == 12000.0


@pytest.mark.parametrize(
    ("span", "low", "high"),
    [("10-15亿元", 1e9, 1.5e9), ("10亿至15亿元", 1e9, 1.5e9), ("10亿元到15亿元", 1e9, 1.5e9)],
)
def test_ranges_keep_low_value_and_high(span: str, low: float, high: float) -> None:
    parsed = parse_money(span)
    assert parsed is not None
    assert parsed.value == low
    assert parsed.high == high
    assert parsed.qualifier == "at_least"


def test_bare_number_without_currency_is_cny() -> None:
    parsed = parse_money("20亿")
    assert parsed is not None and parsed.value == 2e9 and parsed.currency == "CNY"


@pytest.mark.parametrize("span", ["", "   ", "项目", "亿元以上项目", "28个"])
def test_unparseable(span: str) -> None:
    assert parse_money(span) is None


def test_find_money_spans_skips_counts_and_percentages() -> None:
    text = "一月份已引进3亿元以上项目28个,同比增长21.7%;签约项目总投资达437亿元,其中超百亿元项目1个"
    spans = find_money_spans(text)
    assert [text[s:e] for s, e, _ in spans] == ["3亿元以上", "437亿元", "超百亿元"]
    assert [p.value for _, _, p in spans] == [3e8, 4.37e10, 1e10]
    assert spans[0][2].qualifier == "at_least"


def test_find_money_spans_ignores_scope_without_number() -> None:
    assert find_money_spans("新签约亿元以上项目265个") == []


def test_chinese_numbers() -> None:
    assert parse_chinese_number("一百三十九") == 139
    assert parse_chinese_number("十二") == 12
    assert parse_chinese_number("两") == 2
    assert parse_chinese_number("一万二千") == 12000
    assert parse_chinese_number("二〇二三") == 2023
    assert parse_chinese_number("一亿二千万") == 120_000_000
    assert parse_chinese_number("abc") is None
    assert parse_number("1.2万") == 12000
    assert parse_number("三十四") == 34
    assert parse_number("x") is None


def test_reconcile_corrects_and_notes() -> None:
    money, note = reconcile_money(200_000_000, "CNY", "exact", "总投资20亿元")
    assert money is not None and money.value == 2e9
    assert note == "amount value 200000000 disagreed with span '总投资20亿元' -> 2000000000"


def test_reconcile_agreeing_value_has_no_note() -> None:
    money, note = reconcile_money(2.5e9, "CNY", "exact", "约25亿元")
    assert money is not None and money.qualifier == "approx"
    assert note is None


def test_reconcile_keeps_value_without_text() -> None:
    money, note = reconcile_money(3e8, None, "weird", None)
    assert money is not None
    assert (money.value, money.currency, money.qualifier) == (3e8, "CNY", "exact")
    assert note is None


def test_reconcile_unreadable_text_keeps_model_value() -> None:
    money, _ = reconcile_money(5e8, "usd", "approx", "一笔资金")
    assert money is not None
    assert (money.value, money.currency, money.qualifier) == (5e8, "USD", "approx")


def test_reconcile_nothing() -> None:
    assert reconcile_money(None, None, None, None) == (None, None)
    money, note = reconcile_money(None, None, None, "若干")
    assert money is None and note is not None


def test_reconcile_trusts_model_currency_when_span_has_none() -> None:
    money, _ = reconcile_money(1e8, "USD", "exact", "1亿")
    assert money is not None and money.currency == "USD" and money.value == 1e8


@pytest.mark.parametrize(
    ("span", "value", "qualifier"),
    [("約25億元", 2.5e9, "approx"), ("超過3億元", 3e8, "at_least"), ("10餘億元", 1e9, "at_least")],
)
def test_traditional_spans(span: str, value: float, qualifier: str) -> None:
    parsed = parse_money(span)
    assert parsed is not None
    assert (parsed.value, parsed.qualifier, parsed.text) == (value, qualifier, span)
