"""The Ray engine: many documents over a Ray cluster (``llmx run --engine ray``).

The data path::

    inputs -> Ray Dataset of documents -> map_batches(pool of extractor actors)
           -> driver: the same Tally (output file, counts, progress) as one process

* **Documents as a Ray Dataset.** Paths, folders, globs and ``.jsonl`` files are read by
  llmx's own reader (:func:`llmx._io.iter_documents`, so doc_ids, duplicate renaming and
  unreadable-input errors are exactly those of one process) inside one Ray read task
  pinned to the driver's node, where the paths were named; ``.parquet`` files are read
  by Ray Data itself (``read_parquet``, on any node; columns ``id``, ``text``, the rest
  going to ``meta``). A document travels pickled, with its doc_id beside it, in blocks
  of ``concurrency`` documents (a streaming repartition), so results flow back while
  reading goes on and a lost block costs little.
* **A pool of actors**, each holding one :class:`~llmx._extractor.Extractor` (its client,
  its cache handle, its event loop): ``map_batches`` with an async callable class on an
  ``ActorPoolStrategy`` of ``actors`` actors, each running several batches at once, and
  ``concurrency`` documents in flight per actor (a governor slot per document, as in one
  process: :func:`llmx._batch.process_one`).
* **One limiter for all.** rpm/tpm buckets and the 429 pause live in one small async
  actor (:class:`_Budget`, a :class:`~llmx._ratelimit.RateLimiter`); every extractor's
  limiter (:class:`_SharedLimiter`) asks it before each request, so a 429 seen by one
  actor pauses them all, and each halves its own concurrency when it learns of it.
* **The driver writes.** Results come back (pickled :class:`~llmx._types.Result`) as Ray
  Data streams them; the driver records each with :class:`llmx._batch.Tally` into the
  same :class:`~llmx._io.ResultWriter` as one process: the same output lines, error
  report, summary, token and cost accounting. Resume uses the same scan (the skip set
  goes to every actor; a skipped document is counted, not extracted).
* **Faults.** Ray Data restarts a killed actor and retries the batches it held; their
  results never reached the driver, so each document is written once (answers the
  killed actor already had come from the cache when its node keeps one). A driver
  killed outright loses only documents not yet written: running the same command
  again resumes. Ctrl-C (or ``stop``) stops taking results, keeps the ones already
  back, and shuts the dataset down; a resume redoes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import pickle
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmx._accounting import (
    BatchSummary,
    NullProgress,
    ProgressSink,
    Tally,
    is_done,
    unreadable,
)
from llmx._batch import Process, process_one
from llmx._config import Settings
from llmx._endpoints import Endpoint
from llmx._engines import EngineOutcome, batch_concurrency, document_process, run_cost
from llmx._errors import ConfigError, InputError, LlmxError
from llmx._extractor import Extractor
from llmx._inputs import iter_documents
from llmx._outfile import FinalizeReport
from llmx._pricing import PriceTable
from llmx._prompts import Prompt, load_prompt
from llmx._ratelimit import RateLimiter
from llmx._resume import ResumeIndex
from llmx._schemas import load_schema
from llmx._shards import new_shard_path
from llmx._types import Document, Result
from llmx._writer import ResultWriter

try:
    import pyarrow as pa
    import ray
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask
except ImportError as exc:  # pragma: no cover - exercised in a child process by the tests
    raise ConfigError(
        "the Ray engine needs Ray: pip install 'llmx[ray]'", missing=exc.name or "ray"
    ) from exc

__all__ = ["RayOptions", "run_ray"]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _Job:
    """What every actor needs to build its extractor (pickled to each)."""

    schema: type[BaseModel] | str
    prompt: str | Prompt | None
    settings: Settings
    prices: PriceTable | None
    concurrency: int
    shard_dir: Path | None = None


# --------------------------------------------------------------------------- the limiter


class _Budget:
    """The run's one rate limiter, as an async Ray actor every extractor consults."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = RateLimiter(
            settings.rpm,
            settings.tpm,
            max_concurrency=1,  # unused here: each actor governs its own documents
            base_backoff=settings.backoff_initial,
            max_backoff=settings.backoff_max,
        )
        self._members: list[Any] = []

    async def acquire(self, tokens: int) -> tuple[int, int]:
        """Wait until a request of ``tokens`` fits (a 429 pause included); returns the
        reservation and the 429s seen so far (an actor halves its concurrency when that
        count moves)."""
        reserved = await self._limiter.acquire(tokens)
        return reserved, self._limiter.rate_limited

    def record(self, actual: int, estimated: int, success: bool) -> None:
        self._limiter.record(actual, estimated, success=success)

    def on_rate_limited(self, retry_after: float | None) -> float:
        return self._limiter.on_rate_limited(retry_after)

    def register(self, actor: Any) -> None:
        """An extractor actor says it started (a restarted one registers again)."""
        self._members.append(actor)

    def members(self) -> list[Any]:
        """The extractor actors that started, restarted ones once per start."""
        return list(self._members)

    def stats(self) -> dict[str, float]:
        limiter = self._limiter
        return {
            "rate_limited": limiter.rate_limited,
            "requests": limiter.requests,
            "waited_seconds": round(limiter.waited_seconds, 3),
            "actor_starts": len(self._members),
        }


