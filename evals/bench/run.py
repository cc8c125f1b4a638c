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
import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # ``python evals/bench/run.py``
    sys.path.insert(0, str(REPO))

from evals.bench.corpus import RECORD, documents, text_for  # noqa: E402
from llmx._types import Result  # noqa: E402

HERE = Path(__file__).resolve().parent
SCHEMA = "investment"
MODEL = "fake-model"
PUBLISHED = date(2024, 3, 15)


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
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


# --------------------------------------------------------------------------- fake server


@dataclass
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server process has used so far (Linux only)."""
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[Server]:
    """A fake OpenAI server in a separate process answering :data:`RECORD`."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmx.testing",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--reply-json",
            json.dumps(RECORD, ensure_ascii=False),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the fake server did not start")
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _settings_overrides(url: str, concurrency: int, cache_dir: Path) -> dict[str, Any]:
    return {
        "base_url": url,
        "api_key": "bench",
        "model": MODEL,
        "mode": "tools",
        "concurrency": concurrency,
        "cache_dir": cache_dir,
        "timeout": 60.0,
    }


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
            **_settings_overrides(server.url, per_extractor, cache_dir),
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


# --------------------------------------------------------------------------- breakdown


def _cpu_per_item(fn: Callable[[int], object], n: int) -> float:
    """CPU milliseconds per call of ``fn(i)`` for ``i`` in ``range(n)``."""
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1000


