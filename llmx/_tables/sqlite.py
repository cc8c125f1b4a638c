"""The tables on disk: SQLite (stdlib ``sqlite3``), Parquet (pyarrow), CSV (stdlib ``csv``).

Every export is first written to one SQLite file (:class:`SQLiteTables`): rows stream in
with each mention's matching features and block keys in scratch tables; blocks stream
out in order, candidate links go back to a scratch table and are resolved one connected
component at a time. Memory holds a window of a block, one component, and two integers
per mention (the union-find arrays). For a SQLite export that file is the result, finished for
Datasette (foreign keys, indexes, full-text search, column descriptions). Parquet and
CSV stream out of it batch by batch (:func:`write_parquet`, :func:`write_csv`), and
:func:`arrow_tables` gives the same batches to pandas.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmx._tables.entities import (
    MAX_BLOCK,
    Clusters,
    Features,
    Link,
    MatchPlan,
    UnionFind,
    block_keys,
    canonical_row,
    features,
    link_blocks,
)
from llmx._tables.flatten import Column, Kind, ListTable, OutputLine, TableSpec

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BATCH",
    "SQLiteTables",
    "Table",
    "arrow_tables",
    "datasette_metadata",
    "write_csv",
    "write_parquet",
]

BATCH = 8192
#: rows turned from Python values into Arrow at a time (Python objects are the bulky part)
ARROW_BATCH = 2048
#: rows per Parquet row group: the Arrow data of one group is what a Parquet export
#: holds in memory (about 10 MB for a mention table)
ROW_GROUP = 16384
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
            decl = f"{_q(c.name)} {_SQL_TYPE[c.kind]}"
            if c.name == self.pk:
                decl += " PRIMARY KEY"
            parts.append(decl)
        for col, (table, ref) in self.fks.items():
            parts.append(f"FOREIGN KEY ({_q(col)}) REFERENCES {_q(table)}({_q(ref)})")
        return f"CREATE TABLE {_q(self.name)} (\n  " + ",\n  ".join(parts) + "\n)"

    def insert_sql(self) -> str:
        names = ", ".join(_q(c.name) for c in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {_q(self.name)} ({names}) VALUES ({marks})"


def _q(name: str) -> str:
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
        self.tables = self._tables()
        self.conn.execute("BEGIN")
        for table in self.tables.values():
            self.conn.execute(table.create_sql())
        for t in spec.lists:
            if entities:
                self.conn.execute(
                    f"CREATE TABLE scratch.{_q('match_' + t.name)} "
                    "(mention_id INTEGER PRIMARY KEY, doc_id TEXT, features TEXT)"
                )
                self.conn.execute(
                    f"CREATE TABLE scratch.{_q('block_' + t.name)} "
                    "(key TEXT, sort TEXT, mention_id INTEGER)"
                )
        self._doc_insert = self.tables["documents"].insert_sql()
        self._next_id = dict.fromkeys((t.name for t in spec.lists), 1)
        self.documents = 0
        self.replaced = 0
        #: features of the mentions of the component being resolved
        self._loaded: dict[int, Features] = {}

    # -- layout
    def _tables(self) -> dict[str, Table]:
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
        conn.execute(self._doc_insert, [_sql_value(doc.get(c.name), c.kind) for c in cols])
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
                values.append([_sql_value(row.get(c.name), c.kind) for c in table.columns])
                if plan is not None and self.entities:
                    f = features(row, plan)
                    doc_id = f.pop("d")  # kept apart: the rest is a signature (link_blocks)
                    match_rows.append((mid, doc_id, json.dumps(f, ensure_ascii=False)))
                    block_rows.extend((k, order, mid) for k, order in block_keys(f, plan))
            conn.executemany(table.insert_sql(), values)
            if match_rows:
                conn.executemany(
                    f"INSERT INTO scratch.{_q('match_' + name)} VALUES (?, ?, ?)", match_rows
                )
                conn.executemany(
                    f"INSERT INTO scratch.{_q('block_' + name)} VALUES (?, ?, ?)", block_rows
                )

    def _remove(self, doc_id: str) -> None:
        conn = self.conn
        for t in self.spec.lists:
            if self.entities:
                for scratch in ("match_", "block_"):
                    conn.execute(
                        f"DELETE FROM scratch.{_q(scratch + t.name)} WHERE mention_id IN "
                        f"(SELECT mention_id FROM {_q(t.name)} WHERE doc_id = ?)",
                        (doc_id,),
                    )
            conn.execute(f"DELETE FROM {_q(t.name)} WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    # -- entities
    def _blocks(self, name: str) -> Iterator[tuple[str, int, Features, str]]:
        """``(block key, mention id, features, signature)`` of every block of two or more
        mentions, in block order, streamed."""
        block, match = _q("block_" + name), _q("match_" + name)
        cursor = self.conn.execute(
            f"SELECT b.key, b.mention_id, m.doc_id, m.features FROM scratch.{block} AS b "
            f"JOIN scratch.{match} AS m ON m.mention_id = b.mention_id WHERE b.key IN "
            f"(SELECT key FROM scratch.{block} GROUP BY key HAVING count(*) > 1) "
            "ORDER BY b.key, b.sort, b.mention_id"
        )
        for key, mid, doc_id, text in cursor:
            f = json.loads(text)
            f["d"] = doc_id
            yield key, mid, f, text

    def _resolve(self, name: str, size: int, clusters: Clusters) -> Iterator[Link]:
        """The candidate links that join groups, strongest first within each connected
        component of the candidate graph, one component at a time: only that component's
        links and its mentions' features are in memory while it is resolved."""
        conn = self.conn
        candidates = _q("links_" + name)
        components = UnionFind(size)
        for a, b in conn.execute(f"SELECT a, b FROM scratch.{candidates}"):
            components.union(a, b)
        ordered = f"scratch.{_q('ordered_' + name)}"
        conn.execute(
            f"CREATE TABLE {ordered} (comp INTEGER, a INTEGER, b INTEGER, score REAL, reason TEXT)"
        )
        rows = conn.execute(f"SELECT a, b, score, reason FROM scratch.{candidates}")
        for chunk in _batched(((components.find(r[0]), *r) for r in rows), BATCH):
            conn.executemany(f"INSERT INTO {ordered} VALUES (?, ?, ?, ?, ?)", chunk)
        del components
        cursor = self.conn.cursor()
        cursor.execute(
            f"SELECT comp, a, b, score, reason FROM {ordered} ORDER BY comp, score DESC, a, b"
        )
        for _, rows_of_component in itertools.groupby(cursor, key=lambda r: r[0]):
            component = [Link(a, b, score, reason) for _, a, b, score, reason in rows_of_component]
            clusters.forget()
            self._prefetch(name, {m for x in component for m in (x.a, x.b)})
            for link in component:
                if clusters.join(link):
                    yield link
        self._loaded.clear()

    def _prefetch(self, name: str, ids: set[int]) -> None:
        """Load the features of one component's mentions (replacing the previous ones)."""
        self._loaded.clear()
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for mid, doc_id, text in self.conn.execute(
                f"SELECT mention_id, doc_id, features FROM scratch.{_q('match_' + name)} "
                f"WHERE mention_id IN ({marks})",
                chunk,
            ):
                f = json.loads(text)
                f["d"] = doc_id
                self._loaded[mid] = f

    def match_entities(self) -> dict[str, int]:
        """Match mentions into entities and write the entities and links tables.

        Candidate links go to a scratch table; they are then joined strongest first
        (:class:`~llmx._tables.entities.Clusters`), and each accepted one is written to
        ``<list>_links``. Returns the number of entities per list table.
        """
        counts: dict[str, int] = {}
        if not self.entities:
            return counts
        conn = self.conn
        for t in self.spec.lists:
            plan = self.plans[t.name]
            candidates = _q("links_" + t.name)
            conn.execute(
                f"CREATE TABLE scratch.{candidates} (a INTEGER, b INTEGER, score REAL, reason TEXT)"
            )
            large = {
                key
                for (key,) in conn.execute(
                    f"SELECT key FROM scratch.{_q('block_' + t.name)} GROUP BY key "
                    "HAVING count(*) > ?",
                    (MAX_BLOCK,),
                )
            }
            found_links = link_blocks(self._blocks(t.name), plan, large)
            for found in _batched(found_links, BATCH):
                conn.executemany(
                    f"INSERT INTO scratch.{candidates} VALUES (?, ?, ?, ?)",
                    [(x.a, x.b, x.score, x.reason) for x in found],
                )
            size = self._next_id[t.name] - 1
            clusters = Clusters(size, self._loaded.__getitem__)
            links = self.tables[t.links]
            for joined in _batched(self._resolve(t.name, size, clusters), BATCH):
                conn.executemany(
                    links.insert_sql(), [(None, x.a, x.b, x.score, x.reason) for x in joined]
                )
            table = _q(t.name)
            for moved in _batched(clusters.roots(), BATCH):
                conn.executemany(
                    f"UPDATE {table} SET entity_id = "
                    f"(SELECT entity_id FROM {table} WHERE mention_id = ?) WHERE mention_id = ?",
                    [(root, mid) for mid, root in moved],
                )
            conn.execute(
                f"UPDATE {_q(t.links)} SET entity_id = (SELECT entity_id FROM {table} "
                f"WHERE {table}.mention_id = {_q(t.links)}.mention_id)"
            )
            # entities are read back in entity order: through this index, not a sort
            conn.execute(f"CREATE INDEX {_q(f'idx_{t.name}_entity_id')} ON {table}(entity_id)")
            counts[t.name] = self._write_entities(t, plan)
        return counts

    def _write_entities(self, t: ListTable, plan: MatchPlan) -> int:
        """One entities row per entity_id, from its mentions read in entity order."""
        conn = self.conn
        table = self.tables[t.entities]
        mention_cols = [c.name for c in self.tables[t.name].columns]
        cursor = conn.cursor()
        cursor.execute(f"SELECT * FROM {_q(t.name)} ORDER BY entity_id, mention_id")
        batch: list[list[Any]] = []
        count = 0
        insert = table.insert_sql()
        at = mention_cols.index("entity_id")
        for eid, group in itertools.groupby(cursor, key=lambda r: r[at]):
            rows = [dict(zip(mention_cols, r, strict=True)) for r in group]
            doc_ids = list(dict.fromkeys(r["doc_id"] for r in rows))
            published = sorted(str(r["published"]) for r in rows if r.get("published"))
            row: dict[str, Any] = {
                "entity_id": eid,
                "mention_count": len(rows),
                "doc_count": len(doc_ids),
                "first_published": published[0] if published else None,
                "last_published": published[-1] if published else None,
                "doc_ids": doc_ids,
                **canonical_row(rows, plan),
            }
            batch.append([_sql_value(row.get(c.name), c.kind) for c in table.columns])
            count += 1
            if len(batch) >= BATCH:
                conn.executemany(insert, batch)
                batch.clear()
        if batch:
            conn.executemany(insert, batch)
        return count

    # -- finishing
    def finish(self, *, datasette: bool) -> None:
        """Commit; with ``datasette``, add indexes, full-text search and column metadata."""
        conn = self.conn
        if datasette:
            for t in self.spec.lists:
                conn.execute(f"CREATE INDEX {_q(f'idx_{t.name}_doc_id')} ON {_q(t.name)}(doc_id)")
                if self.entities:  # (the index on entity_id exists already)
                    conn.execute(
                        f"CREATE INDEX {_q(f'idx_{t.links}_entity_id')} ON {_q(t.links)}(entity_id)"
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
        cols = ", ".join(_q(n) for n in names)
        self.conn.execute(
            f"CREATE VIRTUAL TABLE {_q(fts)} USING fts5({cols}, "
            f"content=[{t.name}], content_rowid='mention_id', tokenize='trigram')"
        )
        self.conn.execute(f"INSERT INTO {_q(fts)}({_q(fts)}) VALUES ('rebuild')")

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
        order = f" ORDER BY {_q(table.pk)}" if table.pk and table.pk != "doc_id" else ""
        if table.pk is None:
            order = " ORDER BY rowid"
        cursor = self.conn.execute(f"SELECT * FROM {_q(table.name)}{order}")
        while rows := cursor.fetchmany(size):
            yield rows


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items (``itertools.batched`` is Python 3.12+)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _sql_value(value: Any, kind: Kind) -> Any:
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


# --------------------------------------------------------------------------- arrow, csv

_ARROW: dict[Kind, str] = {
    "text": "string",
    "integer": "int64",
    "real": "float64",
    "boolean": "bool_",
    "json": "string",
}


def _arrow_schema(table: Table) -> pa.Schema:
    import pyarrow as pa

    fields = []
    for c in table.columns:
        typ = pa.list_(pa.string()) if c.kind == "list" else getattr(pa, _ARROW[c.kind])()
        meta = {"description": c.description} if c.description else None
        fields.append(pa.field(c.name, typ, nullable=c.name != table.pk, metadata=meta))
    return pa.schema(fields, metadata={"description": table.description})


def _arrow_batches(store: SQLiteTables, table: Table) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    schema = _arrow_schema(table)
    kinds = [c.kind for c in table.columns]
    for rows in store.iter_batches(table, ARROW_BATCH):
        arrays = []
        for i, kind in enumerate(kinds):
            col: list[Any] = [r[i] for r in rows]
            if kind == "list":
                col = [json.loads(v) if v is not None else None for v in col]
            elif kind == "boolean":
                col = [bool(v) if v is not None else None for v in col]
            arrays.append(pa.array(col, type=schema.field(i).type))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_parquet(store: SQLiteTables, folder: Path) -> list[Path]:
    """One ``<table>.parquet`` per table, written one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    for table in store.tables.values():
        path = folder / f"{table.name}.parquet"
        schema = _arrow_schema(table)
        with pq.ParquetWriter(path, schema) as writer:
            group: list[pa.RecordBatch] = []
            for batch in _arrow_batches(store, table):
                group.append(batch)
                if sum(b.num_rows for b in group) >= ROW_GROUP:
                    writer.write_table(pa.Table.from_batches(group, schema), ROW_GROUP)
                    group = []
            if group:
                writer.write_table(pa.Table.from_batches(group, schema), ROW_GROUP)
        paths.append(path)
    return paths


def arrow_tables(store: SQLiteTables) -> dict[str, pa.Table]:
    """Every table as an Arrow table (the same types as the Parquet files)."""
    import pyarrow as pa

    return {
        name: pa.Table.from_batches(list(_arrow_batches(store, table)), _arrow_schema(table))
        for name, table in store.tables.items()
    }


def write_csv(store: SQLiteTables, folder: Path) -> list[Path]:
    """One ``<table>.csv`` per table: UTF-8 with a BOM (Excel reads Chinese right),
    a header row, lists and objects as JSON text, booleans as true/false."""
    paths = []
    for table in store.tables.values():
        path = folder / f"{table.name}.csv"
        booleans = [i for i, c in enumerate(table.columns) if c.kind == "boolean"]
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.name for c in table.columns])
            for rows in store.iter_batches(table):
                writer.writerows([_csv_bools(r, booleans) for r in rows] if booleans else rows)
        paths.append(path)
    return paths


def _csv_bools(row: tuple[Any, ...], booleans: list[int]) -> list[Any]:
    out = list(row)
    for i in booleans:
        if out[i] is not None:
            out[i] = "true" if out[i] else "false"
    return out
