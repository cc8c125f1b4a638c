"""Streaming input documents and crash-safe JSONL output.

Inputs (:func:`iter_documents`)
-------------------------------
Documents are yielded lazily, one at a time; only the set of doc_ids seen so far
is kept. Each input argument is one of:

* ``-``: stdin, one document with doc_id ``stdin``.
* a folder: walked recursively in sorted order; hidden files and folders are
  skipped and only text-like files (``.txt .md .html .htm``) are taken. doc_id =
  the path relative to the folder, posix, without suffix (``2024/03/article``).
  ``.jsonl`` files inside folders are *not* read (an output file could be there).
* a file given explicitly: any suffix; doc_id = the file stem (``article``).
* a glob (``data/**/*.txt``): the matching files in sorted order; doc_id = the
  path relative to the pattern's fixed leading folders, without suffix.
* a ``.jsonl`` file (explicit or by glob): one document per line
  ``{"id": ..., "text": ..., **meta}``; every other field goes to ``meta`` (e.g.
  ``published``); a line without ``id`` gets ``<file name>:<line number>``.

Nothing is silently dropped: a missing path, a glob without matches, a file over
``max_bytes`` (not read), an unreadable file and a malformed JSONL line each
yield a :class:`~llmx.types.Document` whose ``error`` is an
:class:`~llmx.errors.InputError`, so they end in the error report. A doc_id seen
before in the same run yields an error document renamed ``<id>~2`` (``~3`` ...)
so the first one's output line is never shadowed.

Outputs (:class:`ResultWriter`)
-------------------------------
One JSONL line per document, ``Result.to_dict()``: ``{doc_id, source, record,
usage, cached, attempts, error, grounding, notes, seconds}``; failed documents
have ``record: null`` and an ``error``. Each line is serialised fully, then
appended with one ``os.write`` on an ``O_APPEND`` descriptor, so a crash (even
``kill -9``) leaves at most one torn last line, which :func:`inspect_output` /
:meth:`ResultWriter.open` truncate away. The **last** line per doc_id is
authoritative; :func:`compact_output` keeps only those.

The error report (default ``<out stem>.errors.jsonl``) has one line per failed
document ``{doc_id, source, error: {kind, message, ...}, attempts}``. It is
appended during a run and rebuilt from the output when the writer closes, so it
reflects the current state (a document fixed by a retry disappears from it; the
file is removed when no errors remain).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Self

from llmx.errors import InputError, LlmxError
from llmx.types import Document, Result

__all__ = [
    "DEFAULT_MAX_BYTES",
    "TEXT_SUFFIXES",
    "FinalizeReport",
    "OutputScan",
    "ResultWriter",
    "compact_output",
    "default_errors_path",
    "finalize_output",
    "inspect_output",
    "iter_documents",
    "repair_tail",
    "scan_output",
    "write_error_report",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 2**20
TEXT_SUFFIXES = frozenset({".txt", ".md", ".html", ".htm"})
JSONL_SUFFIX = ".jsonl"
_GLOB_CHARS = frozenset("*?[")
_CHUNK = 1 << 16


# --------------------------------------------------------------------------- inputs


def iter_documents(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    stdin: BinaryIO | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[Document]:
    """Lazily yield one :class:`Document` per input document (see the module doc)."""
    seen: set[str] = set()
    for item in inputs:
        for doc in _expand(os.fspath(item), stdin, max_bytes):
            yield _dedupe(doc, seen)


def _dedupe(doc: Document, seen: set[str]) -> Document:
    if doc.doc_id not in seen:
        seen.add(doc.doc_id)
        return doc
    n = 2
    while f"{doc.doc_id}~{n}" in seen:
        n += 1
    new_id = f"{doc.doc_id}~{n}"
    seen.add(new_id)
    error = InputError(
        "duplicate doc_id: another input already produced this id",
        doc_id=doc.doc_id,
        renamed_to=new_id,
        source=doc.source,
    )
    return Document(doc_id=new_id, source=doc.source, data="", meta=doc.meta, error=error)


def _error_doc(doc_id: str, source: str, error: InputError) -> Document:
    return Document(doc_id=doc_id, source=source, data="", error=error)


def _expand(item: str, stdin: BinaryIO | None, max_bytes: int) -> Iterator[Document]:
    if item == "-":
        yield _read_stdin(stdin, max_bytes)
        return
    path = Path(item)
    if path.is_dir():
        yield from _walk_folder(path, max_bytes)
    elif path.exists():
        yield from _read_path(path, item, path.stem or path.name, path.name, max_bytes)
    elif any(ch in _GLOB_CHARS for ch in item):
        yield from _expand_glob(item, max_bytes)
    else:
        yield _error_doc(path.stem or item, item, InputError("input not found", path=item))


def _read_stdin(stdin: BinaryIO | None, max_bytes: int) -> Document:
    stream = stdin if stdin is not None else sys.stdin.buffer
    try:
        data = stream.read(max_bytes + 1)
    except OSError as exc:
        return _error_doc("stdin", "-", InputError(f"cannot read stdin: {exc}"))
    if len(data) > max_bytes:
        return _error_doc(
            "stdin", "-", InputError("stdin is larger than the size limit", max_bytes=max_bytes)
        )
    return Document(doc_id="stdin", source="-", data=data)


def _walk_folder(root: Path, max_bytes: int) -> Iterator[Document]:
    visited: set[str] = set()

    def walk(folder: Path, rel: PurePosixPath) -> Iterator[Document]:
        try:
            real = os.path.realpath(folder)
            if real in visited:  # a symlink loop
                return
            visited.add(real)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            source = str(folder)
            yield _error_doc(
                str(rel) if rel.parts else folder.name or source,
                source,
                InputError(f"cannot list folder: {exc.strerror}", path=source),
            )
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child_rel = rel / entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk(Path(entry.path), child_rel)
            elif Path(entry.name).suffix.lower() in TEXT_SUFFIXES:
                doc_id = str(child_rel.with_suffix(""))
                yield from _read_file(Path(entry.path), entry.path, doc_id, max_bytes)

    yield from walk(root, PurePosixPath())


def _glob_root(pattern: str) -> Path:
    """The leading folders of ``pattern`` that contain no glob characters."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if any(ch in _GLOB_CHARS for ch in part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def _expand_glob(pattern: str, max_bytes: int) -> Iterator[Document]:
    root = _glob_root(pattern)
    # Only path strings are materialised (to sort them), never document contents.
    matches = sorted(m for m in glob.iglob(pattern, recursive=True) if os.path.isfile(m))
    if not matches:
        stem = Path(pattern).stem or pattern
        yield _error_doc(stem, pattern, InputError("no files match the pattern", pattern=pattern))
        return
    for match in matches:
        path = Path(match)
        try:
            rel = PurePosixPath(path.relative_to(root).as_posix())
        except ValueError:
            rel = PurePosixPath(path.as_posix())
        yield from _read_path(path, match, str(rel.with_suffix("")), str(rel), max_bytes)


