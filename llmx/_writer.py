"""The writer of result lines: one JSONL line per document, appended crash-safely.

A line is ``Result.to_dict()``: ``{doc_id, source, record, usage, cached, attempts,
error, grounding, notes, seconds, cost_usd, meta, content_sha256}``; failed documents
have ``record: null`` and an ``error``, and a line in the error report too. Each line is
serialised fully, then appended with one ``os.write`` on an ``O_APPEND`` descriptor, so
a crash (even ``kill -9``) leaves at most one torn last line, which
:meth:`ResultWriter.open` truncates away. Closing the writer compacts the output and
rebuilds the error report (:mod:`llmx._outfile`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from llmx._errors import LlmxError
from llmx._outfile import (
    FinalizeReport,
    check_output_path,
    default_errors_path,
    encode_line,
    error_entry,
    finalize_output,
    is_ok,
    repair_tail,
)
from llmx._types import Result

__all__ = ["ResultWriter"]

log = logging.getLogger(__name__)

#: how the output and the error report are opened: appending, created when missing
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class ResultWriter:
    """Appends one JSONL line per document to ``path``, crash-safely.

    ``overwrite=True`` truncates existing output (and error report); otherwise
    lines are appended after repairing a torn tail. ``fsync_every`` lines or
    ``fsync_interval`` seconds (whichever first; ``None`` disables each) bound
    what an OS crash can lose; a process crash loses nothing written.
    Use as a context manager or call :meth:`open` / :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        errors_path: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        fsync_every: int | None = 256,
        fsync_interval: float | None = 5.0,
    ) -> None:
        self.path = Path(path)
        self.errors_path = (
            Path(errors_path) if errors_path is not None else default_errors_path(self.path)
        )
        self.overwrite = overwrite
        self.fsync_every = fsync_every
        self.fsync_interval = fsync_interval
        self.lines_written = 0
        self.errors_written = 0
        self.torn_bytes_repaired = 0
        self._fd: int | None = None
        self._err_fd: int | None = None
        self._unsynced = 0
        self._last_sync = time.monotonic()

    # -- lifecycle
    def open(self) -> Self:
        """Open the output for appending (repairing a torn tail, or truncating it)."""
        if self._fd is not None:
            return self
        check_output_path(self.path)
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = _APPEND
        if self.overwrite:
            flags |= os.O_TRUNC
            self.errors_path.unlink(missing_ok=True)
        else:
            self.torn_bytes_repaired = repair_tail(self.path)
            repair_tail(self.errors_path)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise LlmxError(
                f"cannot open output file: {exc.strerror}", path=str(self.path)
            ) from exc
        return self

    @property
    def closed(self) -> bool:
        """Whether the writer is not open."""
        return self._fd is None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing
    def write(self, result: Result[Any]) -> None:
        """Append ``result``'s line (and, when it failed, an error-report line)."""
        if self._fd is None:
            self.open()
        try:
            obj = result.to_dict()
            line = encode_line(obj)
        except Exception as exc:  # never lose the document over a serialisation bug
            obj = {
                "doc_id": result.doc_id,
                "source": result.source,
                "record": None,
                "usage": result.usage.to_dict(),
                "cached": result.cached,
                "attempts": result.attempts,
                "error": {
                    "kind": "error",
                    "message": f"cannot serialise result: {type(exc).__name__}: {exc}",
                },
                "grounding": [],
                "notes": [],
                "seconds": round(result.seconds, 3),
                "meta": {},
                "content_sha256": result.content_sha256,
            }
            line = encode_line(obj)
        assert self._fd is not None
        self._append(self._fd, line, self.path)
        self.lines_written += 1
        if not is_ok(obj):
            if self._err_fd is None:
                try:
                    self._err_fd = os.open(self.errors_path, _APPEND, 0o644)
                except OSError as exc:
                    raise LlmxError(
                        f"cannot open error report: {exc.strerror}", path=str(self.errors_path)
                    ) from exc
            self._append(self._err_fd, encode_line(error_entry(obj)), self.errors_path)
            self.errors_written += 1
        self._unsynced += 1
        self._maybe_sync()

    @staticmethod
    def _append(fd: int, data: bytes, path: Path) -> None:
        view = memoryview(data)
        try:
            while view:  # one write in practice; loop only on a short write
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise LlmxError(f"cannot write output: {exc.strerror}", path=str(path)) from exc

    def _maybe_sync(self) -> None:
        due = self.fsync_every is not None and self._unsynced >= self.fsync_every
        if not due and self.fsync_interval is not None:
            due = time.monotonic() - self._last_sync >= self.fsync_interval
        if due:
            self.flush()

    def flush(self) -> None:
        """fsync the output and error report (lines are already in the OS on write)."""
        for fd in (self._fd, self._err_fd):
            if fd is not None:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    log.warning("fsync failed: %s", exc)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self, *, finalize: bool = True) -> FinalizeReport:
        """Flush and close; then (``finalize``) compact the output and rebuild the error
        report (:func:`~llmx._outfile.finalize_output`)."""
        if self._fd is None:  # never opened, or already closed
            return FinalizeReport()
        self.flush()
        for fd in (self._fd, self._err_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._err_fd = None
        if not finalize:
            return FinalizeReport()
        return finalize_output(self.path, self.errors_path)
