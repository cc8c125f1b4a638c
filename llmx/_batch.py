"""The in-process batch loop: many documents through ``process`` on one event loop,
with bounded concurrency (:func:`run_batch`), and the one way every engine processes
a document (:func:`process_one`).

Design:

* one producer task reads the (lazy) document iterator into a bounded
  ``asyncio.Queue(maxsize=concurrency)``; a fixed set of ``concurrency`` *document
  tasks* (asyncio tasks, each processing one document at a time) pulls from it. At
  most ``2 * concurrency + 2`` documents are alive at once, however long the input is.
* every document read ends as exactly one output line (via the
  :class:`~llmx._writer.ResultWriter`): documents with ``error`` set are written
  without calling ``process``; an exception escaping ``process`` becomes an
  error line; doc_ids in ``skip`` are counted and not processed (the counting and
  writing are the :class:`~llmx._accounting.Tally`'s).
* a :class:`~llmx._ratelimit.RateLimiter` makes each document task sit out a 429
  pause and hold a :class:`~llmx._ratelimit.ConcurrencyGovernor` slot per document,
  so the effective concurrency follows the governor (AIMD) below the task count.
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
from typing import Any

from llmx._accounting import DEFAULT_STOP_AFTER, BatchSummary, NullProgress, ProgressSink, Tally
from llmx._errors import ConfigError, LlmxError
from llmx._ratelimit import RateLimiter
from llmx._resume import ResumeIndex
from llmx._types import Document, Result
from llmx._writer import ResultWriter

__all__ = ["Process", "process_one", "run_batch"]

#: one document's extraction: what an engine runs for each document it processes
Process = Callable[[Document], Awaitable[Result[Any]]]


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


@dataclass
class _State:
    """What the producer, the document tasks and the loop watching them share."""

    summary: BatchSummary
    #: no new document is to start
    stopping: bool = False
    #: the document tasks processing a document right now
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
    stop the run early (:class:`~llmx._accounting.FailureStreak`; 0: never); the summary's
    ``stopped_early`` says why, and documents not started are left for a resume.
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
            await asyncio.sleep(0)  # let the document tasks run even when nothing blocks
        state.exhausted = True
        for _ in range(concurrency):
            await queue.put(None)

    async def process_documents() -> None:
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
    document_tasks = [
        asyncio.create_task(process_documents(), name=f"llmx-document-task-{i}")
        for i in range(concurrency)
    ]
    stop_task = asyncio.create_task(stop.wait(), name="llmx-stop") if stop is not None else None
    streak_task = asyncio.create_task(stopped.wait(), name="llmx-stopped-early")
    fatal: BaseException | None = None
    with _frozen_heap():  # documents are processed only inside this block
        try:
            while not all(task.done() for task in document_tasks):
                watched: set[asyncio.Task[Any]] = {t for t in document_tasks if not t.done()}
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
            if ended or not all(task.done() for task in document_tasks):
                # stopped early: documents in flight fail the same way; leave them unwritten
                drain = 0.0 if summary.stopped_early else drain_timeout
                await _shutdown(state, producer, document_tasks, drain)
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
    document_tasks: list[asyncio.Task[None]],
    drain_timeout: float,
) -> None:
    """Stop taking documents, let in-flight ones finish for a while, cancel the rest."""
    state.stopping = True
    producer.cancel()
    busy = {task for task in document_tasks if task in state.busy and not task.done()}
    for task in document_tasks:
        if task not in busy:
            task.cancel()
    try:
        if busy:
            _, pending = await asyncio.wait(busy, timeout=max(0.0, drain_timeout))
            for task in pending:
                task.cancel()
    except asyncio.CancelledError:  # cancelled again while draining: stop now
        for task in document_tasks:
            task.cancel()
    # collect everything so no task is left running or unretrieved
    await asyncio.gather(producer, *document_tasks, return_exceptions=True)
