"""Output JSONL -> tables: SQLite (ready for Datasette), Parquet, CSV, pandas.

* :func:`export_tables` writes ``documents``, one table per list field of the record
  (one row per extracted record, a *mention*, with its provenance), and for each list
  ``<list>_entities`` (one row per real-world entity across documents) and
  ``<list>_links`` (why mentions were joined).
* :func:`read_tables` returns the same tables as pandas DataFrames (``llmx[tables]``).

Stages: :mod:`llmx._tables.flatten` (lines -> rows), :mod:`llmx._tables.entities`
(mentions -> entities), :mod:`llmx._tables.sqlite` (SQLite, Parquet, CSV).
"""

from llmx._tables.export import ExportReport, Format, export_tables, read_tables, resolve_format

__all__ = ["ExportReport", "Format", "export_tables", "read_tables", "resolve_format"]
