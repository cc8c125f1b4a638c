"""The output file: resume, a torn tail's repair, compaction and the error report.

An output file has one JSONL line per document (written by
:class:`~llmx._writer.ResultWriter`); the **last** line of a doc_id is authoritative.
A resumed run skips a document only when its doc_id's line has the same
``content_sha256`` (:class:`ResumeIndex`); :func:`output_totals` sums a file up for the
summary. A crash (even ``kill -9``) leaves at most one torn last line, which
:func:`inspect_output` truncates away; :func:`compact_output` keeps only the last line
of each doc_id.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from llmx._errors import ConfigError, InputError
from llmx._inputs import _renamed, unique_id
from llmx._types import Document, Usage

__all__ = [
    "FinalizeReport",
    "OutputScan",
    "OutputTotals",
    "ResumeIndex",
    "check_output_path",
    "compact_output",
    "default_errors_path",
    "finalize_output",
    "inspect_output",
    "output_totals",
    "repair_tail",
    "scan_output",
    "write_error_report",
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


def _is_ok(obj: dict[str, Any]) -> bool:
    return obj.get("error") is None and obj.get("record") is not None


def _parse_output_line(line: bytes) -> dict[str, Any] | None:
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


def repair_tail(path: str | os.PathLike[str], *, dry_run: bool = False) -> int:
    """Truncate a torn last line (no trailing newline, or not a valid JSON line).

    Returns the number of bytes removed (or that would be removed with
    ``dry_run``); 0 when the file is fine or missing. Only the last line is
    considered: that is the only one an interrupted append can tear.
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
            good_end = size if _parse_output_line(last) is not None else start
    removed = size - good_end
    if removed and not dry_run:
        with open(path, "r+b") as fw:
            fw.truncate(good_end)
            fw.flush()
            os.fsync(fw.fileno())
        log.warning("%s: removed a torn last line (%d bytes)", os.fspath(path), removed)
    return removed


@dataclass
class OutputScan:
    """What an existing output file holds; the last line per doc_id decides."""

    path: Path
    ok: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    #: doc_id -> ``content_sha256`` of its current line (``None``: a line without one)
    hashes: dict[str, str | None] = field(default_factory=dict)
    lines: int = 0
    duplicates: int = 0
    corrupt_lines: int = 0
    torn_bytes: int = 0

    def done_ids(self, *, retry_failed: bool = False) -> set[str]:
        """The doc_ids a resume skips: all of them, or only successes with ``retry_failed``."""
        return set(self.ok) if retry_failed else self.ok | self.failed


def inspect_output(path: str | os.PathLike[str], *, repair: bool = True) -> OutputScan:
    """Read an output file's doc_ids (streaming), repairing a torn last line first.

    Corrupt lines in the middle (not produced by llmx) are counted, logged and
    ignored, so their documents are processed again.
    """
    scan = OutputScan(path=Path(path))
    scan.torn_bytes = repair_tail(path, dry_run=not repair)
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return scan
    with fh:
        size = fh.seek(0, os.SEEK_END)
        limit = size - scan.torn_bytes if not repair else size
        fh.seek(0)
        pos = 0
        for line in fh:
            pos += len(line)
            if pos > limit:
                break
            if not line.strip():
                continue
            obj = _parse_output_line(line)
            if obj is None:
                scan.corrupt_lines += 1
                continue
            scan.lines += 1
            doc_id = obj["doc_id"]
            if doc_id in scan.ok or doc_id in scan.failed:
                scan.duplicates += 1
            digest = obj.get("content_sha256")
            scan.hashes[doc_id] = digest if isinstance(digest, str) else None
            if _is_ok(obj):
                scan.ok.add(doc_id)
                scan.failed.discard(doc_id)
            else:
                scan.failed.add(doc_id)
                scan.ok.discard(doc_id)
    if scan.corrupt_lines:
        log.warning("%s: ignored %d corrupt line(s)", os.fspath(path), scan.corrupt_lines)
    return scan


def scan_output(
    path: str | os.PathLike[str], *, retry_failed: bool = False, repair: bool = True
) -> set[str]:
    """doc_ids a resume should skip: every one in the output, or only the
    successful ones with ``retry_failed``. Repairs a torn last line."""
    return inspect_output(path, repair=repair).done_ids(retry_failed=retry_failed)


Status = Literal["run", "done", "failed"]


