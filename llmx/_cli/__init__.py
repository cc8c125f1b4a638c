"""The ``llmx`` command line: a thin layer over the Python API."""

from __future__ import annotations

import typer

from llmx._cli.cache_cmd import app as cache_app
from llmx._cli.eval_cmd import eval_command
from llmx._cli.export_cmd import export_command
from llmx._cli.review_cmd import review_command
from llmx._cli.run_cmd import run_command
from llmx._cli.shards_cmd import app as shards_app

app = typer.Typer(
    name="llmx",
    help="LLM-prompted structured extraction: Pydantic schemas in, validated records out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run_command)
app.command("eval")(eval_command)
app.command("review")(review_command)
app.command("export")(export_command)
app.add_typer(cache_app, name="cache", help="Inspect or clear the response cache.")
app.add_typer(shards_app, name="shards", help="Merge a folder of output shards into one file.")


def _mount_local() -> None:
    from llmx._cli.local import app as local_app

    app.add_typer(local_app, name="local", help="Manage the bundled local model server.")


_mount_local()


def main() -> None:
    app()
