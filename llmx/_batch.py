"""The batch engine: many documents through ``process`` with bounded concurrency.

Design:

* one producer task reads the (lazy) document iterator into a bounded
  ``asyncio.Queue(maxsize=concurrency)``; a fixed pool of ``concurrency`` worker
  tasks pulls from it. At most ``2 * concurrency + 2`` documents are alive at
  once, however long the input is.
* every document read ends as exactly one output line (via the
  :class:`~llmx._writer.ResultWriter`): documents with ``error`` set are written
  without calling ``process``; an exception escaping ``process`` becomes an
  error line; doc_ids in ``skip`` are counted and not processed.
* a :class:`~llmx._ratelimit.RateLimiter` makes each worker sit out a 429 pause
  and hold a :class:`~llmx._ratelimit.ConcurrencyGovernor` slot per document, so
  the effective concurrency follows the governor (AIMD) below the worker count.
  The HTTP layer inside ``process`` calls ``acquire``/``record``/
  ``on_rate_limited`` on the same limiter per request.
* cancellation (Ctrl-C under ``asyncio.run``) or a set ``stop`` event: no new
  documents start, in-flight ones get ``drain_timeout`` seconds to finish and
  are then cancelled (a cancelled document writes nothing, so a resume redoes
  it), the writer is fsynced, and ``run_batch`` *returns* a summary with
  ``interrupted=True`` instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmx._errors import ConfigError, EndpointError, LlmxError
from llmx._ratelimit import RateLimiter
from llmx._resume import ResumeIndex
from llmx._types import Document, Result, Usage
from llmx._writer import ResultWriter

__all__ = [
    "BatchSummary",
    "FailureStreak",
    "NullProgress",
    "ProgressSink",
    "Tally",
    "is_done",
    "process_one",
    "run_batch",
    "unreadable",
]

Process = Callable[[Document], Awaitable[Result[Any]]]


@dataclass
class BatchSummary:
    """Counts and totals of one :func:`run_batch` call.

    ``total`` counts documents read from the input, skipped ones included;
    ``usage`` sums non-cached results only (cached ones cost no request).
    """

    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    elapsed: float = 0.0
    interrupted: bool = False
    rate_limited: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    #: skipped documents whose output line is a failure (rerun with ``retry_failed``)
    skipped_failed: int = 0
    #: documents given a new doc_id because theirs was taken (in the output or this run)
    renamed: int = 0
    #: why the run stopped before reading every document (the endpoint failing every
    #: request the same way); ``None`` when it did not
    stopped_early: str | None = None

    @property
    def processed(self) -> int:
        return self.ok + self.failed

    @property
    def requests(self) -> int:
        return self.usage.requests

    @property
    def docs_per_second(self) -> float:
        return self.processed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def resume_hint(self) -> str | None:
        if self.stopped_early:
            return (
                f"stopped early: {self.stopped_early}. Documents not yet processed are not in "
                "the output: once the endpoint works, run the same command again with "
                "--retry-failed to resume them and redo the failed ones"
            )
        if self.interrupted:
            return (
                f"interrupted after {self.processed} document(s); run the same command again "
                "to resume: documents already in the output are skipped"
            )
        if self.skipped_failed:
            return (
                f"{self.skipped_failed} document(s) failed in an earlier run and were skipped; "
                "run again with --retry-failed to retry them"
            )
        return None

    def count(self, result: Result[Any]) -> None:
        """Count one processed document: ok or failed (by error kind), from the cache
        or with its usage."""
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
            kind = result.error.kind if result.error is not None else "error"
            self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1
        if result.cached:
            self.cached += 1
        else:
            self.usage.add(result.usage)

    def to_dict(self) -> dict[str, Any]:
        """The summary as the summary file's ``run`` object."""
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "cached": self.cached,
            "usage": self.usage.to_dict(),
            "requests": self.requests,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "elapsed": round(self.elapsed, 3),
            "docs_per_second": round(self.docs_per_second, 3),
            "interrupted": self.interrupted,
            "rate_limited": self.rate_limited,
            "errors_by_kind": dict(self.errors_by_kind),
            "skipped_failed": self.skipped_failed,
            "renamed": self.renamed,
            "stopped_early": self.stopped_early,
        }


class ProgressSink(Protocol):
    """Receives progress events; every method must be cheap and never raise."""

    def start(self, total: int | None) -> None: ...

    def advance(self, result: Result[Any]) -> None: ...

    def skip(self, count: int = 1) -> None: ...

    def finish(self, summary: BatchSummary) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, total: int | None) -> None:
        pass

    def advance(self, result: Result[Any]) -> None:
        pass

    def skip(self, count: int = 1) -> None:
        pass

    def finish(self, summary: BatchSummary) -> None:
        pass


