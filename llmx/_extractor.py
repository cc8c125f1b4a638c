"""One document along the path: read, clean, find candidates or chunks, prompt, call,
validate, merge, ground.

:class:`Extractor` is the coordinator of that path and holds what is configured once and
reused across many documents: the schema, its prompt, the strategy that reads a cleaned
text (:mod:`llmx._strategies`) and the requests to the model through the response
cache (:mod:`llmx._requests`). :func:`extract` and :func:`aextract` are one-shot
conveniences.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from datetime import date
from typing import Any, Generic, TypeVar, Unpack

from pydantic import BaseModel

from llmx._agreement import confidence_paths
from llmx._candidates import CandidateReader, reader_for
from llmx._config import Settings, SettingsChanges, resolve_settings
from llmx._endpoints._instructor import fast_response_model
from llmx._endpoints.profiles import Endpoint
from llmx._errors import ConfigError, LlmxError
from llmx._ground import apply_grounding_policy, ground_record
from llmx._merge import merge_records
from llmx._prompts import Prompt, load_prompt
from llmx._ratelimit import RateLimiter
from llmx._requests import ModelRequests
from llmx._schemas import load_schema
from llmx._strategies import Strategy, choose_strategy
from llmx._strategies.candidates import CandidateStrategy
from llmx._strategies.chunks import ChunkMessages, ChunkStrategy
from llmx._text.clean import clean_text
from llmx._text.decode import to_text
from llmx._text.meta import find_published
from llmx._types import Document, Result
from llmx.normalize._context import DocumentContext

M = TypeVar("M", bound=BaseModel)

#: characters per chunk when neither the settings nor the endpoint say otherwise
DEFAULT_CHUNK_CHARS = 6000


class Extractor(Generic[M]):
    """Extract records of one schema from documents, reusing one client and cache.

    Use it as a context manager (sync or async) so that the endpoint client and a
    local model server, if one was started, are closed::

        with Extractor("investment") as ex:
            result = ex.extract(text)
    """

    def __init__(
        self,
        schema: type[M] | str,
        *,
        prompt: str | Prompt | None = None,
        settings: Settings | None = None,
        **overrides: Unpack[SettingsChanges],
    ) -> None:
        if settings is None:
            settings = resolve_settings(overrides)
        elif overrides:
            settings = settings.replace(**overrides)
        self.settings = settings
        self.schema: type[M] = load_schema(schema) if isinstance(schema, str) else schema  # type: ignore[assignment]
        self.prompt = prompt if isinstance(prompt, Prompt) else load_prompt(prompt, self.schema)
        self._chunk_messages = ChunkMessages(self.prompt, self.schema)
        response_model = fast_response_model(self.schema)
        self.reader: CandidateReader | None = reader_for(self.schema)
        self.strategy = choose_strategy(settings.strategy, self.reader)
        self._reader_prompt: Prompt | None = None
        if self.strategy == "candidates":
            assert self.reader is not None
            self._reader_prompt = load_prompt(self.reader.prompt)
        # the cache keys name the prompt the strategy sends
        self._requests = ModelRequests(settings, self.active_prompt, chunk_chars=self.chunk_chars)
        self.cache = self._requests.cache
        self._strategy: Strategy[M]
        if self._reader_prompt is not None:
            assert self.reader is not None
            self._strategy = CandidateStrategy(
                self._requests,
                self.reader,
                self._reader_prompt,
                self.schema,
                response_model,
                settings,
            )
        else:
            self._strategy = ChunkStrategy(
                self._requests,
                self._chunk_messages,
                self.schema,
                response_model,
                settings,
                chunk_size=self.chunk_chars
                if self.strategy == "document"
                else settings.window_chars,
            )
        self._runner: asyncio.Runner | None = None
        self._runner_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Endpoint:
        """Resolve the endpoint now (starting the local model server if needed).

        Configuration problems raise here instead of failing every document. Replaying
        a recording on the local model starts no server: one starts at the first
        request the recording cannot answer.
        """
        return await self._requests.start()

    @property
    def limiter(self) -> RateLimiter | None:
        """The shared request/token budget; the batch runner sets it before :meth:`start`."""
        return self._requests.limiter

    @limiter.setter
    def limiter(self, limiter: RateLimiter | None) -> None:
        self._requests.limiter = limiter

    @property
    def active_prompt(self) -> Prompt:
        """The prompt this extractor's strategy sends: the reader's for ``candidates``."""
        return self._reader_prompt if self._reader_prompt is not None else self.prompt

    @property
    def chunk_chars(self) -> int:
        return self.settings.chunk_chars or DEFAULT_CHUNK_CHARS

    @property
    def endpoint(self) -> Endpoint | None:
        return self._requests.endpoint

    async def aclose(self) -> None:
        await self._requests.aclose()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.run(self.aclose())
            self._runner.close()
            self._runner = None
        else:
            asyncio.run(self.aclose())

    async def __aenter__(self) -> Extractor[M]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Extractor[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise ConfigError("extract() called inside a running event loop; use aextract()")
        with self._runner_lock:
            if self._runner is None:
                self._runner = asyncio.Runner()
        return self._runner.run(coro)

    # ------------------------------------------------------------------ extraction
    def extract(
        self,
        doc: Document | str | bytes,
        *,
        doc_id: str | None = None,
        published: date | str | None = None,
    ) -> Result[M]:
        """Synchronous :meth:`aextract`."""
        result: Result[M] = self._run(self.aextract(doc, doc_id=doc_id, published=published))
        return result

    async def aextract(
        self,
        doc: Document | str | bytes,
        *,
        doc_id: str | None = None,
        published: date | str | None = None,
    ) -> Result[M]:
        """Extract one document. Never raises for a per-document problem: the
        error is returned in :attr:`Result.error` with the usage spent so far."""
        document = _as_document(doc, doc_id, published)
        result: Result[M] = Result.for_document(document)
        started = time.perf_counter()
        try:
            await self._extract_into(document, result)
        except LlmxError as exc:
            result.error = exc
            result.record = None
        result.attempts = result.usage.requests  # failed documents' requests count too
        result.seconds = time.perf_counter() - started
        return result

    async def _extract_into(self, document: Document, result: Result[M]) -> None:
        if document.error is not None:
            raise document.error
        decoded = to_text(document.data, name=document.source)
        clean = clean_text(decoded)
        published = document.published or find_published(decoded)
        # what reading and cleaning changed: a new doc_id, trimmed boilerplate, repeats
        notes: list[str] = [*result.notes, *clean.trim_notes()]
        # one context per document: its home region is found once, not once per chunk
        context = DocumentContext(text=clean.text, published=published)
        try:
            reading = await self._strategy.read(document.doc_id, context, result.usage, notes)
        except LlmxError:  # a failed document keeps what happened on the way
            result.notes = list(dict.fromkeys([*notes, *context.notes]))
            raise
        # also joins one project named several ways; the record becomes an instance
        # of the caller's own class again (validation used a faster subclass)
        merged = merge_records(reading.records)
        record = self.schema.model_construct(_fields_set=merged.model_fields_set, **dict(merged))
        if self.settings.passes > 1 and self.strategy == "candidates":
            result.confidence = confidence_paths(record, reading.records, reading.agreement)
        notes.extend(context.notes)
        result.grounding = ground_record(record, clean)
        result.record = apply_grounding_policy(
            record, result.grounding, self.settings.ungrounded, notes
        )
        result.cached = reading.cached
        result.notes = list(dict.fromkeys(notes))  # a note repeated per chunk once

    def messages_for(
        self,
        text: str,
        *,
        published: date | None = None,
        doc_id: str = "doc",
        chunk_index: int = 0,
        chunk_count: int = 1,
    ) -> list[dict[str, str]]:
        """The chat messages this extractor sends for one (cleaned) chunk of text with
        the ``document`` or ``chunks`` strategy."""
        return self._chunk_messages.render(
            text,
            published=published,
            doc_id=doc_id,
            chunk_index=chunk_index,
            chunk_count=chunk_count,
        )


def _as_document(
    doc: Document | str | bytes, doc_id: str | None, published: date | str | None
) -> Document:
    extra: dict[str, Any] = {"published": str(published)} if published is not None else {}
    if isinstance(doc, Document):
        if not extra:
            return doc
        return Document(doc.doc_id, doc.source, doc.data, {**doc.meta, **extra}, doc.error)
    return Document(doc_id or "doc", "<text>", doc, extra)


def extract(
    text: str | bytes | Document,
    schema: type[M] | str,
    *,
    prompt: str | None = None,
    published: date | str | None = None,
    settings: Settings | None = None,
    **overrides: Unpack[SettingsChanges],
) -> Result[M]:
    """Extract one record of ``schema`` from ``text`` (one-shot, synchronous)."""
    with Extractor(schema, prompt=prompt, settings=settings, **overrides) as ex:
        return ex.extract(text, published=published)


async def aextract(
    text: str | bytes | Document,
    schema: type[M] | str,
    *,
    prompt: str | None = None,
    published: date | str | None = None,
    settings: Settings | None = None,
    **overrides: Unpack[SettingsChanges],
) -> Result[M]:
    """Extract one record of ``schema`` from ``text`` (one-shot, asynchronous)."""
    async with Extractor(schema, prompt=prompt, settings=settings, **overrides) as ex:
        return await ex.aextract(text, published=published)


__all__ = ["DEFAULT_CHUNK_CHARS", "Extractor", "aextract", "extract"]
