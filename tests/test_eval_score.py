"""The eval scorer on a tiny schema: hand-computed cases and properties."""

from __future__ import annotations

import copy
import importlib
import random
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from llmx.evals import Counts, ScoreConfig, score_document
from llmx.evals._compare import date_match, normalize_date, normalize_text, text_match
from llmx.evals._pairing import record_similarity
from llmx.evals._specs import schema_spec
from llmx.fields import Compare, Evidence, MatchKey

REPO = Path(__file__).resolve().parents[1]


class Money(BaseModel):
    value: float
    currency: str = "CNY"
    qualifier: Literal["exact", "approx", "at_least", "at_most"] = "exact"
    text: str = ""


class Item(BaseModel):
    name: Annotated[str, MatchKey()]
    amount: Money | None = None
    date: Annotated[str | None, Compare("date")] = None
    kind: Literal["a", "b"] | None = None
    count: int | None = None
    share: Annotated[float | None, Compare("percent")] = None
    evidence: Annotated[str, Evidence()] = ""


class Doc(BaseModel):
    title: str | None = None
    items: list[Item] = []


def score(gold: dict[str, Any], pred: Any, **cfg: Any) -> Any:
    return score_document(Doc, gold, pred, doc_id="d", config=ScoreConfig(**cfg))


def c(doc: Any, name: str) -> Counts:
    counts: Counts = doc.fields.get(name, Counts())
    return counts


GOLD: dict[str, Any] = {
    "title": "Hello",
    "items": [
        {
            "name": "卫蓝新能源项目",
            "amount": {"value": 100.0, "currency": "CNY", "qualifier": "exact"},
            "date": "2023-02",
            "kind": "a",
            "count": 3,
            "evidence": "gold quote",
        },
        {"name": "北京新材料产业园", "count": 5},
    ],
}


def test_hand_computed_case() -> None:
    pred = {
        "title": None,
        "items": [
            {"name": "上海芯片工厂", "count": 1, "evidence": "other"},
            {
                "name": "衛藍新能源項目",
                "amount": {"value": 100.5, "currency": "CNY", "qualifier": "exact"},
                "date": "2023-02-06",
                "kind": "b",
                "count": 3,
                "evidence": "a different quote",
            },
        ],
    }
    doc = score(GOLD, pred)
    # pair A: name, amount.value, amount.qualifier, date, count TP; kind wrong (FP+FN)
    # gold B unpaired: name, count FN; pred C unpaired: name, count FP; title missed: FN
    assert doc.counts == Counts(tp=5, fp=3, fn=4)
    assert c(doc, "items.name") == Counts(1, 1, 1)
    assert c(doc, "items.amount.value") == Counts(1, 0, 0)
    assert c(doc, "items.amount.qualifier") == Counts(1, 0, 0)
    assert c(doc, "items.kind") == Counts(0, 1, 1)
    assert c(doc, "items.count") == Counts(1, 1, 1)
    assert c(doc, "title") == Counts(0, 0, 1)
    assert "items.evidence" not in doc.fields
    assert doc.lists["items"] == Counts(5, 3, 3)
    assert doc.lists["$root"] == Counts(0, 0, 1)
    rc = doc.records["items"]
    assert (rc.gold, rc.pred, rc.paired, rc.unpaired_gold, rc.unpaired_pred) == (2, 2, 1, 1, 1)
    assert doc.counts.precision == pytest.approx(5 / 8)
    assert doc.counts.recall == pytest.approx(5 / 9)
    wrong = [d for d in doc.diffs if d.outcome == "wrong"]
    assert [(d.field, d.gold, d.pred) for d in wrong] == [("items.kind", "a", "b")]
    assert wrong[0].gold_evidence == "gold quote"
    assert wrong[0].pred_evidence == "a different quote"


def test_perfect_prediction() -> None:
    doc = score(GOLD, copy.deepcopy(GOLD))
    assert doc.counts.fp == 0 and doc.counts.fn == 0
    assert doc.counts.precision == doc.counts.recall == doc.counts.f1 == 1.0
    assert not doc.diffs


@pytest.mark.parametrize("pred", [None, {}, {"items": []}])
def test_empty_prediction_has_zero_recall(pred: Any) -> None:
    doc = score(GOLD, pred)
    assert doc.counts.tp == 0 and doc.counts.fp == 0
    assert doc.counts.recall == 0.0
    assert doc.counts.f1 == 0.0
    assert all(d.outcome == "missed" for d in doc.diffs)


