"""``llmx export``: an output JSONL file -> SQLite, Parquet or CSV tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmx._cli.common import err_console, fail
from llmx._errors import LlmxError

if TYPE_CHECKING:
    from llmx._tables import ExportReport

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="sqlite, parquet or csv (default: from the suffix of --to; .db/.sqlite -> sqlite).",
        show_default=False,
    ),
]
NoEntitiesOpt = Annotated[
    bool,
    typer.Option("--no-entities", help="Do not match mentions into entities across documents."),
]


def export_command(
    output: Annotated[
        Path, typer.Argument(help="An llmx output file (JSONL).", show_default=False)
    ],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            "-t",
            help="A .db/.sqlite file, or a folder for parquet or csv.",
            show_default=False,
        ),
    ],
    format: FormatOpt = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            "-s",
            help="Schema of the run (default: the one named in the run's summary, else "
            "inferred from the data).",
            show_default=False,
        ),
    ] = None,
    no_entities: NoEntitiesOpt = False,
) -> None:
    """Write OUTPUT's records as tables: documents, one table per list field (one row per
    record), and per list the entities across documents and why mentions were joined."""
    from llmx._tables import export_tables

    try:
        report = export_tables(output, to, format=format, schema=schema, entities=not no_entities)
    except LlmxError as exc:
        raise fail(exc) from None
    print_report(report)


def print_report(report: ExportReport) -> None:
    """One summary of an export on stderr."""
    tables = ", ".join(f"{name} {rows:,}" for name, rows in report.mentions.items())
    entities = ", ".join(f"{name} {rows:,}" for name, rows in report.entities.items())
    err_console.print(
        f"[bold]{report.documents:,}[/] documents ({report.failed:,} failed); "
        f"mentions: {tables or 'none'}"
        + (f"; entities: {entities}" if entities else "")
        + f"; {report.seconds:.1f}s"
    )
    if report.corrupt_lines:
        err_console.print(f"[yellow]skipped {report.corrupt_lines} corrupt line(s)[/]")
    err_console.print(f"{report.format}: {report.path}")
