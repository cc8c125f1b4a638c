"""The eval HTML report's drawings: scores per document, the baseline, sources side by side."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from llmx.evals import PredictionOutcome, Report, build_report, load_fixtures, to_html
from llmx.evals._sources import source_views
from llmx.fields import Evidence, MatchKey

ROOT = Path(__file__).resolve().parents[1]


class Deal(BaseModel):
    name: Annotated[str, MatchKey()]
    amount: int | None = None
    evidence: Annotated[str, Evidence()] = ""


class Person(BaseModel):
    who: Annotated[str, MatchKey()]
    quote: Annotated[str, Evidence()] = ""


class News(BaseModel):
    deals: list[Deal] = []
    people: list[Person] = []


TEXTS = {
    "a": "开头。甲公司签约乙项目，投资5亿元。<script>alert(1)</script>张三说：很好。\n",
    "b": "只有一句话：丙项目开工。\n",
}
GOLD = {
    "a": {
        "deals": [{"name": "乙项目", "amount": 5, "evidence": "甲公司签约乙项目，投资5亿元。"}],
        "people": [{"who": "张三", "quote": "张三说：很好。"}],
    },
    "b": {"deals": [{"name": "丙项目", "amount": None, "evidence": "丙项目开工。"}]},
}
PRED: dict[str, dict[str, Any]] = {
    "a": {
        "deals": [{"name": "乙项目", "amount": 6, "evidence": "甲公司签约乙项目"}],
        "people": [{"who": "李四", "quote": "李四说：不存在的话。"}],
    },
    "b": {"deals": [{"name": "丙项目", "amount": None, "evidence": "丙项目开工。"}]},
}


def make(tmp_path: Path, pred: dict[str, dict[str, Any]] = PRED) -> tuple[Report, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for doc_id, text in TEXTS.items():
        (tmp_path / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        gold = {"meta": {}, "record": GOLD[doc_id]}
        (tmp_path / f"{doc_id}.gold.json").write_text(
            json.dumps(gold, ensure_ascii=False), encoding="utf-8"
        )
    fixtures = load_fixtures(tmp_path, schema=News)
    outcomes = {k: PredictionOutcome(record=v) for k, v in pred.items()}
    report = build_report(fixtures, News, outcomes)
    return report, source_views(fixtures, report, News)


def marks(page: str, side: str, doc_id: str) -> list[tuple[str, int, int, str]]:
    """(list, start, end, text) of each highlight on one side of one document."""
    section = page.split(f'id="doc-{doc_id}"', 1)[1].split("<h3", 1)[0]
    pane = section.split(f'<div class="src {side}">', 1)[1].split("</div>", 1)[0]
    return [
        (m[0], int(m[1]), int(m[2]), m[3])
        for m in re.findall(
            r'<mark style="[^"]*" data-list="([^"]*)" data-start="(\d+)" data-end="(\d+)"'
            r' title="[^"]*">([^<]*)</mark>',
            pane,
        )
    ]


def test_sources_side_by_side_with_evidence_at_its_offsets(tmp_path: Path) -> None:
    report, views = make(tmp_path)
    page = to_html(report, sources=views)
    text = TEXTS["a"]
    gold = marks(page, "gold", "a")
    deal = "甲公司签约乙项目，投资5亿元"
    person = "张三说：很好"
    assert [(lst, t) for lst, _, _, t in gold] == [("deals", deal), ("people", person)]
    for _, start, end, shown in gold:
        assert text[start:end] == shown
    pred = marks(page, "predicted", "a")
    assert [(lst, t) for lst, _, _, t in pred] == [("deals", "甲公司签约乙项目")]
    # the predicted person's quote is not in the text: listed apart, not dropped
    lost = page.split('<div class="src predicted">', 1)[1].split('<div class="lost">', 1)[1]
    assert "people[0] 李四: 李四说：不存在的话。" in lost.split("</div>", 1)[0]
    # lists get their own colours; the hostile text stays text
    colours = dict(re.findall(r'<mark style="background:(#\w+)" data-list="(\w+)"', page))
    assert len(set(colours)) == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)


def test_document_chart_and_baseline_chart(tmp_path: Path) -> None:
    base, _ = make(tmp_path / "base", pred={k: GOLD[k] for k in GOLD})
    report, views = make(tmp_path / "now")
    page = to_html(report, baseline=base, sources=views)
    f1 = dict(re.findall(r'class="bar-f1"[^>]*data-doc="(\w+)" data-value="([\d.]+)"', page))
    assert {k: float(v) for k, v in f1.items()} == {
        d.doc_id: round(d.counts.f1, 4) for d in report.documents
    }
    assert float(f1["b"]) == 1.0 and float(f1["a"]) < 1.0
    marks_ = re.findall(r'class="baseline-mark"[^>]*data-value="([\d.]+)"', page)
    assert [float(v) for v in marks_] == [1.0, 1.0]
    chart = page.split('id="baseline-chart"', 1)[1].split("</svg>", 1)[0]
    bars = re.findall(
        r'class="bar-(base|now)"[^>]*data-field="([^"]+)" data-value="([\d.]+)"', chart
    )
    now = {field: float(v) for kind, field, v in bars if kind == "now"}
    old = {field: float(v) for kind, field, v in bars if kind == "base"}
    assert old["deals.amount"] == 1.0 and now["deals.amount"] < 1.0
    # deals.amount dropped but has too little support to count; the overall drop is red
    assert re.search(r'fill="#c62828">-\d+\.\d</text>', chart)
    assert "Against the baseline" in page
    assert "Against the baseline" not in to_html(report)


@pytest.mark.slow
def test_eval_cli_writes_the_drawn_report(tmp_path: Path) -> None:
    folder = tmp_path / "fx"
    folder.mkdir()
    make(folder)
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"doc_id": k, "record": v}, ensure_ascii=False) + "\n"
            for k, v in PRED.items()
        ),
        encoding="utf-8",
    )
    schema = tmp_path / "news_schema.py"
    schema.write_text(
        Path(__file__).read_text(encoding="utf-8").split("TEXTS = ", 1)[0], encoding="utf-8"
    )
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "llmx", "eval", "--fixtures", str(folder), "--schema",
         f"{schema}:News", "--predictions", str(predictions), "--report-dir", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="doc-chart"' in page and '<div class="src gold">' in page
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["documents"][0]["info"]["predicted"] == PRED["a"]
