"""The measuring phases of the benchmarks and the figures derived from them.

:func:`run` runs every phase in order (warm-up, throughput per engine, cache, then
against a zero-latency server the CPU-bound run, the baseline, the breakdown and the
memory runs) and returns the results that :mod:`evals.bench.render` formats and
:mod:`evals.bench.run` writes.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import platform
import pstats
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.bench.baseline import instructor_baseline
from evals.bench.breakdown import breakdown
from evals.bench.corpus import SCHEMA, documents
from evals.bench.memory import memory
from evals.bench.server import Server, fake_server, settings_overrides


@dataclass(frozen=True)
class Sizes:
    """How much each phase measures (``--quick``: :meth:`quick`; flags override fields)."""

    docs: int = 2000
    concurrency: int = 32
    latency: float = 0.2
    cpu_docs: int = 1000
    warmup_docs: int = 64
    breakdown_docs: int = 300
    baseline_calls: int = 300
    baseline_latency_calls: int = 20
    memory_docs: tuple[int, ...] = (5000, 50000)
    memory_unique: int = 1000
    engines: tuple[str, ...] = ("local", "ray")
    #: actors of the ``ray`` engine; the concurrency is split between them
    ray_actors: int = 2
    #: throughput runs per engine; the median run is reported
    repeat: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            docs=40,
            concurrency=8,
            latency=0.05,
            cpu_docs=30,
            warmup_docs=4,
            breakdown_docs=10,
            baseline_calls=10,
            baseline_latency_calls=3,
            memory_docs=(60, 200),
            memory_unique=20,
            repeat=1,
        )


# --------------------------------------------------------------------------- llmx runs


def llmx_run(
    server: Server,
    n: int,
    *,
    concurrency: int,
    work: Path,
    out_name: str,
    cache_dir: Path,
    prefix: str = "doc",
    unique: int | None = None,
    profile: cProfile.Profile | None = None,
    engine: str = "local",
    actors: int = 2,
) -> dict[str, Any]:
    """One ``aextract_batch`` run; wall time and client CPU time around it.

    With ``engine="ray"`` the run starts a local Ray instance (its start-up is in the
    elapsed time) and ``actors`` actors share ``concurrency``; the client CPU is then the
    driver's only (the actors run in Ray's worker processes).
    """
    from llmx._runner import aextract_batch

    out = work / out_name
    inputs: Any = documents(n, unique=unique, prefix=prefix)
    per_extractor = concurrency
    if engine == "ray":
        inputs = list(inputs)  # pickled into the dataset's read task
        per_extractor = max(1, concurrency // actors)

    async def go() -> Any:
        return await aextract_batch(
            inputs,
            SCHEMA,
            out=out,
            engine="ray" if engine == "ray" else "local",
            actors=actors if engine == "ray" else None,
            **settings_overrides(server.url, per_extractor, cache_dir),
        )

    server_cpu0 = server.cpu_seconds()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    outcome = asyncio.run(go())
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server_cpu1 = server.cpu_seconds()
    server_ms = (
        round((server_cpu1 - server_cpu0) / n * 1000, 3)
        if server_cpu0 is not None and server_cpu1 is not None
        else None
    )
    summary = outcome.summary
    return {
        "server_cpu_ms_per_doc": server_ms,
        "docs": n,
        "concurrency": concurrency,
        "engine": outcome.engine,
        **_ray_figures(outcome.engine_info, n, wall),
        "elapsed_s": round(wall, 3),
        "docs_per_s": round(n / wall, 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_doc": round(cpu / n * 1000, 3),
        "ok": summary.ok,
        "failed": summary.failed,
        "cached": summary.cached,
        "requests": summary.requests,
        "rate_limited": summary.rate_limited,
    }


def _ray_figures(info: dict[str, Any], n: int, wall: float) -> dict[str, Any]:
    """Ray's start-up (instance, then actors until the first result) and the rate after."""
    if not info:
        return {}
    init_s = float(info.get("ray_init_s") or 0.0)
    first_s = float(info.get("first_result_s") or 0.0)
    startup = init_s + first_s
    return {
        "actors": info.get("actors"),
        "ray_init_s": round(init_s, 3),
        "first_result_s": round(first_s, 3),
        "startup_s": round(startup, 3),
        "docs_per_s_after_startup": round(n / (wall - startup), 1) if wall > startup else None,
    }


# --------------------------------------------------------------------------- derived figures


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def compute_ratios(results: dict[str, Any]) -> dict[str, Any]:
    tp, cpu, cache = results["throughput"], results["cpu"], results["cache"]
    base0, base_lat = results["baseline"]["no_latency"], results["baseline"]["latency"]
    bd = results["breakdown"]
    endpoint = bd.get("endpoint client (SDK + instructor + validation)", 0.0)
    by_engine: dict[str, float | None] = {}
    ray = results.get("throughput_by_engine", {}).get("ray")
    if ray is not None:
        after = ray.get("docs_per_s_after_startup") or 0.0
        by_engine = {
            "throughput_ray_vs_ideal": _ratio(ray["docs_per_s"], ray["ideal_docs_per_s"]),
            "throughput_ray_vs_one_process": _ratio(ray["docs_per_s"], tp["docs_per_s"]),
            "throughput_ray_after_startup_vs_one_process": _ratio(after, tp["docs_per_s"]),
        }
    return {
        "throughput_vs_ideal": _ratio(tp["docs_per_s"], tp["ideal_docs_per_s"]),
        **by_engine,
        "throughput_vs_instructor_loop": _ratio(tp["docs_per_s"], base_lat["docs_per_s"]),
        "cpu_per_doc_vs_instructor_call": _ratio(cpu["cpu_ms_per_doc"], base0["cpu_ms_per_call"]),
        "cpu_bound_docs_per_s_vs_instructor_loop": _ratio(cpu["docs_per_s"], base0["docs_per_s"]),
        "cached_vs_uncached_docs_per_s": _ratio(cache["docs_per_s"], cpu["docs_per_s"]),
        "endpoint_client_vs_raw_sdk_cpu": _ratio(endpoint, bd.get("openai SDK call", 0.0)),
        "peak_rss_largest_vs_smallest": _ratio(
            results["memory"][-1]["peak_rss_mb"], results["memory"][0]["peak_rss_mb"]
        )
        if results["memory"]
        else None,
    }


