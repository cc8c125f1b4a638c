"""Merging per-chunk records and deduplicating items, for any schema."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from llmx._merge import dedupe_items, merge_records, name_similarity
from llmx._names import rules_for
from llmx.fields import MatchKey
from schemas.investment import InvestmentNews, Project, Stat


def _p(name: str, **kw: Any) -> Project:
    data: dict[str, Any] = {"name": name, "evidence": f"证据:{name}"}
    data.update(kw)
    return Project.model_validate(data)


def _s(scope: str, **kw: Any) -> Stat:
    data: dict[str, Any] = {"region": "湖州市", "scope": scope, "evidence": f"证据:{scope}"}
    data.update(kw)
    return Stat.model_validate(data)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("卫蓝新能源固态电池项目", "卫蓝固态电池项目"),
        ("卫蓝新能源固态电池项目", "衛藍新能源固態電池項目"),
        ("耀海生物医药和医美材料制造基地项目", "耀海生物医药和医美材料制造基地"),
    ],
)
def test_same_name_variants_are_similar(a: str, b: str) -> None:
    assert name_similarity(a, b, rules_for(Project)) >= 0.85


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("华友新材料项目", "华谊新材料项目"),
        ("XX新材料项目", "YY新材料项目"),
        ("新材料项目", "拓烯高端光学新材料项目"),
        ("蓝固锂电", "南木纳米"),
        ("新能源汽车项目", "新能源电池项目"),
    ],
)
def test_shared_generic_suffix_is_not_similar(a: str, b: str) -> None:
    assert name_similarity(a, b, rules_for(Project)) < 0.7


def test_seed_001_one_project_three_names() -> None:
    items = [
        _p("宁波拓烯COC新材料项目", stage="signed"),
        _p("拓烯高端光学新材料项目", amount={"text": "总投资约10.8亿元"}, stage="signed"),
        _p("宁波拓烯高端光学树脂材料项目"),
        _p("新材料项目", amount={"text": "总投资约25亿元"}),
        _p("一道新能源5GW太阳能电池和3GW组件项目", amount={"text": "总投资约22亿元"}),
    ]
    merged = dedupe_items(items)
    assert len(merged) == 3
    tuoxi = merged[0]
    assert tuoxi.name == "拓烯高端光学新材料项目"  # the most complete item
    assert tuoxi.amount is not None and tuoxi.amount.value == pytest.approx(1.08e9)
    assert tuoxi.evidence == "证据:宁波拓烯COC新材料项目"  # evidence of the first
    assert merged[1].name == "新材料项目"


def test_amounts_that_differ_block_merging() -> None:
    items = [
        _p("卫蓝新能源固态电池项目", amount={"text": "139亿元"}),
        _p("卫蓝固态电池项目", amount={"text": "10亿元"}),
    ]
    assert len(dedupe_items(items)) == 2
    same = [
        _p("卫蓝新能源固态电池项目", amount={"text": "139亿元"}),
        _p("卫蓝固态电池项目", amount={"text": "总投资139亿元"}, industry="固态电池"),
    ]
    (one,) = dedupe_items(same)
    assert one.industry == "固态电池"


def test_phases_and_weak_matches_with_conflicts_stay_apart() -> None:
    items = [
        _p("天合光能淮安基地一期项目", stage="in_production"),
        _p("天合光能淮安基地二期项目", stage="under_construction"),
        _p("天合光能新一代高效光伏电池生产项目", stage="signed"),
    ]
    assert len(dedupe_items(items)) == 3


def test_fill_missing_fields_and_nested_location() -> None:
    items = [
        _p("卫蓝新能源固态电池项目", location={"park": "南太湖新区"}, stage="signed"),
        _p(
            "卫蓝固态电池项目",
            investor="卫蓝新能源",
            amount={"text": "139亿元"},
            location={"province": "浙江", "city": "湖州"},
        ),
    ]
    (one,) = dedupe_items(items)
    assert one.investor == "卫蓝新能源"
    assert one.stage == "signed"
    assert (one.location.province, one.location.city) == ("浙江省", "湖州市")
    assert one.evidence == "证据:卫蓝新能源固态电池项目"


def test_stats_with_different_counts_or_scopes_stay_apart() -> None:
    items = [
        _s("引进3亿元以上项目", project_count=28, period="2023-01"),
        _s("引进3亿元以上项目", project_count=28, period="2023-01", yoy_pct=21.7),
        _s("引进3亿元以上项目", project_count=100, period="2023-Q1"),
        _s("签约项目总投资", amount={"text": "437亿元"}),
    ]
    merged = dedupe_items(items)
    assert len(merged) == 3
    assert merged[0].yoy_pct == 21.7


def test_merge_records_across_chunks() -> None:
    r1 = InvestmentNews(
        projects=[_p("卫蓝新能源固态电池项目")], stats=[_s("x项目", project_count=1)]
    )
    r2 = InvestmentNews(
        projects=[_p("卫蓝固态电池项目", amount={"text": "139亿元"}), _p("南木纳米项目")],
        stats=[],
    )
    merged = merge_records([r1, r2])
    assert isinstance(merged, InvestmentNews)
    # fields come from the most complete item (the one with the amount)
    assert [p.name for p in merged.projects] == ["卫蓝固态电池项目", "南木纳米项目"]
    assert merged.projects[0].evidence == "证据:卫蓝新能源固态电池项目"
    assert merged.projects[0].amount is not None
    assert len(merged.stats) == 1
    assert merge_records([r1]) == r1


def test_merge_records_generic_schema() -> None:
    class Item(BaseModel):
        title: Annotated[str, MatchKey()]
        count: int | None = None
        note: str | None = None

    class Doc(BaseModel):
        source: str | None = None
        items: list[Item] = []
        tags: list[str] = []

    merged = merge_records(
        [
            Doc(items=[Item(title="阿尔法科技园", count=3)], tags=["a"]),
            Doc(source="b", items=[Item(title="阿尔法科技园", note="n"), Item(title="贝塔")]),
        ]
    )
    assert merged.source == "b"
    assert merged.items == [Item(title="阿尔法科技园", count=3, note="n"), Item(title="贝塔")]
    assert merged.tags == ["a"]


def test_merge_records_empty() -> None:
    with pytest.raises(ValueError):
        merge_records([])