def test_empty_gold_and_empty_prediction_is_perfect() -> None:
    doc = score({"items": []}, {"items": []})
    assert doc.counts == Counts()
    assert doc.counts.f1 == 1.0


def test_shuffling_records_changes_nothing() -> None:
    gold = {
        "items": [
            {"name": f"项目{i}号工厂{chr(0x4E00 + i * 7)}", "count": i, "kind": "a"}
            for i in range(6)
        ]
    }
    pred = copy.deepcopy(gold)
    pred["items"][2]["count"] = 99
    pred["items"][4]["kind"] = "b"
    del pred["items"][5]
    pred["items"].append({"name": "完全无关的记录", "count": 1})
    base = score(gold, pred)
    rng = random.Random(7)
    for _ in range(5):
        g, p = copy.deepcopy(gold), copy.deepcopy(pred)
        rng.shuffle(g["items"])
        rng.shuffle(p["items"])
        doc = score(g, p)
        assert doc.fields == base.fields
        assert doc.records == base.records


def test_wrong_value_is_fp_and_fn() -> None:
    gold = {"items": [{"name": "甲项目", "count": 3}]}
    doc = score(gold, {"items": [{"name": "甲项目", "count": 4}]})
    assert c(doc, "items.count") == Counts(0, 1, 1)


def test_value_where_gold_null_is_fp_and_null_where_gold_has_value_is_fn() -> None:
    gold = {"items": [{"name": "甲项目", "count": None, "kind": "a"}]}
    doc = score(gold, {"items": [{"name": "甲项目", "count": 4}]})
    assert c(doc, "items.count") == Counts(0, 1, 0)
    assert c(doc, "items.kind") == Counts(0, 0, 1)


def test_field_left_out_of_gold_is_not_scored() -> None:
    gold = {"items": [{"name": "甲项目"}]}
    doc = score(gold, {"items": [{"name": "甲项目", "count": 4, "kind": "b"}]})
    assert doc.counts == Counts(1, 0, 0)
    assert set(doc.fields) == {"items.name"}


@pytest.mark.parametrize("pred_count", [3, 4])
def test_any_of_accepts_each_alternative(pred_count: int) -> None:
    gold = {"items": [{"name": "甲项目", "count": {"$any_of": [3, 4]}}]}
    doc = score(gold, {"items": [{"name": "甲项目", "count": pred_count}]})
    assert c(doc, "items.count") == Counts(1, 0, 0)


def test_any_of_with_null() -> None:
    gold = {"items": [{"name": "甲项目", "count": {"$any_of": [3, None]}}]}
    assert c(score(gold, {"items": [{"name": "甲项目"}]}), "items.count") == Counts()
    assert c(score(gold, {"items": [{"name": "甲项目", "count": 3}]}), "items.count") == Counts(
        1, 0, 0
    )
    # a wrong value against [3, null]: the charitable reading (gold null) costs one FP
    assert c(score(gold, {"items": [{"name": "甲项目", "count": 9}]}), "items.count") == Counts(
        0, 1, 0
    )
    strict = {"items": [{"name": "甲项目", "count": {"$any_of": [3, 4]}}]}
    assert c(score(strict, {"items": [{"name": "甲项目"}]}), "items.count") == Counts(0, 0, 1)


def test_any_of_on_nested_model() -> None:
    gold = {
        "items": [
            {
                "name": "甲项目",
                "amount": {"$any_of": [{"value": 10, "qualifier": "exact"}, None]},
            }
        ]
    }
    assert score(gold, {"items": [{"name": "甲项目"}]}).counts == Counts(1, 0, 0)
    pred = {"items": [{"name": "甲项目", "amount": {"value": 10, "qualifier": "exact"}}]}
    assert score(gold, pred).counts == Counts(3, 0, 0)


def test_optional_gold_item() -> None:
    gold = {
        "items": [
            {"name": "甲项目", "count": 1},
            {"name": "乙号仓储基地", "count": 2, "$optional": True},
        ]
    }
    unpaired = score(gold, {"items": [{"name": "甲项目", "count": 1}]})
    assert unpaired.counts == Counts(2, 0, 0)
    assert unpaired.records["items"].optional_unpaired == 1
    assert unpaired.records["items"].unpaired_gold == 0
    paired = score(
        gold, {"items": [{"name": "甲项目", "count": 1}, {"name": "乙号仓储基地", "count": 3}]}
    )
    assert paired.counts == Counts(3, 1, 1)


