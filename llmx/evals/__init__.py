"""The eval harness: score predicted records against hand-labelled gold, for any schema.

Typical use::

    fixtures = load_fixtures("evals/investment", schema=InvestmentNews)
    report = await run_eval(fixtures, InvestmentNews, predict, concurrency=4)
    print_report(report)
    write_html(report, "out/eval.html")
    diff = compare_to_baseline(report, Report.load("evals/investment/baseline.json"))
"""

from llmx.evals._baseline import BaselineDiff, ScoreDelta, compare_to_baseline
from llmx.evals._compare import ScoreConfig, normalize_date, normalize_text, schema_spec
from llmx.evals._fixtures import Fixture, check_gold, gold_problems, load_fixtures
from llmx.evals._harness import (
    PredictionOutcome,
    build_report,
    read_predictions,
    run_eval,
    score_predictions_file,
)
from llmx.evals._html import to_html, write_html
from llmx.evals._pairing import pair_records, record_similarity
from llmx.evals._report import Report, print_report, terminal_tables, to_markdown
from llmx.evals._score import (
    ROOT,
    Counts,
    DocumentScore,
    FieldDiff,
    PairInfo,
    RecordCounts,
    field_names,
    record_lists,
    score_document,
)

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
