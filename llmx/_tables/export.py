"""An output JSONL file -> tables (SQLite, Parquet, CSV or pandas DataFrames)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from llmx._errors import ConfigError, InputError, LlmxError, SchemaError
from llmx._tables.csv_files import write_csv
from llmx._tables.entities import MatchPlan
from llmx._tables.flatten import TableSpec, spec_from_data, spec_from_schema
from llmx._tables.lines import ReadStats, iter_output
from llmx._tables.parquet_files import arrow_tables, write_parquet
from llmx._tables.rows import document_row, mention_rows
from llmx._tables.sqlite import SQLiteTables, datasette_metadata
from llmx._tables.sqlite_entities import match_entities

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExportReport", "Format", "export_tables", "read_tables", "resolve_format"]

Format = Literal["sqlite", "parquet", "csv"]
FORMATS: tuple[Format, ...] = ("sqlite", "parquet", "csv")
SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})


@dataclass
class ExportReport:
    """What an export wrote."""

    format: Format
    path: Path
    files: list[Path] = field(default_factory=list)
    documents: int = 0
    failed: int = 0
    #: rows per mention table
    mentions: dict[str, int] = field(default_factory=dict)
    #: rows per entities table (empty with entities off)
    entities: dict[str, int] = field(default_factory=dict)
    #: lines of the output that were not valid JSON objects (skipped)
    corrupt_lines: int = 0
    #: earlier lines of a doc_id replaced by a later one (the last line wins)
    replaced_lines: int = 0
    schema: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path),
            "files": [str(p) for p in self.files],
            "documents": self.documents,
            "failed": self.failed,
            "mentions": self.mentions,
            "entities": self.entities,
            "corrupt_lines": self.corrupt_lines,
            "replaced_lines": self.replaced_lines,
            "schema": self.schema,
            "seconds": round(self.seconds, 3),
        }


def resolve_format(to: str | os.PathLike[str], format: str | None) -> Format:
    """``--format`` when given, else from the suffix: ``.db``/``.sqlite`` -> sqlite."""
    if format is not None:
        fmt = format.strip().lower()
        if fmt not in FORMATS:
            raise ConfigError("unknown table format", format=format, choose=", ".join(FORMATS))
        return fmt
    if Path(to).suffix.lower() in SQLITE_SUFFIXES:
        return "sqlite"
    raise ConfigError(
        "cannot tell the format from the path: name a .db/.sqlite file, or give "
        "--format parquet|csv for a folder",
        path=str(to),
    )


def _schema_from_summary(out: Path) -> type[BaseModel] | None:
    """The run's schema, named by class in the summary beside the output, if found."""
    from llmx._schemas import available_schemas, load_schema

    summary = out.with_name(out.stem + ".summary.json")
    try:
        name = json.loads(summary.read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(name, str):
        return None
    for candidate in available_schemas():
        try:
            schema = load_schema(candidate)
        except LlmxError:
            continue
        if schema.__name__ == name:
            return schema
    return None


def _table_spec(out: Path, schema: type[BaseModel] | str | None) -> TableSpec:
    if isinstance(schema, str):
        from llmx._schemas import load_schema

        schema = load_schema(schema)
    if schema is None:
        schema = _schema_from_summary(out)
    if schema is not None:
        return spec_from_schema(schema)
    return spec_from_data(out)


@contextmanager
def _build_store(
    out: Path, db_path: Path, schema: type[BaseModel] | str | None, *, entities: bool
) -> Iterator[tuple[SQLiteTables, ExportReport]]:
    if not out.is_file():
        raise InputError("output file not found", path=str(out))
    start = time.perf_counter()
    spec = _table_spec(out, schema)
    if not spec.lists and spec.schema is not None:
        raise SchemaError(
            "the schema has no list field to make a table of", schema=str(spec.schema)
        )
    plans = [MatchPlan.build(t) for t in spec.lists]
    store = SQLiteTables(db_path, spec, entities=entities, plans=plans)
    report = ExportReport("sqlite", db_path)
    report.schema = spec.schema.__name__ if spec.schema is not None else None
    stats = ReadStats()
    try:
        for line in iter_output(out, stats):
            doc = document_row(line, spec)
            mentions = {t.name: list(mention_rows(line, t)) for t in spec.lists}
            store.add_document(line, doc, mentions)
        report.entities = match_entities(store)
        report.corrupt_lines = stats.corrupt_lines
        report.replaced_lines = store.replaced
        conn = store.conn
        report.documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        report.failed = conn.execute(
            "SELECT count(*) FROM documents WHERE status = 'failed'"
        ).fetchone()[0]
        for t in spec.lists:
            report.mentions[t.name] = conn.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
        yield store, report
    finally:
        store.close()
        report.seconds = time.perf_counter() - start


def export_tables(
    out: str | os.PathLike[str],
    to: str | os.PathLike[str],
    *,
    format: str | None = None,
    schema: type[BaseModel] | str | None = None,
    entities: bool = True,
) -> ExportReport:
    """Write the tables of the output file ``out`` to ``to``.

    ``format`` is ``sqlite`` (one file, ready for Datasette, with a
    ``<name>.metadata.json`` of column descriptions beside it), ``parquet`` or ``csv``
    (a folder with one file per table); by default it follows ``to``'s suffix.
    ``schema`` (a class or a spec such as ``investment``) gives column types and
    descriptions and the match keys of entities; without it the schema named in the
    run's summary beside ``out`` is used, else the tables are inferred from the data.
    ``entities=False`` skips matching mentions across documents. The output is read
    once, streaming; an existing ``to`` is replaced.
    """
    out_path, target = Path(out), Path(to)
    fmt = resolve_format(target, format)
    if fmt == "sqlite":
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            with _build_store(out_path, tmp, schema, entities=entities) as (store, report):
                store.finish(datasette=True)
                meta = datasette_metadata(target.stem, store.tables)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        meta_path = target.with_name(f"{target.stem}.metadata.json")
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", "utf-8")
        report.path = target
        report.files = [target, meta_path]
        return report
    if target.exists() and not target.is_dir():
        raise ConfigError("a parquet or csv export needs a folder", path=str(target))
    target.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=target, prefix=".stage-") as stage,
        _build_store(out_path, Path(stage) / "stage.db", schema, entities=entities) as (
            store,
            report,
        ),
    ):
        store.finish(datasette=False)
        if fmt == "parquet":
            _require("pyarrow", "Parquet export")
            report.files = write_parquet(store, target)
        else:
            report.files = write_csv(store, target)
    report.format = fmt
    report.path = target
    return report


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs {module}: pip install 'llmx[tables]'", missing=module)


def read_tables(
    out: str | os.PathLike[str],
    *,
    schema: type[BaseModel] | str | None = None,
    entities: bool = True,
) -> dict[str, pd.DataFrame]:
    """The tables of the output file ``out`` as pandas DataFrames, keyed by table name.

    The same tables and types as a Parquet export (nullable integers and booleans,
    float amounts, dates as strings at their precision). Needs ``llmx[tables]``.
    """
    _require("pandas", "read_tables")
    _require("pyarrow", "read_tables")
    import pandas as pd
    import pyarrow as pa

    types = {
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
        pa.float64(): pd.Float64Dtype(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="llmx-tables-") as stage,
        _build_store(Path(out), Path(stage) / "stage.db", schema, entities=entities) as (store, _),
    ):
        store.finish(datasette=False)
        arrow = arrow_tables(store)
    return {name: table.to_pandas(types_mapper=types.get) for name, table in arrow.items()}
