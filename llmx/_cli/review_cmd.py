"""``llmx review``: look at records over their source text, correct them, save fixtures."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmx._cli.common import err_console, fail
from llmx._errors import LlmxError

if TYPE_CHECKING:
    from llmx._review import ReviewSettings


def review_command(
    output: Annotated[
        Path, typer.Argument(help="An `llmx run` output file (JSONL).", show_default=False)
    ],
    fixtures: Annotated[
        Path | None,
        typer.Option(
            "--fixtures",
            "-f",
            help="Folder where 'save as fixture' writes <id>.txt + <id>.gold.json.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Print the URL without opening a browser.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Write the views, read-only, as one self-contained page and exit."
        ),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            "-s",
            help="Schema of the records (optional): names evidence fields and checks fixtures.",
        ),
    ] = None,
    source_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--source-root",
            help="Folder the lines' sources are relative to (default: here, then the "
            "output's folder). Repeatable.",
        ),
    ] = None,
    low_confidence: Annotated[
        float, typer.Option(help="Records below this confidence count as low.")
    ] = 0.5,
) -> None:
    """Serve a review app over OUTPUT on 127.0.0.1, or write it as one page with --html."""
    from llmx._review import ReviewIndex, ReviewSettings, render_static

    try:
        schema_cls = None
        if schema is not None:
            from llmx._schemas import load_schema

            schema_cls = load_schema(schema)
        index = ReviewIndex(output, low_confidence=low_confidence)
        roots = list(source_root or []) or [Path.cwd(), output.resolve().parent]
        settings = ReviewSettings(
            index=index,
            fixtures=fixtures.resolve() if fixtures is not None else None,
            schema=schema_cls,
            roots=roots,
        )
        err_console.print(
            f"{len(index)} documents in {output}"
            + (f" ({index.corrupt_lines} corrupt lines skipped)" if index.corrupt_lines else "")
        )
        if html is not None:
            html.parent.mkdir(parents=True, exist_ok=True)
            html.write_text(render_static(settings), encoding="utf-8")
            err_console.print(f"wrote {html}")
            return
        _serve(settings, port, open_browser=not no_open)
    except LlmxError as exc:
        raise fail(exc) from None


def _serve(settings: ReviewSettings, port: int, *, open_browser: bool) -> None:
    from llmx._review import create_app
    from llmx._review.server import HOST, bind, serve

    try:
        app = create_app(settings)
    except ImportError as exc:  # pragma: no cover - the review extra is missing
        raise LlmxError(
            "llmx review needs the 'review' extra: pip install 'llmx[review]'", missing=str(exc)
        ) from exc
    sock = bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/?token={settings.token}"
    typer.echo(url)
    if settings.fixtures is not None:
        err_console.print(f"fixtures are saved in {settings.fixtures}")
    if open_browser:
        webbrowser.open(url)
    serve(app, sock)
