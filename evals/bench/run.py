"""``python evals/bench/run.py``: the benchmarks' entry point (see :mod:`evals.bench.measure`)."""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[2]) not in sys.path:  # ``python evals/bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.bench.measure import main, results_file  # noqa: E402

__all__ = ["main", "results_file"]

if __name__ == "__main__":
    raise SystemExit(main())
