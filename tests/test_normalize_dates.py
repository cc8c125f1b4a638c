"""Dates and periods resolved against the publication date."""

from __future__ import annotations

from datetime import date

import pytest

from llmx.normalize._dates import date_supported, resolve_date, resolve_period

PUB = date(2023, 2, 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020年2月21日", "2020-02-21"),
        ("2021年5月", "2021-05"),
        ("2021年", "2021"),
        ("6日", "2023-02-06"),
        ("6号", "2023-02-06"),
        ("5月17日", "2023-05-17"),
        ("1月中旬", "2023-01"),
        ("去年", "2022"),
        ("今年", "2023"),
        ("去年5月", "2022-05"),
        ("2023-2-7", "2023-02-07"),
        ("2023-02-07", "2023-02-07"),
        ("2023/2/7", "2023-02-07"),
        ("2023-05", "2023-05"),
        ("2021", "2021"),
        ("二〇二一年五月", "2021-05"),
        ("今年一季度", "2023"),
        ("近日", None),
        ("日前", None),
        ("", None),
        ("2023年2月30日", None),
    ],
)
def test_resolve_date(text: str, expected: str | None) -> None:
    assert resolve_date(text, PUB) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2020年2月21日", "2020-02-21"), ("2023-2-7", "2023-02-07"), ("6日", None), ("去年", None)],
)
def test_resolve_date_without_published_never_guesses(text: str, expected: str | None) -> None:
    assert resolve_date(text, None) == expected


@pytest.mark.parametrize(
    ("text", "published", "expected"),
    [
        ("一月份", PUB, "2023-01"),
        ("1月", PUB, "2023-01"),
        ("一季度", date(2023, 4, 12), "2023-Q1"),
        ("第一季度", date(2023, 4, 12), "2023-Q1"),
        ("今年一季度", date(2023, 4, 12), "2023-Q1"),
        ("头部季度", date(2023, 4, 12), "2023-Q1"),
        ("上半年", date(2023, 7, 12), "2023-H1"),
        ("下半年", date(2023, 7, 12), "2023-H2"),
        ("1至9月", date(2024, 10, 20), "2024-01/2024-09"),
        ("1-9月", date(2024, 10, 20), "2024-01/2024-09"),
        ("前三季度", date(2024, 10, 20), "2024-01/2024-09"),
        ("1-11月份", date(2024, 12, 1), "2024-01/2024-11"),
        ("2023年1-9月", None, "2023-01/2023-09"),
        ("全年", PUB, "2023"),
        ("去年", PUB, "2022"),
        ("去年全年", PUB, "2022"),
        ("2021-05-17", None, "2021-05-17"),
        ("5月17日", date(2021, 5, 18), "2021-05-17"),
        ("2023-Q1", None, "2023-Q1"),
        ("2023-q2", None, "2023-Q2"),
        ("2023-H1", None, "2023-H1"),
        ("2024-1/2024-9", None, "2024-01/2024-09"),
        ("2023年上半年", None, "2023-H1"),
        ("2023", None, "2023"),
        ("一季度", None, None),
        ("近期", PUB, None),
        ("9-1月", PUB, None),
    ],
)
def test_resolve_period(text: str, published: date | None, expected: str | None) -> None:
    assert resolve_period(text, published) == expected


@pytest.mark.parametrize(
    ("value", "text", "published", "expected"),
    [
        ("2021-05-17", "5月17日上午，智造新城2021年上半年项目集中签约", None, True),
        ("2021-05-18", "5月17日上午，智造新城2021年上半年项目集中签约", None, False),
        ("2023-01", "一月份已引进3亿元以上项目28个", None, False),
        ("2023-01", "一月份已引进3亿元以上项目28个", date(2023, 2, 7), True),
        ("2023-02-06", "6日，500多人的招商特战队启程", date(2023, 2, 7), True),
        ("2024-01/2024-09", "今年1至9月，全市签约项目", date(2024, 10, 1), True),
        ("2024-01/2024-09", "前三季度，全市签约项目", date(2024, 10, 1), True),
        ("2024-01/2024-11", "今年1至9月，全市签约项目", date(2024, 12, 1), False),
        ("2023-Q1", "今年一季度，全市签约项目", date(2023, 4, 1), True),
        ("2023-H1", "今年一季度，全市签约项目", date(2023, 4, 1), False),
        ("2017", "2017年全市签约项目", None, True),
        ("not a date", "2017年", None, False),
    ],
)
def test_date_supported(value: str, text: str, published: date | None, expected: bool) -> None:
    assert date_supported(value, text, published) is expected