def breakdown(url: str, n: int, work: Path) -> dict[str, float]:
    """CPU ms per document of each piece of the per-document path, timed in isolation."""
    import httpx
    import openai

    from llmx._cache import CachedAnswer, ResponseCache, cache_key
    from llmx._config import Settings
    from llmx._endpoints import Endpoint, EndpointClient, fast_response_model
    from llmx._extractor import Extractor
    from llmx._ground import ground_record
    from llmx._schemas import load_schema
    from llmx._text.clean import clean_text
    from llmx._text.decode import to_text
    from llmx._text.meta import find_published
    from llmx._types import Usage
    from llmx._writer import ResultWriter
    from llmx.normalize._context import DocumentContext

    schema = load_schema(SCHEMA)
    model = fast_response_model(schema)
    extractor = Extractor(schema, cache=False)
    reply = json.dumps(RECORD, ensure_ascii=False)
    texts = [text_for(10_000 + i) for i in range(n)]
    cleaned = [clean_text(to_text(t)) for t in texts]

    def messages(i: int) -> list[dict[str, str]]:
        return extractor.messages_for(cleaned[i].text, published=PUBLISHED, doc_id=f"b{i}")

    rendered = [messages(i) for i in range(n)]
    records = [
        model.model_validate_json(
            reply, context={"llmx": DocumentContext(text=c.text, published=None)}
        )
        for c in cleaned
    ]
    out: dict[str, float] = {}

    def decode_clean(i: int) -> None:
        decoded = to_text(texts[i])
        clean_text(decoded)
        find_published(decoded)

    out["decode + clean (OpenCC)"] = _cpu_per_item(decode_clean, n)
    out["prompt render + cache key"] = _cpu_per_item(
        lambda i: cache_key({"messages": messages(i), "schema": "x", "params": {"t": 0}}), n
    )
    out["validation + normalisers"] = _cpu_per_item(
        lambda i: model.model_validate_json(
            reply, context={"llmx": DocumentContext(text=cleaned[i].text, published=None)}
        ),
        n,
    )
    out["grounding"] = _cpu_per_item(lambda i: ground_record(records[i], cleaned[i]), n)
    cache = ResponseCache(work / "breakdown-cache")
    answer = CachedAnswer(content=reply, prompt_tokens=100, completion_tokens=20)

    def cache_set_get(i: int) -> None:
        cache.set(f"k{i}", answer)
        cache.get(f"k{i}")

    out["cache set + get (diskcache)"] = _cpu_per_item(cache_set_get, n)
    cache.close()
    with ResultWriter(work / "breakdown.jsonl") as writer:
        out["output line (to_dict + JSON + write)"] = _cpu_per_item(
            lambda i: writer.write(
                Result(doc_id=f"b{i}", source="<bench>", record=records[i], usage=Usage(1, 1, 1))
            ),
            n,
        )

    tool: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": schema.__name__,
            "description": schema.__doc__ or "",
            "parameters": schema.model_json_schema(),
        },
    }
    tool_choice: dict[str, Any] = {"type": "function", "function": {"name": schema.__name__}}

    async def calls() -> dict[str, float]:
        timings: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=url) as http:
            start = time.process_time()
            for i in range(n):
                raw_body = {
                    "model": MODEL,
                    "messages": rendered[i],
                    "tools": [tool],
                    "tool_choice": tool_choice,
                }
                resp = await http.post("/chat/completions", json=raw_body)
                data = resp.json()
                json.loads(data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
            timings["raw HTTP (httpx + JSON)"] = (time.process_time() - start) / n * 1000
        # the SDK as it comes (httpx, typed parameters), then as llmx calls it: the aiohttp
        # transport and the request body as extra_body (llmx._endpoints.EndpointClient._send)
        for label, http_client, typed in (
            ("openai SDK call, SDK defaults (httpx, typed parameters)", None, True),
            ("openai SDK call", openai.DefaultAioHttpClient(), False),
        ):
            sdk = openai.AsyncOpenAI(
                base_url=url, api_key="bench", max_retries=0, http_client=http_client
            )
            start = time.process_time()
            for i in range(n):
                body: dict[str, Any] = {
                    "messages": rendered[i],
                    "tools": [tool],
                    "tool_choice": tool_choice,
                }
                if typed:
                    await sdk.chat.completions.create(model=MODEL, **body)
                else:
                    await sdk.chat.completions.create(model=MODEL, messages=[], extra_body=body)
            timings[label] = (time.process_time() - start) / n * 1000
            await sdk.close()
        settings = Settings(base_url=url, api_key="bench", model=MODEL, mode="tools")
        client = EndpointClient(Endpoint.from_settings(settings), settings)
        start = time.process_time()
        for i in range(n):
            ctx = DocumentContext(text=cleaned[i].text, published=None)
            await client.extract(rendered[i], schema, context={"llmx": ctx})
        timings["endpoint client (SDK + instructor + validation)"] = (
            (time.process_time() - start) / n * 1000
        )
        await client.aclose()
        return timings

    out.update(asyncio.run(calls()))
    return {k: round(v, 3) for k, v in out.items()}


# --------------------------------------------------------------------------- baseline


def instructor_baseline(url: str, n: int) -> dict[str, Any]:
    """A plain synchronous loop of instructor TOOLS calls (no llmx)."""
    import instructor
    import openai

    from llmx._extractor import Extractor
    from llmx._schemas import load_schema

    schema = load_schema(SCHEMA)
    extractor = Extractor(schema, cache=False)
    sdk = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)
    client = instructor.from_openai(sdk, mode=instructor.Mode.TOOLS)
    all_messages = [
        extractor.messages_for(text_for(20_000 + i), published=PUBLISHED, doc_id=f"i{i}")
        for i in range(n + 1)
    ]
    client.chat.completions.create(  # warm-up (connection, imports)
        model=MODEL,
        messages=all_messages[n],  # type: ignore[arg-type]
        response_model=schema,
        max_retries=0,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        client.chat.completions.create(
            model=MODEL,
            messages=all_messages[i],  # type: ignore[arg-type]
            response_model=schema,
            max_retries=0,
        )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sdk.close()
    return {
        "calls": n,
        "elapsed_s": round(wall, 3),
        "docs_per_s": round(n / wall, 1),
        "cpu_ms_per_call": round(cpu / n * 1000, 3),
    }


# --------------------------------------------------------------------------- memory


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
            **_settings_overrides(url, concurrency, work / "memory-cache"),
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


def memory(url: str, sizes: Sizes, work: Path) -> list[dict[str, Any]]:
    runs = []
    for n in sizes.memory_docs:
        sub = work / f"memory-{n}"
        sub.mkdir()
        result_path = sub / "result.json"
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--memory-child",
                str(n),
                "--memory-unique",
                str(sizes.memory_unique),
                "--url",
                url,
                "--work",
                str(sub),
                "--concurrency",
                str(sizes.concurrency),
                "--results",
                str(result_path),
            ],
            check=True,
            cwd=REPO,
        )
        runs.append(json.loads(result_path.read_text()))
        shutil.rmtree(sub, ignore_errors=True)
    return runs


# --------------------------------------------------------------------------- report


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


def _spread(run: dict[str, Any]) -> str:
    """`` (median of 3: a, b, c)`` when the throughput was measured more than once."""
    rates = run.get("runs_docs_per_s", [])
    if len(rates) < 2:
        return ""
    return f" (median of {len(rates)}: {', '.join(f'{r:.1f}' for r in rates)})"


