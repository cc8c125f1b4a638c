"""Accounting: what every engine does with each document it reads.

Each document read is counted once in the run's :class:`BatchSummary`: skipped (the
output has it already), or processed, its result written as one output line and
counted (ok or failed by error kind, cached or its usage) and shown to the progress
sink. :class:`Tally` does this for both engines: :func:`llmx._batch.run_batch` in one
process, and the Ray engine's driver with what its actors send back. It also watches
for an endpoint failing every document the same way (:class:`FailureStreak`), which
stops the run early.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmx._config import Settings
from llmx._errors import EndpointError
from llmx._resume import ResumeIndex
from llmx._types import Document, Result, Usage
from llmx._writer import ResultWriter

__all__ = [
    "DEFAULT_STOP_AFTER",
    "BatchSummary",
    "FailureStreak",
    "NullProgress",
    "ProgressSink",
    "Tally",
    "is_done",
    "unreadable",
]


@dataclass
class BatchSummary:
    """Counts and totals of one batch run, whichever engine ran it.

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
        """Documents processed in this run (not skipped): ok or failed."""
        return self.ok + self.failed

    @property
    def requests(self) -> int:
        """Requests sent to the endpoint (cached answers send none)."""
        return self.usage.requests

    @property
    def docs_per_second(self) -> float:
        """Documents processed per second of the run."""
        return self.processed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def resume_hint(self) -> str | None:
        """What to run next when documents are left undone or failed before, else None."""
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

    def start(self, total: int | None) -> None:
        """The run starts; ``total``: the documents it will read, when known."""

    def advance(self, result: Result[Any]) -> None:
        """One document was processed (its result written)."""

    def skip(self, count: int = 1) -> None:
        """``count`` documents were read and skipped (the output has them)."""

    def finish(self, summary: BatchSummary) -> None:
        """The run ended."""


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


#: consecutive documents failing with the same endpoint error that stop a run (the
#: default of the ``stop_after_failures`` setting, declared there once)
DEFAULT_STOP_AFTER: int = Settings.model_fields["stop_after_failures"].default


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
        elif skip and is_done(doc, skip):
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
