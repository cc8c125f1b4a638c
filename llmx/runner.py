"""Many documents through one :class:`~llmx.extractor.Extractor`: the batch API.

Composes the pieces: lazy inputs (:mod:`llmx.io`), the extractor, the batch
engine (:mod:`llmx.batch`), rate limits (:mod:`llmx.ratelimit`), crash-safe
JSONL output with resume, and cost estimates (:mod:`llmx.pricing`).

With ``Settings.workers`` above 1 the documents are shared out to worker processes
(:mod:`llmx.workers`), each running this same in-process path over its share; with 1
(the default) everything runs here, in the caller's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel

from llmx.batch import BatchSummary, ProgressSink, run_batch
from llmx.config import Settings, resolve_settings
from llmx.endpoints import Endpoint
from llmx.extractor import Extractor
from llmx.io import (
    FinalizeReport,
    OutputTotals,
    ResultWriter,
    ResumeIndex,
    check_output_path,
    count_documents,
    inspect_output,
    iter_documents,
    output_totals,
)
from llmx.pricing import PriceTable, estimate_cost, load_prices
from llmx.prompts import Prompt
from llmx.ratelimit import RateLimiter
from llmx.types import Document, Result


@dataclass
class RunOutcome:
    """What a batch run did and where it wrote."""

    summary: BatchSummary
    out: Path
    errors: Path | None
    summary_path: Path
    #: worker processes used (1: the run stayed in this process)
    workers: int = 1
    #: one line per worker process that died or failed before finishing its share; the
    #: documents it had not finished are not in ``out``, so running again resumes them
    worker_errors: list[str] = field(default_factory=list)
    #: CPU seconds used by the worker processes (0.0 when the run stayed in this process)
    worker_cpu_s: float = 0.0
    #: seconds until every worker process was ready to take documents
    worker_startup_s: float = 0.0

    #: the whole output file, cumulatively over every run that wrote to it
    totals: OutputTotals = field(default_factory=OutputTotals)

    @property
    def complete(self) -> bool:
        """No interruption, no early stop and no worker failure: every input document is
        in ``out``."""
        return (
            not self.summary.interrupted
            and not self.summary.stopped_early
            and not self.worker_errors
        )


#: what ``aextract_batch`` accepts as inputs
Inputs = Sequence[str | os.PathLike[str]] | Iterable[Document] | Callable[[], Iterable[Document]]


def _is_local(endpoint_url: str | None) -> bool:
    return endpoint_url is None or any(
        host in endpoint_url for host in ("127.0.0.1", "localhost", "[::1]")
    )


async def aextract_batch(
    inputs: Inputs,
    schema: type[BaseModel] | str,
    *,
    out: str | os.PathLike[str],
    prompt: str | Prompt | None = None,
    settings: Settings | None = None,
    retry_failed: bool = False,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
    stdin: BinaryIO | None = None,
    stop: asyncio.Event | None = None,
    **overrides: Any,
) -> RunOutcome:
    """Extract every input document into the JSONL file ``out``.

    ``inputs`` are paths, folders, globs, ``-`` or ``.jsonl`` files (see
    :func:`llmx.io.iter_documents`), :class:`Document` objects, or a zero-argument
    callable returning them (picklable, e.g. a module-level function or a
    ``functools.partial`` of one, so that worker processes can call it too). Running the
    same call again resumes: documents already in ``out`` are skipped (failed ones are
    retried with ``retry_failed``). Every document ends in ``out``; failed ones also in
    the error report beside it.

    ``settings.workers`` > 1 (or 0: one per CPU) runs the batch in that many worker
    processes (:mod:`llmx.workers`); the outcome is the same, aggregated.
    """
    if settings is None:
        settings = resolve_settings(overrides)
    elif overrides:
        settings = settings.replace(**overrides)
    out_path = Path(out)
    check_output_path(out_path)
    resume = ResumeIndex(retry_failed=retry_failed)
    if not overwrite and out_path.exists():
        resume = ResumeIndex(inspect_output(out_path), retry_failed=retry_failed)
    prices: PriceTable | None = load_prices(settings.prices) if settings.prices else None
    if settings.workers != 1:
        from llmx.workers import plan_workers, run_workers

        plan = plan_workers(inputs, settings)
        if plan.workers > 1:
            multi = await run_workers(
                plan,
                schema,
                out=out_path,
                prompt=prompt,
                settings=settings,
                skip=resume.done_ids(),
                overwrite=overwrite,
                progress=progress,
                stop=stop,
            )
            if multi.endpoint_model is not None:
                multi.summary.cost = estimate_cost(
                    multi.endpoint_model,
                    multi.summary.usage,
                    prices=prices,
                    local=_is_local(multi.endpoint_base_url),
                )
            totals = output_totals(out_path)
            summary_path = _write_summary(
                out_path,
                multi.summary,
                totals,
                model=multi.endpoint_model,
                endpoint=multi.endpoint_identity,
                prompt=multi.prompt_label,
                schema=multi.schema_name,
                extra={
                    "workers": plan.workers,
                    "worker_errors": multi.worker_errors,
                    "worker_startup_s": round(multi.startup_s, 3),
                },
            )
            return RunOutcome(
                multi.summary,
                out_path,
                multi.report.errors_path,
                summary_path,
                workers=plan.workers,
                worker_errors=multi.worker_errors,
                worker_cpu_s=multi.cpu_s,
                worker_startup_s=multi.startup_s,
                totals=totals,
            )
    documents: Iterable[Document]
    total: int | None = None
    if callable(inputs):
        documents = inputs()
    elif _all_paths(inputs):
        paths = [os.fspath(i) for i in inputs]  # type: ignore[arg-type]
        documents = iter_documents(paths, stdin=stdin)
        if progress is not None:  # a bar with a total and an ETA: count first, cheaply
            total = count_documents(paths)
    else:
        documents = inputs  # type: ignore[assignment]
    ran = await run_here(
        documents,
        schema,
        prompt=prompt,
        settings=settings,
        writer=ResultWriter(out_path, overwrite=overwrite),
        skip=resume,
        progress=progress,
        stop=stop,
        prices=prices,
        total=total,
    )
    endpoint = ran.endpoint
    totals = ran.report.totals or output_totals(out_path)
    summary_path = _write_summary(
        out_path,
        ran.summary,
        totals,
        model=endpoint.model if endpoint else None,
        endpoint=endpoint.identity if endpoint else None,
        prompt=ran.prompt_label,
        schema=ran.schema_name,
    )
    return RunOutcome(ran.summary, out_path, ran.report.errors_path, summary_path, totals=totals)


@dataclass
class HereOutcome:
    """What :func:`run_here` did: the summary, the writer's finalisation, the endpoint."""

    summary: BatchSummary
    report: FinalizeReport
    endpoint: Endpoint | None
    prompt_label: str
    schema_name: str


