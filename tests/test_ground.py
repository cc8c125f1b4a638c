"""Grounding evidence quotes and key values in the original document."""

from __future__ import annotations

import gc
from typing import Annotated

from pydantic import BaseModel

from llmx._ground import (
    GroundIndex,
    Located,
    contains_value,
    ground_record,
    locate,
    normalize_for_match,
)
from llmx._text.clean import clean_text
from llmx.fields import Evidence, MatchKey
from tests.support import SEED_DIR


def seed(prefix: str) -> str:
    return next(SEED_DIR.glob(f"{prefix}*.txt")).read_text(encoding="utf-8")


def at(src: str, r: Located) -> str:
    assert r.start is not None and r.end is not None
    return src[r.start : r.end]


def test_normalize_for_match() -> None:
    assert normalize_for_match("總投資 約25億元，") == "总投资约25亿元"
    assert normalize_for_match("業(yè)") == "业"
    assert normalize_for_match("５７。６ＧＷ") == "57.6gw"
    assert normalize_for_match("“。，”") == ""


def test_exact_quote_in_simplified() -> None:
    clean = clean_text(seed("001"))
    quote = "5月17日上午,衢州举行智造新城2021年上半年招商引资项目集中签约仪式"
    r = locate(quote, clean)
    assert r.status == "exact" and r.score == 1.0
    assert at(clean.source, r) == "5月17日上午,衢州舉行智造新城2021年上半年招商引資項目集中簽約儀式"


def test_exact_quote_verbatim_with_pinyin() -> None:
    clean = clean_text(seed("001"))
    quote = "智造新城按照湯飛帆市長提出的“前端抓‘產(chǎn)業(yè)研究+主體研究"
    r = locate(quote, clean)
    assert r.status == "exact"
    assert at(clean.source, r) == quote
    assert clean.source.index(quote) == r.start


def test_exact_ignores_punctuation_and_spaces() -> None:
    clean = clean_text(seed("000"))
    r = locate("近日 总投资139亿元的卫蓝新能源固态电池项目，落户南太湖新区", clean)
    assert r.status == "exact"
    assert at(clean.source, r) == "近日,总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区"


def test_fuzzy_paraphrase() -> None:
    clean = clean_text(seed("000"))
    quote = "近日，总投资139亿元的卫蓝新能源固态电池项目正式落户湖州南太湖新区"
    r = locate(quote, clean)
    assert r.status == "fuzzy" and 0.8 <= r.score < 1.0
    found = at(clean.source, r)
    assert found.startswith("近日") and found.endswith("南太湖新区")


def test_fuzzy_traditional_paraphrase() -> None:
    clean = clean_text(seed("001"))
    quote = "還有總投資約25億元的新材料項目、總投資約22億元的一道新能源太陽能電池"
    r = locate(quote, clean)
    assert r.status == "fuzzy"
    found = at(clean.source, r)
    assert found.startswith("還有總投資約25億元的新材料項目")
    assert "太陽能電池" in found


def test_invented_quote_rejected() -> None:
    clean = clean_text(seed("001"))
    for quote in (
        "北京市海淀区签约总投资50亿元的人工智能产业园项目",
        "总投资88亿元的氢能源汽车项目在宁波开工建设",
        "项目",  # too short to mean anything beyond an exact hit... it is exact
    ):
        r = locate(quote, clean)
        if quote == "项目":
            assert r.status == "exact"
        else:
            assert r.status == "not_found" and r.start is None and r.score == 0.0


def test_boilerplate_teaser_not_found() -> None:
    clean = clean_text(seed("000"))
    r = locate("近日,记者走进鱼台经济开发区总投资55亿元的庚彩化工新材料项目现场", clean)
    assert r.status == "not_found"
    # without trimming the teaser would be found
    raw = clean_text(seed("000"), trim_boilerplate=False)
    assert locate("总投资55亿元的庚彩化工新材料项目", raw).status == "exact"


def test_quote_with_ellipsis() -> None:
    clean = clean_text(seed("002"))
    quote = "总投资4.5亿元的乌镇小城故事……总投资2.18亿元的浙江宏冠生物药业有限公司项目"
    r = locate(quote, clean)
    assert r.found
    found = at(clean.source, r)
    assert found.startswith("总投资4.5亿元的乌镇小城故事") and found.endswith("有限公司项目")


def test_threshold_and_empty() -> None:
    clean = clean_text(seed("000"))
    quote = "总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区"
    assert locate(quote, clean, threshold=0.99).status == "not_found"
    assert locate(quote, clean).status == "fuzzy"
    assert locate("", clean).status == "not_found"
    assert locate("，。", clean).status == "not_found"
    assert locate("任何", clean_text("")).status == "not_found"


