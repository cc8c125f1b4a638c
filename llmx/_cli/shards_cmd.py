"""``llmx shards merge``: a folder of output shards (``run --shards``) as one file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmx._cli.common import err_console, fail
from llmx._errors import LlmxError

app = typer.Typer(no_args_is_help=True)


@app.command("merge")
def merge(
    folder: Annotated[Path, typer.Argument(help="A folder written by 'llmx run --shards'.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The merged output JSONL (one line per document).")
    ],
) -> None:
    """Write the shards of FOLDER as one output file and its error report.

    Exit code 0 when every document succeeded, 1 when some failed (see the error
    report beside OUT), 2 when FOLDER holds no shards.
    """
    from llmx._outfile import default_errors_path
    from llmx._shards import merge_shards

    try:
        documents, failed = merge_shards(folder, out)
    except LlmxError as exc:
        raise fail(exc) from None
    err_console.print(f"[bold]{documents}[/] documents, [red]{failed} failed[/] -> {out}")
    if failed:
        err_console.print(f"[red]error report:[/] {default_errors_path(out)}")
        raise typer.Exit(1)
