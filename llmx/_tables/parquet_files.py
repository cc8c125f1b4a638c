"""Parquet files and Arrow tables (pyarrow), streamed out of the SQLite store.

Each table's rows are read back in batches (:meth:`~llmx._tables.sqlite.SQLiteTables.iter_batches`)
and turned into Arrow record batches of the same column types whichever way they are
used: one ``<table>.parquet`` per table written a row group at a time
(:func:`write_parquet`), or whole Arrow tables for pandas (:func:`arrow_tables`). Lists
are Arrow lists of strings, booleans Arrow booleans, JSON objects strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmx._tables.flatten import Kind
from llmx._tables.sqlite import SQLiteTables, Table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["arrow_batches", "arrow_schema", "arrow_tables", "write_parquet"]

#: rows turned from Python values into Arrow at a time (Python objects are the bulky part)
ARROW_BATCH = 2048
#: rows per Parquet row group: the Arrow data of one group is what a Parquet export
#: holds in memory (about 10 MB for a mention table)
ROW_GROUP = 16384

#: the Arrow type of each column kind but ``list`` (a list of strings)
_ARROW_TYPE: dict[Kind, str] = {
    "text": "string",
    "integer": "int64",
    "real": "float64",
    "boolean": "bool_",
    "json": "string",
}


def arrow_schema(table: Table) -> pa.Schema:
    import pyarrow as pa

    fields = []
    for c in table.columns:
        typ = pa.list_(pa.string()) if c.kind == "list" else getattr(pa, _ARROW_TYPE[c.kind])()
        meta = {"description": c.description} if c.description else None
        fields.append(pa.field(c.name, typ, nullable=c.name != table.pk, metadata=meta))
    return pa.schema(fields, metadata={"description": table.description})


def arrow_batches(store: SQLiteTables, table: Table) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    schema = arrow_schema(table)
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
        schema = arrow_schema(table)
        with pq.ParquetWriter(path, schema) as writer:
            group: list[pa.RecordBatch] = []
            for batch in arrow_batches(store, table):
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
        name: pa.Table.from_batches(list(arrow_batches(store, table)), arrow_schema(table))
        for name, table in store.tables.items()
    }
