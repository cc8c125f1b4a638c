"""The eval harness: score predicted records against hand-labelled gold, for any schema.

Typical use::

    fixtures = load_fixtures("evals/investment", schema=InvestmentNews)
    report = await run_eval(fixtures, InvestmentNews, predict, concurrency=4)
    print_report(report)
    write_html(report, "out/eval.html")
    diff = compare_to_baseline(report, Report.load("evals/investment/baseline.json"))
"""

import importlib
from typing import TYPE_CHECKING, Any

from llmx.evals._baseline import BaselineDiff, ScoreDelta, compare_to_baseline
from llmx.evals._compare import normalize_date, normalize_text
from llmx.evals._fixtures import Fixture, check_gold, gold_problems, load_fixtures
from llmx.evals._html import to_html, write_html
from llmx.evals._report import Report, print_report, terminal_tables, to_markdown
from llmx.evals._results import ROOT, Counts, DocumentScore, FieldDiff, PairInfo, RecordCounts
from llmx.evals._specs import ScoreConfig, schema_spec

if TYPE_CHECKING:
    from llmx.evals._harness import (
        PredictionOutcome,
        build_report,
        read_predictions,
        run_eval,
        score_predictions_file,
    )
    from llmx.evals._pairing import pair_records, record_similarity
    from llmx.evals._score import field_names, record_lists, score_document

# scoring pairs records with scipy (about a second to import): it is imported on first
# use, so that loading, printing and comparing reports (and reading fixtures) do without
_LAZY = {
    "PredictionOutcome": "llmx.evals._harness",
    "build_report": "llmx.evals._harness",
    "read_predictions": "llmx.evals._harness",
    "run_eval": "llmx.evals._harness",
    "score_predictions_file": "llmx.evals._harness",
    "pair_records": "llmx.evals._pairing",
    "record_similarity": "llmx.evals._pairing",
    "field_names": "llmx.evals._score",
    "record_lists": "llmx.evals._score",
    "score_document": "llmx.evals._score",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmx.evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ROOT",
    "BaselineDiff",
    "Counts",
    "DocumentScore",
    "FieldDiff",
    "Fixture",
    "PairInfo",
    "PredictionOutcome",
    "RecordCounts",
    "Report",
    "ScoreConfig",
    "ScoreDelta",
    "build_report",
    "check_gold",
    "compare_to_baseline",
    "field_names",
    "gold_problems",
    "load_fixtures",
    "normalize_date",
    "normalize_text",
    "pair_records",
    "print_report",
    "read_predictions",
    "record_lists",
    "record_similarity",
    "run_eval",
    "schema_spec",
    "score_document",
    "score_predictions_file",
    "terminal_tables",
    "to_html",
    "to_markdown",
    "write_html",
]
