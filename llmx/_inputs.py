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

Nothing is silently dropped: a missing path, a glob without matches, a folder
without supported files, a file over ``max_bytes`` (not read), an unreadable file and
a malformed JSONL line each yield a :class:`~llmx._types.Document` whose ``error`` is
an :class:`~llmx._errors.InputError`, so they end in the error report. A different
document under a doc_id seen before in the same run gets an id from its path
(``story.html``, ``b/index``) or ``<id>~2`` and a note; the same id with the same
content again is a duplicate input (an error document under ``<id>~2``), so no
output line is ever shadowed. :func:`count_documents` counts what will be yielded
without reading files (for a progress total).

Outputs (:class:`ResultWriter`)
-------------------------------
One JSONL line per document, ``Result.to_dict()``: ``{doc_id, source, record,
usage, cached, attempts, error, grounding, notes, seconds, cost_usd, meta,
content_sha256}``; failed documents have ``record: null`` and an ``error``. A resumed
run skips a document only when its doc_id's line has the same ``content_sha256``
(:class:`ResumeIndex`); :func:`output_totals` sums a file up for the summary. Each
line is serialised fully, then appended with one ``os.write`` on an ``O_APPEND``
descriptor, so a crash (even ``kill -9``) leaves at most one torn last line, which
:func:`inspect_output` / :meth:`ResultWriter.open` truncate away. The **last** line per doc_id is
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Literal, Self

from llmx._errors import ConfigError, InputError, LlmxError
from llmx._text.decode import DEFAULT_MAX_BYTES
from llmx._types import Document, Result, Usage

__all__ = [
    "DEFAULT_MAX_BYTES",
    "TEXT_SUFFIXES",
    "FinalizeReport",
    "OutputScan",
    "OutputTotals",
    "ResultWriter",
    "ResumeIndex",
    "check_output_path",
    "compact_output",
    "count_documents",
    "default_errors_path",
    "finalize_output",
    "inspect_output",
    "iter_documents",
    "output_totals",
    "repair_tail",
    "scan_output",
    "write_error_report",
]

log = logging.getLogger(__name__)

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
    seen: dict[str, str] = {}
    for item in (os.fspath(i) for i in inputs):
        # a file named here is best told apart by its folder; one of a folder or glob
        # (doc_id = its relative path) by its suffix
        named = not os.path.isdir(item) and os.path.exists(item)
        for doc in _expand(item, stdin, max_bytes):
            yield _dedupe(doc, seen, named=named)


def _alternative_ids(doc: Document, *, named: bool) -> list[str]:
    """Ids a file's document may take when its natural one is taken, from its path:
    ``b/index`` for ``a/index.html b/index.html`` named on the command line, ``story.html``
    beside ``story.txt`` in a folder, then ever longer paths."""
    if doc.source == "-" or not os.path.isfile(doc.source):
        return []
    parts = [p for p in PurePosixPath(Path(doc.source).as_posix()).parts if p not in ("/", ".")]
    if not parts:
        return []
    suffix = PurePosixPath(parts[-1]).suffix
    stem = parts[-1][: len(parts[-1]) - len(suffix)] if suffix else parts[-1]
    longer = ["/".join([*parts[-k:-1], stem]) for k in range(2, len(parts) + 1)]
    with_suffix = [doc.doc_id + suffix] if suffix else []
    ordered = [*longer, *with_suffix] if named else [*with_suffix, *longer]
    return [alt for alt in ordered if alt != doc.doc_id]


def unique_id(base: str, taken: Callable[[str], bool], alternatives: Sequence[str] = ()) -> str:
    """The first of ``alternatives``, ``base~2``, ``base~3`` ... that is not ``taken``."""
    for alt in alternatives:
        if not taken(alt):
            return alt
    n = 2
    while taken(f"{base}~{n}"):
        n += 1
    return f"{base}~{n}"


def _renamed(doc: Document, new_id: str, why: str) -> Document:
    note = f"doc_id {doc.doc_id!r} {why}; this document is {new_id!r}"
    return Document(new_id, doc.source, doc.data, doc.meta, doc.error, (*doc.notes, note))


