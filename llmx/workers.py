"""Batch runs over several worker processes (``Settings.workers`` / ``llmx run --workers``).

Why: one llmx process spends a few milliseconds of CPU per document (the openai SDK,
httpx, validation, grounding), so a single event loop saturates one core long before a
fast endpoint does. ``workers=N`` runs N processes, each with its own event loop, over
disjoint shares of the documents; ``workers=1`` (the default) never starts a process.

Design:

* **Sharding by doc_id.** Every worker reads the same inputs (the same lazy
  :func:`~llmx.io.iter_documents` over the same paths, or the same picklable document
  factory) and keeps only the documents whose ``crc32(doc_id) % concurrency % N`` is its
  index. Input-error documents are sharded by their doc_id like the others, and since
  every worker runs the whole deterministic iteration, duplicate doc_ids are detected and
  renamed (``id~2``) identically in all of them: each document lands in exactly one
  worker, no IPC carries documents, and memory stays O(concurrency) per worker. The cost:
  each worker reads (not processes) every input, negligible next to a model call. A list
  of :class:`~llmx.types.Document` objects is sharded by the parent instead; a one-pass
  iterator cannot be shared, so it runs in one process (with a warning).
* **Concurrency and rate limits are split, not multiplied.** Worker ``k`` owns the slots
  ``s < concurrency`` with ``s % N == k``: its concurrency is the number of its slots and
  so is its share of documents (hence the ``% concurrency`` above), so the total in flight
  is exactly ``concurrency`` and the shares finish together. ``rpm``/``tpm`` are split in
  the same proportions. ``N`` is capped at ``concurrency``.
* **One output file, written by all.** Each worker appends complete lines with a single
  ``os.write`` on an ``O_APPEND`` descriptor (:class:`~llmx.io.ResultWriter`); on Linux a
  regular-file write holds the inode lock, so lines from different processes never
  interleave and the output is readable (and resumable) while the run goes on. Part
  files would need a merge step and would leave orphans after a crash. Only the torn-tail
  repair is not safe against concurrent writers, so it happens before anyone writes: the
  parent repairs, the workers open their writers and report ready, and only then does the
  parent truncate (``overwrite``) and say go. Workers close without compacting; the parent
  compacts the output and rebuilds the error report once every worker has exited.
* **Resume and retries** work as in one process: the parent scans the output once and
  hands each worker the skip-set entries of its own shard.
* **Startup.** Workers come from a ``forkserver`` (``spawn`` where there is none), never a
  plain fork of a process that may already run threads or an event loop; the server
  preloads llmx so that a worker starts in a fraction of a second. The parent's
  environment is handed over explicitly. A configuration error in a worker (bad schema,
  endpoint) aborts the run before any document, like in one process.
* **Failures.** A worker that dies (killed, out of memory) or fails mid-run is reported
  in :attr:`~llmx.runner.RunOutcome.worker_errors`; the others carry on. The documents
  it had not finished are simply not in the output, so running the same command again
  resumes them (``llmx run`` exits 1). Its counts so far still enter the summary.
* **Stopping.** Workers ignore SIGINT; Ctrl-C (or ``stop``) in the parent tells each
  worker to stop, and each stops the way one process does (in-flight documents get a few
  seconds, nothing half-done is written). A worker that does not exit in time is
  terminated. If the parent dies, its workers see the pipe close and stop.
* **Progress** comes back over each worker's pipe in batches (every 0.2 s) and is
  replayed into the caller's progress sink; the summary (tokens, requests, cache hits,
  cost, rate limits, errors by kind) is the sum of the workers' summaries, ``elapsed``
  the parent's wall time including worker startup.
* **The bundled local model** (no endpoint configured) always runs with one worker: its
  llama.cpp server answers one request at a time, so more client processes cannot help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import llmx.errors
from llmx.batch import BatchSummary, NullProgress, ProgressSink
from llmx.config import Settings
from llmx.errors import ConfigError, LlmxError
from llmx.io import (
    FinalizeReport,
    ResultWriter,
    default_errors_path,
    finalize_output,
    iter_documents,
    repair_tail,
)
from llmx.pricing import load_prices
from llmx.prompts import Prompt
from llmx.types import Document, Result, Usage

__all__ = [
    "MultiOutcome",
    "WorkerPlan",
    "cpu_count",
    "plan_workers",
    "run_workers",
    "shard_of",
    "worker_slots",
]

log = logging.getLogger(__name__)

#: longest wait between the parent's looks at its workers (it wakes at once on a message
#: or an exit)
_POLL = 0.05
#: seconds between a worker's progress messages
_PROGRESS_EVERY = 0.2
#: seconds a worker waits for the go-ahead between looks at its pipe
_WAIT_GO = 0.01
#: seconds between a running worker's looks for a stop message
_WATCH = 0.1
#: seconds a worker gets to stop after being told (run_batch drains for 5 s)
_STOP_GRACE = 20.0
#: seconds a worker gets to leave when the run is abandoned before it started
_START_GRACE = 2.0
#: seconds a terminated worker gets before it is killed
_TERM_GRACE = 5.0


def cpu_count() -> int:
    """CPUs this process may run on (what ``workers=0`` / ``--workers auto`` means)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def shard_of(doc_id: str, slots: int, workers: int) -> int:
    """The worker that owns ``doc_id``: stable across processes, runs and platforms."""
    return zlib.crc32(doc_id.encode("utf-8", "surrogatepass")) % slots % workers