def test_unpaired_records_count_all_filled_fields() -> None:
    gold = {"items": [{"name": "甲项目", "count": 1, "kind": None}]}
    pred = {
        "items": [
            {"name": "完全不同的东西", "amount": {"value": 5, "qualifier": "exact"}, "kind": "a"}
        ]
    }
    doc = score(gold, pred)
    # gold: name, count FN (kind is null); pred: name, amount.value, amount.qualifier, kind FP
    assert doc.counts == Counts(0, 4, 2)
    assert doc.records["items"].paired == 0


def test_pair_threshold_is_configurable() -> None:
    gold = {"items": [{"name": "甲乙丙丁戊", "count": 1}]}
    pred = {"items": [{"name": "甲乙庚辛壬", "count": 1}]}
    assert score(gold, pred).records["items"].paired == 1
    assert score(gold, pred, pair_threshold=0.9).records["items"].paired == 0


def test_other_fields_decide_between_similar_names() -> None:
    gold = {
        "items": [
            {"name": "新签约项目", "count": 12, "amount": {"value": 80}},
            {"name": "新签约项目", "count": 30, "amount": {"value": 100}},
        ]
    }
    pred = {
        "items": [
            {"name": "新签约项目", "count": 30, "amount": {"value": 100}},
            {"name": "新签约项目", "count": 12, "amount": {"value": 80}},
        ]
    }
    doc = score(gold, pred)
    assert doc.counts.fp == 0 and doc.counts.fn == 0
    spec = schema_spec(Doc).fields["items"]
    item_spec = spec.item  # type: ignore[union-attr]
    same = record_similarity(item_spec, gold["items"][0], pred["items"][1], ScoreConfig())  # type: ignore[arg-type]
    other = record_similarity(item_spec, gold["items"][0], pred["items"][0], ScoreConfig())  # type: ignore[arg-type]
    assert same > other


def test_date_precision_rules() -> None:
    assert date_match("2023-02", "2023-02-06")
    assert date_match("2023", "2023-02-06")
    assert not date_match("2023-02-06", "2023-02")
    assert not date_match("2023-02-06", "2023-02-07")
    assert date_match("2023-2-6", "2023-02-06")
    assert date_match("2024-01/2024-09", "2024-1/2024-9")
    assert not date_match("2024-01/2024-09", "2024-01/2024-10")
    assert date_match("2023-Q1", "2023q1")
    assert not date_match("2023-Q1", "2023-01")
    assert normalize_date("2024-01至2024-09") == "2024-01/2024-09"
    gold = {"items": [{"name": "甲项目", "date": "2023-02-06"}]}
    assert c(score(gold, {"items": [{"name": "甲项目", "date": "2023-02"}]}), "items.date") == (
        Counts(0, 1, 1)
    )


def test_traditional_and_simplified_names_match() -> None:
    assert normalize_text("衛藍新能源 項目，") == "卫蓝新能源项目"
    assert text_match("卫蓝新能源项目", "衛藍新能源項目")
    assert text_match("湖州市", "湖州")  # contained
    assert not text_match("湖州市", "杭州市萧山区")
    gold = {"items": [{"name": "卫蓝新能源项目", "count": 1}]}
    doc = score(gold, {"items": [{"name": "衛藍新能源項目", "count": 1}]})
    assert doc.counts == Counts(2, 0, 0)


def test_numbers_money_and_percent() -> None:
    def amount(v: float, cur: str = "CNY") -> dict[str, Any]:
        return {"items": [{"name": "甲项目", "amount": {"value": v, "currency": cur}}]}

    gold = amount(1e9)
    assert c(score(gold, amount(1.009e9)), "items.amount.value") == Counts(1, 0, 0)
    assert c(score(gold, amount(1.02e9)), "items.amount.value") == Counts(0, 1, 1)
    assert c(score(gold, amount(1e9, "USD")), "items.amount.value") == Counts(0, 1, 1)
    # a gold money without currency means the model's default (CNY)
    no_cur = {"items": [{"name": "甲项目", "amount": {"value": 1e9}}]}
    assert c(score(no_cur, amount(1e9)), "items.amount.value") == Counts(1, 0, 0)

    def share(v: float) -> dict[str, Any]:
        return {"items": [{"name": "甲项目", "share": v}]}

    assert c(score(share(21.7), share(21.74)), "items.share") == Counts(1, 0, 0)
    assert c(score(share(21.7), share(21.8)), "items.share") == Counts(0, 1, 1)


