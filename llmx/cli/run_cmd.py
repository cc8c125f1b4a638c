"""``llmx run``: extract records from documents into JSONL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmx.cli.common import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    ProfileOpt,
    PromptOpt,
    RecordOpt,
    RefreshOpt,
    ReplayOpt,
    SchemaOpt,
    build_settings,
    err_console,
    fail,
)
from llmx.errors import ConfigError, LlmxError

if TYPE_CHECKING:
    from llmx.batch import BatchSummary


def run_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders, globs, '-' for stdin, or .jsonl files of {id, text}.",
            show_default=False,
        ),
    ],
    schema: SchemaOpt = "investment",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output JSONL (one line per document).")
    ] = Path("llmx-out.jsonl"),
    prompt: PromptOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    profile: ProfileOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local: this process, one event loop (default, the fast path on one "
            "machine); ray: a Ray cluster's actors (pip install 'llmx[ray]').",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join (default: RAY_ADDRESS, else a local instance).",
            show_default=False,
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(
            "--actors",
            min=1,
            help="With --engine ray: extractor actors, each with --concurrency documents "
            "in flight (default: one per CPU of the cluster).",
            show_default=False,
        ),
    ] = None,
    shards: Annotated[
        bool,
        typer.Option(
            "--shards",
            help="With --engine ray: OUT is a folder in which each actor writes its own "
            "part (for shared storage on a cluster); 'llmx shards merge' makes one file.",
        ),
    ] = False,
    no_cache: NoCacheOpt = False,
    refresh: RefreshOpt = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also redo documents that failed before.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Start the output afresh instead of resuming.")
    ] = False,
    ungrounded: Annotated[
        str | None,
        typer.Option(help="Records whose evidence is not in the source: keep, flag or drop."),
    ] = None,
    rpm: Annotated[float | None, typer.Option(help="Requests per minute limit.")] = None,
    tpm: Annotated[float | None, typer.Option(help="Tokens per minute limit.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Output token limit per request.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    replay: ReplayOpt = None,
    record: RecordOpt = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: on a TTY)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Extract records from documents into OUT (JSONL); rerunning resumes.

    Exit code 0 when every document succeeded, 1 when some failed (see the error
    report beside OUT), 2 on a usage or setup error, 130 when interrupted.
    """
    from llmx.batch import make_progress
    from llmx.runner import aextract_batch

    try:
        if engine not in ("local", "ray"):
            raise ConfigError("--engine must be local or ray", value=engine)
        settings = build_settings(
            config,
            model=model,
            base_url=base_url,
            profile=profile,
            mode=mode,
            concurrency=concurrency,
            no_cache=no_cache,
            refresh=refresh,
            ungrounded=ungrounded,
            rpm=rpm,
            tpm=tpm,
            max_tokens=max_tokens,
            timeout=timeout,
            replay=replay,
            record=record,
        )
        outcome = asyncio.run(
            aextract_batch(
                inputs,
                schema,
                out=out,
                prompt=prompt,
                settings=settings,
                retry_failed=retry_failed,
                overwrite=overwrite,
                progress=make_progress(progress),
                stdin=sys.stdin.buffer,
                engine=engine,  # type: ignore[arg-type]  # checked above
                ray_address=ray_address,
                actors=actors,
                shards=shards,
            )
        )
    except LlmxError as exc:
        raise fail(exc) from None
    _print_summary(outcome.summary, out, outcome.errors, outcome.summary_path)
    if outcome.summary.interrupted:
        raise typer.Exit(130)
    if outcome.summary.failed:
        raise typer.Exit(1)


def _print_summary(
    summary: BatchSummary, out: Path, errors: Path | None, summary_path: Path
) -> None:
    usage = summary.usage
    cost = "n/a" if summary.cost is None else f"${summary.cost:.4f}"
    err_console.print(
        f"[bold]{summary.processed}[/] documents: [green]{summary.ok} ok[/], "
        f"[red]{summary.failed} failed[/], {summary.cached} from cache, "
        f"{summary.skipped} already done; {usage.requests} requests, "
        f"{usage.prompt_tokens:,} tokens in, {usage.completion_tokens:,} out, "
        f"est. cost {cost}; {summary.elapsed:.1f}s"
    )
    err_console.print(f"output: {out}  summary: {summary_path}")
    if errors is not None:
        err_console.print(f"[red]error report:[/] {errors}")
        for kind, count in sorted(summary.errors_by_kind.items()):
            err_console.print(f"  {kind}: {count}")
    if summary.resume_hint:
        err_console.print(f"[yellow]{summary.resume_hint}[/]")