def _read_path(
    path: Path, source: str, doc_id: str, jsonl_name: str, max_bytes: int
) -> Iterator[Document]:
    if path.suffix.lower() == JSONL_SUFFIX:
        yield from _iter_jsonl(path, source, jsonl_name, max_bytes)
    else:
        yield from _read_file(path, source, doc_id, max_bytes)


def _read_file(path: Path, source: str, doc_id: str, max_bytes: int) -> Iterator[Document]:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            yield _error_doc(
                doc_id,
                source,
                InputError(
                    "file is larger than the size limit",
                    path=source,
                    bytes=size,
                    max_bytes=max_bytes,
                ),
            )
            return
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        yield _error_doc(
            doc_id, source, InputError(f"cannot read file: {exc.strerror or exc}", path=source)
        )
        return
    if len(data) > max_bytes:  # it grew since stat
        yield _error_doc(
            doc_id,
            source,
            InputError("file is larger than the size limit", path=source, max_bytes=max_bytes),
        )
        return
    yield Document(doc_id=doc_id, source=source, data=data)


def _iter_jsonl(path: Path, source: str, name: str, max_bytes: int) -> Iterator[Document]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        yield _error_doc(
            name, source, InputError(f"cannot read file: {exc.strerror or exc}", path=source)
        )
        return
    try:
        lineno = 0
        while True:
            try:
                line = fh.readline(max_bytes + 1)
            except OSError as exc:
                yield _error_doc(
                    f"{name}:{lineno + 1}",
                    f"{source}:{lineno + 1}",
                    InputError(f"cannot read file: {exc.strerror or exc}", path=source),
                )
                return
            if not line:
                return
            lineno += 1
            if len(line) > max_bytes and not line.endswith(b"\n"):
                # an over-long line: skip the rest of it without holding it
                while chunk := fh.readline(_CHUNK):
                    if chunk.endswith(b"\n"):
                        break
                yield _error_doc(
                    f"{name}:{lineno}",
                    f"{source}:{lineno}",
                    InputError(
                        "JSONL line is larger than the size limit",
                        path=source,
                        line=lineno,
                        max_bytes=max_bytes,
                    ),
                )
                continue
            if not line.strip():
                continue
            yield _parse_jsonl_line(line, source, name, lineno)
    finally:
        fh.close()


