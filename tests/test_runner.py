"""The batch API: a run's cost, and the summary file it writes beside its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmx._config import Settings
from llmx._endpoints.profiles import Endpoint
from llmx._engines import run_cost
from llmx._runner import RunOutcome, aextract_batch
from llmx._schemas import load_schema
from llmx._types import Usage
from llmx.testing import FakeOpenAI, structured
from tests.corpus import RECORD, news


def endpoint(base_url: str) -> Endpoint:
    return Endpoint.from_settings(Settings(base_url=base_url, model="gpt-4o-mini", api_key="k"))


def test_a_runs_cost_is_its_usage_priced_on_its_endpoint() -> None:
    usage = Usage(8000, 800, 8)
    paid = run_cost(endpoint("https://api.openai.com/v1"), usage, None)
    assert paid == pytest.approx((8000 * 0.15 + 800 * 0.60) / 1e6)
    assert run_cost(endpoint("http://127.0.0.1:8080/v1"), usage, None) == 0.0  # this machine
    assert run_cost(None, usage, None) is None  # no endpoint was resolved


async def test_the_summary_counts_this_run_and_totals_the_whole_output(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD)
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text(news(i), encoding="utf-8")
    out = tmp_path / "o.jsonl"

    async def run(inputs: list[str]) -> RunOutcome:
        return await aextract_batch(
            inputs,
            "investment",
            out=out,
            base_url=fake_openai.base_url,
            api_key="test",
            model="fake-model",
        )

    first = await run([str(folder / "d0.txt")])
    outcome = await run([str(folder)])
    summary = outcome.summary
    assert (summary.total, summary.ok, summary.skipped) == (3, 2, 1)
    assert first.summary.cost == summary.cost == 0.0  # estimated by the batch API: 0 here
    assert (outcome.totals.documents, outcome.totals.ok) == (3, 3)
    written = json.loads(outcome.summary_path.read_text("utf-8"))
    assert written["documents"] == 3 and written["run"]["ok"] == 2
    assert written["run"]["cost_usd"] == 0.0
    assert written["model"] == "fake-model"
    assert written["schema"] == load_schema("investment").__name__