class _SharedLimiter(RateLimiter):
    """An extractor's limiter whose buckets and 429 pause are the :class:`_Budget` actor's.

    Every request waits in the budget actor (:meth:`acquire`: one call per request), so
    a pause set there holds every actor's next request. The governor (documents in
    flight) stays local: each actor halves it once per 429 burst anyone reports, and
    grows it back on its own successes. Settling a request (:meth:`record`) only goes to
    the budget when it matters there: a tokens-per-minute bucket to adjust, or a
    back-off to reset after 429s.
    """

    def __init__(self, budget: Any, concurrency: int, *, tpm: float | None) -> None:
        super().__init__(None, None, max_concurrency=concurrency)
        self._budget = budget
        self._tpm = tpm
        self._storms_seen = 0

    def _follow(self, storms: int) -> None:
        if storms > self._storms_seen:
            self._storms_seen = storms
            self.governor.on_rate_limited()

    async def acquire(self, tokens_estimate: int = 0) -> int:
        reserved, storms = await self._budget.acquire.remote(max(0, int(tokens_estimate)))
        self._follow(storms)
        self.requests += 1
        return int(reserved)

    def record(
        self, actual_tokens: int, estimated_tokens: int = 0, *, success: bool = True
    ) -> None:
        actual = max(0, int(actual_tokens))
        self.tokens_used += actual
        if self._tpm is not None or self._storms_seen:
            self._budget.record.remote(actual, int(estimated_tokens), success)
        if success:
            self.governor.on_success()

    def on_rate_limited(self, retry_after: float | None = None) -> float:
        self.rate_limited += 1
        self._budget.on_rate_limited.remote(retry_after)
        return 0.0

    async def wait_if_paused(self) -> None:
        """Nothing to wait for here: the pause holds each request in :meth:`acquire`."""


# --------------------------------------------------------------------------- the actors


