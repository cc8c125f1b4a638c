"""The public surface: five public modules, each with one ``__all__``, everything else
private (a leading underscore), and typed keywords that make a misspelt setting a type
error.

A name added to or removed from ``__all__`` fails here on purpose: the change is a change
of the public API, to be made in this list and the README together.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_import_graph import PACKAGE, module_names

PUBLIC_MODULES = {"llmx", "llmx.fields", "llmx.normalize", "llmx.testing", "llmx.evals"}
#: ``python -m`` entry points: public by their nature, they define no names
ENTRY_POINTS = {"llmx.__main__", "llmx.testing.__main__"}

PUBLIC_NAMES = {
    "llmx": [
        "BaselineRegression",
        "CacheError",
        "Candidate",
        "CandidateReader",
        "ClientEndpointError",
        "Compare",
        "ConfigError",
        "Document",
        "EndpointError",
        "EvalError",
        "Evidence",
        "ExtractionError",
        "Extractor",
        "GroundingInfo",
        "InputError",
        "LlmxError",
        "LocalModelError",
        "MatchKey",
        "Prompt",
        "PromptError",
        "Result",
        "RunOutcome",
        "SchemaError",
        "Settings",
        "SettingsChanges",
        "TransientEndpointError",
        "TruncatedAnswerError",
        "Usage",
        "__version__",
        "aextract",
        "aextract_batch",
        "export_tables",
        "extract",
        "extract_batch",
        "load_prompt",
        "load_schema",
        "read_tables",
        "resolve_settings",
    ],
    "llmx.normalize": [
        "CONTEXT_KEY",
        "DocumentContext",
        "Figure",
        "Gazetteer",
        "ParsedMoney",
        "Place",
        "date_supported",
        "find_dates",
        "find_money_spans",
        "find_periods",
        "find_places",
        "find_project_counts",
        "find_yoy",
        "get_context",
        "home_region",
        "official_name",
        "parse_chinese_number",
        "parse_money",
        "parse_number",
        "reconcile_money",
        "resolve_date",
        "resolve_location",
        "resolve_period",
        "to_simplified",
    ],
    "llmx.fields": [
        "ComparatorName",
        "Compare",
        "Evidence",
        "MatchKey",
        "evidence_field",
        "marker",
        "match_keys",
    ],
    "llmx.testing": [
        "Delay",
        "Drop",
        "Error",
        "FakeOpenAI",
        "Hang",
        "RecordedRequest",
        "Reply",
        "Responder",
        "Structured",
        "Text",
        "ToolArgs",
        "Truncated",
        "delay",
        "drop",
        "error",
        "hang",
        "structured",
        "text",
        "tool_args",
        "truncated",
    ],
    "llmx.evals": [
        "BaselineDiff",
        "Counts",
        "DocumentScore",
        "FieldDiff",
        "Fixture",
        "PairInfo",
        "PredictionOutcome",
        "ROOT",
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
    ],
}


def test_every_module_outside_the_public_five_is_private() -> None:
    public = {
        name
        for name in module_names(PACKAGE)
        if not any(part.startswith("_") for part in name.split(".")[1:])
    }
    # llmx.normalize.data holds the gazetteer and the script that builds it
    public.discard("llmx.normalize.data.build_gazetteer")
    assert public - ENTRY_POINTS == PUBLIC_MODULES


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_each_public_module_exports_what_it_declares(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)
    for name in exported:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, f"{module_name}.{name} has no docstring"
    # names imported into the module but not declared stay out of star imports
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(exported)


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_the_public_names_are_the_documented_ones(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC_NAMES[module_name])


def test_importing_llmx_does_not_import_the_extraction_stack() -> None:
    code = (
        "import sys, llmx; "
        "heavy = [m for m in ('openai', 'instructor', 'opencc', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


MISSPELT = """\
from pydantic import BaseModel

import llmx


class Item(BaseModel):
    name: str


llmx.extract("text", Item, modle="gpt-4o-mini")
llmx.extract("text", Item, max_tokens="many")
llmx.Extractor(Item, concurency=2)
llmx.extract_batch(["a.txt"], Item, out="out.jsonl", strategy="whole")
llmx.extract("text", Item, model="gpt-4o-mini", max_tokens=None, strategy="chunks")
"""


@pytest.mark.slow
def test_a_misspelt_or_mistyped_setting_fails_type_checking(tmp_path: Path) -> None:
    script = tmp_path / "use_llmx.py"
    script.write_text(MISSPELT, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            str(script),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    lines = [line for line in result.stdout.splitlines() if ": error:" in line]
    flagged = sorted({int(line.split(":")[1]) for line in lines})
    # lines 10-13 each carry one mistake; line 14 is correct
    assert flagged == [10, 11, 12, 13], result.stdout
    assert '"modle"' in result.stdout and '"concurency"' in result.stdout
