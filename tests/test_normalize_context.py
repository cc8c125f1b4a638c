"""DocumentContext travels to validators as Pydantic validation context."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

from llmx.normalize._context import DocumentContext, get_context
from llmx.normalize._gazetteer import Place


class _Probe(BaseModel):
    x: str

    @field_validator("x")
    @classmethod
    def _seen(cls, value: str, info: ValidationInfo) -> str:
        ctx = get_context(info)
        return "none" if ctx is None else f"{ctx.published}"


def test_get_context_from_mapping_and_missing() -> None:
    ctx = DocumentContext(text="", published=date(2023, 2, 7))
    assert _Probe.model_validate({"x": "a"}, context=ctx).x == "2023-02-07"
    assert _Probe.model_validate({"x": "a"}, context={"llmx": ctx}).x == "2023-02-07"
    assert _Probe.model_validate({"x": "a"}).x == "none"
    other: dict[str, Any] = {"other": 1}
    assert _Probe.model_validate({"x": "a"}, context=other).x == "none"
    assert get_context(None) is None


def test_home_is_lazy_and_cached() -> None:
    ctx = DocumentContext(text="湖州招商,湖州市南太湖新区")
    first = ctx.home
    assert first is not None and first.city == "湖州市"
    assert ctx.home is first


def test_home_override_and_notes() -> None:
    place = Place(province="浙江省", code="330000")
    ctx = DocumentContext(text="湖州", home_override=place)
    assert ctx.home is place
    assert DocumentContext(text="湖州", home_override=None).home is None
    ctx.note("a")
    ctx.note("a")
    assert ctx.notes == ["a"]
