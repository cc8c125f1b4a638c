"""llmx benchmarks against the fake OpenAI server running in a separate process.

Run from the repository root (either form)::

    .venv/bin/python -m evals.bench            # full sizes (a few minutes)
    .venv/bin/python evals/bench/run.py --quick  # tiny sizes (seconds)

It prints a table of figures and of ratios measured in the same run, and writes
``evals/bench/results.json`` and ``evals/bench/RESULTS.md`` (``--results PATH`` moves
both). Phases, all through the full llmx path (``aextract_batch``, schema
``investment``, a tmp cache dir and tmp output files) unless said otherwise:

* throughput: fake server latency 200 ms, concurrency 32, 2,000 documents, against the
  ideal concurrency / latency = 160 docs/s, once per engine in ``--engines`` (default
  ``local,ray``: one process, then ``--engine ray`` with ``--ray-actors`` actors (2)
  sharing the same total concurrency, each run starting its own local Ray instance), so
  both figures and their ratio come from the same run, with Ray's start-up cost;
* CPU: the client process's ``time.process_time()`` per document, in the throughput run
  and in a run against a zero-latency server (CPU bound); the server's CPU is not counted;
* breakdown: the same pieces timed one at a time in this process (decode+clean, prompt
  and cache key, validation with the normalisers, grounding, cache, output line, the
  openai SDK call as llmx makes it and with the SDK's defaults, raw HTTP, the endpoint
  client = SDK + instructor + retries);
* cache: the same corpus again into a new output file, every answer from the cache;
* memory: peak RSS (``resource.getrusage``) of fresh subprocesses over 5,000 and 50,000
  documents; texts cycle (``--memory-unique`` distinct texts), so most documents after
  the first cycle are cache hits: the output says so;
* baseline: a plain synchronous loop of instructor calls (``instructor.from_openai(
  openai.OpenAI(...))``, TOOLS mode, same schema and messages) against the same servers.

Nothing here asserts timings; ``tests/test_bench_smoke.py`` runs ``--quick`` and checks
the structure of the output only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parents[2]) not in sys.path:  # ``python evals/bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.bench.measure import Sizes, run
from evals.bench.memory import memory_child
from evals.bench.render import markdown, table

HERE = Path(__file__).resolve().parent


def results_file(given: str) -> Path:
    """Where ``--results PATH`` writes the JSON: PATH, or ``PATH/results.json`` when PATH
    is a directory (or ends with a slash). Its directory is created now."""
    path = Path(given)
    if path.is_dir() or given.endswith(("/", os.sep)):
        path = path / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--docs", type=int, help="documents in the throughput/cache runs")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--latency", type=float, help="fake server latency in seconds")
    parser.add_argument("--memory-docs", help="comma-separated sizes of the memory runs")
    parser.add_argument("--memory-unique", type=int, help="distinct texts in memory runs")
    parser.add_argument(
        "--engines",
        help="comma-separated engines for the throughput run (default local,ray; local is "
        "always measured)",
    )
    parser.add_argument("--ray-actors", type=int, help="actors of the ray engine (default 2)")
    parser.add_argument(
        "--repeat", type=int, help="throughput runs per engine (default 3; median shown)"
    )
    parser.add_argument(
        "--results",
        default=str(HERE / "results.json"),
        help="results JSON path, or a directory for results.json (RESULTS.md goes beside it)",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the CPU-bound run")
    # internal: the memory subprocess
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child is not None:
        child = memory_child(
            args.url, args.memory_child, args.memory_unique, args.work, args.concurrency
        )
        Path(args.results).write_text(json.dumps(child), encoding="utf-8")
        return 0

    results_path = results_file(args.results)  # before minutes of measuring, not after
    sizes = Sizes.quick() if args.quick else Sizes()
    changes: dict[str, Any] = {}
    if args.docs:
        changes["docs"] = args.docs
    if args.repeat:
        changes["repeat"] = max(1, args.repeat)
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    if args.latency:
        changes["latency"] = args.latency
    if args.memory_docs:
        changes["memory_docs"] = tuple(int(x) for x in args.memory_docs.split(","))
    if args.memory_unique:
        changes["memory_unique"] = args.memory_unique
    if args.engines:
        changes["engines"] = tuple(x.strip() for x in args.engines.split(",") if x.strip())
    if args.ray_actors:
        changes["ray_actors"] = max(1, args.ray_actors)
    if changes:
        sizes = Sizes(**(sizes.__dict__ | changes))
    results = run(sizes, quick=args.quick, profile_path=args.profile)
    print(table(results))
    results_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    results_path.with_name("RESULTS.md").write_text(markdown(results), encoding="utf-8")
    print(f"\nwrote {results_path} and {results_path.with_name('RESULTS.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
