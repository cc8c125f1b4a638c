"""The ``document`` and ``chunks`` strategies: the schema asked for each part of the text.

``document`` sends the whole cleaned text, cut only where it is longer than
``chunk_chars``; ``chunks`` sends windows of ``window_chars``. Both overlap the parts
by ``chunk_overlap`` (at most a quarter of a part), render the schema prompt for each
part (:class:`ChunkMessages`) and ask for the schema itself.

An answer cut off at max_tokens is usually a repetition loop over a long list: a part
of :data:`MIN_SPLIT_CHARS` or more is then asked for again in two (at sentence
boundaries, sometimes three) overlapping halves, each of which may still get one
warmer retry; a shorter part gets that retry itself.
"""

from __future__ import annotations

from datetime import date
from typing import Generic, TypeVar

from pydantic import BaseModel

from llmx._config import Settings
from llmx._errors import TruncatedAnswerError
from llmx._prompts import Prompt, schema_outline
from llmx._requests import ModelRequests
from llmx._schemas import schema_fingerprint, schema_json
from llmx._strategies import Reading
from llmx._text.chunk import chunk_text
from llmx._types import Usage
from llmx.normalize._context import DocumentContext

M = TypeVar("M", bound=BaseModel)

#: a text at least this long whose answer was cut off at max_tokens is asked for again in
#: halves; a shorter one gets one more try at a higher temperature instead
MIN_SPLIT_CHARS = 200


class ChunkMessages:
    """The chat messages of the schema prompt for one (cleaned) chunk of text."""

    def __init__(self, prompt: Prompt, schema: type[BaseModel]) -> None:
        self.prompt = prompt
        self.schema_name = schema.__name__
        self.schema_outline = schema_outline(schema)
        self.schema_json = schema_json(schema)

    def render(
        self,
        text: str,
        *,
        published: date | None = None,
        doc_id: str = "doc",
        chunk_index: int = 0,
        chunk_count: int = 1,
    ) -> list[dict[str, str]]:
        return self.prompt.render(
            text=text,
            published=published.isoformat() if published else None,
            doc_id=doc_id,
            schema_name=self.schema_name,
            schema_outline=self.schema_outline,
            schema_json=self.schema_json,
            chunk_index=chunk_index,
            chunk_count=chunk_count,
        )


class ChunkStrategy(Generic[M]):
    """Reads a document part by part, ``chunk_size`` characters at most per part."""

    def __init__(
        self,
        requests: ModelRequests,
        messages: ChunkMessages,
        schema: type[BaseModel],
        response_model: type[M],
        settings: Settings,
        *,
        chunk_size: int,
    ) -> None:
        self.requests = requests
        self.messages = messages
        self.response_model = response_model
        self.fingerprint = schema_fingerprint(schema)
        self.settings = settings
        self.chunk_size = chunk_size

    async def read(
        self, doc_id: str, context: DocumentContext, usage: Usage, notes: list[str]
    ) -> Reading[M]:
        size = self.chunk_size
        overlap = min(self.settings.chunk_overlap, size // 4)
        chunks = chunk_text(context.text, max_chars=size, overlap_chars=overlap)
        reading: Reading[M] = Reading()
        for chunk in chunks:
            asked = await self._ask_text(
                chunk.text, chunk.index, len(chunks), doc_id, context, usage, notes
            )
            for record, cached in asked:
                reading.cached = reading.cached and cached
                reading.records.append(record)
        return reading

    async def _ask_text(
        self,
        text: str,
        index: int,
        count: int,
        doc_id: str,
        context: DocumentContext,
        usage: Usage,
        notes: list[str],
        *,
        may_split: bool = True,
    ) -> list[tuple[M, bool]]:
        """The records of part ``index`` of ``count`` of a document, each with whether
        it came from the cache; split in halves when cut off (see the module docs)."""
        messages = self.messages.render(
            text,
            published=context.published,
            doc_id=doc_id,
            chunk_index=index,
            chunk_count=count,
        )
        splittable = may_split and len(text) >= MIN_SPLIT_CHARS
        try:
            answer = await self.requests.ask(
                messages,
                context,
                usage,
                answer_model=self.response_model,
                fingerprint=self.fingerprint,
                retry_cut_off=not splittable,
            )
        except TruncatedAnswerError:
            if not splittable:
                raise
            notes.append("answer cut off at max_tokens: asked again for each half of the text")
            overlap = min(self.settings.chunk_overlap, len(text) // 4)
            halves = chunk_text(text, max_chars=len(text) // 2 + overlap, overlap_chars=overlap)
            parts: list[tuple[M, bool]] = []
            for half in halves:
                parts += await self._ask_text(
                    half.text,
                    half.index,
                    len(halves),
                    doc_id,
                    context,
                    usage,
                    notes,
                    may_split=False,
                )
            return parts
        return [answer]


__all__ = ["MIN_SPLIT_CHARS", "ChunkMessages", "ChunkStrategy"]
