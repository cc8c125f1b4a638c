"""CSV files (stdlib ``csv``), streamed out of the SQLite store: one per table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from llmx._tables.sqlite import SQLiteTables

__all__ = ["write_csv"]


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
