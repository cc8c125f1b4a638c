"""``llmx run``: extract records from documents into JSONL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmx._cli.common import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    GroupSizeOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    PassesOpt,
    ProfileOpt,
    PromptOpt,
    RecordOpt,
    RefreshOpt,
    ReplayOpt,
    SchemaOpt,
    StrategyOpt,
    build_settings,
    err_console,
    fail,
    plain,
    required_schema,
)
from llmx._errors import ConfigError, LlmxError

if TYPE_CHECKING:
    from llmx._runner import RunOutcome


def run_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders, globs, '-' for stdin, or .jsonl files of {id, text}.",
            show_default=False,
        ),
    ],
    schema: SchemaOpt = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output JSONL (one line per document).")
    ] = Path("llmx-out.jsonl"),
    prompt: PromptOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    profile: ProfileOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = None,
    strategy: StrategyOpt = None,
    group_size: GroupSizeOpt = None,
    passes: PassesOpt = None,
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
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="At the end, also write the tables (see 'llmx export'): a .db/.sqlite "
            "file, or a folder with --export-format parquet|csv.",
            show_default=False,
        ),
    ] = None,
    export_format: Annotated[
        str | None, typer.Option("--export-format", help="sqlite, parquet or csv.")
    ] = None,
) -> None:
    """Extract records from documents into OUT (JSONL); rerunning resumes.

    Exit code 0 when every document in OUT succeeded, 1 when some failed, in this run
    or an earlier one (see the error report beside OUT; --retry-failed redoes them), 2 on
    a usage or setup error, 3 when the run stopped early because the endpoint failed
    every request the same way (the documents not yet processed are left for a resume),
    130 when interrupted.
    """
    from llmx._cli.progress import make_progress
    from llmx._engines import ENGINES
    from llmx._runner import aextract_batch

    try:
        schema_spec = required_schema(schema)
        if export is not None:  # a wrong --export is a usage error before any work
            from llmx._tables import resolve_format

            resolve_format(export, export_format)
        if engine not in ENGINES:
            raise ConfigError("--engine must be local or ray", value=engine)
        settings = build_settings(
            config,
            model=model,
            base_url=base_url,
            profile=profile,
            mode=mode,
            concurrency=concurrency,
            strategy=strategy,
            group_size=group_size,
            passes=passes,
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
                schema_spec,
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
    _print_summary(outcome, out)
    if export is not None and not outcome.summary.interrupted:
        _export(out, export, export_format, schema_spec)
    if outcome.summary.interrupted:
        raise typer.Exit(130)
    if outcome.summary.stopped_early:
        raise typer.Exit(3)
    if outcome.summary.failed or outcome.summary.skipped_failed or outcome.totals.failed:
        raise typer.Exit(1)


def _export(out: Path, to: Path, format: str | None, schema: str) -> None:
    from llmx._cli.export_cmd import print_report
    from llmx._tables import export_tables

    try:
        print_report(export_tables(out, to, format=format, schema=schema))
    except LlmxError as exc:
        raise fail(exc) from None


def _print_summary(outcome: RunOutcome, out: Path) -> None:
    summary = outcome.summary
    usage = summary.usage
    cost = "n/a" if summary.cost is None else f"${summary.cost:.4f}"
    skipped = f"{summary.skipped} already done"
    if summary.skipped_failed:
        skipped += f" ([red]{summary.skipped_failed} of them failed before[/])"
    err_console.print(
        f"[bold]{summary.processed}[/] documents: [green]{summary.ok} ok[/], "
        f"[red]{summary.failed} failed[/], {summary.cached} from cache, "
        f"{skipped}; {usage.requests} requests, "
        f"{usage.prompt_tokens:,} tokens in, {usage.completion_tokens:,} out, "
        f"est. cost {cost}; {summary.elapsed:.1f}s",
        highlight=False,
    )
    if summary.renamed:
        err_console.print(
            f"{summary.renamed} document(s) got a new doc_id because theirs was taken "
            "by a different document (see their notes)",
            highlight=False,
        )
    totals = outcome.totals
    if summary.skipped and totals.documents:
        err_console.print(
            f"output holds {totals.documents} documents: {totals.ok} ok, {totals.failed} failed",
            highlight=False,
        )
    err_console.print(
        f"output: {plain(out)}  summary: {plain(outcome.summary_path)}", highlight=False
    )
    if outcome.errors is not None:
        err_console.print(f"[red]error report:[/] {plain(outcome.errors)}", highlight=False)
        for kind, count in sorted((totals.errors_by_kind or summary.errors_by_kind).items()):
            err_console.print(f"  {plain(kind)}: {count}", highlight=False)
    if summary.resume_hint:
        err_console.print(f"[yellow]{plain(summary.resume_hint)}[/]", highlight=False)
    elif totals.failed and not summary.failed:
        err_console.print(
            f"[yellow]{totals.failed} document(s) in the output failed; run again with "
            "--retry-failed to retry them[/]",
            highlight=False,
        )