def _failure(doc: Document, exc: BaseException) -> Result[Any]:
    if isinstance(exc, LlmxError):
        error = exc
    else:
        error = LlmxError(
            f"unexpected {type(exc).__name__} while processing: {exc}",
            exception=type(exc).__name__,
            doc_id=doc.doc_id,
        )
    result = Result.for_document(doc, error)
    result.attempts = 1
    return result


#: consecutive documents failing with the same endpoint error that stop a run
DEFAULT_STOP_AFTER = 3


class FailureStreak:
    """Counts consecutive documents that failed with the same endpoint error.

    An endpoint that is down or rejects every request (refused connections, 401, 404)
    fails every document after its full retry schedule; once ``limit`` documents in a
    row failed the same way (kind, HTTP status and message) the run stops reading
    documents, so the rest stay unprocessed and a later run resumes them. A success or
    any other outcome resets the count; ``limit`` 0 never stops.
    """

    def __init__(self, limit: int = DEFAULT_STOP_AFTER) -> None:
        self.limit = limit
        self.count = 0
        self._last: tuple[str, str, str] | None = None

    def add(self, result: Result[Any]) -> str | None:
        """Count ``result``; the reason to stop when the streak reached the limit."""
        error = result.error
        if error is None or not isinstance(error, EndpointError):
            self.count, self._last = 0, None
            return None
        signature = (error.kind, str(error.context.get("status", "")), error.message)
        if signature == self._last:
            self.count += 1
        else:
            self.count, self._last = 1, signature
        if self.limit and self.count >= self.limit:
            return f"{self.count} documents in a row failed the same way: {error.message}"
        return None


def is_done(doc: Document, skip: set[str]) -> bool:
    """Whether a resume on doc_ids alone skips ``doc``: its id is already in the output."""
    return doc.doc_id in skip


def unreadable(doc: Document) -> Result[Any]:
    """The result of a document that could not be read (``doc.error`` is set)."""
    return Result.for_document(doc, doc.error)


