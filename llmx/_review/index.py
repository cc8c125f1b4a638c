"""An ``llmx run`` output file read once and indexed for review.

Each document's *last* line counts (as everywhere else in llmx). The index keeps,
per document, a small :class:`DocSummary` (flags for the list filters, counts,
a lower-cased search text) and the byte offset of its line; the full line is
read again only when the document is opened. Nothing here knows a schema: the
record lists of a record are its top-level fields holding lists of objects.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmx._errors import LlmxError

__all__ = [
    "FILTERS",
    "DocSummary",
    "Filter",
    "ReviewIndex",
    "record_lists",
]

Filter = Literal["all", "failed", "ungrounded", "noted", "low_confidence", "empty"]
FILTERS: tuple[Filter, ...] = ("all", "failed", "ungrounded", "noted", "low_confidence", "empty")
ROOT = "$root"
_PATH = re.compile(r"^([^\[\].]+)\[(\d+)\]")
_SAMPLES = 20  # records kept per list to learn its fields
_SEARCH_CHARS = 4000  # record/meta text kept per document for the search box


def record_lists(record: Any) -> dict[str, list[Any]]:
    """The record lists of ``record``: top-level fields holding lists of objects.

    An empty list counts too (its field is a list, the schema just found nothing).
    """
    if not isinstance(record, dict):
        return {}
    out: dict[str, list[Any]] = {}
    for key, value in record.items():
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            out[key] = value
    return out


def split_path(path: str) -> tuple[str, int | None]:
    """``projects[2].amount`` -> ``("projects", 2)``; ``""`` -> ``("$root", None)``."""
    m = _PATH.match(path)
    if m is None:
        return ROOT, None
    return m.group(1), int(m.group(2))


def _strings(value: Any, out: list[str], budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    if isinstance(value, str):
        out.append(value)
        budget[0] -= len(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out, budget)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out, budget)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


@dataclass
class DocSummary:
    """What the document list shows and filters on, for one document."""

    n: int
    doc_id: str
    source: str
    offset: int
    failed: bool
    error: str | None
    lists: dict[str, int]
    ungrounded: int
    notes: int
    min_confidence: float | None
    title: str | None = None
    search: str = field(default="", repr=False)

    @property
    def records(self) -> int:
        return sum(self.lists.values())

    def matches(self, flt: Filter, low: float) -> bool:
        if flt == "failed":
            return self.failed
        if flt == "ungrounded":
            return self.ungrounded > 0
        if flt == "noted":
            return self.notes > 0
        if flt == "low_confidence":
            return self.min_confidence is not None and self.min_confidence < low
        if flt == "empty":
            return not self.failed and self.records == 0
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "failed": self.failed,
            "error": self.error,
            "lists": self.lists,
            "records": self.records,
            "ungrounded": self.ungrounded,
            "notes": self.notes,
            "min_confidence": self.min_confidence,
        }


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    if isinstance(error, dict):
        kind, message = error.get("kind"), error.get("message")
        text = f"{kind}: {message}" if kind and message else str(message or kind or error)
        return text
    return str(error)


def summarise(n: int, offset: int, obj: dict[str, Any]) -> DocSummary:
    """The :class:`DocSummary` of one output line."""
    record = obj.get("record")
    error = _error_text(obj.get("error"))
    failed = error is not None or not isinstance(record, dict)
    if failed and error is None:
        error = "no record was produced"
    lists = {name: len(items) for name, items in record_lists(record).items()}
    grounding = obj.get("grounding") if isinstance(obj.get("grounding"), list) else []
    ungrounded = sum(
        1 for g in grounding or [] if isinstance(g, dict) and g.get("status") == "not_found"
    )
    notes = obj.get("notes") if isinstance(obj.get("notes"), list) else []
    confidence = obj.get("confidence")
    values = (
        [f for v in confidence.values() if (f := _float(v)) is not None]
        if isinstance(confidence, dict)
        else []
    )
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    title = meta.get("title") if isinstance(meta, dict) else None
    parts = [str(obj.get("doc_id")), str(obj.get("source") or "")]
    budget = [_SEARCH_CHARS]
    _strings(meta, parts, budget)
    _strings(record, parts, budget)
    _strings(notes, parts, budget)
    if error:
        parts.append(error)
    return DocSummary(
        n=n,
        doc_id=str(obj["doc_id"]),
        source=str(obj.get("source") or ""),
        offset=offset,
        failed=failed,
        error=error,
        lists=lists,
        ungrounded=ungrounded,
        notes=len(notes or []),
        min_confidence=min(values) if values else None,
        title=title if isinstance(title, str) else None,
        search="\n".join(parts).casefold(),
    )


@dataclass
class Page:
    """One page of the filtered document list and the counts behind the filters."""

    items: list[DocSummary]
    total: int
    page: int
    pages: int
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [d.to_dict() for d in self.items],
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "counts": self.counts,
        }


class ReviewIndex:
    """An output JSONL file, read once; documents addressed by their number ``n``.

    Numbers, not doc_ids, travel in URLs: a request never names a file or an id
    that is then used as one.
    """

    def __init__(self, path: str | os.PathLike[str], *, low_confidence: float = 0.5) -> None:
        self.path = Path(path)
        self.low_confidence = low_confidence
        self.docs: list[DocSummary] = []
        self.corrupt_lines = 0
        self.list_names: list[str] = []
        self.counts: dict[str, int] = {}
        #: up to a few records of each list, for the shape of a new record
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self._read()

    def _read(self) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise LlmxError(
                f"cannot read output file: {exc.strerror or exc}", path=str(self.path)
            ) from exc
        by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        with fh:
            offset = 0
            for line in fh:
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    self.corrupt_lines += 1
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("doc_id"), str):
                    self.corrupt_lines += 1
                    continue
                by_id.pop(obj["doc_id"], None)  # the last line wins, in its place
                by_id[obj["doc_id"]] = (start, obj)
        names: dict[str, None] = {}
        for n, (start, obj) in enumerate(by_id.values()):
            summary = summarise(n, start, obj)
            names.update(dict.fromkeys(summary.lists))
            for name, items in record_lists(obj.get("record")).items():
                kept = self.samples.setdefault(name, [])
                kept.extend(items[: _SAMPLES - len(kept)])
            self.docs.append(summary)
        self.list_names = list(names)
        self.counts = {
            flt: sum(1 for d in self.docs if d.matches(flt, self.low_confidence)) for flt in FILTERS
        }

    def __len__(self) -> int:
        return len(self.docs)

    def query(self, flt: Filter = "all", q: str = "", *, page: int = 1, size: int = 50) -> Page:
        """The documents passing ``flt`` whose search text holds ``q``, one page of them."""
        needle = q.strip().casefold()
        low = self.low_confidence
        hits = [d for d in self.docs if d.matches(flt, low) and (not needle or needle in d.search)]
        size = max(1, min(size, 500))
        pages = max(1, math.ceil(len(hits) / size))
        page = max(1, min(page, pages))
        items = hits[(page - 1) * size : page * size]
        return Page(items, len(hits), page, pages, dict(self.counts))

    def line(self, n: int) -> dict[str, Any]:
        """The full output line of document ``n`` (read from the file again)."""
        summary = self.docs[n]
        with open(self.path, "rb") as fh:
            fh.seek(summary.offset)
            obj: dict[str, Any] = json.loads(fh.readline())
        return obj

    def __iter__(self) -> Iterator[DocSummary]:
        return iter(self.docs)
