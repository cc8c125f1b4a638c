"""``python -m evals.bench``: run the benchmarks (see :mod:`evals.bench.run`)."""

from evals.bench.run import main

raise SystemExit(main())
