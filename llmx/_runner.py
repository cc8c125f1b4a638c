"""Many documents through one :class:`~llmx._extractor.Extractor`: the batch API.

Composes the pieces: lazy inputs (:mod:`llmx._inputs`), the resume against the output
(:mod:`llmx._resume`), the extractor, an engine (one event loop in this process,
:func:`run_in_process`, or a Ray cluster, :mod:`llmx._engines.ray`), rate limits
(:mod:`llmx._ratelimit`), crash-safe JSONL output (:mod:`llmx._writer`,
:mod:`llmx._outfile`), the run's cost estimate and the summary file. Both engines share
the resume, the writer and the accounting (:class:`llmx._accounting.Tally`); each
returns an :class:`~llmx._engines.EngineOutcome`, which :func:`aextract_batch` turns
into the public :class:`RunOutcome`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Unpack

from pydantic import BaseModel

from llmx._accounting import BatchSummary, ProgressSink
from llmx._batch import run_batch
from llmx._config import Settings, SettingsChanges, resolve_settings
from llmx._engines import (
    Engine,
    EngineOutcome,
    batch_concurrency,
    document_process,
    make_limiter,
    run_cost,
)
from llmx._errors import ConfigError
from llmx._extractor import Extractor
from llmx._inputs import all_paths, count_documents, iter_documents
from llmx._outfile import OutputTotals, check_output_path
from llmx._pricing import PriceTable, load_prices
from llmx._prompts import Prompt
from llmx._resume import ResumeIndex, read_output
from llmx._shards import scan_shards, shard_files
from llmx._types import Document
from llmx._writer import ResultWriter


@dataclass
class RunOutcome:
    """What a batch run did and where it wrote."""

    summary: BatchSummary
    out: Path
    errors: Path | None
    summary_path: Path
    #: the engine that ran the batch: ``local`` or ``ray``
    engine: str = "local"
    #: what the engine reported besides the summary (Ray: actors, start-up seconds)
    engine_info: dict[str, Any] = field(default_factory=dict)

    #: the whole output file, cumulatively over every run that wrote to it
    totals: OutputTotals = field(default_factory=OutputTotals)

    @property
    def complete(self) -> bool:
        """No interruption and no early stop: every input document is in ``out``."""
        return not self.summary.interrupted and not self.summary.stopped_early


#: what ``aextract_batch`` accepts as inputs
Inputs = Sequence[str | os.PathLike[str]] | Iterable[Document] | Callable[[], Iterable[Document]]


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
    engine: Engine = "local",
    ray_address: str | None = None,
    actors: int | None = None,
    shards: bool = False,
    **overrides: Unpack[SettingsChanges],
) -> RunOutcome:
    """Extract every input document into the JSONL file ``out``.

    ``inputs`` are paths, folders, globs, ``-`` or ``.jsonl`` files (see
    :func:`llmx._inputs.iter_documents`; with the Ray engine also ``.parquet`` files),
    :class:`Document` objects, or a zero-argument callable returning them. Running the
    same call again resumes: documents already in ``out`` are skipped (failed ones are
    retried with ``retry_failed``). Every document ends in ``out``; failed ones also in
    the error report beside it.

    ``engine="ray"`` extracts on a Ray cluster (:mod:`llmx._engines.ray`): the one at
    ``ray_address`` (or ``RAY_ADDRESS``), else a local instance; ``actors`` extractors
    (default: one per CPU of the cluster), each with ``settings.concurrency`` documents
    in flight. The output, resume and accounting are those of the default ``local``
    engine (this process, one event loop). With ``shards`` (Ray only) ``out`` is a folder
    in which each actor writes its own part (:mod:`llmx._shards`).
    """
    if settings is None:
        settings = resolve_settings(overrides)
    elif overrides:
        settings = settings.replace(**overrides)
    out_path = Path(out)
    skip: set[str] | ResumeIndex
    if shards:
        skip = _shard_skip(out_path, engine=engine, retry_failed=retry_failed, overwrite=overwrite)
    else:
        check_output_path(out_path)
        skip = ResumeIndex(retry_failed=retry_failed)
        if not overwrite and out_path.exists():
            skip = ResumeIndex(read_output(out_path), retry_failed=retry_failed)
    prices: PriceTable | None = load_prices(settings.prices) if settings.prices else None
    writer = None if shards else ResultWriter(out_path, overwrite=overwrite)
    ran: EngineOutcome
    if engine == "ray":
        from llmx._engines.ray import RayOptions, run_ray

        ran = await run_ray(
            inputs,
            schema,
            prompt=prompt,
            settings=settings,
            writer=writer,
            skip=skip,
            options=RayOptions(
                address=ray_address, actors=actors, shard_dir=out_path if shards else None
            ),
            progress=progress,
            stop=stop,
            prices=prices,
        )
    else:
        documents: Iterable[Document]
        total: int | None = None
        if callable(inputs):
            documents = inputs()
        elif all_paths(inputs):
            paths = [os.fspath(i) for i in inputs]  # type: ignore[arg-type]
            documents = iter_documents(paths, stdin=stdin)
            if progress is not None:  # a bar with a total and an ETA: count first, cheaply
                total = count_documents(paths)
        else:
            documents = inputs  # type: ignore[assignment]
        assert writer is not None
        ran = await run_in_process(
            documents,
            schema,
            prompt=prompt,
            settings=settings,
            writer=writer,
            skip=skip,
            progress=progress,
            stop=stop,
            prices=prices,
            total=total,
        )
    endpoint = ran.endpoint
    ran.summary.cost = run_cost(endpoint, ran.summary.usage, prices)
    totals = ran.report.totals
    summary_path = _write_summary(
        out_path,
        ran.summary,
        totals,
        model=endpoint.model if endpoint else None,
        endpoint=endpoint.identity if endpoint else None,
        prompt=ran.prompt_label,
        schema=ran.schema_name,
        extra={"engine": engine, **ran.extra} if engine != "local" else None,
    )
    return RunOutcome(
        ran.summary,
        out_path,
        ran.report.errors_path,
        summary_path,
        engine=engine,
        engine_info=dict(ran.extra),
        totals=totals,
    )


async def run_in_process(
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
    total: int | None = None,
) -> EngineOutcome:
    """The ``local`` engine: one extractor, one event loop in this process,
    :func:`~llmx._batch.run_batch` into ``writer``.

    ``skip`` is the output's :class:`~llmx._resume.ResumeIndex` (or doc_ids to skip);
    ``total`` the document count for the progress bar, when known.
    """
    concurrency = batch_concurrency(settings)
    limiter = make_limiter(settings, concurrency)
    async with Extractor(schema, prompt=prompt, settings=settings) as extractor:
        extractor.limiter = limiter
        await extractor.start()
        try:
            summary = await run_batch(
                documents,
                document_process(extractor, prices),
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
            report = writer.close()
        endpoint = extractor.endpoint
    return EngineOutcome(
        summary, report, endpoint, extractor.prompt.label, extractor.schema.__name__
    )


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
    prompt: str | Prompt | None = None,
    settings: Settings | None = None,
    retry_failed: bool = False,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
    stdin: BinaryIO | None = None,
    engine: Engine = "local",
    ray_address: str | None = None,
    actors: int | None = None,
    shards: bool = False,
    **overrides: Unpack[SettingsChanges],
) -> RunOutcome:
    """Synchronous :func:`aextract_batch` (``overrides`` are :class:`Settings` fields)."""
    return asyncio.run(
        aextract_batch(
            inputs,
            schema,
            out=out,
            prompt=prompt,
            settings=settings,
            retry_failed=retry_failed,
            overwrite=overwrite,
            progress=progress,
            stdin=stdin,
            engine=engine,
            ray_address=ray_address,
            actors=actors,
            shards=shards,
            **overrides,
        )
    )


def _shard_skip(out: Path, *, engine: str, retry_failed: bool, overwrite: bool) -> set[str]:
    """What a run into the shard folder ``out`` skips (clearing its shards on overwrite)."""
    if engine != "ray":
        raise ConfigError("shards are written by Ray actors: use them with --engine ray")
    if out.exists() and not out.is_dir():
        raise ConfigError("with shards, --out names a folder, not a file", path=str(out))
    if overwrite:
        for shard in shard_files(out):
            shard.unlink()
        return set()
    return scan_shards(out, retry_failed=retry_failed)