def test_decimal_point_quote() -> None:
    clean = clean_text(seed("case_traditional_pinyin"))
    r = locate("共簽約項目9個,總投資57。6億元", clean)
    assert r.status == "exact"
    assert at(clean.source, r) == "共簽約項(xiàng)目9個,總投資57。6億元"
    assert locate("总投资57.6亿元", clean).status == "exact"


def test_contains_value() -> None:
    clean = clean_text(seed("001"))
    assert contains_value("约25亿元", clean)
    assert contains_value("約25億元", clean)
    assert contains_value("浙江时代锂电材料国际产业合作园项目", clean)
    assert contains_value("寧波拓烯COC新材料項目", clean)
    assert contains_value("662.32亿元", clean)
    assert not contains_value("66232亿元", clean)
    assert not contains_value("庚彩化工", clean)
    assert not contains_value("", clean)
    assert not contains_value("，", clean)


def test_index_reuse() -> None:
    index = GroundIndex(clean_text(seed("004")))
    assert index.contains("比亚迪新能源乘用车项目")
    assert index.locate("全球单体蕞大、智能化程度蕞高的N型太阳能电池制造车间").status == "exact"


# --------------------------------------------------------------------------- records


class Money(BaseModel):
    value: float
    currency: str = "CNY"
    text: str


class Location(BaseModel):
    city: str | None = None


class Project(BaseModel):
    name: Annotated[str, MatchKey()]
    investor: str | None = None
    amount: Money | None = None
    location: Location = Location()
    evidence: Annotated[str, Evidence()]


class Stat(BaseModel):
    region: str
    scope: str
    amount: Money | None = None
    evidence: str


class News(BaseModel):
    projects: list[Project]
    stats: list[Stat]


def test_ground_record() -> None:
    clean = clean_text(seed("000"))
    record = News(
        projects=[
            Project(
                name="卫蓝新能源固态电池项目",
                investor="卫蓝新能源",
                amount=Money(value=13_900_000_000, text="139亿元"),
                evidence="近日,总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。",
            ),
            Project(
                name="庚彩化工新材料项目",
                amount=Money(value=5_500_000_000, text="55亿元"),
                evidence="鱼台经济开发区总投资55亿元的庚彩化工新材料项目现场",
            ),
        ],
        stats=[
            Stat(
                region="湖州市",
                scope="3亿元以上项目",
                amount=None,
                evidence="一月份已引进3亿元以上项目28个,同比增长21.7%",
            )
        ],
    )
    infos = ground_record(record, clean)
    assert [g.path for g in infos] == ["projects[0]", "projects[1]", "stats[0]"]
    first, teaser, stat = infos
    assert first.status == "exact"
    assert first.start is not None and first.end is not None
    assert clean.source[first.start : first.end].startswith("近日,总投资139亿元")
    assert first.checks == {"name": True, "amount.text": True}
    assert teaser.status == "not_found"
    assert teaser.checks == {"name": False, "amount.text": False}  # only in the teaser
    assert stat.status == "exact"
    # 湖州市 is in the document (湖州市商务局) but not in this stat's own evidence; a
    # region outside the evidence is reported, it does not unground the record
    assert stat.checks == {"region": False}
    assert stat.grounded
    assert stat.to_dict()["score"] == 1.0


class Nested(BaseModel):
    title: str
    evidence: str
    items: list[Project] = []


def test_ground_record_root_and_nested_paths() -> None:
    clean = clean_text(seed("002"))
    record = Nested(
        title="浙商回归",
        evidence="今年一季度,我市上报浙商回归实际到位资金18.29亿元",
        items=[
            Project(name="普洛斯物流园项目", evidence="总投资1亿美元的普洛斯物流园项目建设正酣"),
        ],
    )
    infos = ground_record(record, clean)
    assert [g.path for g in infos] == ["", "items[0]"]
    assert infos[0].checks == {"title": True}
    assert infos[1].status == "exact" and infos[1].checks == {"name": True}


def test_grounding_leaves_no_garbage_cycles() -> None:
    """Grounding a document makes no reference cycles: its index and text are freed as
    soon as it returns, not by a cyclic collection pausing the event loop later."""
    clean = clean_text(seed("002"))
    record = Nested(
        title="浙商回归", evidence="今年一季度", items=[Project(name="x", evidence="y")]
    )
    gc.collect()
    gc.disable()
    try:
        infos = ground_record(record, clean)
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert [g.path for g in infos] == ["", "items[0]"]


def test_index_maps_every_normalised_char_back_including_expansions() -> None:
    # ㎡ expands to two characters under NFKC; the comma is dropped
    index = GroundIndex(clean_text("面积5㎡，A区", trim_boilerplate=False))
    assert index.norm == "面积5m2a区"
    assert index.index == [0, 1, 2, 3, 3, 5, 6]