def test_prediction_as_model() -> None:
    pred = Doc(title="Hello", items=[Item(name="甲项目", count=2)])
    doc = score({"title": "hello", "items": [{"name": "甲项目", "count": 2}]}, pred)
    assert doc.counts == Counts(3, 0, 0)


def _investment_schema() -> type[BaseModel]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    module = importlib.import_module("schemas.investment")
    schema: type[BaseModel] = module.InvestmentNews
    return schema


def test_investment_schema() -> None:
    schema = _investment_schema()
    gold = {
        "projects": [
            {
                "name": "卫蓝新能源固态电池项目",
                "investor": "卫蓝新能源",
                "amount": {"value": 2.5e9, "currency": "CNY", "qualifier": "approx"},
                "location": {"province": "浙江省", "city": "湖州市", "district": "吴兴区"},
                "industry": "固态电池",
                "stage": "signed",
                "date": "2023-02-06",
                "evidence": "卫蓝新能源固态电池项目签约,总投资约25亿元",
            }
        ],
        "stats": [
            {
                "region": "湖州市",
                "period": "2023-01",
                "scope": "引进3亿元以上项目",
                "project_count": 28,
                "yoy_pct": 21.7,
                "evidence": "一月份已引进3亿元以上项目28个,同比增长21.7%",
            },
            {
                "region": "湖州市",
                "period": "2023-01",
                "scope": "签约项目",
                "amount": {"value": 5.76e10, "currency": "CNY", "qualifier": "exact"},
                "evidence": "签约项目总投资576亿元",
            },
        ],
    }
    pred = {
        "projects": [
            {
                "name": "衛藍新能源固態電池項目",
                "investor": "卫蓝新能源",
                "amount": {
                    "value": 2.5e9,
                    "currency": "CNY",
                    "qualifier": "exact",
                    "text": "25亿元",
                },
                "location": {"province": "浙江省", "city": "湖州市"},
                "industry": "固态电池",
                "stage": "signed",
                "date": "2023-02",
                "evidence": "x",
            },
            {"name": "南太湖新区生物医药产业园", "stage": "signed", "evidence": "y"},
        ],
        "stats": [
            {
                "region": "湖州",
                "period": "2023-01",
                "scope": "签约项目",
                "amount": {"value": 5.76e10, "qualifier": "exact", "text": "576亿元"},
                "evidence": "z",
            },
            {
                "region": "湖州市",
                "period": "2023-01",
                "scope": "3亿元以上项目",
                "project_count": 28,
                "yoy_pct": 21.7,
                "evidence": "w",
            },
        ],
    }
    doc = score_document(schema, gold, pred, doc_id="inv")
    f = doc.fields
    assert f["projects.name"] == Counts(1, 1, 0)
    assert f["projects.stage"] == Counts(1, 1, 0)
    assert f["projects.amount.value"] == Counts(1, 0, 0)
    assert f["projects.amount.qualifier"] == Counts(0, 1, 1)
    assert f["projects.location.district"] == Counts(0, 0, 1)
    assert f["projects.date"] == Counts(0, 1, 1)  # gold day precision, pred month
    assert f["stats.scope"] == Counts(2, 0, 0)
    assert f["stats.amount.value"] == Counts(1, 0, 0)
    assert f["stats.project_count"] == Counts(1, 0, 0)
    assert "projects.evidence" not in f and "projects.amount.text" not in f
    assert "projects.amount.currency" not in f
    assert doc.records["stats"].paired == 2
    assert doc.lists["stats"].f1 == 1.0
    perfect = score_document(schema, gold, copy.deepcopy(gold), doc_id="inv")
    assert perfect.counts.f1 == 1.0


class Tagged(BaseModel):
    title: str | None = None
    tags: list[str] = []
    extra: dict[str, Any] | None = None


def test_scalar_lists_are_multisets_and_root_fields_form_one_record() -> None:
    gold = {"title": "標題", "tags": ["甲", "乙", {"$any_of": ["丙", "丁"]}], "extra": {"a": 1}}
    pred = {"title": "标题", "tags": ["丁", "甲", "戊"], "extra": {"a": 1}}
    doc = score_document(Tagged, gold, pred)
    assert doc.fields["title"] == Counts(1, 0, 0)
    assert doc.fields["tags"] == Counts(2, 1, 1)
    assert doc.fields["extra"] == Counts(1, 0, 0)
    assert set(doc.lists) == {"$root"}
