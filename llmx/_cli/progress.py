"""The progress bar of ``llmx run``: a rich bar on stderr, fed the batch's progress
events (:class:`~llmx._accounting.ProgressSink`)."""

from __future__ import annotations

import sys
from typing import Any

from llmx._accounting import BatchSummary, NullProgress, ProgressSink
from llmx._types import Result

__all__ = ["RichProgress", "make_progress"]


class RichProgress:
    """A rich progress bar on stderr: done/total, ok/failed/cached, tokens, ETA.

    Skipped (already done) documents shrink the total rather than advance the
    bar, so the ETA reflects the work left.
    """

    def __init__(self, description: str = "extracting") -> None:
        self.description = description
        #: what the bar shows: the documents processed so far, counted as the run does
        self.counts = BatchSummary()
        self._total: int | None = None
        self._progress: Any = None
        self._task: Any = None

    def start(self, total: int | None) -> None:
        """Show the bar (``total``: the documents to read, when known)."""
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._total = total
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, stats=self._stats())

    def _stats(self) -> str:
        counts = self.counts
        return (
            f"[green]ok {counts.ok}[/] [red]failed {counts.failed}[/] "
            f"[cyan]cached {counts.cached}[/] {counts.usage.total_tokens:,} tok"
        )

    def advance(self, result: Result[Any]) -> None:
        """One document processed: count it and move the bar."""
        self.counts.count(result)
        if self._progress is not None:
            self._progress.update(self._task, advance=1, stats=self._stats())

    def skip(self, count: int = 1) -> None:
        """``count`` documents skipped (already done): shrink the total."""
        if self._total is not None:
            self._total = max(0, self._total - count)
            if self._progress is not None:
                self._progress.update(self._task, total=self._total)

    def finish(self, summary: BatchSummary) -> None:
        """Show the last counts and stop the bar."""
        if self._progress is not None:
            self._progress.update(self._task, stats=self._stats())
            self._progress.stop()
            self._progress = None


def make_progress(enabled: bool | None = None, description: str = "extracting") -> ProgressSink:
    """A :class:`RichProgress` when ``enabled`` (default: stderr is a TTY), else a null one."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return RichProgress(description) if enabled else NullProgress()
