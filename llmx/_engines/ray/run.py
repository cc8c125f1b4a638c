"""The Ray engine's driver: join or start the cluster, build the pipeline, take the
results (the package's docstring, :mod:`llmx._engines.ray`, tells the whole path).

The driver writes: results come back (pickled :class:`~llmx._types.Result`) as Ray Data
streams them, and :class:`llmx._accounting.Tally` records each into the same
:class:`~llmx._writer.ResultWriter` as one process. A stop (Ctrl-C) stops taking results,
keeps the ones already back and shuts the dataset down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray.data
from pydantic import BaseModel

from llmx._accounting import BatchSummary, NullProgress, ProgressSink, Tally
from llmx._config import Settings
from llmx._endpoints.profiles import Endpoint
from llmx._engines import EngineOutcome, batch_concurrency
from llmx._engines.ray.extract import ActorJob, ExtractActor
from llmx._engines.ray.inputs import check_inputs, documents_dataset
from llmx._engines.ray.limiter import BudgetActor
from llmx._errors import ConfigError, LlmxError
from llmx._outfile import FinalizeReport
from llmx._pricing import PriceTable
from llmx._prompts import Prompt, load_prompt
from llmx._resume import ResumeIndex
from llmx._schemas import load_schema
from llmx._writer import ResultWriter

#: object store of a local Ray instance started by llmx: documents and results pass
#: through it a few blocks at a time, so a small one is plenty
LOCAL_OBJECT_STORE_BYTES = 200 * 2**20
#: batches (Ray Data tasks) one actor works on at once; with ``concurrency`` documents
#: each, an actor holds four times what it has in flight, so slow answers never leave
#: its slots idle (measured: 1,000 documents at 200 ms with 2 actors x 16, 8 per batch
#: reached 115 docs/s, 16 per batch 132-150, 32 per batch no more)
CALLS_PER_ACTOR = 4
#: CPUs Ray reserves per actor: mostly waiting on the endpoint, some CPU per answer
ACTOR_CPUS = 0.5
#: seconds the driver waits for results already on their way after a stop
DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: the cluster's address and the number of actors."""

    #: ``ray://`` or ``host:port`` of a cluster; None: ``RAY_ADDRESS``, else start one here
    address: str | None = None
    #: extractor actors; None: one per CPU of the cluster
    actors: int | None = None
    #: a folder in which each actor writes its own shard (:mod:`llmx._shards`); None: the
    #: driver writes every line to the run's output file
    shard_dir: Path | None = None


@dataclass
class _ResultDrain:
    """The driver's side: results as Ray Data streams them, into the tally."""

    tally: Tally
    halt: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False
    first_result: float | None = None

    def run(self, dataset: ray.data.Dataset, started: float) -> None:
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        try:
            for batch in batches:
                with self.lock:
                    if self.abandoned:
                        return
                    self._record(batch, started)
                if self.halt.is_set():
                    return
        finally:
            with contextlib.suppress(Exception):
                close = getattr(batches, "close", None)
                if close is not None:
                    close()

    def _record(self, batch: dict[str, Any], started: float) -> None:
        for skipped, blob in zip(batch["skipped"], batch["result"], strict=True):
            if self.first_result is None:
                self.first_result = time.monotonic() - started
            if skipped:
                self.tally.skip(failed=skipped == "failed")
            else:
                self.tally.done(pickle.loads(blob))


