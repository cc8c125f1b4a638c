"""The actor that extracts: one :class:`~llmx._extractor.Extractor` on a Ray worker,
called by Ray Data with a batch of documents, answering with their pickled results.

Its documents are the rows :mod:`llmx._engines.ray.inputs` made (a pickled
:class:`~llmx._types.Document` and the resume's verdict); a document already in the
output is skipped and said so, an unreadable one answered with its error, the rest
extracted as in one process (:func:`llmx._batch.process_one`, a governor slot each).
"""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel

from llmx._accounting import is_done, unreadable
from llmx._batch import Process, process_one
from llmx._config import Settings
from llmx._engines import document_process
from llmx._engines.ray.limiter import SharedLimiter
from llmx._errors import InputError
from llmx._extractor import Extractor
from llmx._pricing import PriceTable
from llmx._prompts import Prompt
from llmx._ratelimit import RateLimiter
from llmx._shards import new_shard_path
from llmx._types import Document, Result
from llmx._writer import ResultWriter


@dataclass(frozen=True)
class ActorJob:
    """What every actor needs to build its extractor (pickled to each)."""

    schema: type[BaseModel] | str
    prompt: str | Prompt | None
    settings: Settings
    prices: PriceTable | None
    concurrency: int
    shard_dir: Path | None = None


class ExtractActor:
    """One extractor on a Ray worker: the ``map_batches`` callable of the actor pool.

    Its ``__call__`` is a coroutine, so Ray Data runs the calls on one event loop of the
    actor, several at a time; the extractor is built on that loop at the first call.
    """

    def __init__(self, job: ActorJob, budget: Any, skip: Any) -> None:
        """``skip``: the object ref of the run's skip set (put once, shared by all)."""
        import llmx._warm  # noqa: F401  # build the process-wide caches before documents wait

        self._job = job
        self._budget = budget
        self._skip: set[str] = ray.get(skip)
        self._lock: asyncio.Lock | None = None
        self._limiter: RateLimiter | None = None
        self._process: Process | None = None
        self._extractor: Extractor[Any] | None = None
        self._shard: ResultWriter | None = None
        if job.shard_dir is not None:  # a restarted actor starts a new shard (at its first line)
            self._shard = ResultWriter(new_shard_path(job.shard_dir))
        budget.register.remote(ray.get_runtime_context().current_actor)

    async def _ready(self) -> Process:
        if self._process is not None:
            return self._process
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._process is None:
                job = self._job
                extractor: Extractor[Any] = Extractor(
                    job.schema, prompt=job.prompt, settings=job.settings
                )
                self._limiter = extractor.limiter = SharedLimiter(
                    self._budget, job.concurrency, tpm=job.settings.tpm
                )
                await extractor.start()
                self._extractor = extractor
                self._process = document_process(extractor, job.prices)
        assert self._process is not None
        return self._process

    async def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        process = await self._ready()
        docs: list[Document] = [pickle.loads(blob) for blob in batch["doc"]]
        statuses = [str(s) for s in batch["status"]]
        results = await asyncio.gather(
            *(self._one(doc, status, process) for doc, status in zip(docs, statuses, strict=True))
        )
        return {
            "doc_id": [doc.doc_id for doc in docs],
            # "" for a document processed here, else why it was skipped (done, failed)
            "skipped": [
                ("done" if status == "run" else status) if result is None else ""
                for status, result in zip(statuses, results, strict=True)
            ],
            "result": [b"" if result is None else _dump_result(result) for result in results],
        }

    async def _one(self, doc: Document, status: str, process: Process) -> Result[Any] | None:
        if status != "run" or is_done(doc, self._skip):
            return None
        if doc.error is not None:
            result = unreadable(doc)
        else:
            result = await process_one(doc, process, self._limiter)
        if self._shard is not None:
            self._shard.write(result)
        return result


def _dump_result(result: Result[Any]) -> bytes:
    try:
        return pickle.dumps(result)
    except Exception as exc:  # never lose the document over a pickling problem
        failed: Result[Any] = Result(
            doc_id=result.doc_id,
            source=result.source,
            usage=result.usage,
            attempts=result.attempts,
            error=InputError(
                f"cannot send the result back: {type(exc).__name__}: {exc}",
                doc_id=result.doc_id,
            ),
        )
        return pickle.dumps(failed)
