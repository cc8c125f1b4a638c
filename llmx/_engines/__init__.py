"""Engines: how many documents travel through extractors.

* ``local`` (the default and the fast path on one machine): one process, one event
  loop, :func:`llmx._batch.run_batch` over one :class:`~llmx._extractor.Extractor`
  (:func:`llmx._runner.run_in_process`).
* ``ray``: a Ray Dataset of documents extracted by a pool of actors, each holding one
  extractor, the driver writing the output (:mod:`llmx._engines.ray`, imported only when
  asked for; it needs the ``ray`` extra).

What both need to turn an extractor into a batch's per-document step lives here, so an
engine never imports the batch API (:mod:`llmx._runner`) that chooses it; and what
both hand back to it (:class:`EngineOutcome`). Costs are estimated by :func:`run_cost`
only: each document's as it is extracted (:func:`document_process`), the run's by the
batch API from the run's usage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from llmx._accounting import BatchSummary
from llmx._batch import Process
from llmx._config import Settings
from llmx._endpoints.profiles import Endpoint, is_loopback
from llmx._extractor import Extractor
from llmx._outfile import FinalizeReport
from llmx._pricing import PriceTable, estimate_cost
from llmx._ratelimit import RateLimiter
from llmx._types import Document, Result, Usage

__all__ = [
    "ENGINES",
    "Engine",
    "EngineOutcome",
    "batch_concurrency",
    "document_process",
    "is_local",
    "make_limiter",
    "run_cost",
]

#: the engines a batch run can use
Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass
class EngineOutcome:
    """What an engine hands back to the batch API, which writes the summary file from it
    and returns the public :class:`~llmx._runner.RunOutcome`: the run's counts, what
    finishing the output did, and what ran (endpoint, prompt, schema)."""

    summary: BatchSummary
    report: FinalizeReport
    endpoint: Endpoint | None
    prompt_label: str
    schema_name: str
    #: facts about the engine for the summary file (e.g. Ray's actors and start-up time)
    extra: dict[str, Any] = field(default_factory=dict)


def is_local(endpoint_url: str | None) -> bool:
    """Whether an endpoint runs on this machine (its tokens cost nothing)."""
    return endpoint_url is None or is_loopback(endpoint_url)


def batch_concurrency(settings: Settings) -> int:
    """Documents in flight per extractor.

    The bundled model's server answers one request at a time: more in flight would only
    queue there, with their timeouts running.
    """
    return 1 if settings.uses_local_model else settings.concurrency


def make_limiter(settings: Settings, concurrency: int) -> RateLimiter:
    """The rate limiter of one batch run (rpm/tpm, 429 back-off, AIMD concurrency)."""
    return RateLimiter(
        settings.rpm,
        settings.tpm,
        max_concurrency=concurrency,
        base_backoff=settings.backoff_initial,
        max_backoff=settings.backoff_max,
    )


def run_cost(endpoint: Endpoint | None, usage: Usage, prices: PriceTable | None) -> float | None:
    """Estimated cost of ``usage`` on ``endpoint`` (None when the price is unknown)."""
    if endpoint is None:
        return None
    return estimate_cost(endpoint.model, usage, prices=prices, local=is_local(endpoint.base_url))


def document_process(extractor: Extractor[Any], prices: PriceTable | None) -> Process:
    """One document through ``extractor``, its cost estimated (0 when from the cache)."""

    async def process(doc: Document) -> Result[Any]:
        result = await extractor.aextract(doc)
        if result.cached:
            result.cost_usd = 0.0
        else:
            result.cost_usd = run_cost(extractor.endpoint, result.usage, prices)
        return result

    return process