def worker_slots(concurrency: int, workers: int) -> list[int]:
    """Each worker's concurrency: its number of slots ``s < concurrency`` with ``s % N == k``."""
    return [len(range(k, concurrency, workers)) for k in range(workers)]


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Source:
    """How a worker gets the documents (it keeps only those of its shard)."""

    kind: Literal["paths", "factory", "documents"]
    paths: tuple[str, ...] = ()
    factory: Callable[[], Iterable[Document]] | None = None
    documents: tuple[Document, ...] = ()

    def iterate(self) -> Iterable[Document]:
        if self.kind == "paths":
            return iter_documents(list(self.paths))
        if self.kind == "factory":
            assert self.factory is not None
            return self.factory()
        return self.documents


@dataclass(frozen=True)
class WorkerPlan:
    """How many worker processes a run uses, and over what."""

    workers: int
    source: Source | None = None
    #: document count for the progress bar, when known
    total: int | None = None
    #: why fewer workers than asked for, if so
    reason: str | None = None


def plan_workers(inputs: Any, settings: Settings) -> WorkerPlan:
    """Decide the worker count for ``inputs`` under ``settings`` (1 = stay in-process)."""
    asked = settings.workers or cpu_count()
    workers = min(asked, settings.concurrency)

    def single(reason: str) -> WorkerPlan:
        if asked > 1:
            log.warning("running with 1 worker process instead of %d: %s", asked, reason)
        return WorkerPlan(1, reason=reason)

    if workers <= 1:
        return single(f"concurrency is {settings.concurrency}")
    if settings.uses_local_model:
        return single("the bundled local model serves one request at a time")
    if workers < asked:
        log.info("using %d worker processes: no more than concurrency %d", workers, asked)
    if isinstance(inputs, str | os.PathLike):
        raise TypeError("inputs must be a sequence of paths, not a single path")
    if callable(inputs):
        return WorkerPlan(workers, Source("factory", factory=inputs))
    if isinstance(inputs, Sequence):
        if all(isinstance(i, str | os.PathLike) for i in inputs):
            paths = tuple(os.fspath(i) for i in inputs)
            if "-" in paths:
                return single("stdin ('-') can be read only once")
            return WorkerPlan(workers, Source("paths", paths=paths))
        if all(isinstance(i, Document) for i in inputs):
            return WorkerPlan(workers, Source("documents", documents=tuple(inputs)), len(inputs))
    return single(
        "the inputs are a one-pass iterator; pass paths, a list of documents or a "
        "picklable callable returning documents to use several"
    )


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker process needs; pickled to it."""

    index: int
    workers: int
    slots: int
    settings: Settings
    schema: type[BaseModel] | str
    prompt: str | Prompt | None
    source: Source
    skip: frozenset[str]
    out: Path
    environ: dict[str, str]


#: one finished document as reported to the parent:
#: (ok, cached, prompt_tokens, completion_tokens, requests, error kind)
Tick = tuple[bool, bool, int, int, int, str | None]


def _describe(exc: BaseException) -> dict[str, Any]:
    """A picklable description of an exception, rebuilt by :func:`_rebuild`."""
    if isinstance(exc, LlmxError):
        return {
            "type": type(exc).__name__,
            "message": exc.message,
            "context": {k: str(v) for k, v in exc.context.items()},
        }
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "context": {}}


def _rebuild(info: dict[str, Any], worker: int) -> LlmxError:
    cls = getattr(llmx.errors, str(info.get("type")), None)
    message = str(info.get("message"))
    context = dict(info.get("context") or {})
    if isinstance(cls, type) and issubclass(cls, LlmxError):
        try:
            return cls(message, **context)
        except Exception:  # a subclass with its own signature
            pass
    return LlmxError(f"worker {worker}: {info.get('type')}: {message}", **context)


class _Link:
    """One end of a worker's pipe; never raises, notices when the other end is gone."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.closed = False

    def send(self, message: tuple[Any, ...]) -> None:
        if self.closed:
            return
        try:
            self.conn.send(message)
        except (OSError, EOFError, ValueError):
            self.closed = True

    def receive(self) -> Any:
        """The next message if one is waiting, else None."""
        if self.closed:
            return None
        try:
            if self.conn.poll():
                return self.conn.recv()
        except (OSError, EOFError, ValueError):
            self.closed = True
        return None

    def fileno(self) -> int | None:
        """The pipe's descriptor while it is open (readable when a message or EOF waits)."""
        if self.closed:
            return None
        try:
            return self.conn.fileno()
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.conn.close()