class ResumeIndex:
    """Which documents a run skips because the output already has them, and the doc_id
    each of the others is written under.

    A document is *done* only when the output's line of its doc_id has the same
    ``content_sha256``: a different document under a taken id (a second story piped
    through stdin, ``x/b/index.html`` after ``x/a/index.html``) gets the next free id
    (``stdin~2``, ``index~2``) and is extracted, with a note saying so. A line written
    before content hashes were kept matches on its doc_id alone. Ids are also kept
    unique within the run, whatever produced the documents.
    """

    def __init__(self, scan: OutputScan | None = None, *, retry_failed: bool = False) -> None:
        self._hashes: dict[str, str | None] = dict(scan.hashes) if scan is not None else {}
        self._ok: set[str] = set(scan.ok) if scan is not None else set()
        self.retry_failed = retry_failed
        #: doc_id -> content hash of the documents of this run
        self._claimed: dict[str, str] = {}

    def done_ids(self) -> set[str]:
        """The doc_ids skipped on their id alone (for engines that only take a set)."""
        if self.retry_failed:
            return set(self._ok)
        return set(self._hashes)

    def _taken(self, doc_id: str, digest: str) -> bool:
        if doc_id in self._claimed:
            return True
        if doc_id not in self._hashes:
            return False
        had = self._hashes[doc_id]
        return had is not None and had != digest

    def resolve(self, doc: Document) -> tuple[Document, Status]:
        """``doc`` (renamed if its id is taken) and whether to ``run`` it or skip it as
        ``done`` (succeeded before) or ``failed`` (failed before; not retried)."""
        digest = doc.content_sha256
        claimed = self._claimed.get(doc.doc_id)
        if claimed is not None and claimed == digest and doc.error is None:
            new_id = unique_id(doc.doc_id, lambda i: self._taken(i, digest))
            self._claimed[new_id] = digest
            error = InputError(
                "duplicate input: an earlier input has the same doc_id and the same content",
                doc_id=doc.doc_id,
                renamed_to=new_id,
                source=doc.source,
            )
            return Document(new_id, doc.source, "", doc.meta, error, doc.notes), "run"
        if self._taken(doc.doc_id, digest):
            new_id = unique_id(doc.doc_id, lambda i: self._taken(i, digest))
            why = (
                "is taken by another input of this run"
                if doc.doc_id in self._claimed
                else "is taken in the output by a different document"
            )
            doc = _renamed(doc, new_id, why)
        self._claimed[doc.doc_id] = digest
        if doc.doc_id not in self._hashes:
            return doc, "run"
        if doc.doc_id in self._ok:
            return doc, "done"
        return doc, "run" if self.retry_failed else "failed"


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


def _error_entry(obj: dict[str, Any]) -> dict[str, Any]:
    error = obj.get("error")
    if not isinstance(error, dict):
        error = {"kind": "error", "message": "no record was produced"}
    return {
        "doc_id": obj["doc_id"],
        "source": obj.get("source"),
        "error": error,
        "attempts": obj.get("attempts", 0),
    }


def _dump_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


#: what the totals need of one output line: ok, cached, prompt tokens, completion
#: tokens, requests, cost, error kind
_LineStats = tuple[bool, bool, int, int, int, float | None, str | None]


