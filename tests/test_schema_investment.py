"""The investment schema's validators fix model output and never fail on messy input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from llmx.normalize import DocumentContext
from schemas.investment import InvestmentNews, Location, Money, Project, Stat
from tests.support import SEED_DIR

SEED_000 = next(SEED_DIR.glob("000_*.txt"))


@pytest.fixture
def ctx() -> DocumentContext:
    return DocumentContext(text=SEED_000.read_text(encoding="utf-8"), published=date(2023, 2, 7))


def _project(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "卫蓝新能源固态电池项目", "evidence": "证据"}
    base.update(kw)
    return base


def _stat(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"region": "湖州", "scope": "引进3亿元以上项目", "evidence": "证据"}
    base.update(kw)
    return base


def test_amount_recomputed_from_span_and_noted(ctx: DocumentContext) -> None:
    data = _project(amount={"value": 200_000_000, "currency": "CNY", "text": "总投资20亿元"})
    project = Project.model_validate(data, context={"llmx": ctx})
    assert project.amount is not None
    assert project.amount.value == 2e9
    assert any("disagreed with span '总投资20亿元' -> 2000000000" in n for n in ctx.notes)


def test_amount_fields_from_span() -> None:
    money = Money.model_validate({"value": 1, "currency": "CNY", "text": "1亿美元"})
    assert (money.value, money.currency) == (1e8, "USD")
    money = Money.model_validate({"value": 1, "qualifier": "exact", "text": "超百亿元"})
    assert (money.value, money.qualifier) == (1e10, "at_least")
    money = Money.model_validate({"value": "25亿元", "text": "约25亿元"})
    assert (money.value, money.qualifier) == (2.5e9, "approx")


def test_amount_without_text_keeps_value() -> None:
    project = Project.model_validate(_project(amount={"value": 3e8, "qualifier": "about"}))
    assert project.amount is not None
    assert (project.amount.value, project.amount.qualifier) == (3e8, "exact")


def test_amount_as_string_or_garbage() -> None:
    assert Project.model_validate(_project(amount="总投资1.2亿元")).amount == Money(
        value=1.2e8, currency="CNY", qualifier="exact", text="总投资1.2亿元"
    )
    assert Project.model_validate(_project(amount={"text": "若干"})).amount is None
    assert Project.model_validate(_project(amount=[1, 2])).amount is None


def test_qualifier_cut_off_by_model_is_recovered(ctx: DocumentContext) -> None:
    ctx.text = "还有总投资约25亿元的新材料项目"
    project = Project.model_validate(
        _project(amount={"value": 2.5e9, "text": "25亿元"}), context={"llmx": ctx}
    )
    assert project.amount is not None and project.amount.qualifier == "approx"


def test_annual_output_is_not_an_amount(ctx: DocumentContext) -> None:
    project = Project.model_validate(
        _project(amount={"value": 2e10, "text": "年产值达200亿元"}), context={"llmx": ctx}
    )
    assert project.amount is None
    assert any("not investment" in n for n in ctx.notes)
    # the output word may be just before the span in the document
    ctx.text = "合众新能源投产后年产值达200亿元。"
    project = Project.model_validate(
        _project(amount={"value": 2e10, "text": "200亿元"}), context={"llmx": ctx}
    )
    assert project.amount is None
    kept = Project.model_validate(_project(amount={"text": "投资20亿元,年产值50亿元"}))
    assert kept.amount is not None and kept.amount.value == 2e9


def test_dates_resolved_against_published(ctx: DocumentContext) -> None:
    p = Project.model_validate(_project(date="6日"), context={"llmx": ctx})
    assert p.date == "2023-02-06"
    assert Project.model_validate(_project(date="2020年2月21日")).date == "2020-02-21"
    assert Project.model_validate(_project(date="6日")).date is None
    assert Project.model_validate(_project(date="近日")).date is None


def test_period_resolved() -> None:
    ctx = DocumentContext(text="今年一季度，全市新签约项目3个。", published=date(2023, 4, 12))
    stat = Stat.model_validate(_stat(project_count=3, period="今年一季度"), context={"llmx": ctx})
    assert stat.period == "2023-Q1"
    ctx = DocumentContext(text="今年1至9月，全市新签约项目3个。", published=date(2024, 10, 20))
    stat = Stat.model_validate(_stat(project_count=3, period="1至9月"), context={"llmx": ctx})
    assert stat.period == "2024-01/2024-09"


def test_dates_the_story_does_not_back_are_dropped() -> None:
    text = "5月17日上午，衢州举行智造新城2021年上半年招商引资项目集中签约仪式，22个项目集中签约。"
    ctx = DocumentContext(text=text, published=None)
    good = Project.model_validate(_project(date="2021-05-17"), context={"llmx": ctx})
    assert good.date == "2021-05-17"
    copied = Project.model_validate(_project(date="2022-08-08"), context={"llmx": ctx})
    assert copied.date is None
    assert any("not backed by the story" in n for n in ctx.notes)
    # a period whose year appears nowhere and cannot come from a publication date
    stat = Stat.model_validate(_stat(project_count=22, period="2023-01"), context={"llmx": ctx})
    assert stat.period is None
    # without a context nothing can be checked, so nothing is dropped
    assert Project.model_validate(_project(date="2022-08-08")).date == "2022-08-08"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("21.7%", 21.7),
        ("-3", -3.0),
        ("下降3%", -3.0),
        ("增长156%", 156.0),
        (12, 12.0),
        ("n/a", None),
    ],
)
def test_yoy_pct(raw: object, expected: float | None) -> None:
    assert Stat.model_validate(_stat(project_count=1, yoy_pct=raw)).yoy_pct == expected


def test_project_count_strings() -> None:
    assert Stat.model_validate(_stat(project_count="28个")).project_count == 28
    assert Stat.model_validate(_stat(project_count="三十四个", amount="1亿元")).project_count == 34


def test_location_uses_home(ctx: DocumentContext) -> None:
    project = Project.model_validate(
        _project(location={"city": "南太湖新区"}), context={"llmx": ctx}
    )
    assert project.location == Location(province="浙江省", city="湖州市", park="南太湖新区")
    missing = Project.model_validate(_project(), context={"llmx": ctx})
    assert (missing.location.province, missing.location.city) == ("浙江省", "湖州市")
    none = Project.model_validate(_project(location=None))
    assert none.location == Location()


def test_names_simplified_and_stage_mapped() -> None:
    project = Project.model_validate(
        _project(name="衛藍新能源固態電池項目", investor="衛藍", stage="竣工投产")
    )
    assert project.name == "卫蓝新能源固态电池项目"
    assert project.investor == "卫蓝"
    assert project.stage == "in_production"
    assert Project.model_validate(_project(stage="签约")).stage == "signed"
    assert Project.model_validate(_project(stage="加紧建设")).stage == "under_construction"
    assert Project.model_validate(_project(stage="???")).stage is None


def test_region_gets_official_name() -> None:
    assert Stat.model_validate(_stat(project_count=1)).region == "湖州市"
    assert Stat.model_validate(_stat(project_count=1, region="宿州经开区")).region == "宿州经开区"


def test_stat_without_count_or_amount_dropped(ctx: DocumentContext) -> None:
    data = {
        "projects": None,
        "stats": [
            _stat(project_count=28, yoy_pct="21.7%"),
            _stat(scope="八大新兴产业链项目占比", yoy_pct="60"),
        ],
    }
    news = InvestmentNews.model_validate(data, context={"llmx": ctx})
    assert [s.scope for s in news.stats] == ["引进3亿元以上项目"]
    assert news.projects == []
    assert any("neither project_count nor amount" in n for n in ctx.notes)


def test_plain_validation_without_context() -> None:
    data = {
        "projects": [
            _project(
                amount={"value": "abc", "currency": None, "qualifier": None, "text": "139亿元"},
                location={"province": "浙江", "city": "湖州", "district": "", "park": ""},
                date="2023-2-7",
            )
        ],
        "stats": [_stat(amount={"text": "437亿元"}, period="2023年1月")],
    }
    news = InvestmentNews.model_validate(data)
    p = news.projects[0]
    assert p.amount is not None and p.amount.value == 1.39e10
    assert (p.location.province, p.location.city, p.location.park) == ("浙江省", "湖州市", None)
    assert p.date == "2023-02-07"
    assert news.stats[0].period == "2023-01"


def test_json_shape_is_the_contract() -> None:
    schema = InvestmentNews.model_json_schema()
    assert set(schema["properties"]) == {"projects", "stats"}
    defs = schema["$defs"]
    assert set(defs["Project"]["properties"]) == {
        "name",
        "investor",
        "amount",
        "location",
        "industry",
        "stage",
        "date",
        "evidence",
    }
    assert set(defs["Stat"]["properties"]) == {
        "region",
        "period",
        "scope",
        "project_count",
        "amount",
        "yoy_pct",
        "evidence",
    }
    assert set(defs["Money"]["properties"]) == {"value", "currency", "qualifier", "text"}
    assert set(defs["Location"]["properties"]) == {"province", "city", "district", "park"}
    dumped = InvestmentNews.model_validate({"projects": [_project()]}).model_dump(mode="json")
    assert set(dumped["projects"][0]["location"]) == {"province", "city", "district", "park"}
