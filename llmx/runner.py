"""Many documents through one :class:`~llmx.extractor.Extractor`: the batch API.

Composes the pieces: lazy inputs (:mod:`llmx.io`), the extractor, the batch
engine (:mod:`llmx.batch`), rate limits (:mod:`llmx.ratelimit`), crash-safe
JSONL output with resume, and cost estimates (:mod:`llmx.pricing`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel

from llmx.batch import BatchSummary, ProgressSink, run_batch
from llmx.config import Settings, resolve_settings
from llmx.extractor import Extractor
from llmx.io import ResultWriter, iter_documents, scan_output
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


def _is_local(endpoint_url: str | None) -> bool:
    return endpoint_url is None or any(
        host in endpoint_url for host in ("127.0.0.1", "localhost", "[::1]")
    )


async def aextract_batch(
    inputs: Sequence[str | os.PathLike[str]] | Iterable[Document],
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
    :func:`llmx.io.iter_documents`), or :class:`Document` objects. Running the
    same call again resumes: documents already in ``out`` are skipped (failed
    ones are retried with ``retry_failed``). Every document ends in ``out``;
    failed ones also in the error report beside it.
    """
    if settings is None:
        settings = resolve_settings(overrides)
    elif overrides:
        settings = settings.replace(**overrides)
    out_path = Path(out)
    skip: set[str] = set()
    if not overwrite and out_path.exists():
        skip = scan_output(out_path, retry_failed=retry_failed)
    documents: Iterable[Document]
    if _all_paths(inputs):
        documents = iter_documents([os.fspath(i) for i in inputs], stdin=stdin)  # type: ignore[arg-type]
    else:
        documents = inputs  # type: ignore[assignment]
    prices: PriceTable | None = load_prices(settings.prices) if settings.prices else None
    limiter = RateLimiter(
        settings.rpm,
        settings.tpm,
        max_concurrency=settings.concurrency,
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

        writer = ResultWriter(out_path, overwrite=overwrite)
        try:
            summary = await run_batch(
                documents,
                process,
                writer=writer,
                concurrency=settings.concurrency,
                limiter=limiter,
                skip=skip,
                progress=progress,
                stop=stop,
            )
        finally:
            report = writer.close()
        endpoint = extractor.endpoint
    if endpoint is not None:
        summary.cost = estimate_cost(
            endpoint.model, summary.usage, prices=prices, local=_is_local(endpoint.base_url)
        )
    summary_path = out_path.with_name(out_path.stem + ".summary.json")
    summary_path.write_text(
        json.dumps(
            {
                **summary.to_dict(),
                "model": endpoint.model if endpoint else None,
                "endpoint": endpoint.identity if endpoint else None,
                "prompt": extractor.prompt.label,
                "schema": extractor.schema.__name__,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return RunOutcome(summary, out_path, report.errors_path, summary_path)


def extract_batch(
    inputs: Sequence[str | os.PathLike[str]] | Iterable[Document],
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