class _ExtractActor:
    """One extractor on a Ray worker: the ``map_batches`` callable of the actor pool.

    Its ``__call__`` is a coroutine, so Ray Data runs the calls on one event loop of the
    actor, several at a time; the extractor is built on that loop at the first call.
    """

    def __init__(self, job: _Job, budget: Any, skip: Any) -> None:
        """``skip``: the object ref of the run's skip set (put once, shared by all)."""
        import llmx._warm  # noqa: F401  # build the process-wide caches before documents wait

        self._job = job
        self._budget = budget
        self._skip: set[str] = ray.get(skip)
        self._lock: asyncio.Lock | None = None
        self._limiter: RateLimiter | None = None
        self._process: Process | None = None
        self._extractor: Extractor[Any] | None = None
        self._shard: ResultWriter | None = None
        if job.shard_dir is not None:  # a restarted actor starts a new shard (at its first line)
            self._shard = ResultWriter(new_shard_path(job.shard_dir))
        budget.register.remote(ray.get_runtime_context().current_actor)

    async def _ready(self) -> Process:
        if self._process is not None:
            return self._process
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._process is None:
                job = self._job
                extractor: Extractor[Any] = Extractor(
                    job.schema, prompt=job.prompt, settings=job.settings
                )
                self._limiter = extractor.limiter = _SharedLimiter(
                    self._budget, job.concurrency, tpm=job.settings.tpm
                )
                await extractor.start()
                self._extractor = extractor
                self._process = document_process(extractor, job.prices)
        assert self._process is not None
        return self._process

    async def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        process = await self._ready()
        docs: list[Document] = [pickle.loads(blob) for blob in batch["doc"]]
        statuses = [str(s) for s in batch["status"]]
        results = await asyncio.gather(
            *(self._one(doc, status, process) for doc, status in zip(docs, statuses, strict=True))
        )
        return {
            "doc_id": [doc.doc_id for doc in docs],
            # "" for a document processed here, else why it was skipped (done, failed)
            "skipped": [
                ("done" if status == "run" else status) if result is None else ""
                for status, result in zip(statuses, results, strict=True)
            ],
            "result": [b"" if result is None else _dump_result(result) for result in results],
        }

    async def _one(self, doc: Document, status: str, process: Process) -> Result[Any] | None:
        if status != "run" or is_done(doc, self._skip):
            return None
        if doc.error is not None:
            result = unreadable(doc)
        else:
            result = await process_one(doc, process, self._limiter)
        if self._shard is not None:
            self._shard.write(result)
        return result


def _dump_result(result: Result[Any]) -> bytes:
    try:
        return pickle.dumps(result)
    except Exception as exc:  # never lose the document over a pickling problem
        failed: Result[Any] = Result(
            doc_id=result.doc_id,
            source=result.source,
            usage=result.usage,
            attempts=result.attempts,
            error=InputError(
                f"cannot send the result back: {type(exc).__name__}: {exc}",
                doc_id=result.doc_id,
            ),
        )
        return pickle.dumps(failed)


# --------------------------------------------------------------------------- the inputs


def _block(docs: Sequence[Document], statuses: Sequence[str] | None = None) -> pa.Table:
    """Documents as rows; ``status`` is the resume's verdict: ``run`` (extract it),
    ``done`` (already in the output) or ``failed`` (failed before, not retried)."""
    return pa.table(
        {
            "doc_id": pa.array([doc.doc_id for doc in docs], pa.string()),
            "doc": pa.array([pickle.dumps(doc) for doc in docs], pa.binary()),
            "status": pa.array(statuses or ["run"] * len(docs), pa.string()),
        }
    )