def _line_stats(obj: dict[str, Any]) -> _LineStats:
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    error = obj.get("error")
    kind = str(error.get("kind", "error")) if isinstance(error, dict) else None
    ok = _is_ok(obj)
    if not ok and kind is None:
        kind = "error"
    cost = obj.get("cost_usd")

    def number(key: str) -> int:
        value = usage.get(key, 0)
        return int(value) if isinstance(value, int | float) else 0

    return (
        ok,
        bool(obj.get("cached")),
        number("prompt_tokens"),
        number("completion_tokens"),
        number("requests"),
        float(cost) if isinstance(cost, int | float) else None,
        kind,
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


@dataclass
class _Latest:
    """One read of an output file: which line of each doc_id is its current one."""

    #: doc_id -> index, among the valid lines, of its last line
    last: dict[str, int] = field(default_factory=dict)
    #: non-blank lines, corrupt ones included
    physical: int = 0
    #: error-report lines of the doc_ids whose last line failed, in the order of those lines
    failed: dict[str, bytes] = field(default_factory=dict)
    #: doc_id -> what its last line adds to the totals
    stats: dict[str, _LineStats] = field(default_factory=dict)

    @property
    def removable(self) -> int:
        """Lines that compaction drops: superseded and corrupt ones."""
        return self.physical - len(self.last)

    def totals(self) -> OutputTotals:
        totals = OutputTotals(documents=len(self.stats))
        for ok, cached, prompt, completion, requests, cost, kind in self.stats.values():
            if ok:
                totals.ok += 1
            else:
                totals.failed += 1
                label = kind or "error"
                totals.errors_by_kind[label] = totals.errors_by_kind.get(label, 0) + 1
            if cached:
                totals.cached += 1
            totals.usage.add(Usage(prompt, completion, requests))
            if cost is not None:
                totals.cost_usd = (totals.cost_usd or 0.0) + cost
        return totals


def _read_latest(path: Path) -> _Latest:
    latest = _Latest()
    index = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            latest.physical += 1
            obj = _parse_output_line(line)
            if obj is None:
                continue
            doc_id = obj["doc_id"]
            latest.last[doc_id] = index
            latest.failed.pop(doc_id, None)
            if not _is_ok(obj):
                latest.failed[doc_id] = _dump_line(_error_entry(obj))
            latest.stats[doc_id] = _line_stats(obj)
            index += 1
    return latest


def output_totals(path: str | os.PathLike[str]) -> OutputTotals:
    """The :class:`OutputTotals` of an output file (empty when it does not exist)."""
    target = Path(path)
    if not target.exists():
        return OutputTotals()
    return _read_latest(target).totals()


def _keep_latest(path: Path, last: dict[str, int]) -> None:
    """Rewrite ``path`` (atomically) with only each doc_id's last valid line."""

    def keep() -> Iterator[bytes]:
        index = 0
        with open(path, "rb") as fh:
            for line in fh:
                obj = _parse_output_line(line) if line.strip() else None
                if obj is None:
                    continue
                if last.get(obj["doc_id"]) == index:
                    yield line if line.endswith(b"\n") else line + b"\n"
                index += 1

    _atomic_rewrite(path, keep())


def _write_report(
    out: Path, errors_path: str | os.PathLike[str] | None, failed: dict[str, bytes]
) -> None:
    """Write the error report of ``out`` (default path beside it); remove it if empty."""
    target = Path(errors_path) if errors_path is not None else default_errors_path(out)
    if failed:
        _atomic_rewrite(target, iter(failed.values()))
    else:
        target.unlink(missing_ok=True)


def _compact(out: Path) -> _Latest:
    """Repair a torn tail, read ``out`` once and drop superseded and corrupt lines."""
    repair_tail(out)
    latest = _read_latest(out)
    if latest.removable:
        _keep_latest(out, latest.last)
    return latest


def compact_output(path: str | os.PathLike[str]) -> int:
    """Rewrite the output keeping only the last line per doc_id (atomically).

    Corrupt lines are dropped too. Returns the number of lines removed; the file
    is left untouched when there is nothing to remove.
    """
    target = Path(path)
    if not target.exists():
        return 0
    return _compact(target).removable


def write_error_report(
    out_path: str | os.PathLike[str], errors_path: str | os.PathLike[str] | None = None
) -> int:
    """Rebuild the error report from the output's last line per doc_id.

    Returns the number of failed documents; the report is removed when it is 0.
    """
    out = Path(out_path)
    if not out.exists():
        return 0
    latest = _read_latest(out)
    _write_report(out, errors_path, latest.failed)
    return len(latest.failed)


def finalize_output(
    out_path: str | os.PathLike[str], errors_path: str | os.PathLike[str] | None = None
) -> tuple[int, int]:
    """:func:`compact_output` then :func:`write_error_report`, reading the output once.

    Returns ``(lines removed, failed documents)``. The output is read a second time
    only when there are lines to remove.
    """
    latest = _finalize(Path(out_path), errors_path)
    return (0, 0) if latest is None else (latest.removable, len(latest.failed))


def _finalize(out: Path, errors_path: str | os.PathLike[str] | None) -> _Latest | None:
    if not out.exists():
        return None
    latest = _compact(out)
    _write_report(out, errors_path, latest.failed)
    return latest


@dataclass
class FinalizeReport:
    """What :meth:`ResultWriter.close` did."""

    compacted_lines: int = 0
    failed_documents: int = 0
    errors_path: Path | None = None
    #: the whole output file's totals (``None`` when it was not read)
    totals: OutputTotals | None = None
