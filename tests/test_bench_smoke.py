"""The benchmark runs end to end in ``--quick`` mode; only its output's shape is checked
(never timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.bench.run import main, results_file


@pytest.mark.slow
def test_bench_quick_writes_results_and_markdown(tmp_path: Path, capsys: object) -> None:
    results_path = tmp_path / "results.json"
    code = main(
        ["--quick", "--docs", "12", "--memory-docs", "20,40", "--results", str(results_path)]
    )
    assert code == 0
    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert set(results) >= {
        "meta",
        "throughput",
        "cpu",
        "cpu_split",
        "cache",
        "memory",
        "baseline",
        "breakdown",
        "ratios",
    }
    assert results["meta"]["quick"] is True
    for run in ("throughput", "cpu", "cache"):
        assert results[run]["ok"] == results[run]["docs"]
        assert results[run]["failed"] == 0
        assert results[run]["cpu_ms_per_doc"] > 0
    assert results["cache"]["cached"] == results["cache"]["docs"]
    assert results["cache"]["requests"] == 0
    assert results["throughput"]["ideal_docs_per_s"] > 0
    assert [m["docs"] for m in results["memory"]] == [20, 40]
    for m in results["memory"]:
        assert m["ok"] == m["docs"] and m["peak_rss_mb"] > 0
        assert m["cached"] == m["docs"] - m["unique_texts"]
    assert {"no_latency", "latency"} <= set(results["baseline"])
    assert results["baseline"]["no_latency"]["cpu_ms_per_call"] > 0
    assert "openai SDK call" in results["breakdown"]
    assert all(isinstance(v, float | int) for v in results["breakdown"].values())
    assert "throughput_vs_ideal" in results["ratios"]
    ray = results["throughput_by_engine"]["ray"]  # --engine ray, 2 actors, the same docs
    assert ray["engine"] == "ray" and ray["actors"] == 2
    assert ray["ok"] == ray["docs"] and ray["requests"] == ray["docs"]
    assert ray["startup_s"] > 0 and results["ratios"]["throughput_ray_vs_one_process"] > 0
    markdown = results_path.with_name("RESULTS.md").read_text(encoding="utf-8")
    assert markdown.startswith("# llmx benchmark results")
    assert "| throughput" in markdown


def test_results_may_name_a_directory(tmp_path: Path) -> None:
    assert results_file(str(tmp_path)) == tmp_path / "results.json"
    assert results_file(f"{tmp_path}/new/") == tmp_path / "new" / "results.json"
    assert (tmp_path / "new").is_dir()
    assert results_file(str(tmp_path / "r.json")) == tmp_path / "r.json"