def _connect(address: str | None) -> tuple[bool, float]:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a local instance.

    Returns whether this call started Ray (so the run shuts it down) and the seconds it
    took. A Ray already initialised in this process is used as it is.
    """
    if ray.is_initialized():
        return False, 0.0
    started = time.monotonic()
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is not None:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot join the Ray cluster: {_error_gist(exc)}", address=address
            ) from exc
    else:
        ray.init(
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            # a local instance stays on this machine's loopback, whatever its interfaces
            _node_ip_address="127.0.0.1",
            **quiet,
        )
    return True, time.monotonic() - started


def _quiet_data_context() -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
    # the read task's blocks go out as they are made, not gathered to 128 MiB first
    ctx.target_max_block_size = 1 * 2**20
    # Ray Data's notes on its own plan (progress bars off, block counts) are not the
    # user's business; a failure still reaches the run as an exception
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _default_actors() -> int:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


async def run_ray(
    inputs: Any,
    schema: type[BaseModel] | str,
    *,
    prompt: str | Prompt | None,
    settings: Settings,
    writer: ResultWriter | None,
    skip: set[str] | ResumeIndex,
    options: RayOptions,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    prices: PriceTable | None = None,
) -> EngineOutcome:
    """Extract ``inputs`` on a Ray cluster into ``writer`` (see :mod:`llmx._engines.ray`).

    ``writer=None`` with ``options.shard_dir``: the actors write the shards, the driver
    only counts.
    """
    if (writer is None) != (options.shard_dir is not None):
        raise ConfigError("a Ray run writes either one output file or a folder of shards")
    if settings.uses_local_model:
        raise ConfigError(
            "--engine ray needs an endpoint every actor can reach: pass --base-url "
            "(a vLLM or OpenAI-compatible server) and --model"
        )
    check_inputs(inputs)
    if options.actors is not None and options.actors < 1:
        raise ConfigError("actors must be >= 1", value=options.actors)
    # what the actors will do, checked here first: a bad schema, prompt or endpoint
    # fails the run before Ray starts
    schema_cls = load_schema(schema) if isinstance(schema, str) else schema
    prompt_label = (prompt if isinstance(prompt, Prompt) else load_prompt(prompt, schema_cls)).label
    endpoint = Endpoint.from_settings(settings)
    # the actors use the driver's cache path (their own environment may differ): on each
    # node's own disk, or one shared path when it is on shared storage
    settings = settings.replace(cache_dir=settings.resolved_cache_dir)
    concurrency = batch_concurrency(settings)
    docs_per_block = max(1, concurrency)

    began = time.monotonic()
    # in this thread: Ray sets its signal handlers from the main thread (seconds during
    # which this event loop has nothing else to do)
    started_ray, init_s = _connect(options.address)
    summary = BatchSummary()
    sink: ProgressSink = progress if progress is not None else NullProgress()
    # a failing endpoint stops the run as in one process: no more results are taken,
    # and the documents not yet written stay for a resume
    halt = threading.Event()
    tally = Tally(summary, writer, sink, stop_after=settings.stop_after_failures, on_stop=halt.set)
    drain = _ResultDrain(tally, halt)
    budget: Any = None
    actors = options.actors or 0
    stats: dict[str, float] = {}
    try:
        _quiet_data_context()
        actors = actors or _default_actors()
        budget = (
            ray.remote(num_cpus=0)(BudgetActor)
            .options(name=f"llmx-budget-{uuid.uuid4().hex[:12]}")
            .remote(settings)
        )
        resume = skip if isinstance(skip, ResumeIndex) else None
        skip_ref = ray.put(skip.done_ids() if isinstance(skip, ResumeIndex) else skip)
        if options.shard_dir is not None:
            options.shard_dir.mkdir(parents=True, exist_ok=True)
        job = ActorJob(schema, prompt, settings, prices, concurrency, options.shard_dir)
        dataset = documents_dataset(inputs, docs_per_block, resume).map_batches(
            ExtractActor,
            fn_constructor_kwargs={"job": job, "budget": budget, "skip": skip_ref},
            batch_size=docs_per_block,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(
                size=actors,
                max_tasks_in_flight_per_actor=CALLS_PER_ACTOR,
                max_concurrent_calls_per_actor=CALLS_PER_ACTOR,
            ),
            num_cpus=ACTOR_CPUS,
        )
        if writer is not None:
            writer.open()
        sink.start(None)
        started = time.monotonic()
        try:
            await _drive(drain, dataset, started, stop)
        except LlmxError:
            raise
        except Exception as exc:  # Ray's own failure: say so; what was written stays
            raise LlmxError(
                f"the Ray job failed: {_error_gist(exc)}",
                exception=type(exc).__name__,
                hint="documents already written are kept; run the same command to resume",
            ) from exc
        summary.elapsed = time.monotonic() - began  # Ray's start-up included
        with contextlib.suppress(Exception):  # after a Ctrl-C Ray itself may be gone
            stats = await asyncio.wait_for(budget.stats.remote(), DRAIN_TIMEOUT)
        summary.rate_limited = int(stats.get("rate_limited", 0))
    finally:
        report = FinalizeReport()
        if writer is not None:
            writer.flush()
            report = writer.close()
        with contextlib.suppress(Exception):
            sink.finish(summary)
        if budget is not None:
            with contextlib.suppress(Exception):
                ray.kill(budget)
        if started_ray:
            ray.shutdown()
    extra: dict[str, Any] = {
        "actors": actors,
        "concurrency_per_actor": concurrency,
        "ray_init_s": round(init_s, 3),
        "first_result_s": None if drain.first_result is None else round(drain.first_result, 3),
        "actor_starts": int(stats.get("actor_starts", 0)),
        "rate_limit_wait_s": stats.get("waited_seconds", 0.0),
    }
    return EngineOutcome(summary, report, endpoint, prompt_label, schema_cls.__name__, extra)


async def _drive(
    drain: _ResultDrain, dataset: ray.data.Dataset, started: float, stop: asyncio.Event | None
) -> None:
    """Run ``drain`` in a daemon thread until done, cancelled or ``stop`` is set.

    On a stop, results already on their way get :data:`DRAIN_TIMEOUT` seconds; a thread
    still waiting after that is abandoned (it writes nothing more) and the run returns
    interrupted, the documents not written left to a resume.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def target() -> None:
        error: BaseException | None = None
        try:
            drain.run(dataset, started)
        except BaseException as exc:  # handed to the event loop, raised there
            error = exc
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, finished, error)

    thread = threading.Thread(target=target, name="llmx-ray-driver", daemon=True)
    thread.start()
    watched: set[asyncio.Future[Any]] = {finished}
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopper is not None:
        watched.add(stopper)
    summary = drain.tally.summary
    try:
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            summary.interrupted = True
    except asyncio.CancelledError:
        summary.interrupted = True
    finally:
        if stopper is not None:
            stopper.cancel()
        if summary.interrupted:
            drain.halt.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(finished), DRAIN_TIMEOUT)
            with drain.lock:
                drain.abandoned = True
    if finished.done() and not summary.interrupted:
        finished.result()  # a failure of the dataset itself propagates


#: Ray's wrappers around the error that happened (their text holds its traceback)
_WRAPPERS = frozenset({"RayTaskError", "UserCodeException", "SystemException", "RayError"})
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")


def _error_gist(exc: BaseException) -> str:
    """The gist of a (Ray) exception: the last ``SomeError: message`` line of its text or
    its causes' that is not one of Ray's wrappers, else its first line."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__
    for error in chain:
        for line in reversed(str(error).splitlines()):
            match = _ERROR_LINE.match(line)
            if match and match.group(1).rsplit(".", 1)[-1] not in _WRAPPERS:
                return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2).strip()}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
