"""The tables of an export and their columns: nested records flattened to columns.

One table per list field of the record (:class:`ListTable`, one row per item, a
*mention*), plus ``documents`` (one row per input line). The shape comes from the schema
when it is known (:func:`spec_from_schema`: column kinds and descriptions from the
Pydantic model) and from the data otherwise (:func:`spec_from_data`, one streaming pass,
kinds widening as values are seen). Nested objects become columns joined with ``_``
(``amount_value``, ``location_city``); lists and dicts inside an item stay JSON text.
Every mention table also has the provenance columns (:data:`PROVENANCE` first,
:data:`TRAILING` last), which :mod:`llmx._tables.rows` fills.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from llmx._tables.lines import iter_output
from llmx.fields import evidence_field

__all__ = [
    "DOCUMENT_COLUMNS",
    "PROVENANCE",
    "TRAILING",
    "Column",
    "Kind",
    "ListTable",
    "TableSpec",
    "spec_from_data",
    "spec_from_schema",
]

#: how a column is stored: SQLite affinity, Arrow type and pandas dtype follow from it
Kind = Literal["text", "integer", "real", "boolean", "json", "list"]


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, kind and description (shown by Datasette)."""

    name: str
    kind: Kind
    description: str | None = None
    #: where the value sits in a list item (``("amount", "value")``); empty for
    #: provenance columns, which the row builder fills itself
    path: tuple[str, ...] = ()
    #: the top-level field of the item this column belongs to (``amount``)
    group: str = ""


PROVENANCE: tuple[Column, ...] = (
    Column("mention_id", "integer", "Row number of this mention (stable within one export)"),
    Column("doc_id", "text", "The input document (documents.doc_id)"),
    Column("item_index", "integer", "Position of the record in its document's list"),
    Column("entity_id", "text", "The real-world entity this mention belongs to"),
)
TRAILING: tuple[Column, ...] = (
    Column("evidence_start", "integer", "Start offset of the evidence in the decoded document"),
    Column("evidence_end", "integer", "End offset (exclusive) of the evidence"),
    Column("grounding", "text", "Where the evidence was found: exact, fuzzy or not_found"),
    Column("grounding_score", "real", "Similarity of the evidence to the document text"),
    Column("confidence", "real", "Share of extraction passes that produced this record"),
    Column("source", "text", "Where the document was read from"),
    Column("url", "text", "The input's url field"),
    Column("title", "text", "The input's title field"),
    Column("published", "text", "The input's publication date"),
    Column("note_count", "integer", "Number of normaliser notes on the document"),
)
PROVENANCE_NAMES = frozenset(c.name for c in (*PROVENANCE, *TRAILING))

DOCUMENT_COLUMNS: tuple[Column, ...] = (
    Column("doc_id", "text", "Document id (unique)"),
    Column("source", "text", "Where the document was read from"),
    Column("status", "text", "ok or failed"),
    Column("error_kind", "text", "Kind of error for a failed document"),
    Column("error_message", "text", "What went wrong for a failed document"),
    Column("url", "text", "The input's url field"),
    Column("title", "text", "The input's title field"),
    Column("published", "text", "The input's publication date"),
    Column("content_sha256", "text", "SHA-256 of the document text"),
    Column("prompt_tokens", "integer", "Tokens sent (failed attempts included)"),
    Column("completion_tokens", "integer", "Tokens received"),
    Column("total_tokens", "integer", "prompt_tokens + completion_tokens"),
    Column("requests", "integer", "Requests made for this document"),
    Column("cost_usd", "real", "Estimated cost in US dollars"),
    Column("seconds", "real", "Wall time spent on the document"),
    Column("cached", "boolean", "Answered from the cache"),
    Column("attempts", "integer", "Attempts made"),
    Column("note_count", "integer", "Number of normaliser notes"),
    Column("notes", "list", "The normaliser notes"),
    Column("meta", "json", "All passthrough fields of the input, as JSON"),
)


@dataclass(frozen=True)
class ListTable:
    """One list field of the record and the table of its items."""

    name: str
    columns: tuple[Column, ...]
    #: the item model when the schema is known
    model: type[BaseModel] | None = None
    #: the column holding the evidence quote
    evidence: str | None = None

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return (*PROVENANCE, *self.columns, *TRAILING)

    @property
    def entities(self) -> str:
        return f"{self.name}_entities"

    @property
    def links(self) -> str:
        return f"{self.name}_links"


@dataclass(frozen=True)
class TableSpec:
    """The tables an export writes, besides ``documents``."""

    lists: tuple[ListTable, ...]
    #: flattened non-list fields of the record, as ``record_*`` columns of ``documents``
    record_columns: tuple[Column, ...] = ()
    #: the record model when the schema is known
    schema: type[BaseModel] | None = None

    @property
    def document_columns(self) -> tuple[Column, ...]:
        counts = tuple(
            Column(f"{t.name}_count", "integer", f"Records in {t.name}") for t in self.lists
        )
        return (*DOCUMENT_COLUMNS, *counts, *self.record_columns)