async def run_here(
    documents: Iterable[Document],
    schema: type[BaseModel] | str,
    *,
    prompt: str | Prompt | None,
    settings: Settings,
    writer: ResultWriter,
    skip: set[str] | ResumeIndex,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    prices: PriceTable | None = None,
    before_run: Callable[[Extractor[Any]], Awaitable[None]] | None = None,
    finalize: bool = True,
    total: int | None = None,
) -> HereOutcome:
    """The in-process batch: one extractor, one event loop, ``run_batch`` into ``writer``.

    ``before_run`` is awaited once the endpoint is resolved, before the first document
    (a worker process uses it to report that it is ready and wait for the go-ahead).
    ``finalize=False`` closes the writer without compacting the output or rebuilding the
    error report (the parent of worker processes does that once they have all exited).
    ``skip`` is the output's :class:`~llmx.io.ResumeIndex` (or doc_ids to skip);
    ``total`` the document count for the progress bar, when known.
    """
    # the bundled model's server answers one request at a time: more in flight would
    # only queue there, with their timeouts running
    concurrency = 1 if settings.uses_local_model else settings.concurrency
    limiter = RateLimiter(
        settings.rpm,
        settings.tpm,
        max_concurrency=concurrency,
        base_backoff=settings.backoff_initial,
        max_backoff=settings.backoff_max,
    )
    async with Extractor(schema, prompt=prompt, settings=settings) as extractor:
        extractor.limiter = limiter
        await extractor.start()

        def cost(result: Result[Any]) -> float | None:
            endpoint = extractor.endpoint
            if endpoint is None:
                return None
            return estimate_cost(
                endpoint.model, result.usage, prices=prices, local=_is_local(endpoint.base_url)
            )

        async def process(doc: Document) -> Result[Any]:
            result = await extractor.aextract(doc)
            result.cost_usd = 0.0 if result.cached else cost(result)
            return result

        try:
            if before_run is not None:
                await before_run(extractor)
            summary = await run_batch(
                documents,
                process,
                writer=writer,
                concurrency=concurrency,
                limiter=limiter,
                skip=skip,
                progress=progress,
                stop=stop,
                total=total,
                stop_after=settings.stop_after_failures,
            )
        finally:
            report = writer.close(compact=finalize, rebuild_errors=finalize)
        endpoint = extractor.endpoint
    if endpoint is not None:
        summary.cost = estimate_cost(
            endpoint.model, summary.usage, prices=prices, local=_is_local(endpoint.base_url)
        )
    return HereOutcome(summary, report, endpoint, extractor.prompt.label, extractor.schema.__name__)


def _write_summary(
    out_path: Path,
    summary: BatchSummary,
    totals: OutputTotals,
    *,
    model: str | None,
    endpoint: str | None,
    prompt: str | None,
    schema: str | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    summary_path = out_path.with_name(out_path.stem + ".summary.json")
    summary_path.write_text(
        json.dumps(
            {
                # the whole output file, over every run that wrote to it ...
                **totals.to_dict(),
                # ... and what this run did
                "run": summary.to_dict(),
                "model": model,
                "endpoint": endpoint,
                "prompt": prompt,
                "schema": schema,
                **(extra or {}),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return summary_path


def extract_batch(
    inputs: Inputs,
    schema: type[BaseModel] | str,
    *,
    out: str | os.PathLike[str],
    **kwargs: Any,
) -> RunOutcome:
    """Synchronous :func:`aextract_batch`."""
    return asyncio.run(aextract_batch(inputs, schema, out=out, **kwargs))


def _all_paths(inputs: Any) -> bool:
    if isinstance(inputs, str | os.PathLike):
        raise TypeError("inputs must be a sequence of paths, not a single path")
    return isinstance(inputs, Sequence) and all(isinstance(i, str | os.PathLike) for i in inputs)