class _Documents(Datasource):
    """llmx's own input reader as a datasource: one read task on the driver's node."""

    def __init__(
        self, read: Callable[[], Iterable[Document]], rows: int, resume: ResumeIndex | None
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._read = read
        self._rows = rows
        self._resume = resume

    def get_name(self) -> str:
        return "LlmxInputs"

    @property
    def supports_distributed_reads(self) -> bool:
        return False  # the paths were named on the driver's machine

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        read, rows, resume = self._read, self._rows, self._resume

        def blocks() -> Iterator[pa.Table]:
            # one read task reads every document in order: the resume's verdicts (and
            # the new doc_id of different content under a taken one) are the same as
            # in one process
            chunk: list[Document] = []
            statuses: list[str] = []
            for doc in read():
                status = "run"
                if resume is not None:
                    doc, status = resume.resolve(doc)
                chunk.append(doc)
                statuses.append(status)
                if len(chunk) >= rows:
                    yield _block(chunk, statuses)
                    chunk, statuses = [], []
            if chunk:
                yield _block(chunk, statuses)

        meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
        return [ReadTask(blocks, meta)]


def _parquet_documents(table: pa.Table) -> pa.Table:
    """Rows of a Parquet file (``id``, ``text``, other columns: ``meta``) as documents."""
    return _block([_parquet_document(row) for row in table.to_pylist()])


def _parquet_document(row: dict[str, Any]) -> Document:
    path = str(row.pop("path", "") or "")
    raw_id = row.pop("id", None)
    text = row.pop("text", None)
    meta = {key: value for key, value in row.items() if value is not None}
    name = Path(path).name
    if not isinstance(text, str):
        doc_id = str(raw_id) if raw_id not in (None, "") else f"{name}:no-text"
        error = InputError("parquet row has no text column value", path=path, doc_id=doc_id)
        return Document(doc_id=doc_id, source=path, data="", meta=meta, error=error)
    if raw_id in (None, ""):
        # no row numbers in a distributed read: the text itself names the row
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return Document(doc_id=f"{name}:{digest}", source=path, data=text, meta=meta)
    return Document(doc_id=str(raw_id), source=path, data=text, meta=meta)


def _all_paths(inputs: Any) -> bool:
    return isinstance(inputs, Sequence) and all(isinstance(i, str | os.PathLike) for i in inputs)


def _check_inputs(inputs: Any) -> None:
    """What the one-process engine accepts and this one cannot, refused before Ray starts."""
    if isinstance(inputs, str | os.PathLike):
        raise TypeError("inputs must be a sequence of paths, not a single path")
    if _all_paths(inputs) and "-" in [os.fspath(i) for i in inputs]:
        raise ConfigError("--engine ray cannot read stdin ('-'): save it to a file and pass that")


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(".parquet") and os.path.exists(path)


def _dataset(inputs: Any, rows: int, resume: ResumeIndex | None) -> ray.data.Dataset:
    """The documents of ``inputs`` as a dataset of blocks of ``rows`` documents, each
    with the resume's verdict (Parquet rows, read in parallel, are checked by doc_id in
    the actors instead)."""
    parts: list[ray.data.Dataset] = []
    readers: list[Callable[[], Iterable[Document]]] = []
    if callable(inputs):
        readers.append(inputs)
    elif _all_paths(inputs):
        paths = [os.fspath(i) for i in inputs]
        parquet = [p for p in paths if _is_parquet(p)]
        others = [p for p in paths if not _is_parquet(p)]
        if others:
            readers.append(functools.partial(iter_documents, others))
        if parquet:
            table = ray.data.read_parquet(parquet, include_paths=True)
            parts.append(table.map_batches(_parquet_documents, batch_format="pyarrow"))
    else:
        readers.append(functools.partial(iter, list(inputs)))
    for read in readers:
        parts.append(
            ray.data.read_datasource(
                _Documents(read, rows, resume), override_num_blocks=1, num_cpus=0.1
            )
        )
    dataset = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    return dataset.repartition(target_num_rows_per_block=rows)


# --------------------------------------------------------------------------- the driver


@dataclass
class _Drain:
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
                f"cannot join the Ray cluster: {_first_line(exc)}", address=address
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
    """Extract ``inputs`` on a Ray cluster into ``writer`` (see the module doc).

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
    _check_inputs(inputs)
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
    rows = max(1, concurrency)

    began = time.monotonic()
    # in this thread: Ray sets its signal handlers from the main thread (seconds during
    # which this event loop has nothing else to do)
    started_ray, init_s = _connect(options.address)
    summary = BatchSummary()
    sink: ProgressSink = progress if progress is not None else NullProgress()
    drain = _Drain(Tally(summary, writer, sink))
    budget: Any = None
    actors = options.actors or 0
    stats: dict[str, float] = {}
    try:
        _quiet_data_context()
        actors = actors or _default_actors()
        budget = (
            ray.remote(num_cpus=0)(_Budget)
            .options(name=f"llmx-budget-{uuid.uuid4().hex[:12]}")
            .remote(settings)
        )
        resume = skip if isinstance(skip, ResumeIndex) else None
        skip_ref = ray.put(skip.done_ids() if isinstance(skip, ResumeIndex) else skip)
        if options.shard_dir is not None:
            options.shard_dir.mkdir(parents=True, exist_ok=True)
        job = _Job(schema, prompt, settings, prices, concurrency, options.shard_dir)
        dataset = _dataset(inputs, rows, resume).map_batches(
            _ExtractActor,
            fn_constructor_kwargs={"job": job, "budget": budget, "skip": skip_ref},
            batch_size=rows,
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
                f"the Ray job failed: {_first_line(exc)}",
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
    summary.cost = run_cost(endpoint, summary.usage, prices)
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
    drain: _Drain, dataset: ray.data.Dataset, started: float, stop: asyncio.Event | None
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


def _first_line(exc: BaseException) -> str:
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
