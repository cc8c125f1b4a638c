"""One output line -> its rows: the ``documents`` row and one row per list item.

Every mention row carries its provenance (:data:`~llmx._tables.flatten.PROVENANCE` and
``TRAILING``): the document, the input's passthrough fields (``url``, ``title``,
``published`` from the line's ``meta``), where its evidence was found in the document,
its grounding status, its confidence when the run measured one, and the document's
number of notes. The ``documents`` row exists for every line, failed documents included.
Each value is stored as its column's kind says (:func:`coerce`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from llmx._tables.flatten import Kind, ListTable, TableSpec
from llmx._tables.lines import OutputLine

__all__ = ["coerce", "document_row", "mention_rows"]


def _value_at(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def coerce(value: Any, kind: Kind) -> Any:
    """A JSON value as the column kind stores it (None when it does not fit)."""
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "list":
        return json.dumps(list(value) if isinstance(value, list) else [value], ensure_ascii=False)
    if kind == "text":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "integer":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _provenance(line: OutputLine) -> dict[str, Any]:
    meta = line.meta
    notes = line.raw.get("notes")
    return {
        "source": _as_text(line.raw.get("source")),
        "url": _as_text(meta.get("url")),
        "title": _as_text(meta.get("title")),
        "published": _as_text(meta.get("published")),
        "note_count": len(notes) if isinstance(notes, list) else 0,
    }


def document_row(line: OutputLine, spec: TableSpec) -> dict[str, Any]:
    """The ``documents`` row of one output line (failed documents included)."""
    raw = line.raw
    usage = raw.get("usage") if isinstance(raw.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    error = raw.get("error")
    rec = line.record
    row: dict[str, Any] = {"doc_id": line.doc_id, **_provenance(line)}
    if line.ok:
        row.update(status="ok", error_kind=None, error_message=None)
    else:
        err = error if isinstance(error, dict) else {}
        row.update(
            status="failed",
            error_kind=_as_text(err.get("kind")) or "error",
            error_message=_as_text(err.get("message")) or "no record was produced",
        )
    notes = raw.get("notes")
    row.update(
        content_sha256=_as_text(raw.get("content_sha256")),
        prompt_tokens=coerce(usage.get("prompt_tokens"), "integer"),
        completion_tokens=coerce(usage.get("completion_tokens"), "integer"),
        total_tokens=coerce(usage.get("total_tokens"), "integer"),
        requests=coerce(usage.get("requests"), "integer"),
        cost_usd=coerce(raw.get("cost_usd"), "real"),
        seconds=coerce(raw.get("seconds"), "real"),
        cached=coerce(raw.get("cached"), "boolean"),
        attempts=coerce(raw.get("attempts"), "integer"),
        notes=coerce(notes if isinstance(notes, list) else [], "list"),
        meta=coerce(line.meta, "json") if line.meta else None,
    )
    for table in spec.lists:
        items = rec.get(table.name) if rec is not None else None
        row[f"{table.name}_count"] = len(items) if isinstance(items, list) else 0
    for c in spec.record_columns:
        row[c.name] = coerce(_value_at(rec or {}, c.path), c.kind)
    return row


def _grounding_by_path(line: OutputLine) -> dict[str, dict[str, Any]]:
    entries = line.raw.get("grounding")
    out: dict[str, dict[str, Any]] = {}
    if isinstance(entries, list):
        for g in entries:
            if isinstance(g, dict) and isinstance(g.get("path"), str):
                out[g["path"]] = g
    return out


def mention_rows(line: OutputLine, table: ListTable) -> Iterator[dict[str, Any]]:
    """One row per item of ``table``'s list in this line (none for a failed document).

    ``mention_id`` and ``entity_id`` are left for the writer to fill.
    """
    rec = line.record
    if not line.ok or rec is None:
        return
    items = rec.get(table.name)
    if not isinstance(items, list):
        return
    grounding = _grounding_by_path(line)
    confidence = line.raw.get("confidence")
    conf: Mapping[str, Any] = confidence if isinstance(confidence, dict) else {}
    common = _provenance(line)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        path = f"{table.name}[{index}]"
        g = grounding.get(path, {})
        row: dict[str, Any] = {"doc_id": line.doc_id, "item_index": index}
        for c in table.columns:
            row[c.name] = coerce(_value_at(item, c.path), c.kind)
        row.update(
            evidence_start=coerce(g.get("start"), "integer"),
            evidence_end=coerce(g.get("end"), "integer"),
            grounding=_as_text(g.get("status")),
            grounding_score=coerce(g.get("score"), "real"),
            confidence=coerce(conf.get(path), "real"),
            **common,
        )
        yield row