# --------------------------------------------------------------------------- worker side


class _PipeProgress:
    """A progress sink sending batched ticks to the parent."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.ticks: list[Tick] = []
        self.skipped = 0
        self._last = time.monotonic()

    def start(self, total: int | None) -> None:
        pass

    def advance(self, result: Result[Any]) -> None:
        usage = result.usage if not result.cached else Usage()
        kind = None if result.ok else (result.error.kind if result.error else "error")
        self.ticks.append(
            (
                result.ok,
                result.cached,
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.requests,
                kind,
            )
        )
        self._maybe_flush()

    def skip(self, count: int = 1) -> None:
        self.skipped += count
        self._maybe_flush()

    def finish(self, summary: BatchSummary) -> None:
        self.flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last >= _PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.ticks or self.skipped:
            self.link.send(("progress", self.ticks, self.skipped))
            self.ticks, self.skipped = [], 0
        self._last = time.monotonic()


def _shard(job: WorkerJob) -> Iterator[Document]:
    for doc in job.source.iterate():
        if shard_of(doc.doc_id, job.slots, job.workers) == job.index:
            yield doc
        del doc


def _kind(message: Any) -> str | None:
    return message[0] if isinstance(message, tuple) and message else None


class _StoppedBeforeGo(Exception):
    """The parent said stop before go: leave without touching a document."""


def worker_main(job: WorkerJob, conn: Connection) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    os.environ.clear()
    os.environ.update(job.environ)
    link = _Link(conn)
    try:
        asyncio.run(_worker(job, link))
    except BaseException as exc:
        traceback.print_exc()  # a bug or a crash, not a per-document problem: show it
        link.send(("failed", _describe(exc)))
        link.close()
        raise SystemExit(1) from None
    link.close()


async def _worker(job: WorkerJob, link: _Link) -> None:
    from llmx.extractor import Extractor
    from llmx.runner import run_here

    stop = asyncio.Event()
    started = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        while not link.closed:
            if _kind(link.receive()) == "stop":
                break
            await asyncio.sleep(_WATCH)
        stop.set()  # told to stop, or the parent is gone

    writer = ResultWriter(job.out)  # appends; the parent truncates for ``overwrite``

    async def before_run(extractor: Extractor[Any]) -> None:
        nonlocal started, watcher
        writer.open()  # repairs a torn tail now, while nobody writes
        endpoint = extractor.endpoint
        started = True
        link.send(
            (
                "ready",
                {
                    "model": endpoint.model if endpoint else None,
                    "identity": endpoint.identity if endpoint else None,
                    "base_url": endpoint.base_url if endpoint else None,
                    "prompt": extractor.prompt.label,
                    "schema": extractor.schema.__name__,
                },
            )
        )
        while True:
            message = _kind(link.receive())
            if message == "go":
                break
            if message == "stop" or link.closed:
                raise _StoppedBeforeGo
            await asyncio.sleep(_WAIT_GO)
        watcher = asyncio.create_task(watch(), name="llmx-worker-watch")

    sink = _PipeProgress(link)
    settings = job.settings
    try:
        ran = await run_here(
            _shard(job),
            job.schema,
            prompt=job.prompt,
            settings=settings,
            writer=writer,
            skip=set(job.skip),
            progress=sink,
            stop=stop,
            prices=load_prices(settings.prices) if settings.prices else None,
            before_run=before_run,
            finalize=False,
        )
    except _StoppedBeforeGo:
        return
    except LlmxError as exc:
        sink.flush()
        link.send(("failed" if started else "error", _describe(exc)))
        return
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    sink.flush()
    link.send(("done", ran.summary, time.process_time()))


# --------------------------------------------------------------------------- parent side


@dataclass
class MultiOutcome:
    """What :func:`run_workers` did; the runner adds the cost and writes the summary."""

    summary: BatchSummary
    report: FinalizeReport
    worker_errors: list[str] = field(default_factory=list)
    endpoint_model: str | None = None
    endpoint_identity: str | None = None
    endpoint_base_url: str | None = None
    prompt_label: str | None = None
    schema_name: str | None = None
    #: CPU seconds used by the worker processes (those that finished)
    cpu_s: float = 0.0
    #: seconds from the start until every worker was ready
    startup_s: float = 0.0


class _DoneRecord(BaseModel):
    """Stands in for a worker's record in the parent's progress events."""


_DONE = _DoneRecord()


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    link: _Link
    info: dict[str, Any] | None = None
    summary: BatchSummary | None = None
    #: counts from progress messages, the summary of a worker that never sent one
    tally: BatchSummary = field(default_factory=BatchSummary)
    #: CPU seconds the worker process used, as it reported when done
    cpu_s: float = 0.0
    startup_error: LlmxError | None = None
    failure: str | None = None
    exited: bool = False


#: imported once by the forkserver, so that every worker forked from it starts warm:
#: llmx, plus what the openai SDK and its HTTP stack import lazily on a first request
#: (missing ones are skipped)
_PRELOAD = (
    "llmx.workers",
    "llmx._warm",
    "llmx.runner",
    "openai.resources",
    "aiohttp",
    "openai._vendor.httpx_aiohttp",
    "anyio._backends._asyncio",
    "h11",
    "httpcore",
    "httpcore2",
    "docstring_parser",
    "requests",
    "opencc",
)


def _context() -> ForkServerContext | SpawnContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(_PRELOAD))
        return ctx
    spawn: SpawnContext = multiprocessing.get_context("spawn")
    return spawn


def _merge(into: BatchSummary, part: BatchSummary) -> None:
    into.total += part.total
    into.ok += part.ok
    into.failed += part.failed
    into.skipped += part.skipped
    into.cached += part.cached
    into.usage.add(part.usage)
    into.rate_limited += part.rate_limited
    into.interrupted = into.interrupted or part.interrupted
    for kind, count in part.errors_by_kind.items():
        into.errors_by_kind[kind] = into.errors_by_kind.get(kind, 0) + count


def _jobs(
    plan: WorkerPlan,
    schema: type[BaseModel] | str,
    *,
    out: Path,
    prompt: str | Prompt | None,
    settings: Settings,
    skip: set[str],
) -> list[WorkerJob]:
    assert plan.source is not None
    n, slots = plan.workers, settings.concurrency
    shares = worker_slots(slots, n)
    skips: list[set[str]] = [set() for _ in range(n)]
    for doc_id in skip:
        skips[shard_of(doc_id, slots, n)].add(doc_id)
    environ = dict(os.environ)
    jobs = []
    for k, share in enumerate(shares):
        fraction = share / slots
        source = plan.source
        if source.kind == "documents":
            mine = tuple(d for d in source.documents if shard_of(d.doc_id, slots, n) == k)
            source = Source("documents", documents=mine)
        worker_settings = settings.replace(
            concurrency=share,
            workers=1,
            rpm=settings.rpm * fraction if settings.rpm else None,
            tpm=settings.tpm * fraction if settings.tpm else None,
        )
        jobs.append(
            WorkerJob(
                index=k,
                workers=n,
                slots=slots,
                settings=worker_settings,
                schema=schema,
                prompt=prompt,
                source=source,
                skip=frozenset(skips[k]),
                out=out.absolute(),
                environ=environ,
            )
        )
    try:
        pickle.dumps(jobs[0])
    except Exception as exc:
        raise ConfigError(
            "workers > 1 needs inputs, schema and prompt that can be sent to another process: "
            "paths, a list of documents or a module-level callable; a schema by name or an "
            "importable class",
            reason=f"{type(exc).__name__}: {exc}",
        ) from exc
    return jobs


async def run_workers(
    plan: WorkerPlan,
    schema: type[BaseModel] | str,
    *,
    out: Path,
    prompt: str | Prompt | None,
    settings: Settings,
    skip: set[str],
    overwrite: bool,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
) -> MultiOutcome:
    """Run the batch in ``plan.workers`` processes writing to ``out`` (see the module doc)."""
    jobs = _jobs(plan, schema, out=out, prompt=prompt, settings=settings, skip=skip)
    sink: ProgressSink = progress if progress is not None else NullProgress()
    errors_path = default_errors_path(out)
    if not overwrite:  # before any worker writes (the workers' own repair is then a no-op)
        repair_tail(out)
        repair_tail(errors_path)
    ctx = _context()
    started = time.monotonic()
    workers: list[_Worker] = []
    try:
        for job in jobs:
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(
                target=worker_main, args=(job, child_end), name=f"llmx-worker-{job.index}"
            )
            process.daemon = True  # never outlives the parent
            process.start()
            child_end.close()
            workers.append(_Worker(job.index, process, _Link(parent_end)))
        del jobs
        await _start(workers)
        startup_s = time.monotonic() - started
    except BaseException:  # no document was touched: do not wait long
        _stop_all(workers)
        await _reap(workers, grace=_START_GRACE)
        raise
    if overwrite:  # every worker has opened its writer (O_APPEND) and waits: start afresh
        if out.exists():
            os.truncate(out, 0)
        errors_path.unlink(missing_ok=True)
    with contextlib.suppress(Exception):
        sink.start(plan.total)
    for w in workers:
        w.link.send(("go",))
    summary = BatchSummary()
    interrupted = True
    try:
        interrupted = await _supervise(workers, sink, stop)
    finally:  # normally all have exited; after a timeout or a second Ctrl-C, terminate
        _stop_all(workers)
        await _reap(workers, grace=0.0)
        for w in workers:
            _pump(w, sink)
            _note_exit(w)
            w.link.close()
        # every writer is closed: compact once and rebuild the error report
        report = FinalizeReport()
        report.compacted_lines, report.failed_documents = finalize_output(out, errors_path)
        report.errors_path = errors_path if report.failed_documents else None
        for w in workers:
            _merge(summary, w.summary if w.summary is not None else w.tally)
        summary.interrupted = summary.interrupted or interrupted
        summary.elapsed = time.monotonic() - started
        with contextlib.suppress(Exception):
            sink.finish(summary)
    info = next((w.info for w in workers if w.info is not None), {})
    return MultiOutcome(
        summary,
        report,
        [w.failure for w in workers if w.failure is not None],
        endpoint_model=info.get("model"),
        endpoint_identity=info.get("identity"),
        endpoint_base_url=info.get("base_url"),
        prompt_label=info.get("prompt"),
        schema_name=info.get("schema"),
        cpu_s=sum(w.cpu_s for w in workers),
        startup_s=startup_s,
    )


async def _activity(fds: list[int | None], timeout: float) -> None:
    """Return once one of ``fds`` is readable (a message, a closed pipe, an exited process
    sentinel) or after ``timeout`` seconds; without reader support, just wait."""
    loop = asyncio.get_running_loop()
    woke = asyncio.Event()
    added: list[int] = []
    try:
        for fd in fds:
            if fd is None:
                continue
            try:
                loop.add_reader(fd, woke.set)
            except (NotImplementedError, OSError, ValueError):  # e.g. Windows' proactor
                continue
            added.append(fd)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woke.wait(), timeout)
    finally:
        for fd in added:
            loop.remove_reader(fd)


def _watched(workers: list[_Worker]) -> list[int | None]:
    """The descriptors that tell about ``workers``: their pipes and exit sentinels."""
    return [w.link.fileno() for w in workers] + [
        w.process.sentinel for w in workers if not w.exited
    ]


async def _start(workers: list[_Worker]) -> None:
    """Wait until every worker is ready; raise the first startup error."""
    sink = NullProgress()
    while True:
        for w in workers:
            _pump(w, sink)
            if w.startup_error is not None:
                raise w.startup_error
            if w.info is None and not w.process.is_alive():
                _pump(w, sink)
                if w.startup_error is not None:
                    raise w.startup_error
                if w.info is None:
                    _note_exit(w)
                    raise LlmxError(
                        "a worker process failed to start", worker=w.index, reason=w.failure
                    )
        if all(w.info is not None for w in workers):
            return
        await _activity(_watched(workers), _POLL)


async def _supervise(
    workers: list[_Worker], sink: ProgressSink, stop: asyncio.Event | None
) -> bool:
    """Relay progress until every worker has exited; True when the run was interrupted."""
    interrupted = False
    deadline: float | None = None
    while True:
        try:
            while not all(w.exited for w in workers):
                for w in workers:
                    _pump(w, sink)
                    if not w.exited and not w.process.is_alive():
                        _pump(w, sink)
                        _note_exit(w)
                if stop is not None and stop.is_set() and not interrupted:
                    interrupted = True
                    _stop_all(workers)
                    deadline = time.monotonic() + _STOP_GRACE
                if deadline is not None and time.monotonic() > deadline:
                    return interrupted  # the caller terminates what is left
                await _activity(_watched(workers), _POLL)
            return interrupted
        except asyncio.CancelledError:  # Ctrl-C: stop the workers, then wait for them
            if interrupted:
                raise  # cancelled again while waiting: stop now (the caller terminates)
            interrupted = True
            _stop_all(workers)
            deadline = time.monotonic() + _STOP_GRACE


def _pump(w: _Worker, sink: ProgressSink) -> None:
    """Handle every message waiting on ``w``'s pipe."""
    while True:
        message = w.link.receive()
        if message is None:
            return
        kind = message[0]
        if kind == "progress":
            _, ticks, skipped = message
            _replay(w.tally, sink, ticks, skipped)
        elif kind == "ready":
            w.info = message[1]
        elif kind == "done":
            w.summary, w.cpu_s = message[1], message[2]
        elif kind == "error":
            w.startup_error = _rebuild(message[1], w.index)
            w.failure = f"worker {w.index} could not start: {w.startup_error}"
        elif kind == "failed":
            error = message[1]
            w.failure = f"worker {w.index} failed: {error['type']}: {error['message']}"


