"""The export benchmark runs end to end at tiny sizes; only its output's shape and the
matching scores' range are checked (never timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.bench.export import main


@pytest.mark.slow
def test_export_bench_quick_writes_results(tmp_path: Path) -> None:
    results_path = tmp_path / "export.json"
    assert main(["--docs", "40,80", "--results", str(results_path)]) == 0
    results = json.loads(results_path.read_text(encoding="utf-8"))
    runs = results["runs"]
    assert [(r["docs"], r["format"], r["entities"]) for r in runs] == [
        (40, "sqlite", True),
        (40, "parquet", True),
        (40, "sqlite", False),
        (80, "sqlite", True),
        (80, "parquet", True),
        (80, "sqlite", False),
    ]
    for r in runs:
        assert r["seconds"] > 0 and r["peak_rss_mb"] >= r["base_rss_mb"] > 0
        assert r["failed"] == r["docs"] // 50
        assert r["mentions"]["projects"] == 2 * (r["docs"] - r["failed"])
    for r in (runs[0], runs[3]):
        assert 0 < r["matching"]["pair_precision"] <= 1
        assert 0 < r["matching"]["pair_recall"] <= 1
    assert "sqlite_peak_rss_80_vs_40" in results["ratios"]
