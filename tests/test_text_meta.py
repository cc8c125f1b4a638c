"""Publication dates found in the page text."""

from __future__ import annotations

from datetime import date

import pytest

from llmx._text.meta import find_published
from tests.support import SEED_DIR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("发布时间:2024-04-28\n标题", date(2024, 4, 28)),
        ("日期:2023-02-07 来源:浙江日报", date(2023, 2, 7)),
        ("2021年05月18日 09:12 来源：新华网", date(2021, 5, 18)),
        ("时间：2022/7/3\n正文", date(2022, 7, 3)),
        ("来源:浙江日报 2023-02-08\n正文", date(2023, 2, 8)),
        ("發布時間：2023-08-22", date(2023, 8, 22)),
        ("标题\n2020.12.01\n正文从这里开始。", date(2020, 12, 1)),
        ("日期: 来源:浙江日报\n正文", None),
        ("2021年5月17日上午，衢州举行智造新城集中签约仪式，22个项目集中签约。", None),
        ("发布时间：2023-02-30", None),
        ("", None),
    ],
)
def test_find_published(text: str, expected: date | None) -> None:
    assert find_published(text) == expected


def test_labelled_beats_body_and_earlier_wins() -> None:
    text = "2019-01-01 08:00\n发布时间：2020-02-02\n" + "正文。" * 10
    assert find_published(text) == date(2020, 2, 2)
    assert find_published("发布时间：2020-02-02\n更新时间：2020-03-03") == date(2020, 2, 2)


def test_top_beats_bottom() -> None:
    text = "发布时间：2020-02-02\n" + "正文内容。" * 400 + "\n日期：2019-09-09"
    assert find_published(text) == date(2020, 2, 2)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("000", None),
        ("001", None),
        ("002", date(2017, 4, 12)),
        ("003", None),
        ("004", None),
        ("case_traditional_pinyin", date(2023, 8, 22)),
        ("case_related_teaser", date(2023, 6, 20)),
    ],
)
def test_seeds(prefix: str, expected: date | None) -> None:
    text = next(SEED_DIR.glob(f"{prefix}*.txt")).read_text(encoding="utf-8")
    assert find_published(text) == expected
