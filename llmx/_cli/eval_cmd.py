"""``llmx eval``: score extraction against hand-labelled fixtures."""

from __future__ import annotations

import asyncio
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
from llmx._errors import LlmxError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from llmx._config import Settings
    from llmx.evals import Fixture, Report


def eval_command(
    fixtures: Annotated[
        Path, typer.Option("--fixtures", "-f", help="Folder of <id>.txt + <id>.gold.json.")
    ],
    schema: SchemaOpt = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Score this `llmx run` output instead of calling a model."),
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A report.json to compare against; fails on regressions.")
    ] = None,
    tolerance: Annotated[float, typer.Option(help="F1 drop allowed against the baseline.")] = 0.02,
    report_dir: Annotated[
        Path, typer.Option(help="Where report.json, report.md and report.html go.")
    ] = Path("evals/reports/latest"),
    prompt: PromptOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    profile: ProfileOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = None,
    strategy: StrategyOpt = None,
    group_size: GroupSizeOpt = None,
    passes: PassesOpt = None,
    no_cache: NoCacheOpt = False,
    refresh: RefreshOpt = False,
    replay: ReplayOpt = None,
    record: RecordOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run extraction on FIXTURES (or score --predictions) and report P/R/F1 per field.

    Exit code 0 on success, 1 when the baseline comparison finds a regression,
    2 on a usage or setup error.
    """
    # heavy imports (scipy, openai, instructor) wait until the command runs
    from llmx._schemas import load_schema
    from llmx.evals import (
        Report,
        compare_to_baseline,
        load_fixtures,
        print_report,
        score_predictions_file,
        to_markdown,
        write_html,
    )
    from llmx.evals._sources import source_views

    try:
        schema_cls = load_schema(required_schema(schema))
        fixture_list = load_fixtures(fixtures, schema=schema_cls)
        if predictions is not None:
            report = score_predictions_file(fixture_list, schema_cls, predictions)
        else:
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
                replay=replay,
                record=record,
            )
            report = asyncio.run(_live_eval(fixture_list, schema_cls, prompt, settings))
        print_report(report, console=err_console)
        base = Report.load(baseline) if baseline is not None else None
        report_dir.mkdir(parents=True, exist_ok=True)
        report.save(report_dir / "report.json")
        (report_dir / "report.md").write_text(to_markdown(report), encoding="utf-8")
        sources = source_views(fixture_list, report, schema_cls)
        write_html(
            report,
            report_dir / "report.html",
            baseline=base,
            tolerance=tolerance,
            sources=sources,
        )
        err_console.print(f"reports: {plain(report_dir)}/report.{{json,md,html}}", highlight=False)
        if base is not None:
            diff = compare_to_baseline(report, base, tolerance=tolerance)
            err_console.print(plain(diff.to_text()), highlight=False)
            if diff.regressions:
                raise typer.Exit(1)
    except LlmxError as exc:
        raise fail(exc) from None


async def _live_eval(
    fixtures: list[Fixture], schema: type[BaseModel], prompt: str | None, settings: Settings
) -> Report:
    """Extract every fixture through the normal path (cache included) and score it."""
    from llmx._extractor import Extractor
    from llmx.evals import PredictionOutcome, run_eval

    async with Extractor(schema, prompt=prompt, settings=settings) as extractor:
        await extractor.start()

        async def predict(fixture: Fixture) -> PredictionOutcome:
            return PredictionOutcome.from_result(await extractor.aextract(fixture.document()))

        report = await run_eval(
            fixtures,
            extractor.schema,
            predict,
            concurrency=1 if settings.uses_local_model else settings.concurrency,
            model=settings.model,
            prompt=extractor.active_prompt.name,
            prompt_version=extractor.active_prompt.version,
        )
        if extractor.endpoint is not None:
            report.model = extractor.endpoint.model
        report.info["strategy"] = extractor.strategy
        return report
