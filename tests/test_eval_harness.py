"""run_eval, scoring ``llmx run`` JSONL, and the investment gold fixtures."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import random
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from llmx._errors import EvalError, ExtractionError
from llmx._types import Result, Usage
from llmx.evals import (
    Fixture,
    PredictionOutcome,
    build_report,
    load_fixtures,
    run_eval,
    score_predictions_file,
)
from llmx.fields import MatchKey

REPO = Path(__file__).resolve().parents[1]


class Item(BaseModel):
    name: Annotated[str, MatchKey()]
    count: int | None = None


class Doc(BaseModel):
    items: list[Item] = []


def fx(doc_id: str, items: list[dict[str, Any]]) -> Fixture:
    return Fixture(doc_id, Path(f"/data/{doc_id}.txt"), b"", {}, {"items": items})


FIXTURES = [fx(f"doc{i}", [{"name": f"项目{i}", "count": i}]) for i in range(6)]


async def test_run_eval_with_concurrency_and_failures() -> None:
    running = 0
    peak = 0

    async def predict(f: Fixture) -> PredictionOutcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if f.doc_id == "doc1":
            raise RuntimeError("kaboom")
        if f.doc_id == "doc2":
            return PredictionOutcome(error="validation: gave up")
        if f.doc_id == "doc3":
            return PredictionOutcome(record=Doc(items=[Item(name="项目3", count=3)]))
        return PredictionOutcome(record=f.gold, usage={"total_tokens": 10}, cached=True)

    report = await run_eval(FIXTURES, Doc, predict, concurrency=3, model="m")
    assert peak <= 3
    assert [d.doc_id for d in report.documents] == [f.doc_id for f in FIXTURES]
    failed = {d.doc_id: d.error for d in report.failed}
    assert failed == {"doc1": "RuntimeError: kaboom", "doc2": "validation: gave up"}
    assert report.document("doc1").counts.recall == 0.0  # type: ignore[union-attr]
    assert report.document("doc3").counts.f1 == 1.0  # type: ignore[union-attr]
    assert report.usage["total_tokens"] == 30
    assert report.info["cached_documents"] == 3
    with pytest.raises(EvalError):
        await run_eval(FIXTURES, Doc, predict, concurrency=0)


def test_outcome_from_result() -> None:
    ok = Result(doc_id="a", source="a.txt", record=Doc(), usage=Usage(3, 4, 1), attempts=1)
    outcome = PredictionOutcome.from_result(ok)
    assert outcome.error is None and outcome.usage["total_tokens"] == 7
    bad: Result[Doc] = Result(doc_id="a", source="a.txt", error=ExtractionError("gave up"))
    assert PredictionOutcome.from_result(bad).error == "gave up"


def test_score_predictions_file(tmp_path: Path) -> None:
    lines = [
        {"doc_id": "doc0", "source": "x", "record": {"items": [{"name": "项目0", "count": 0}]}},
        # doc_id given as a path: matched by its stem
        {"doc_id": "/data/doc1.txt", "source": "/data/doc1.txt", "record": FIXTURES[1].gold},
        # matched by source when doc_id is something else
        {"doc_id": "17", "source": "in/doc2.txt", "record": FIXTURES[2].gold, "cached": True},
        {
            "doc_id": "doc3",
            "source": "x",
            "record": None,
            "error": {"kind": "validation", "message": "gave up"},
        },
        {"doc_id": "stranger", "source": "nowhere", "record": {"items": []}},
        # doc4 has no line at all; a later line for doc5 replaces an earlier one
        {"doc_id": "doc5", "record": {"items": []}},
        {"doc_id": "doc5", "record": FIXTURES[5].gold, "usage": {"total_tokens": 5}},
    ]
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n")
    report = score_predictions_file(FIXTURES, Doc, path, model="m")
    failed = {d.doc_id: d.error for d in report.failed}
    assert failed == {"doc3": "validation: gave up", "doc4": "no prediction for this fixture"}
    for doc_id in ("doc0", "doc1", "doc2", "doc5"):
        assert report.document(doc_id).counts.f1 == 1.0  # type: ignore[union-attr]
    assert report.info["unmatched_predictions"] == ["stranger"]
    assert report.usage["total_tokens"] == 5


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{bad", "line=1"),
        ('{"doc_id": "a"}\n[1]', "line=2"),
        ('{"doc_id": "a", "record": 3}', "must be an object"),
    ],
)
def test_malformed_predictions(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(EvalError, match=match):
        score_predictions_file(FIXTURES, Doc, path)
    with pytest.raises(EvalError, match="cannot read"):
        score_predictions_file(FIXTURES, Doc, tmp_path / "missing.jsonl")


def _resolve(value: Any, pick: int, drop_optional: bool) -> Any:
    """A prediction from gold: pick one $any_of alternative, drop markers (and optionals)."""
    if isinstance(value, dict):
        if "$any_of" in value:
            alts = value["$any_of"]
            return _resolve(alts[min(pick, len(alts) - 1)], pick, drop_optional)
        return {
            k: _resolve(v, pick, drop_optional) for k, v in value.items() if not k.startswith("$")
        }
    if isinstance(value, list):
        return [
            _resolve(v, pick, drop_optional)
            for v in value
            if not (drop_optional and isinstance(v, dict) and v.get("$optional"))
        ]
    return value


@pytest.mark.skipif(
    not (REPO / "evals" / "investment").is_dir(), reason="investment fixtures not present"
)
def test_investment_gold_scores_perfectly_against_itself() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    schema: type[BaseModel] = importlib.import_module("schemas.investment").InvestmentNews
    fixtures = load_fixtures(REPO / "evals" / "investment", schema=schema)
    rng = random.Random(3)
    for pick, drop in ((0, False), (1, True)):
        outcomes = {}
        for f in fixtures:
            pred = _resolve(copy.deepcopy(f.gold), pick, drop)
            for records in pred.values():
                if isinstance(records, list):
                    rng.shuffle(records)
            outcomes[f.doc_id] = PredictionOutcome(record=pred)
        report = build_report(fixtures, schema, outcomes)
        bad = {d.doc_id: d.counts for d in report.documents if d.counts.fp or d.counts.fn}
        assert not bad