# --------------------------------------------------------------------------- schema


def _without_none(annotation: Any) -> Any:
    """``X | None`` -> ``X`` (the first non-None member of a union)."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _annotation_kind(annotation: Any) -> Kind:
    ann = _without_none(annotation)
    if get_origin(ann) is Literal:
        values = get_args(ann)
        if all(isinstance(v, bool) for v in values):
            return "boolean"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "integer"
        return "text"
    if ann is bool:
        return "boolean"
    if ann is int:
        return "integer"
    if ann is float:
        return "real"
    if ann is str:
        return "text"
    return "json"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    ann = _without_none(annotation)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    ann = _without_none(annotation)
    if get_origin(ann) is list:
        args = get_args(ann)
        return _model_of(args[0]) if args else None
    return None


def _model_columns(
    model: type[BaseModel], prefix: tuple[str, ...], parent: str | None
) -> Iterator[Column]:
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        description = info.description or (parent if prefix else None)
        sub = _model_of(info.annotation)
        if sub is not None:
            yield from _model_columns(sub, path, description or sub.__doc__)
            continue
        yield Column("_".join(path), _annotation_kind(info.annotation), description, path, path[0])


def _dedupe_names(columns: list[Column]) -> tuple[Column, ...]:
    """Item columns that collide with a provenance column get an ``item_`` prefix."""
    out: list[Column] = []
    for c in columns:
        if c.name in PROVENANCE_NAMES and c.name != "evidence":
            c = Column(f"item_{c.name}", c.kind, c.description, c.path, c.group)
        out.append(c)
    return tuple(out)


def spec_from_schema(schema: type[BaseModel]) -> TableSpec:
    """Tables of ``schema``: one per ``list[Model]`` field; other fields go to documents."""
    lists: list[ListTable] = []
    record: list[Column] = []
    for name, info in schema.model_fields.items():
        item = _list_item_model(info.annotation)
        if item is not None:
            columns = _dedupe_names(list(_model_columns(item, (), None)))
            lists.append(ListTable(name, columns, item, evidence_field(item)))
            continue
        for c in _model_columns_for_field(name, info.annotation, info.description):
            record.append(Column(f"record_{c.name}", c.kind, c.description, c.path, c.group))
    return TableSpec(tuple(lists), tuple(record), schema)


def _model_columns_for_field(name: str, annotation: Any, description: str | None) -> list[Column]:
    sub = _model_of(annotation)
    if sub is not None:
        return list(_model_columns(sub, (name,), description))
    return [Column(name, _annotation_kind(annotation), description, (name,), name)]


# --------------------------------------------------------------------------- data


def _value_kind(value: Any) -> Kind | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "text"
    return "json"


def _widen(a: Kind | None, b: Kind | None) -> Kind | None:
    if a is None or a == b:
        return b if a is None else a
    if b is None:
        return a
    if {a, b} == {"integer", "real"}:
        return "real"
    return "json" if "json" in (a, b) else "text"


def _leaves(
    item: Mapping[str, Any], prefix: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, value)`` of every leaf of a nested object (an empty object is a leaf)."""
    for key, value in item.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


@dataclass
class _ColumnsSeen:
    """The columns seen so far, in the order first seen, each with its widened kind."""

    order: list[tuple[str, ...]] = field(default_factory=list)
    kinds: dict[tuple[str, ...], Kind | None] = field(default_factory=dict)

    def add(self, path: tuple[str, ...], value: Any) -> None:
        if path not in self.kinds:
            self.order.append(path)
            self.kinds[path] = None
        self.kinds[path] = _widen(self.kinds[path], _value_kind(value))

    def columns(self) -> list[Column]:
        return [Column("_".join(p), self.kinds[p] or "text", None, p, p[0]) for p in self.order]


def spec_from_data(path: str | Path) -> TableSpec:
    """Infer the tables from an output file when the schema is unknown (one pass).

    A top-level record field holding a list of objects is a table; other fields become
    ``record_*`` columns of ``documents``. Column kinds widen as values are seen.
    """
    lists: dict[str, _ColumnsSeen] = {}
    record = _ColumnsSeen()
    for line in iter_output(path):
        rec = line.record
        if rec is None:
            continue
        for key, value in rec.items():
            if isinstance(value, list):
                seen = lists.setdefault(key, _ColumnsSeen())
                for item in value:
                    if isinstance(item, dict):
                        for p, v in _leaves(item, ()):
                            seen.add(p, v)
            elif isinstance(value, dict) and value:
                for p, v in _leaves(value, (key,)):
                    record.add(p, v)
            else:
                record.add((key,), value)
    tables = []
    for name, seen in lists.items():
        columns = _dedupe_names(seen.columns())
        evidence = "evidence" if any(c.name == "evidence" for c in columns) else None
        tables.append(ListTable(name, columns, None, evidence))
    record_columns = tuple(
        Column(f"record_{c.name}", c.kind, None, c.path, c.group) for c in record.columns()
    )
    return TableSpec(tuple(tables), record_columns, None)
