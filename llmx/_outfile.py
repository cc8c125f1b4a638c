"""The output file: reading it once, and what is done to it when a run ends.

An output file has one JSONL line per document (appended by
:class:`~llmx._writer.ResultWriter`); the **last** line of a doc_id is its current one
and decides. A crash (even ``kill -9``) leaves at most one torn last line, which
:func:`repair_tail` truncates away before the file is read or appended to.

* :func:`scan_output` reads the file once into an :class:`OutputScan`: a summary of each
  doc_id's current line, of what the reader needs of it (a resume: ok and content hash,
  :mod:`llmx._resume`; finishing: position, tokens, cost, error).
* :func:`finalize_output` (when the writer closes) reads the file so, then rewrites it
  with only the current lines (when there are others: superseded or corrupt ones),
  rebuilds the error report from them and sums the file up (:class:`OutputTotals`).

The error report (default ``<out stem>.errors.jsonl``) has one line per failed
document ``{doc_id, source, error: {kind, message, ...}, attempts}``. It is
appended during a run and rebuilt from the output when the writer closes, so it
reflects the current state (a document fixed by a retry disappears from it; the
file is removed when no errors remain).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Generic, NamedTuple, Protocol, TypeVar

from llmx._errors import ConfigError
from llmx._types import Usage

__all__ = [
    "FinalizeReport",
    "OutputScan",
    "OutputTotals",
    "check_output_path",
    "default_errors_path",
    "encode_line",
    "error_entry",
    "finalize_output",
    "is_ok",
    "repair_tail",
    "scan_output",
]

log = logging.getLogger(__name__)

#: how much of the file's end is read at a time looking for its last line
_TAIL_STEP = 1 << 16


def check_output_path(path: str | os.PathLike[str]) -> None:
    """Raise a :class:`~llmx._errors.ConfigError` when ``path`` cannot be an output file:
    an existing folder, or a path under something that is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(
            "the output path is a folder; name a file such as out.jsonl", path=str(target)
        )
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    "the output path is under a file, not a folder",
                    path=str(target),
                    file=str(parent),
                )
            if not os.access(parent, os.W_OK | os.X_OK) and not target.exists():
                raise ConfigError(
                    "cannot create the output file here: permission denied", path=str(target)
                )
            break


def default_errors_path(out_path: str | os.PathLike[str]) -> Path:
    """``results.jsonl`` -> ``results.errors.jsonl`` (same folder)."""
    out = Path(out_path)
    stem = out.stem if out.suffix else out.name
    return out.with_name(f"{stem}.errors.jsonl")


# --------------------------------------------------------------------------- lines


def is_ok(line: dict[str, Any]) -> bool:
    """Whether an output line is a success: a record and no error."""
    return line.get("error") is None and line.get("record") is not None


def error_entry(line: dict[str, Any]) -> dict[str, Any]:
    """The error report's entry for a failed output line."""
    error = line.get("error")
    if not isinstance(error, dict):
        error = {"kind": "error", "message": "no record was produced"}
    return {
        "doc_id": line["doc_id"],
        "source": line.get("source"),
        "error": error,
        "attempts": line.get("attempts", 0),
    }


def encode_line(obj: dict[str, Any]) -> bytes:
    """``obj`` as one JSONL line (UTF-8, newline-terminated)."""
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


def _parse_line(line: bytes) -> dict[str, Any] | None:
    """A complete output line's object, or None when it is not a valid line."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("doc_id"), str):
        return None
    return obj


def _last_line_start(fh: BinaryIO, end: int) -> int:
    """Offset where the line ending at ``end`` (exclusive of its newline) starts."""
    pos = end
    while pos > 0:
        step = min(_TAIL_STEP, pos)
        fh.seek(pos - step)
        chunk = fh.read(step)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            return pos - step + idx + 1
        pos -= step
    return 0


def repair_tail(path: str | os.PathLike[str]) -> int:
    """Truncate a torn last line (no trailing newline, or not a valid JSON line).

    Returns the number of bytes removed; 0 when the file is fine or missing. Only the
    last line is considered: that is the only one an interrupted append can tear.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return 0
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            good_end = _last_line_start(fh, size)
        else:
            start = _last_line_start(fh, size - 1)
            fh.seek(start)
            last = fh.read(size - start)
            good_end = size if _parse_line(last) is not None else start
    removed = size - good_end
    if removed:
        with open(path, "r+b") as fw:
            fw.truncate(good_end)
            fw.flush()
            os.fsync(fw.fileno())
        log.warning("%s: removed a torn last line (%d bytes)", os.fspath(path), removed)
    return removed


# --------------------------------------------------------------------------- reading


class _LineSummary(Protocol):
    """What every summary of a current line tells: whether it is a success."""

    @property
    def ok(self) -> bool: ...


_Line = TypeVar("_Line", bound=_LineSummary)


@dataclass
class OutputScan(Generic[_Line]):
    """One read of an output file: a summary of the current line of each doc_id (what a
    resume needs of it, or what finishing the file needs)."""

    path: Path
    #: doc_id -> the summary of its current line, in the order the doc_ids first appear
    current: dict[str, _Line] = field(default_factory=dict)
    #: valid lines read
    lines: int = 0
    #: valid lines superseded by a later line of the same doc_id
    duplicates: int = 0
    #: non-blank lines that are not an output line (not produced by llmx)
    corrupt_lines: int = 0
    #: bytes of a torn last line truncated before reading
    torn_bytes: int = 0

    @property
    def ok(self) -> set[str]:
        """The doc_ids whose current line is a success."""
        return {doc_id for doc_id, line in self.current.items() if line.ok}

    @property
    def failed(self) -> set[str]:
        """The doc_ids whose current line is a failure."""
        return {doc_id for doc_id, line in self.current.items() if not line.ok}

    @property
    def removable(self) -> int:
        """Lines that compaction drops: superseded and corrupt ones."""
        return self.duplicates + self.corrupt_lines

    def done_ids(self, *, retry_failed: bool = False) -> set[str]:
        """The doc_ids a resume skips: all of them, or only successes with ``retry_failed``."""
        return self.ok if retry_failed else set(self.current)


