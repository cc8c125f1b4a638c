"""The SQLite file every export is built in (stdlib ``sqlite3``).

Every export is first written to one SQLite file (:class:`SQLiteTables`): the
``documents`` table and one mention table per list stream in, each mention's matching
features and block keys going to scratch tables beside them; the entities are then
matched inside the file (:mod:`llmx._tables.sqlite_entities`). For a SQLite export that
file is the result, finished for Datasette (foreign keys, indexes, full-text search,
column descriptions, :func:`datasette_metadata`). Parquet and CSV stream out of it batch
by batch (:mod:`llmx._tables.parquet_files`, :mod:`llmx._tables.csv_files`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from llmx._tables.entities import MatchPlan, block_keys, features
from llmx._tables.flatten import Column, Kind, ListTable, TableSpec
from llmx._tables.lines import OutputLine

__all__ = [
    "BATCH",
    "SQLiteTables",
    "Table",
    "batched",
    "datasette_metadata",
    "entity_id",
    "ident",
    "sql_value",
]

#: rows per ``executemany`` and per batch read back
BATCH = 8192
T = TypeVar("T")
_SQL_TYPE: dict[Kind, str] = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "boolean": "INTEGER",
    "json": "TEXT",
    "list": "TEXT",
}
ENTITY_COLUMNS: tuple[Column, ...] = (
    Column("entity_id", "text", "Entity id (unique); mentions carry it"),
    Column("mention_count", "integer", "Mentions of this entity across all documents"),
    Column("doc_count", "integer", "Documents that mention it"),
    Column("first_published", "text", "Earliest publication date among its documents"),
    Column("last_published", "text", "Latest publication date among its documents"),
    Column("doc_ids", "list", "The documents that mention it, in order of first mention"),
)
LINK_COLUMNS: tuple[Column, ...] = (
    Column("entity_id", "text", "The entity the two mentions were joined into"),
    Column("mention_id", "integer", "One mention"),
    Column("linked_mention_id", "integer", "The mention it was joined with"),
    Column("score", "real", "Key similarity plus 0.02 per supporting field"),
    Column("reason", "text", "Why they were judged the same: similarities and agreeing fields"),
)


class Table:
    """A written table: its name, columns, primary key and foreign keys."""

    def __init__(
        self,
        name: str,
        columns: Sequence[Column],
        *,
        pk: str | None = None,
        fks: Mapping[str, tuple[str, str]] | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.pk = pk
        self.fks = dict(fks or {})
        self.description = description

    def create_sql(self) -> str:
        parts = []
        for c in self.columns:
            decl = f"{ident(c.name)} {_SQL_TYPE[c.kind]}"
            if c.name == self.pk:
                decl += " PRIMARY KEY"
            parts.append(decl)
        for col, (table, ref) in self.fks.items():
            parts.append(f"FOREIGN KEY ({ident(col)}) REFERENCES {ident(table)}({ident(ref)})")
        return f"CREATE TABLE {ident(self.name)} (\n  " + ",\n  ".join(parts) + "\n)"

    def insert_sql(self) -> str:
        names = ", ".join(ident(c.name) for c in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {ident(self.name)} ({names}) VALUES ({marks})"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def entity_id(table: str, doc_id: str, index: int) -> str:
    """A mention's own entity id: stable for the same document and position."""
    digest = hashlib.sha1(f"{table}\x1f{doc_id}\x1f{index}".encode()).hexdigest()
    return f"{table[:1]}{digest[:12]}"