async def process_one(doc: Document, process: Process, limiter: RateLimiter | None) -> Result[Any]:
    """One document through ``process``, never raising (but for cancellation).

    Sits out a 429 pause of ``limiter`` and holds one of its governor's slots; an
    exception becomes an error result. Every engine processes a document this way.
    """
    try:
        if limiter is None:
            result = await process(doc)
        else:
            await limiter.wait_if_paused()
            async with limiter.governor.slot():
                result = await process(doc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return _failure(doc, exc)
    if not isinstance(result, Result):
        return _failure(doc, TypeError(f"process returned {type(result).__name__}, not Result"))
    if result.doc_id != doc.doc_id:
        result.doc_id = doc.doc_id
        result.source = doc.source
    if result.content_sha256 is None:  # a process that did not fill them in
        result.content_sha256 = doc.content_sha256
        result.meta = result.meta or dict(doc.meta)
        result.notes = [*doc.notes, *result.notes]
    return result


class Tally:
    """Writes each document's result and counts it into a :class:`BatchSummary`.

    The accounting every engine shares: :func:`run_batch` admits the documents it reads
    and records their results here; the Ray engine's driver does the same with what its
    actors send back. ``writer=None``: the lines are written elsewhere (shards written by
    the actors themselves), only counted here. ``stop_after`` consecutive documents
    failing with the same endpoint error (:class:`FailureStreak`) set the summary's
    ``stopped_early`` and call ``on_stop``.
    """

    def __init__(
        self,
        summary: BatchSummary,
        writer: ResultWriter | None,
        sink: ProgressSink,
        *,
        stop_after: int = DEFAULT_STOP_AFTER,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.summary = summary
        self.writer = writer
        self.sink = sink
        self.streak = FailureStreak(stop_after)
        self.on_stop = on_stop

    def admit(self, doc: Document, skip: set[str] | ResumeIndex | None) -> Document | None:
        """Count ``doc`` as read; the document to process (renamed when its id was taken
        by other content), or ``None`` when it is not to be processed (done already, or
        unreadable: its error result is recorded now)."""
        self.summary.total += 1
        status = "run"
        if isinstance(skip, ResumeIndex):
            doc, status = skip.resolve(doc)
        elif skip and doc.doc_id in skip:
            status = "done"
        if doc.notes:  # reading it gave it another doc_id than its natural one
            self.summary.renamed += 1
        if status != "run":
            self._skipped(status == "failed")
            return None
        if doc.error is not None:
            self.record(unreadable(doc))
            return None
        return doc

    def skip(self, *, failed: bool = False) -> None:
        """Count one document read and skipped (already in the output)."""
        self.summary.total += 1
        self._skipped(failed)

    def _skipped(self, failed: bool) -> None:
        self.summary.skipped += 1
        if failed:
            self.summary.skipped_failed += 1
        with contextlib.suppress(Exception):
            self.sink.skip(1)

    def done(self, result: Result[Any]) -> None:
        """Count one document read and processed elsewhere (another process), and record it."""
        self.summary.total += 1
        self.record(result)

    def record(self, result: Result[Any]) -> None:
        """Write ``result``'s line and add it to the counts."""
        summary = self.summary
        if self.writer is not None:
            self.writer.write(result)
        summary.count(result)
        with contextlib.suppress(Exception):  # a broken progress bar must not lose documents
            self.sink.advance(result)
        reason = self.streak.add(result)
        if reason is not None and summary.stopped_early is None:
            summary.stopped_early = reason
            if self.on_stop is not None:
                self.on_stop()


@dataclass
class _State:
    summary: BatchSummary
    stopping: bool = False
    busy: set[asyncio.Task[None]] = field(default_factory=set)
    #: the producer read the last document
    exhausted: bool = False
    #: documents whose processing was cancelled (nothing written for them)
    cancelled: int = 0


#: batch runs in progress in this process (see ``_frozen_heap``)
_frozen_runs = 0
#: the collector's thresholds before the first of them started
_saved_thresholds = gc.get_threshold()
#: allocations between young-generation collections during a run (Python's default: 700)
_GEN0_THRESHOLD = 10_000


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects alive before the run.

    A full (generation 2) collection walks every object in the process: the gazetteer,
    the OpenCC tables, pydantic's and the SDK's schemas. That is ~140 ms per pass on a
    2-CPU machine, during which the event loop sends and reads nothing, a few times per
    thousand documents. What is alive when the run starts lives through it, so
    ``gc.freeze`` moves it out of the collector's sight until the run ends
    (``gc.unfreeze``); documents, answers and records made during the run are collected
    as usual, young ones every 10,000 allocations instead of 700 (fewer, equally short
    passes). Nested or concurrent runs do this once; the thresholds are restored after.
    """
    global _frozen_runs, _saved_thresholds
    if _frozen_runs == 0:
        gc.freeze()
        _saved_thresholds = gc.get_threshold()
        first, *older = _saved_thresholds
        gc.set_threshold(max(first, _GEN0_THRESHOLD), *older)
    _frozen_runs += 1
    try:
        yield
    finally:
        _frozen_runs -= 1
        if _frozen_runs == 0:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()


async def run_batch(
    documents: Iterable[Document],
    process: Process,
    *,
    writer: ResultWriter,
    concurrency: int = 8,
    limiter: RateLimiter | None = None,
    skip: set[str] | ResumeIndex | None = None,
    progress: ProgressSink | None = None,
    cost_estimator: Callable[[Usage], float | None] | None = None,
    stop: asyncio.Event | None = None,
    drain_timeout: float = 5.0,
    total: int | None = None,
    stop_after: int = DEFAULT_STOP_AFTER,
) -> BatchSummary:
    """Run ``process`` over ``documents``; every document read ends in ``writer``.

    ``skip``: a :class:`~llmx._resume.ResumeIndex` of the output (documents done with the
    same content are skipped, others under a taken id renamed), or a set of doc_ids
    skipped on their id alone (:meth:`llmx._resume.ResumeIndex.done_ids`).
    ``stop_after``: consecutive documents failing with the same endpoint error that
    stop the run early (:class:`FailureStreak`; 0: never); the summary's
    ``stopped_early`` says why, and documents not started are left for a resume.
    ``cost_estimator``: e.g. ``functools.partial(estimate_cost, model)``.
    ``stop``: set it to stop gracefully (same as cancelling the task).
    ``total``: document count for the progress bar (default: ``len(documents)``
    when it has one). Exceptions from the writer (disk full) or from the
    document iterator itself abort the run after draining, and propagate.
    ``writer`` is opened if needed and fsynced at the end, not closed: the
    caller's ``writer.close()`` compacts the output and rebuilds the error report.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1", concurrency=concurrency)
    sink: ProgressSink = progress if progress is not None else NullProgress()
    if total is None and isinstance(documents, Sized):
        total = len(documents)
    state = _State(summary=BatchSummary())
    summary = state.summary
    queue: asyncio.Queue[Document | None] = asyncio.Queue(maxsize=concurrency)
    started = time.monotonic()
    writer.open()
    sink.start(total)
    stopped = asyncio.Event()  # the failure streak reached its limit

    def end_early() -> None:
        state.stopping = True
        stopped.set()

    tally = Tally(summary, writer, sink, stop_after=stop_after, on_stop=end_early)
    record = tally.record

    async def produce() -> None:
        for doc in documents:
            if state.stopping:
                return
            admitted = tally.admit(doc, skip)
            if admitted is not None:
                doc = admitted
                await queue.put(doc)
            del doc
            await asyncio.sleep(0)  # let workers run even when nothing blocks
        state.exhausted = True
        for _ in range(concurrency):
            await queue.put(None)

    async def work() -> None:
        me = asyncio.current_task()
        assert me is not None
        while not state.stopping:
            doc = await queue.get()
            if doc is None or state.stopping:
                return
            state.busy.add(me)
            try:
                try:
                    result = await process_one(doc, process, limiter)
                except asyncio.CancelledError:
                    state.cancelled += 1
                    raise
                record(result)
            finally:
                state.busy.discard(me)
            del doc, result

    producer = asyncio.create_task(produce(), name="llmx-producer")
    workers = [asyncio.create_task(work(), name=f"llmx-worker-{i}") for i in range(concurrency)]
    stop_task = asyncio.create_task(stop.wait(), name="llmx-stop") if stop is not None else None
    streak_task = asyncio.create_task(stopped.wait(), name="llmx-stopped-early")
    fatal: BaseException | None = None
    with _frozen_heap():  # documents are processed only inside this block
        try:
            while not all(w.done() for w in workers):
                watched: set[asyncio.Task[Any]] = {w for w in workers if not w.done()}
                if not producer.done():
                    watched.add(producer)
                if stop_task is not None:
                    watched.add(stop_task)
                watched.add(streak_task)
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if (
                        task not in (stop_task, streak_task)
                        and not task.cancelled()
                        and task.exception()
                    ):
                        fatal = task.exception()
                if fatal is not None:
                    break
                if stop_task is not None and stop_task in done:
                    summary.interrupted = True
                    break
                if streak_task in done:
                    break
        except asyncio.CancelledError:
            summary.interrupted = True
        finally:
            ended = summary.interrupted or summary.stopped_early or fatal is not None
            if ended or not all(w.done() for w in workers):
                # stopped early: documents in flight fail the same way; leave them unwritten
                drain = 0.0 if summary.stopped_early else drain_timeout
                await _shutdown(state, producer, workers, drain)
            elif not producer.done():
                await producer  # it has put its last sentinel; let it return
            if stop_task is not None:
                stop_task.cancel()
            streak_task.cancel()
            if summary.stopped_early and _nothing_left(state, queue):
                summary.stopped_early = None  # it stopped nothing: every document is written
            writer.flush()
            summary.elapsed = time.monotonic() - started
            if limiter is not None:
                summary.rate_limited = limiter.rate_limited
            if cost_estimator is not None:
                summary.cost = cost_estimator(summary.usage)
            with contextlib.suppress(Exception):
                sink.finish(summary)
    if fatal is not None:
        raise fatal
    return summary


def _nothing_left(state: _State, queue: asyncio.Queue[Document | None]) -> bool:
    """True when every document read was written and none was left unread."""
    left = 0
    while not queue.empty():
        if queue.get_nowait() is not None:
            left += 1
    return state.exhausted and not state.cancelled and not left


async def _shutdown(
    state: _State,
    producer: asyncio.Task[None],
    workers: list[asyncio.Task[None]],
    drain_timeout: float,
) -> None:
    """Stop taking documents, let in-flight ones finish for a while, cancel the rest."""
    state.stopping = True
    producer.cancel()
    busy = {w for w in workers if w in state.busy and not w.done()}
    for w in workers:
        if w not in busy:
            w.cancel()
    try:
        if busy:
            _, pending = await asyncio.wait(busy, timeout=max(0.0, drain_timeout))
            for w in pending:
                w.cancel()
    except asyncio.CancelledError:  # cancelled again while draining: stop now
        for w in workers:
            w.cancel()
    # collect everything so no task is left running or unretrieved
    await asyncio.gather(producer, *workers, return_exceptions=True)