def _replay(tally: BatchSummary, sink: ProgressSink, ticks: list[Tick], skipped: int) -> None:
    for ok, cached, prompt_tokens, completion_tokens, requests, kind in ticks:
        tally.total += 1
        usage = Usage(prompt_tokens, completion_tokens, requests)
        error: LlmxError | None = None
        if ok:
            tally.ok += 1
        else:
            tally.failed += 1
            kind = kind or "error"
            tally.errors_by_kind[kind] = tally.errors_by_kind.get(kind, 0) + 1
            error = LlmxError("failed in a worker process")
            error.kind = kind
        if cached:
            tally.cached += 1
        else:
            tally.usage.add(usage)
        result: Result[Any] = Result(
            doc_id="",
            source="",
            record=_DONE if ok else None,
            usage=usage,
            cached=cached,
            error=error,
        )
        with contextlib.suppress(Exception):
            sink.advance(result)
    if skipped:
        tally.total += skipped
        tally.skipped += skipped
        with contextlib.suppress(Exception):
            sink.skip(skipped)


def _note_exit(w: _Worker) -> None:
    """Record a worker that has exited; a failure unless it sent its summary."""
    w.exited = True
    if w.summary is None and w.failure is None:
        code = w.process.exitcode
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else (f"exited with code {code}")
        )
        w.failure = (
            f"worker {w.index} (pid {w.process.pid}) {how} before finishing its share; "
            "run again to resume the documents it had not finished"
        )


def _stop_all(workers: list[_Worker]) -> None:
    for w in workers:
        if not w.exited:
            w.link.send(("stop",))


async def _reap(workers: list[_Worker], *, grace: float) -> None:
    """Wait up to ``grace`` seconds for the workers to exit, then terminate, then kill."""
    deadline = time.monotonic() + grace
    for escalate in (None, "terminate", "kill"):
        alive = [w for w in workers if w.process.is_alive()]
        if not alive:
            break
        if escalate is not None:
            for w in alive:
                log.warning("worker %d did not stop in time: %s", w.index, escalate)
                getattr(w.process, escalate)()
            deadline = time.monotonic() + _TERM_GRACE
        while any(w.process.is_alive() for w in alive) and time.monotonic() < deadline:
            try:
                await _activity([w.process.sentinel for w in alive], _POLL)
            except asyncio.CancelledError:
                deadline = 0.0  # cancelled again: escalate now
    for w in workers:
        w.process.join(timeout=1.0)