def _parse_jsonl_line(line: bytes, source: str, name: str, lineno: int) -> Document:
    default_id = f"{name}:{lineno}"
    line_source = f"{source}:{lineno}"
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return _error_doc(
            default_id,
            line_source,
            InputError(f"malformed JSONL line: {exc}", path=source, line=lineno),
        )
    if not isinstance(obj, dict):
        return _error_doc(
            default_id,
            line_source,
            InputError("a JSONL line must be an object", path=source, line=lineno),
        )
    raw_id = obj.pop("id", None)
    if isinstance(raw_id, str) and raw_id.strip():
        doc_id = raw_id.strip()
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool):
        doc_id = str(raw_id)
    elif raw_id is None or raw_id == "":
        doc_id = default_id
    else:
        return _error_doc(
            default_id,
            line_source,
            InputError("JSONL 'id' must be a string or an integer", path=source, line=lineno),
        )
    text = obj.pop("text", None)
    meta: dict[str, Any] = {}
    nested = obj.pop("meta", None)
    if isinstance(nested, dict):
        meta.update(nested)
    elif nested is not None:
        meta["meta"] = nested
    meta.update(obj)
    if not isinstance(text, str):
        problem = "lacks a 'text' field" if text is None else "has a non-string 'text'"
        return Document(
            doc_id=doc_id,
            source=line_source,
            data="",
            meta=meta,
            error=InputError(f"JSONL line {problem}", path=source, line=lineno),
        )
    return Document(doc_id=doc_id, source=line_source, data=text, meta=meta)


# --------------------------------------------------------------------------- outputs


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
        step = min(_CHUNK, pos)
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


@dataclass
class _Latest:
    """One read of an output file: which line of each doc_id is its current one."""

    #: doc_id -> index, among the valid lines, of its last line
    last: dict[str, int] = field(default_factory=dict)
    #: non-blank lines, corrupt ones included
    physical: int = 0
    #: error-report lines of the doc_ids whose last line failed, in the order of those lines
    failed: dict[str, bytes] = field(default_factory=dict)

    @property
    def removable(self) -> int:
        """Lines that compaction drops: superseded and corrupt ones."""
        return self.physical - len(self.last)


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
            index += 1
    return latest


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
    out = Path(out_path)
    if not out.exists():
        return 0, 0
    latest = _compact(out)
    _write_report(out, errors_path, latest.failed)
    return latest.removable, len(latest.failed)


@dataclass
class FinalizeReport:
    """What :meth:`ResultWriter.close` did."""

    compacted_lines: int = 0
    failed_documents: int = 0
    errors_path: Path | None = None


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
        if self._fd is not None:
            return self
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
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
            line = _dump_line(obj)
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
            }
            line = _dump_line(obj)
        assert self._fd is not None
        self._append(self._fd, line, self.path)
        self.lines_written += 1
        if not _is_ok(obj):
            if self._err_fd is None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
                try:
                    self._err_fd = os.open(self.errors_path, flags, 0o644)
                except OSError as exc:
                    raise LlmxError(
                        f"cannot open error report: {exc.strerror}", path=str(self.errors_path)
                    ) from exc
            self._append(self._err_fd, _dump_line(_error_entry(obj)), self.errors_path)
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

    def close(self, *, compact: bool = True, rebuild_errors: bool = True) -> FinalizeReport:
        """Flush and close; then compact duplicates and rebuild the error report."""
        report = FinalizeReport()
        if self._fd is None:  # never opened, or already closed
            return report
        self.flush()
        for fd in (self._fd, self._err_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._err_fd = None
        if compact and rebuild_errors:
            report.compacted_lines, report.failed_documents = finalize_output(
                self.path, self.errors_path
            )
        elif compact:
            report.compacted_lines = compact_output(self.path)
        elif rebuild_errors:
            report.failed_documents = write_error_report(self.path, self.errors_path)
        report.errors_path = self.errors_path if report.failed_documents else None
        return report
