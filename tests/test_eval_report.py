"""Eval reports (JSON, terminal, Markdown, HTML) and baseline comparison."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel
from rich.console import Console

from llmx._errors import BaselineRegression, EvalError
from llmx.evals import (
    Fixture,
    PredictionOutcome,
    Report,
    build_report,
    compare_to_baseline,
    print_report,
    to_html,
    to_markdown,
    write_html,
)
from llmx.fields import Evidence, MatchKey


class Item(BaseModel):
    name: Annotated[str, MatchKey()]
    count: int | None = None
    city: str | None = None
    evidence: Annotated[str, Evidence()] = ""


class Doc(BaseModel):
    items: list[Item] = []


def fixture(doc_id: str, items: list[dict[str, Any]]) -> Fixture:
    return Fixture(doc_id, Path(f"{doc_id}.txt"), b"", {}, {"items": items})


FIXTURES = [
    fixture(
        "d1",
        [
            {"name": "甲项目", "count": 1, "city": "湖州市", "evidence": "甲项目签约<b>"},
            {"name": "乙号基地", "count": 2, "city": "杭州市", "evidence": "乙号基地开工"},
        ],
    ),
    fixture("d2", [{"name": "丙工厂", "count": 3, "city": "宁波市", "evidence": "丙"}]),
    fixture("d3", [{"name": "丁园区", "count": 4, "city": "温州市", "evidence": "丁"}]),
]


def make_report(preds: dict[str, Any], **kw: Any) -> Report:
    outcomes = {
        k: v if isinstance(v, PredictionOutcome) else PredictionOutcome(record=v)
        for k, v in preds.items()
    }
    return build_report(FIXTURES, Doc, outcomes, model="test-model", prompt="p", **kw)


def perfect() -> dict[str, Any]:
    return {f.doc_id: f.gold for f in FIXTURES}


def flawed() -> dict[str, Any]:
    preds = perfect()
    preds["d1"] = {
        "items": [
            {"name": "甲项目", "count": 7, "city": "湖州市", "evidence": "甲项目签约了"},
            {"name": "戊仓库", "count": 9, "evidence": "spurious"},
        ]
    }
    preds["d3"] = PredictionOutcome(error="endpoint: boom")
    del preds["d2"]
    return preds


def test_report_aggregates_and_failures() -> None:
    report = make_report(flawed())
    assert report.fixture_count == 3
    assert [d.doc_id for d in report.failed] == ["d2", "d3"]
    assert report.document("d3") is not None
    assert report.document("d3").error == "endpoint: boom"  # type: ignore[union-attr]
    assert list(report.fields) == ["items.name", "items.count", "items.city"]
    assert report.fields["items.count"].fp == 2
    assert report.records["items"].gold == 4
    assert report.overall.recall < 1.0
    assert make_report(perfect()).overall.f1 == 1.0


def test_json_round_trip(tmp_path: Path) -> None:
    report = make_report(flawed(), prompt_version="v3")
    again = Report.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    path = report.save(tmp_path / "r" / "report.json")
    loaded = Report.load(path)
    assert loaded.overall == report.overall
    assert loaded.fields == report.fields
    assert loaded.prompt_version == "v3"
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(EvalError, match=r"bad\.json"):
        Report.load(tmp_path / "bad.json")
    with pytest.raises(EvalError):
        Report.from_json('{"documents": []}')


def test_terminal_and_markdown() -> None:
    report = make_report(flawed())
    buf = io.StringIO()
    print_report(report, Console(file=buf, width=160))
    out = buf.getvalue()
    assert "items.count" in out and "test-model" in out and "d3" in out
    md = to_markdown(report)
    assert "| `items.count` |" in md
    assert "failed: endpoint: boom" in md
    assert "戊仓库" in md


def test_html_report(tmp_path: Path) -> None:
    report = make_report(flawed())
    page = to_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    for external in ("<script", "<link", "src=", "http://", "https://"):
        assert external not in page
    # the wrong field, gold beside predicted, with evidence (escaped)
    assert "items.count" in page and ">wrong<" in page
    assert "甲项目签约&lt;b&gt;" in page
    assert "戊仓库" in page and ">spurious<" in page
    assert ">missed<" in page
    assert "endpoint: boom" in page
    path = write_html(report, tmp_path / "out" / "eval.html")
    assert path.read_text(encoding="utf-8") == page


def test_baseline_detects_regressions() -> None:
    base = make_report(perfect())
    same = compare_to_baseline(make_report(perfect()), base)
    assert same.ok and not same.regressions
    worse = make_report(flawed())
    diff = compare_to_baseline(worse, base, tolerance=0.02)
    names = {r.name for r in diff.regressions}
    assert "(overall)" in names
    assert "items.count" in names  # support 4 >= 3 and F1 dropped
    text = diff.to_text()
    assert "REGRESSION" in text and "items.count" in text
    with pytest.raises(BaselineRegression):
        diff.raise_for_regressions()
    # improvements are not regressions
    back = compare_to_baseline(base, worse)
    assert back.ok and back.improvements


def test_baseline_tolerance_and_support() -> None:
    base = make_report(perfect())
    preds = perfect()
    preds["d2"] = {"items": [{"name": "丙工厂", "count": 3, "city": "苏州市"}]}
    slightly = make_report(preds)
    diff = compare_to_baseline(slightly, base, tolerance=0.5)
    assert diff.ok
    strict = compare_to_baseline(slightly, base, tolerance=0.01)
    assert {r.name for r in strict.regressions} >= {"items.city", "(overall)"}
    few = compare_to_baseline(slightly, base, tolerance=0.01, min_support=10)
    assert {r.name for r in few.regressions} == {"(overall)"}


def test_reading_and_comparing_reports_does_not_import_the_scorer() -> None:
    """Reports, their HTML, baselines and fixtures are plain data: scipy (the pairing of
    records, about a second to import) waits until something is scored."""
    code = (
        "import sys\n"
        "import llmx.evals, llmx.evals._report, llmx.evals._html, llmx.evals._baseline\n"
        "from llmx.evals import Report, compare_to_baseline, load_fixtures, to_html\n"
        "print('scipy' in sys.modules)\n"
        "from llmx.evals import score_document\n"
        "print('scipy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
