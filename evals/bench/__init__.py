"""llmx benchmarks: ``python -m evals.bench`` (see :mod:`evals.bench.run`)."""