def table(results: dict[str, Any]) -> str:
    tp, cpu, cache = results["throughput"], results["cpu"], results["cache"]
    base0, base_lat = results["baseline"]["no_latency"], results["baseline"]["latency"]
    own = results["cpu_split"]
    rows: list[tuple[str, str]] = [
        (
            f"throughput ({tp['docs']} docs, latency {tp['latency_s'] * 1000:.0f} ms, "
            f"concurrency {tp['concurrency']})",
            f"{tp['docs_per_s']:.1f} docs/s = {tp['pct_of_ideal']:.1f}% of ideal "
            f"{tp['ideal_docs_per_s']:.0f}{_spread(tp)}",
        ),
        (
            "client CPU per doc in that run (server process)",
            f"{tp['cpu_ms_per_doc']:.2f} ms ({tp['server_cpu_ms_per_doc']} ms)",
        ),
    ]
    ray = results.get("throughput_by_engine", {}).get("ray")
    if ray is not None:
        rows += [
            (
                f"throughput with --engine ray, {ray['actors']} actors (same docs, latency, "
                "total concurrency)",
                f"{ray['docs_per_s']:.1f} docs/s = {ray['pct_of_ideal']:.1f}% of ideal "
                f"{ray['ideal_docs_per_s']:.0f}{_spread(ray)}, start-up included",
            ),
            (
                "  Ray start-up: local instance + actors until the first result",
                f"{ray['startup_s']} s ({ray['ray_init_s']} s + {ray['first_result_s']} s)",
            ),
            (
                "  after the start-up",
                f"{ray['docs_per_s_after_startup']} docs/s",
            ),
            (
                "  driver CPU per doc (server process)",
                f"{ray['cpu_ms_per_doc']:.2f} ms ({ray['server_cpu_ms_per_doc']} ms)",
            ),
        ]
    rows += [
        (
            f"CPU-bound run ({cpu['docs']} docs, zero latency)",
            f"{cpu['docs_per_s']:.1f} docs/s, {cpu['cpu_ms_per_doc']:.2f} ms CPU/doc",
        ),
        ("  of which openai SDK call", f"{own['openai_sdk_ms']:.2f} ms"),
        ("  of which instructor + retry layer", f"{own['instructor_and_retry_layer_ms']:.2f} ms"),
        ("  llmx beyond the SDK", f"{own['llmx_ms_beyond_sdk']:.2f} ms"),
        (
            f"all from cache ({cache['docs']} docs)",
            f"{cache['docs_per_s']:.1f} docs/s, {cache['cpu_ms_per_doc']:.2f} ms CPU/doc",
        ),
    ]
    for run in results["memory"]:
        known = [(d, r) for d, r in run["rss_samples_mb"] if r is not None]
        samples = (
            f"; current RSS {known[0][1]} MB at doc {known[0][0]}, "
            f"{known[-1][1]} MB at doc {known[-1][0]}"
            if known
            else ""
        )
        rows.append(
            (
                f"peak RSS, {run['docs']} docs ({run['unique_texts']} distinct texts, "
                f"{run['cached']} cache hits)",
                f"{run['peak_rss_mb']:.1f} MB peak{samples}",
            )
        )
    rows += [
        (
            f"instructor loop, zero latency ({base0['calls']} calls)",
            f"{base0['docs_per_s']:.1f} docs/s, {base0['cpu_ms_per_call']:.2f} ms CPU/call",
        ),
        (
            f"instructor loop, latency ({base_lat['calls']} calls)",
            f"{base_lat['docs_per_s']:.1f} docs/s",
        ),
    ]
    rows += [(f"breakdown: {k}", f"{v:.3f} ms") for k, v in results["breakdown"].items()]
    rows += [
        (f"ratio: {k}", "n/a" if v is None else f"{v:g}") for k, v in results["ratios"].items()
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# llmx benchmark results",
        "",
        f"Generated by `python -m evals.bench{' --quick' if meta['quick'] else ''}` on "
        f"{meta['date']} ({meta['python']}, {meta['cpus']} CPUs, {meta['platform']}).",
        "The fake OpenAI server runs in a separate process; CPU figures are the client "
        "process's `time.process_time()` only. Memory runs cycle "
        f"{results['memory'][0]['unique_texts'] if results['memory'] else 0} distinct texts, "
        "so most of their documents are cache hits. Load average (1, 5, 15 min) at start "
        f"{meta.get('loadavg_at_start')}, at end {meta.get('loadavg_at_end')}: other "
        "processes on the machine skew every timing.",
        "",
        "| measure | value |",
        "| --- | --- |",
    ]
    for line in table(results).splitlines():
        name, _, value = line.partition("  ")
        lines.append(f"| {name.strip()} | {value.strip()} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


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
            results["memory"] = memory(url0, sizes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["cpu_split"] = llmx_own_cpu(results)
    results["ratios"] = compute_ratios(results)
    return results


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
