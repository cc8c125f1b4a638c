"""The memory phase: peak RSS of fresh subprocesses over many documents.

Each run is a subprocess of the entry point (``run.py --memory-child N ...``), so its
peak RSS is its own; texts cycle, so documents after the first cycle are cache hits.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.bench.corpus import SCHEMA, documents
from evals.bench.server import REPO, settings_overrides
from llmx._types import Result


def _current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class _RssSampler:
    """A progress sink that samples the current RSS every ``every`` documents."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.done = 0
        self.samples: list[tuple[int, float | None]] = []

    def start(self, total: int | None) -> None:
        pass

    def advance(self, result: Result[Any]) -> None:
        self.done += 1
        if self.done % self.every == 0:
            rss = _current_rss_mb()
            self.samples.append((self.done, None if rss is None else round(rss, 1)))

    def skip(self, count: int = 1) -> None:
        pass

    def finish(self, summary: Any) -> None:
        pass


def memory_child(url: str, n: int, unique: int, work: Path, concurrency: int) -> dict[str, Any]:
    """Body of the memory subprocess: one run over ``n`` cycling documents."""
    from llmx._runner import aextract_batch

    sampler = _RssSampler(max(1, n // 10))
    baseline_rss = _current_rss_mb()

    async def go() -> Any:
        return await aextract_batch(
            documents(n, unique=unique, prefix="m"),
            SCHEMA,
            out=work / f"memory-{n}.jsonl",
            progress=sampler,
            **settings_overrides(url, concurrency, work / "memory-cache"),
        )

    wall0 = time.perf_counter()
    outcome = asyncio.run(go())
    summary = outcome.summary
    return {
        "docs": n,
        "unique_texts": unique,
        "ok": summary.ok,
        "failed": summary.failed,
        "cached": summary.cached,
        "requests": summary.requests,
        "elapsed_s": round(time.perf_counter() - wall0, 2),
        "rss_before_run_mb": None if baseline_rss is None else round(baseline_rss, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_samples_mb": sampler.samples,
    }


def memory(
    url: str, docs: Sequence[int], *, unique: int, concurrency: int, work: Path
) -> list[dict[str, Any]]:
    """One fresh subprocess per size in ``docs``, over ``unique`` cycling texts."""
    runs = []
    for n in docs:
        sub = work / f"memory-{n}"
        sub.mkdir()
        result_path = sub / "result.json"
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("run.py")),  # the entry point's --memory-child
                "--memory-child",
                str(n),
                "--memory-unique",
                str(unique),
                "--url",
                url,
                "--work",
                str(sub),
                "--concurrency",
                str(concurrency),
                "--results",
                str(result_path),
            ],
            check=True,
            cwd=REPO,
        )
        runs.append(json.loads(result_path.read_text()))
        shutil.rmtree(sub, ignore_errors=True)
    return runs
