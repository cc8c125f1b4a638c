"""A schema's name rules (``__llmx_match__``) with a schema that is not Chinese: the same
rules merge one document's items and join mentions across documents, and a schema
without rules gets no domain words from the core."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

import sqlite_utils
from pydantic import BaseModel

import llmx
from llmx._merge import dedupe_items, name_similarity
from llmx._names import PLAIN, distinctive, rules_for
from llmx.fields import Evidence, MatchKey

_COMPANY_FORMS = re.compile(r"(?:inc|ltd|llc|corp|corporation|limited)$")


class CompanyNames:
    """English company names: the company form at the end carries no identity, a plant's
    phase marks a different plant."""

    variant = re.compile(r"phase\d+")

    @staticmethod
    def drop_generic(text: str) -> str:
        return _COMPANY_FORMS.sub("", text)


class Plant(BaseModel):
    __llmx_match__: ClassVar[CompanyNames] = CompanyNames()

    company: Annotated[str, MatchKey()]
    status: str | None = None
    evidence: Annotated[str, Evidence()] = ""


class PlainPlant(BaseModel):
    company: Annotated[str, MatchKey()]
    status: str | None = None


class Plants(BaseModel):
    plants: list[Plant] = []


def test_rules_are_read_from_the_item_model() -> None:
    rules = rules_for(Plant)
    assert rules.drop_generic("acmeinc") == "acme"
    assert rules.fold("Ä") == "Ä"  # members the schema leaves out do nothing
    assert rules.agree == ()
    assert rules_for(PlainPlant) is PLAIN
    assert distinctive("Acme Robotics, Inc.", rules) == "acmerobotics"


def test_one_agreeing_field_may_be_named_alone() -> None:
    class Yearly:
        agree = "year"

    class Figure(BaseModel):
        __llmx_match__: ClassVar[Yearly] = Yearly()
        region: Annotated[str, MatchKey()]
        year: int | None = None

    assert rules_for(Figure).agree == ("year",)


def test_generic_words_of_the_schema_join_names_within_a_document() -> None:
    rules = rules_for(Plant)
    assert name_similarity("Acme Robotics Inc.", "ACME Robotics Ltd", rules) >= 0.85
    # without the schema's words the company forms are a different tail
    assert name_similarity("Acme Robotics Inc.", "ACME Robotics Ltd") < 0.85
    merged = dedupe_items(
        [Plant(company="Acme Robotics Inc.", status="open"), Plant(company="ACME Robotics Ltd")]
    )
    assert [p.company for p in merged] == ["Acme Robotics Inc."]
    assert merged[0].status == "open"


def test_variant_markers_of_the_schema_keep_items_apart() -> None:
    items = [Plant(company="Acme Plant Phase 1"), Plant(company="Acme Plant Phase 2")]
    assert len(dedupe_items(items)) == 2
    assert len(dedupe_items([items[0], Plant(company="Acme Plant Phase 1 Inc.")])) == 1


def test_the_core_has_no_domain_words() -> None:
    # 新能源 is a generic head for the investment schema only: without rules a shared
    # start of two characters or more is distinctive, and 项目 is an ordinary tail
    assert name_similarity("新能源汽车项目", "新能源电池项目") == 0.75
    assert name_similarity("卫蓝项目", "卫蓝") == 0.9
    assert distinctive("湖州卫蓝固态电池项目", PLAIN) == "湖州卫蓝固态电池项目"


def _line(doc_id: str, company: str) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "source": doc_id,
        "record": {"plants": [{"company": company, "status": None, "evidence": company}]},
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "requests": 1},
        "cached": False,
        "attempts": 1,
        "error": None,
        "grounding": [],
        "notes": [],
        "seconds": 0.1,
        "cost_usd": None,
    }


def test_the_same_rules_join_mentions_across_documents(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    lines = [_line("d1", "Acme Robotics Inc."), _line("d2", "ACME Robotics Ltd")]
    lines.append(_line("d3", "Zenith Motors Corporation"))
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    llmx.export_tables(out, tmp_path / "e.db", schema=Plants)
    db = sqlite_utils.Database(tmp_path / "e.db")
    ids = {r["doc_id"]: r["entity_id"] for r in db["plants"].rows}
    assert ids["d1"] == ids["d2"] != ids["d3"]