def scan_output(
    path: str | os.PathLike[str], summarize: Callable[[dict[str, Any], int], _Line]
) -> OutputScan[_Line]:
    """Read an output file once, after repairing its torn tail: ``summarize`` of each
    valid line (and its position among the non-blank lines), the last of each doc_id
    kept. A missing file reads as empty."""
    scan: OutputScan[_Line] = OutputScan(path=Path(path), torn_bytes=repair_tail(path))
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return scan
    current = scan.current
    position = 0
    with fh:
        for line in fh:
            if not line.strip():
                continue
            obj = _parse_line(line)
            if obj is None:
                scan.corrupt_lines += 1
            else:
                scan.lines += 1
                doc_id = obj["doc_id"]
                if doc_id in current:
                    scan.duplicates += 1
                current[doc_id] = summarize(obj, position)
            position += 1
    return scan


# --------------------------------------------------------------------------- finishing


class _FinishLine(NamedTuple):
    """What finishing the file needs of a doc_id's current line: where it is, what it
    adds to the totals, its error-report line."""

    #: its position among the file's non-blank lines (what compaction keeps)
    position: int
    ok: bool
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    requests: int
    cost_usd: float | None
    #: ``error.kind`` of a failed line
    error_kind: str | None
    #: the error report's line of a failed line
    error_line: bytes | None


_NUMBER = (int, float)


def _count(value: object) -> int:
    return int(value) if isinstance(value, _NUMBER) else 0


def _finish_line(obj: dict[str, Any], position: int) -> _FinishLine:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    cost = obj.get("cost_usd")
    if is_ok(obj):
        kind = error_line = None
    else:
        error = obj.get("error")
        kind = str(error.get("kind", "error")) if isinstance(error, dict) else "error"
        error_line = encode_line(error_entry(obj))
    return _FinishLine(
        position,
        kind is None,
        bool(obj.get("cached")),
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(usage.get("requests")),
        float(cost) if isinstance(cost, _NUMBER) else None,
        kind,
        error_line,
    )


@dataclass
class OutputTotals:
    """What an output file holds, one current line per document: the cumulative summary
    of every run that wrote to it."""

    documents: int = 0
    ok: int = 0
    failed: int = 0
    cached: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The totals as the summary file's top-level fields."""
        return {
            "documents": self.documents,
            "ok": self.ok,
            "failed": self.failed,
            "cached": self.cached,
            "usage": self.usage.to_dict(),
            "requests": self.usage.requests,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "errors_by_kind": dict(sorted(self.errors_by_kind.items())),
        }


def _totals(lines: Iterable[_FinishLine]) -> OutputTotals:
    totals = OutputTotals()
    for line in lines:
        totals.documents += 1
        if line.ok:
            totals.ok += 1
        else:
            totals.failed += 1
            kind = line.error_kind or "error"
            totals.errors_by_kind[kind] = totals.errors_by_kind.get(kind, 0) + 1
        if line.cached:
            totals.cached += 1
        totals.usage.add(Usage(line.prompt_tokens, line.completion_tokens, line.requests))
        if line.cost_usd is not None:
            totals.cost_usd = (totals.cost_usd or 0.0) + line.cost_usd
    return totals


@dataclass
class FinalizeReport:
    """What finishing an output file did (:func:`finalize_output`)."""

    #: lines dropped: superseded and corrupt ones
    compacted_lines: int = 0
    failed_documents: int = 0
    #: the error report, ``None`` when no document failed
    errors_path: Path | None = None
    #: the whole output file's totals: every run that wrote to it, one line per document
    totals: OutputTotals = field(default_factory=OutputTotals)


def finalize_output(
    out_path: str | os.PathLike[str], errors_path: str | os.PathLike[str] | None = None
) -> FinalizeReport:
    """Keep only each doc_id's current line and rebuild the error report, reading once.

    The output is rewritten (atomically) only when there are lines to drop; the error
    report (default path beside the output) is removed when no document failed.
    """
    out = Path(out_path)
    if not out.exists():
        return FinalizeReport()
    scan = scan_output(out, _finish_line)
    lines = scan.current.values()
    if scan.removable:
        _atomic_rewrite(out, _lines_at(out, sorted(line.position for line in lines)))
    # the failed documents' report lines, in the order of their output lines
    failed = sorted((line for line in lines if not line.ok), key=lambda line: line.position)
    report = [line.error_line for line in failed if line.error_line is not None]
    report_path = Path(errors_path) if errors_path is not None else default_errors_path(out)
    if report:
        _atomic_rewrite(report_path, iter(report))
    else:
        report_path.unlink(missing_ok=True)
    return FinalizeReport(
        compacted_lines=scan.removable,
        failed_documents=len(report),
        errors_path=report_path if report else None,
        totals=_totals(lines),
    )


def _lines_at(path: Path, positions: list[int]) -> Iterator[bytes]:
    """The non-blank lines of ``path`` at ``positions`` (ascending; counted as
    :func:`scan_output` does)."""
    wanted = iter(positions)
    next_wanted = next(wanted, None)
    position = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            if position == next_wanted:
                yield line if line.endswith(b"\n") else line + b"\n"
                next_wanted = next(wanted, None)
            position += 1


def _atomic_rewrite(target: Path, lines: Iterator[bytes]) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            for line in lines:
                out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
