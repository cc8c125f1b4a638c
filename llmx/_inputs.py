"""Reading inputs: paths, folders, globs, stdin and JSONL files, as documents.

Documents are yielded lazily by :func:`iter_documents`, one at a time; only the set of
doc_ids seen so far is kept. Each input argument is one of:

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

One module, ~460 lines: the input forms share one doc_id scheme and one record of the
ids seen, and the counting must walk exactly as the reading does; split by form, each
part would need the others' rules.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from llmx._errors import InputError
from llmx._text.decode import DEFAULT_MAX_BYTES
from llmx._types import Document

__all__ = [
    "TAKEN_IN_THIS_RUN",
    "TEXT_SUFFIXES",
    "all_paths",
    "count_documents",
    "duplicate_input",
    "iter_documents",
    "renamed",
    "unique_id",
]

TEXT_SUFFIXES = frozenset({".txt", ".md", ".html", ".htm"})
JSONL_SUFFIX = ".jsonl"
_GLOB_CHARS = frozenset("*?[")
#: how much of an over-long JSONL line is read at a time while skipping it
_SKIP_STEP = 1 << 16


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


#: why a document that is not a duplicate is renamed (see :func:`renamed`)
TAKEN_IN_THIS_RUN = "is taken by another input of this run"


def renamed(doc: Document, new_id: str, why: str) -> Document:
    """``doc`` under ``new_id``, with a note saying why its doc_id was taken."""
    note = f"doc_id {doc.doc_id!r} {why}; this document is {new_id!r}"
    return Document(new_id, doc.source, doc.data, doc.meta, doc.error, (*doc.notes, note))


def duplicate_input(doc: Document, new_id: str) -> Document:
    """The error document, under ``new_id``, of an input seen before with the same content."""
    error = InputError(
        "duplicate input: an earlier input has the same doc_id and the same content",
        doc_id=doc.doc_id,
        renamed_to=new_id,
        source=doc.source,
    )
    return Document(new_id, doc.source, "", doc.meta, error, doc.notes)


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
        return duplicate_input(doc, new_id)
    new_id = unique_id(doc.doc_id, seen.__contains__, _alternative_ids(doc, named=named))
    seen[new_id] = digest
    return renamed(doc, new_id, TAKEN_IN_THIS_RUN)


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
                while chunk := fh.readline(_SKIP_STEP):
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


def all_paths(inputs: Any) -> bool:
    """Whether ``inputs`` is a sequence of paths (else it holds or makes Documents); a
    single path instead of a sequence is a mistake worth a clear error."""
    if isinstance(inputs, str | os.PathLike):
        raise TypeError("inputs must be a sequence of paths, not a single path")
    return isinstance(inputs, Sequence) and all(isinstance(i, str | os.PathLike) for i in inputs)