class SQLiteTables:
    """Builds all tables of one export in a SQLite file (see the module docstring)."""

    def __init__(self, path: Path, spec: TableSpec, *, entities: bool, plans: list[MatchPlan]):
        self.path = path
        self.spec = spec
        self.entities = entities
        self.plans = {p.table.name: p for p in plans}
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("ATTACH DATABASE '' AS scratch")  # a temporary file
        self.tables = self._layout()
        self.conn.execute("BEGIN")
        for table in self.tables.values():
            self.conn.execute(table.create_sql())
        for t in spec.lists:
            if entities:
                self.conn.execute(
                    f"CREATE TABLE scratch.{ident('match_' + t.name)} "
                    "(mention_id INTEGER PRIMARY KEY, doc_id TEXT, features TEXT)"
                )
                self.conn.execute(
                    f"CREATE TABLE scratch.{ident('block_' + t.name)} "
                    "(key TEXT, sort TEXT, mention_id INTEGER)"
                )
        self._doc_insert = self.tables["documents"].insert_sql()
        self._next_id = dict.fromkeys((t.name for t in spec.lists), 1)
        self.documents = 0
        self.replaced = 0

    # -- layout
    def _layout(self) -> dict[str, Table]:
        spec = self.spec
        tables = {
            "documents": Table(
                "documents",
                spec.document_columns,
                pk="doc_id",
                description="One row per input document, failed ones included",
            )
        }
        for t in spec.lists:
            columns = [c for c in t.all_columns if self.entities or c.name != "entity_id"]
            fks = {"doc_id": ("documents", "doc_id")}
            if self.entities:
                fks["entity_id"] = (t.entities, "entity_id")
            tables[t.name] = Table(
                t.name,
                columns,
                pk="mention_id",
                fks=fks,
                description=f"One row per extracted {t.name} record (a mention)",
            )
            if self.entities:
                item = [c for c in t.columns if c.name != t.evidence]
                tables[t.entities] = Table(
                    t.entities,
                    [*ENTITY_COLUMNS, *item],
                    pk="entity_id",
                    description=f"One row per real-world entity of {t.name}, across documents",
                )
                tables[t.links] = Table(
                    t.links,
                    LINK_COLUMNS,
                    fks={
                        "entity_id": (t.entities, "entity_id"),
                        "mention_id": (t.name, "mention_id"),
                        "linked_mention_id": (t.name, "mention_id"),
                    },
                    description=f"Why mentions of {t.name} were joined into one entity",
                )
        return tables

    # -- rows
    def add_document(
        self, line: OutputLine, doc: dict[str, Any], mentions: Mapping[str, list[dict[str, Any]]]
    ) -> None:
        """Add one document and its mentions; a doc_id seen before is replaced (last wins)."""
        conn = self.conn
        if conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (line.doc_id,)).fetchone():
            self._remove(line.doc_id)
            self.replaced += 1
        cols = self.tables["documents"].columns
        conn.execute(self._doc_insert, [sql_value(doc.get(c.name), c.kind) for c in cols])
        self.documents += 1
        for name, rows in mentions.items():
            table = self.tables[name]
            plan = self.plans.get(name)
            match_rows: list[tuple[int, str, str]] = []
            block_rows: list[tuple[str, str, int]] = []
            values = []
            for row in rows:
                mid = self._next_id[name]
                self._next_id[name] = mid + 1
                row["mention_id"] = mid
                if self.entities:
                    row["entity_id"] = entity_id(name, row["doc_id"], row["item_index"])
                values.append([sql_value(row.get(c.name), c.kind) for c in table.columns])
                if plan is not None and self.entities:
                    f = features(row, plan)
                    doc_id = f.pop("d")  # kept apart: the rest is a signature (link_blocks)
                    match_rows.append((mid, doc_id, json.dumps(f, ensure_ascii=False)))
                    block_rows.extend((k, order, mid) for k, order in block_keys(f, plan))
            conn.executemany(table.insert_sql(), values)
            if match_rows:
                conn.executemany(
                    f"INSERT INTO scratch.{ident('match_' + name)} VALUES (?, ?, ?)",
                    match_rows,
                )
                conn.executemany(
                    f"INSERT INTO scratch.{ident('block_' + name)} VALUES (?, ?, ?)",
                    block_rows,
                )

    def _remove(self, doc_id: str) -> None:
        conn = self.conn
        for t in self.spec.lists:
            if self.entities:
                for scratch in ("match_", "block_"):
                    conn.execute(
                        f"DELETE FROM scratch.{ident(scratch + t.name)} WHERE mention_id IN "
                        f"(SELECT mention_id FROM {ident(t.name)} WHERE doc_id = ?)",
                        (doc_id,),
                    )
            conn.execute(f"DELETE FROM {ident(t.name)} WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def last_mention_id(self, name: str) -> int:
        """The highest mention id handed out in list table ``name`` (ids start at 1)."""
        return self._next_id[name] - 1

    # -- finishing
    def finish(self, *, datasette: bool) -> None:
        """Commit; with ``datasette``, add indexes, full-text search and column metadata."""
        conn = self.conn
        if datasette:
            for t in self.spec.lists:
                conn.execute(
                    f"CREATE INDEX {ident(f'idx_{t.name}_doc_id')} ON {ident(t.name)}(doc_id)"
                )
                if self.entities:  # (the index on entity_id exists already)
                    conn.execute(
                        f"CREATE INDEX {ident(f'idx_{t.links}_entity_id')} "
                        f"ON {ident(t.links)}(entity_id)"
                    )
                self._fts(t)
            conn.execute("CREATE INDEX idx_documents_status ON documents(status)")
            self._column_table()
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE scratch")

    def _fts(self, t: ListTable) -> None:
        """Full-text search on the key names and the evidence (trigram: any language)."""
        plan = self.plans.get(t.name)
        names = [k for k in (plan.keys if plan else {}) if k in {c.name for c in t.columns}]
        if t.evidence:
            names.append(t.evidence)
        if not names:
            return
        fts = f"{t.name}_fts"
        cols = ", ".join(ident(n) for n in names)
        self.conn.execute(
            f"CREATE VIRTUAL TABLE {ident(fts)} USING fts5({cols}, "
            f"content=[{t.name}], content_rowid='mention_id', tokenize='trigram')"
        )
        self.conn.execute(f"INSERT INTO {ident(fts)}({ident(fts)}) VALUES ('rebuild')")

    def _column_table(self) -> None:
        self.conn.execute(
            "CREATE TABLE _llmx_columns (table_name TEXT, column_name TEXT, kind TEXT, "
            "description TEXT, PRIMARY KEY (table_name, column_name))"
        )
        self.conn.executemany(
            "INSERT INTO _llmx_columns VALUES (?, ?, ?, ?)",
            [
                (t.name, c.name, c.kind, c.description)
                for t in self.tables.values()
                for c in t.columns
            ],
        )

    def close(self) -> None:
        self.conn.close()

    # -- reading back
    def iter_batches(self, table: Table, size: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
        order = f" ORDER BY {ident(table.pk)}" if table.pk and table.pk != "doc_id" else ""
        if table.pk is None:
            order = " ORDER BY rowid"
        cursor = self.conn.execute(f"SELECT * FROM {ident(table.name)}{order}")
        while rows := cursor.fetchmany(size):
            yield rows


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items (``itertools.batched`` is Python 3.12+)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def sql_value(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "list" and not isinstance(value, str):
        return json.dumps(list(value), ensure_ascii=False)
    if kind == "boolean":
        return int(bool(value))
    return value


def datasette_metadata(db_name: str, tables: Mapping[str, Table]) -> dict[str, Any]:
    """Datasette metadata (``datasette DB -m FILE``): table and column descriptions."""
    return {
        "databases": {
            db_name: {
                "tables": {
                    t.name: {
                        "description": t.description,
                        "columns": {c.name: c.description for c in t.columns if c.description},
                    }
                    for t in tables.values()
                }
            }
        }
    }