def llmx_own_cpu(results: dict[str, Any]) -> dict[str, float]:
    """The CPU-bound run's ms/doc split into the endpoint call and what llmx adds."""
    bd = results["breakdown"]
    total = results["cpu"]["cpu_ms_per_doc"]
    endpoint = bd["endpoint client (SDK + instructor + validation)"]
    sdk = bd["openai SDK call"]
    validation = bd["validation + normalisers"]
    return {
        "total_cpu_ms_per_doc": total,
        "openai_sdk_ms": sdk,
        "instructor_and_retry_layer_ms": round(endpoint - sdk - validation, 3),
        "llmx_ms_beyond_sdk": round(total - sdk, 3),
        "llmx_ms_beyond_endpoint_client": round(total - endpoint, 3),
    }


# --------------------------------------------------------------------------- all phases


def run(sizes: Sizes, *, quick: bool, profile_path: Path | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="llmx-bench-"))
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "quick": quick,
            "sizes": sizes.__dict__ | {"memory_docs": list(sizes.memory_docs)},
        }
    }
    try:
        with fake_server(sizes.latency) as server:
            url = server.url
            # warm-up: imports, OpenCC, gazetteer, connection pool (not measured)
            llmx_run(
                server,
                sizes.warmup_docs,
                concurrency=sizes.concurrency,
                work=work,
                out_name="warmup.jsonl",
                cache_dir=work / "warmup-cache",
                prefix="w",
            )
            engines = ["local", *(e for e in sizes.engines if e != "local")]
            if "ray" in engines:  # the driver's import of Ray is not start-up of a run
                import ray.data  # noqa: F401
            ideal = sizes.concurrency / sizes.latency
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in engines}
            for r in range(sizes.repeat):  # rounds over the engines: noise hits all
                for k in engines:  # each run into its own cache dir: every answer is a miss
                    first = r == 0 and k == "local"
                    runs[k].append(
                        llmx_run(
                            server,
                            sizes.docs,
                            concurrency=sizes.concurrency,
                            work=work,
                            out_name=f"throughput-{k}-{r}.jsonl",
                            cache_dir=work / ("cache" if first else f"cache-{k}-{r}"),
                            prefix="doc" if first else f"t{k}-{r}-",
                            engine=k,
                            actors=sizes.ray_actors,
                        )
                    )
            by_engine: dict[str, dict[str, Any]] = {}
            for k in engines:
                ranked = sorted(runs[k], key=lambda run: run["docs_per_s"])
                tp = ranked[len(ranked) // 2]  # the median run, all its figures
                tp |= {
                    "latency_s": sizes.latency,
                    "ideal_docs_per_s": round(ideal, 1),
                    "pct_of_ideal": round(100 * tp["docs_per_s"] / ideal, 1),
                    "runs_docs_per_s": [run["docs_per_s"] for run in runs[k]],
                }
                by_engine[k] = tp
            results["throughput"] = by_engine["local"]
            results["throughput_by_engine"] = by_engine
            results["cache"] = llmx_run(
                server,
                sizes.docs,
                concurrency=sizes.concurrency,
                work=work,
                out_name="cached.jsonl",
                cache_dir=work / "cache",
            )
            results["baseline"] = {
                "latency": instructor_baseline(url, sizes.baseline_latency_calls)
                | {"latency_s": sizes.latency}
            }
        with fake_server(0.0) as server0:
            url0 = server0.url
            results["cpu"] = llmx_run(
                server0,
                sizes.cpu_docs,
                concurrency=sizes.concurrency,
                work=work,
                out_name="cpu.jsonl",
                cache_dir=work / "cpu-cache",
                prefix="c",
            )
            if profile_path is not None:  # a separate run: the profiler doubles the CPU
                profile = cProfile.Profile()
                llmx_run(
                    server0,
                    sizes.cpu_docs,
                    concurrency=sizes.concurrency,
                    work=work,
                    out_name="profiled.jsonl",
                    cache_dir=work / "profiled-cache",
                    prefix="p",
                    profile=profile,
                )
                buf = io.StringIO()
                pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats(60)
                profile_path.write_text(buf.getvalue(), encoding="utf-8")
            results["baseline"]["no_latency"] = instructor_baseline(url0, sizes.baseline_calls)
            results["breakdown"] = breakdown(url0, sizes.breakdown_docs, work)
            results["memory"] = memory(
                url0,
                sizes.memory_docs,
                unique=sizes.memory_unique,
                concurrency=sizes.concurrency,
                work=work,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["cpu_split"] = llmx_own_cpu(results)
    results["ratios"] = compute_ratios(results)
    return results
