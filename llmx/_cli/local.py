"""``llmx local``: the bundled model and its long-lived server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from llmx._cli.common import err_console, fail, plain
from llmx._errors import LlmxError
from llmx._local.detached import DETACHED_CONTEXT, server_status, start_detached, stop_detached
from llmx._local.launch import MAX_CONTEXT, MIN_CONTEXT, STARTUP_TIMEOUT_S
from llmx._local.model import BUNDLED_MODEL, ENV_LOCAL_MODEL, ensure_model, verify_model

app = typer.Typer(
    help="Manage the bundled local model and its long-lived server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="llmx data directory (default: $LLMX_DATA_DIR or XDG)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _progress(description: str) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _ensure_with_progress(data_dir: Path | None, model: Path | None, verify: bool) -> Path:
    with _progress("model") as progress:
        task = progress.add_task("model", total=BUNDLED_MODEL.size)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return ensure_model(data_dir, model_path=model, verify=verify, progress=report)


@app.command("model")
def model_command(
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash the whole model against its sha256.")
    ] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the local model's path, assembling it from the installed parts if needed."""
    try:
        path = _ensure_with_progress(data_dir, None, verify=False)
        verified = False
        if verify and path.name == BUNDLED_MODEL.filename:
            with _progress("verify") as progress:
                task = progress.add_task("verify", total=path.stat().st_size)
                verify_model(
                    path,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            verified = True
    except LlmxError as exc:
        raise fail(exc) from exc
    if as_json:
        out = {"path": str(path), "size": path.stat().st_size, "verified": verified}
        console.print_json(json.dumps(out))
        return
    console.print(str(path), highlight=False, soft_wrap=True)
    if verify and not verified:
        err_console.print(f"(not verified: {plain(ENV_LOCAL_MODEL)} points at a custom model)")
    elif verified:
        err_console.print(f"[green]ok[/]: sha256 {BUNDLED_MODEL.sha256}", highlight=False)


@app.command("start")
def start_command(
    n_ctx: Annotated[
        int,
        typer.Option("--n-ctx", min=MIN_CONTEXT, max=MAX_CONTEXT, help="Context size in tokens."),
    ] = DETACHED_CONTEXT,
    port: Annotated[int | None, typer.Option(help="Port (default: a free one).")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads (default: all).")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help=f"A GGUF file (default: ${ENV_LOCAL_MODEL} or the bundled model)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the server to become healthy.")
    ] = STARTUP_TIMEOUT_S,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a long-lived local model server that later `llmx run`s reuse."""
    try:
        path = _ensure_with_progress(data_dir, model, verify=False)
        with err_console.status("starting the local model server ..."):
            info, started = start_detached(
                path,
                data_dir=data_dir,
                n_ctx=n_ctx,
                n_threads=threads,
                port=port,
                startup_timeout=timeout,
            )
    except LlmxError as exc:
        raise fail(exc) from exc
    if as_json:
        console.print_json(json.dumps({**info.to_json(), "started_now": started}))
        return
    verb = "started" if started else "already running"
    console.print(
        f"local model server {verb}: {plain(info.base_url)} (pid {info.pid}, n_ctx {info.n_ctx})",
        highlight=False,
    )
    if not started and info.n_ctx < n_ctx:
        err_console.print(
            f"note: it runs with n_ctx {info.n_ctx}; `llmx local stop` and start again for {n_ctx}"
        )


@app.command("status")
def status_command(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Show the long-lived server; exit code 0 only if it is running and healthy."""
    try:
        status = server_status(data_dir)
    except LlmxError as exc:
        raise fail(exc) from exc
    info = status.info
    if as_json:
        out = {
            "running": status.alive,
            "healthy": status.healthy,
            "state_file": status.state_file,
            "server": None if info is None else info.to_json(),
        }
        console.print_json(json.dumps(out))
    elif info is None:
        console.print("no local model server recorded")
    elif not status.alive:
        console.print(f"not running (stale record for pid {info.pid}; it will be cleaned up)")
    else:
        uptime = time.time() - info.started
        health = "[green]healthy[/]" if status.healthy else "[yellow]not answering[/]"
        console.print(
            f"running: {plain(info.base_url)}  pid {info.pid}  n_ctx {info.n_ctx}  "
            f"up {uptime / 60:.0f} min  {health}\nmodel: {plain(info.model)}\n"
            f"log: {plain(info.log)}",
            highlight=False,
        )
    if not (status.alive and status.healthy):
        raise typer.Exit(1)


@app.command("stop")
def stop_command(data_dir: DataDirOpt = None) -> None:
    """Stop the long-lived local model server."""
    try:
        info = stop_detached(data_dir)
    except LlmxError as exc:
        raise fail(exc) from exc
    if info is None:
        console.print("no local model server was running")
    else:
        console.print(f"stopped local model server (pid {info.pid}, {plain(info.base_url)})")
