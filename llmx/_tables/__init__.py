"""Output JSONL -> tables: SQLite (ready for Datasette), Parquet, CSV, pandas.

* :func:`export_tables` writes ``documents``, one table per list field of the record
  (one row per extracted record, a *mention*, with its provenance), and for each list
  ``<list>_entities`` (one row per real-world entity across documents) and
  ``<list>_links`` (why mentions were joined).
* :func:`read_tables` returns the same tables as pandas DataFrames (``llmx[tables]``).

Stages, in the order :mod:`llmx._tables.export` runs them:

* :mod:`~llmx._tables.flatten`: which tables and columns (from the schema or the data);
* :mod:`~llmx._tables.lines`: the output file, line by line;
* :mod:`~llmx._tables.rows`: one line -> its ``documents`` row and its mention rows;
* :mod:`~llmx._tables.sqlite`: the SQLite file every export is built in;
* :mod:`~llmx._tables.entities` (how mentions match) and
  :mod:`~llmx._tables.sqlite_entities` (matching them inside the SQLite file);
* :mod:`~llmx._tables.parquet_files` and :mod:`~llmx._tables.csv_files`: the other
  formats, streamed out of the SQLite file.
"""

from llmx._tables.export import ExportReport, Format, export_tables, read_tables, resolve_format

__all__ = ["ExportReport", "Format", "export_tables", "read_tables", "resolve_format"]