def _dedupe(doc: Document, seen: dict[str, str], *, named: bool = False) -> Document:
    """Give ``doc`` an id no earlier input of this run has.

    A different document under a taken id (``story.txt`` and ``story.html``, two
    ``index.html`` in different folders, a JSONL id used twice for different texts) gets
    an id from its path (``story.html``, ``b/index``) or ``<id>~2`` and is extracted too,
    with a note saying so. The same content under the same id again is a duplicate
    input: it ends in the error report under ``<id>~2``.
    """
    digest = doc.content_sha256
    if doc.doc_id not in seen:
        seen[doc.doc_id] = digest
        return doc
    if doc.error is None and seen[doc.doc_id] == digest:
        new_id = unique_id(doc.doc_id, seen.__contains__)
        seen[new_id] = digest
        error = InputError(
            "duplicate input: an earlier input has the same doc_id and the same content",
            doc_id=doc.doc_id,
            renamed_to=new_id,
            source=doc.source,
        )
        return Document(new_id, doc.source, "", doc.meta, error, doc.notes)
    new_id = unique_id(doc.doc_id, seen.__contains__, _alternative_ids(doc, named=named))
    seen[new_id] = digest
    return _renamed(doc, new_id, "is taken by another input of this run")


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
    found = 0
    others: list[str] = []
    for doc in _walk_files(root, others):
        found += 1
        yield _read_one(doc, max_bytes)
    if not found:
        shown = ", ".join(others[:5]) + (" and more" if len(others) > 5 else "")
        yield _error_doc(
            root.name or str(root),
            str(root),
            InputError(
                "folder has no supported files ("
                + " ".join(sorted(TEXT_SUFFIXES))
                + "; .jsonl files only when named)",
                path=str(root),
                other_files=shown or None,
            ),
        )


def _read_one(found: tuple[Path, str, str] | Document, max_bytes: int) -> Document:
    if isinstance(found, Document):
        return found
    path, source, doc_id = found
    return next(_read_file(path, source, doc_id, max_bytes))


def _walk_files(root: Path, others: list[str]) -> Iterator[tuple[Path, str, str] | Document]:
    """The supported files under ``root`` as ``(path, source, doc_id)``, sorted, without
    reading them (a folder that cannot be listed as an error document); the relative
    paths of other files go to ``others``."""
    visited: set[str] = set()

    def walk(folder: Path, rel: PurePosixPath) -> Iterator[tuple[Path, str, str] | Document]:
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
                yield Path(entry.path), entry.path, str(child_rel.with_suffix(""))
            elif len(others) <= 5:  # a few, to name in a message
                others.append(str(child_rel))

    yield from walk(root, PurePosixPath())


def count_documents(inputs: Sequence[str | os.PathLike[str]]) -> int | None:
    """How many documents :func:`iter_documents` will yield for ``inputs``, cheaply:
    folders are listed and globs matched without reading a file; a JSONL file's lines
    are counted. ``None`` when it cannot be told without reading stdin."""
    total = 0
    for item in (os.fspath(i) for i in inputs):
        if item == "-":
            total += 1
            continue
        path = Path(item)
        if path.is_dir():
            others: list[str] = []
            listed = sum(1 for _ in _walk_files(path, others))
            total += listed or 1  # an empty folder is one error document
        elif path.exists():
            total += _count_jsonl(path) if path.suffix.lower() == JSONL_SUFFIX else 1
        elif any(ch in _GLOB_CHARS for ch in item):
            matches = [m for m in glob.iglob(item, recursive=True) if os.path.isfile(m)]
            total += (
                sum(
                    _count_jsonl(Path(m)) if m.lower().endswith(JSONL_SUFFIX) else 1
                    for m in matches
                )
                or 1
            )
        else:
            total += 1
    return total


def _count_jsonl(path: Path) -> int:
    """Non-blank lines of a JSONL file (one document each)."""
    count = 0
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    count += 1
    except OSError:
        return 1
    return count


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
        check_output_path(self.path)
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
                "meta": {},
                "content_sha256": result.content_sha256,
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
            latest = _finalize(self.path, self.errors_path)
            if latest is not None:
                report.compacted_lines = latest.removable
                report.failed_documents = len(latest.failed)
                report.totals = latest.totals()
        elif compact:
            report.compacted_lines = compact_output(self.path)
        elif rebuild_errors:
            report.failed_documents = write_error_report(self.path, self.errors_path)
        report.errors_path = self.errors_path if report.failed_documents else None
        return report
