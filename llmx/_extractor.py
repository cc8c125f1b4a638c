"""One document along the path: read, clean, chunk, prompt, call, validate,
merge, ground.

:class:`Extractor` holds a configured endpoint client, cache, schema and prompt,
and is meant to be reused across many documents. :func:`extract` and
:func:`aextract` are one-shot conveniences.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Coroutine
from datetime import date
from typing import Any, Generic, TypeVar, Unpack

from pydantic import BaseModel, ValidationError

from llmx._cache import CachedAnswer, ResponseCache, cache_key
from llmx._candidates import (
    Candidate,
    CandidateReader,
    answers_model,
    answers_of,
    groups,
    reader_for,
)
from llmx._config import Settings, SettingsChanges, resolve_settings
from llmx._endpoints import Endpoint, EndpointClient, fast_response_model, request_params
from llmx._errors import ConfigError, ExtractionError, LlmxError, TruncatedAnswerError
from llmx._ground import ground_record
from llmx._merge import item_model, merge_records, name_similarity, same_item
from llmx._names import NameRules, rules_for
from llmx._prompts import Prompt, load_prompt, schema_outline
from llmx._ratelimit import RateLimiter
from llmx._schemas import load_schema, schema_fingerprint, schema_json
from llmx._text.chunk import chunk_text
from llmx._text.clean import CleanText, clean_text
from llmx._text.decode import to_text
from llmx._text.meta import find_published
from llmx._types import Document, GroundingInfo, Result, Usage
from llmx.normalize._context import DocumentContext

M = TypeVar("M", bound=BaseModel)

#: characters per chunk when neither the settings nor the endpoint say otherwise
DEFAULT_CHUNK_CHARS = 6000
_CACHE_FORMAT = 1
#: a text at least this long whose answer was cut off at max_tokens is asked for again in
#: halves; a shorter one gets one more try at a higher temperature instead
MIN_SPLIT_CHARS = 200
#: sampling temperature of the passes after the first (``passes`` > 1)
PASS_TEMPERATURE = 0.7
#: output tokens allowed per candidate in a group's answer (an answer is a few short
#: names; a small model that starts repeating itself inside a string stops here)
TOKENS_PER_CANDIDATE = 80


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
        self.cache = ResponseCache(
            settings.resolved_cache_dir,
            enabled=settings.cache,
            refresh=settings.refresh,
            replay=settings.replay,
            record=settings.record,
        )
        self._schema_fingerprint = schema_fingerprint(self.schema)
        self._outline = schema_outline(self.schema)
        self._schema_json = schema_json(self.schema)
        self._response_model = fast_response_model(self.schema)
        self.reader: CandidateReader | None = reader_for(self.schema)
        self.strategy = _strategy(settings.strategy, self.reader)
        self._reader_prompt = (
            load_prompt(self.reader.prompt)
            if self.reader is not None and self.strategy == "candidates"
            else None
        )
        #: shared request/token budget; set by the batch runner
        self.limiter: RateLimiter | None = None
        self._client: EndpointClient | None = None
        self._planned: tuple[Endpoint, dict[str, Any]] | None = None
        self._local: Any = None
        self._client_lock = asyncio.Lock()
        self._runner: asyncio.Runner | None = None
        self._runner_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Endpoint:
        """Resolve the endpoint now (starting the local model server if needed).

        Configuration problems raise here instead of failing every document. Replaying
        a recording on the local model starts no server: one starts at the first
        request the recording cannot answer.
        """
        if self._client is None and self._replays_locally:
            return self._planned_endpoint()[0]
        return (await self._ensure_client()).endpoint

    @property
    def _replays_locally(self) -> bool:
        return self.settings.uses_local_model and self.cache.replay is not None

    def _planned_endpoint(self) -> tuple[Endpoint, dict[str, Any]]:
        """The local endpoint and request parameters a request will go to, for cache keys,
        without a model or a server."""
        if self._planned is None:
            from llmx._local.endpoint import planned_local

            settings, identity = planned_local(self.settings)
            endpoint = Endpoint.from_settings(settings, identity=identity)
            self._planned = (endpoint, request_params(settings))
        return self._planned

    async def _ensure_client(self) -> EndpointClient:
        async with self._client_lock:
            if self._client is None:
                self._client = await asyncio.to_thread(self._make_client)
            return self._client

    def _make_client(self) -> EndpointClient:
        settings = self.settings
        identity: str | None = None
        if settings.uses_local_model:
            from llmx._local import endpoint_for_local

            settings, identity, self._local = endpoint_for_local(
                settings, chunk_chars=self.chunk_chars
            )
        endpoint = Endpoint.from_settings(settings, identity=identity)
        return EndpointClient(endpoint, settings, limiter=self.limiter)

    @property
    def active_prompt(self) -> Prompt:
        """The prompt this extractor's strategy sends: the reader's for ``candidates``."""
        return self._reader_prompt if self._reader_prompt is not None else self.prompt

    @property
    def chunk_chars(self) -> int:
        return self.settings.chunk_chars or DEFAULT_CHUNK_CHARS

    @property
    def endpoint(self) -> Endpoint | None:
        if self._client is None and self._planned is not None:
            return self._planned[0]
        return self._client.endpoint if self._client is not None else None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
            self._local = None
        self.cache.close()

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
        records: list[M] = []
        # what reading and cleaning changed: a new doc_id, trimmed boilerplate, repeats
        notes: list[str] = [*result.notes, *clean.trim_notes()]
        # one context per document: its home region is found once, not once per chunk
        context = DocumentContext(text=clean.text, published=published)
        agreement: dict[int, float] = {}  # with passes > 1: id(record) -> share of passes
        try:
            if self.strategy == "candidates":
                cached_all = await self._read_candidates(
                    document.doc_id, context, result.usage, notes, records, agreement
                )
            else:
                cached_all = await self._read_chunks(
                    document.doc_id, context, result.usage, notes, records
                )
        except LlmxError:  # a failed document keeps what happened on the way
            result.notes = list(dict.fromkeys([*notes, *context.notes]))
            raise
        # also joins one project named several ways; the record becomes an instance
        # of the caller's own class again (validation used a faster subclass)
        merged = merge_records(records)
        record = self.schema.model_construct(_fields_set=merged.model_fields_set, **dict(merged))
        if self.settings.passes > 1 and self.strategy == "candidates":
            result.confidence = _confidence_paths(record, records, agreement)
        notes.extend(context.notes)
        result.grounding = ground_record(record, clean)
        result.record = self._apply_grounding_policy(record, result.grounding, notes)
        result.cached = cached_all
        result.notes = list(dict.fromkeys(notes))  # a note repeated per chunk once

    async def _read_chunks(
        self,
        doc_id: str,
        context: DocumentContext,
        usage: Usage,
        notes: list[str],
        records: list[M],
    ) -> bool:
        """The ``document`` and ``chunks`` strategies: the schema asked for each chunk of
        the text; returns whether every answer came from the cache."""
        text = context.text
        size = self.chunk_chars if self.strategy == "document" else self.settings.window_chars
        overlap = min(self.settings.chunk_overlap, size // 4)
        chunks = chunk_text(text, max_chars=size, overlap_chars=overlap)
        cached_all = True
        for chunk in chunks:
            asked = await self._ask_text(
                chunk.text,
                chunk.index,
                len(chunks),
                doc_id=doc_id,
                context=context,
                published=context.published,
                usage=usage,
                notes=notes,
            )
            for record, cached in asked:
                cached_all = cached_all and cached
                records.append(record)
        return cached_all

    async def _read_candidates(
        self,
        doc_id: str,
        context: DocumentContext,
        usage: Usage,
        notes: list[str],
        records: list[M],
        agreement: dict[int, float],
    ) -> bool:
        """The ``candidates`` strategy: the schema's reader finds the candidates, the model
        answers about a group of them per request, the reader builds the records; returns
        whether every answer came from the cache. With ``passes`` > 1, each record's share
        of agreeing passes goes into ``agreement`` (by ``id`` of the record)."""
        assert self.reader is not None
        candidates = self.reader.find(context.text, context)
        cached_all = True
        if not candidates:
            # nothing that may hold a record: the schema's empty record, when it has one
            try:
                records.append(self._response_model.model_validate({}, context={"llmx": context}))
            except ValidationError as exc:
                raise ExtractionError(
                    "no candidates found and the schema has no empty record", doc_id=doc_id
                ) from exc
            notes.append("no candidates found in the text")
            return True
        passes = self.settings.passes
        code_only = {id(c) for c in candidates if self.reader.question(c) is None}
        asked = [c for c in candidates if id(c) not in code_only]
        # a candidate code needs no answer about is built from its spans alone; one the
        # model could not answer (cut off) is left out
        answers: dict[int, tuple[BaseModel | None, list[BaseModel | None]]] = {
            cid: (None, []) for cid in code_only
        }
        for group in groups(asked, self.settings.group_size):
            answered = await self._answer_group(group, context, doc_id, usage, notes)
            others = [
                {
                    id(c): reply
                    for c, reply, _ in await self._answer_group(
                        group, context, doc_id, usage, notes, pass_index=k
                    )
                }
                for k in range(1, passes)
            ]
            for candidate, reply, cached in answered:
                cached_all = cached_all and cached
                answers[id(candidate)] = (reply, [later.get(id(candidate)) for later in others])
        for candidate in candidates:  # in reading order, asked or not
            if id(candidate) not in answers:
                continue
            answer, later_answers = answers[id(candidate)]
            for list_name, item in self.reader.build(candidate, answer, context):
                record = self._validate_item(list_name, item, context)
                if record is None:
                    continue
                records.append(record)
                if passes == 1:
                    continue
                if id(candidate) in code_only:
                    agreed = passes  # code's alone: every pass agrees
                else:
                    rules = rules_for(item_model(self.schema.model_fields[list_name].annotation))
                    agreed = 1 + sum(
                        any(
                            _same_item(item, other, rules)
                            for name, other in self.reader.build(candidate, later, context)
                            if name == list_name
                        )
                        for later in later_answers
                        if later is not None
                    )
                agreement[id(record)] = agreed / passes
        return cached_all

    async def _answer_group(
        self,
        group: list[Candidate],
        context: DocumentContext,
        doc_id: str,
        usage: Usage,
        notes: list[str],
        *,
        pass_index: int = 0,
    ) -> list[tuple[Candidate, BaseModel, bool]]:
        """Ask about one group of candidates; a group whose answer is cut off at
        max_tokens is asked again one candidate at a time. Passes after the first are
        asked warmer (:data:`PASS_TEMPERATURE`), each its own cache entry."""
        assert self.reader is not None and self._reader_prompt is not None
        questions = tuple(self.reader.question(c) for c in group)  # none is None here
        model = answers_model(tuple(q for q in questions if q is not None))
        home = context.home
        messages = self._reader_prompt.render(
            candidates=[
                {"number": i + 1, "text": c.marked, "before": c.before} for i, c in enumerate(group)
            ],
            published=context.published.isoformat() if context.published else None,
            home=" ".join(p for p in (home.province, home.city, home.district) if p)
            if home is not None
            else None,
            doc_id=doc_id,
            schema_name=self.schema.__name__,
        )
        try:
            answers, cached = await self._ask(
                messages,
                context,
                usage,
                model=model,
                retry_cut_off=len(group) == 1,
                pass_index=pass_index,
                max_tokens=self._group_tokens(len(group)),
            )
        except TruncatedAnswerError:
            if len(group) == 1:  # one candidate the model cannot answer: left out, said so
                notes.append(
                    f"no answer about candidate {group[0].text[:40]!r}: "
                    "cut off at max_tokens; left out"
                )
                return []
            notes.append("answer cut off at max_tokens: asked again one candidate at a time")
            out: list[tuple[Candidate, BaseModel, bool]] = []
            for candidate in group:
                out += await self._answer_group(
                    [candidate], context, doc_id, usage, notes, pass_index=pass_index
                )
            return out
        return [(c, a, cached) for c, a in zip(group, answers_of(answers, len(group)), strict=True)]

    def _group_tokens(self, size: int) -> int:
        """Output tokens for the answer about ``size`` candidates (never above the
        settings' ``max_tokens``)."""
        budget = 32 + TOKENS_PER_CANDIDATE * size
        limit = self.settings.max_tokens
        return budget if limit is None else min(budget, limit)

    def _validate_item(
        self, list_name: str, item: dict[str, Any], context: DocumentContext
    ) -> M | None:
        """One record of the schema holding just ``item`` in ``list_name``, validated (so
        the schema's normalisers apply); ``None`` with a note when it does not validate."""
        try:
            record: M = self._response_model.model_validate(
                {list_name: [item]}, context={"llmx": context}
            )
        except ValidationError as exc:
            context.note(
                f"{list_name}: a candidate's record did not validate: {exc.errors()[0]['msg']}"
            )
            return None
        return record

    async def _ask_text(
        self,
        text: str,
        index: int,
        count: int,
        *,
        doc_id: str,
        context: DocumentContext,
        published: date | None,
        usage: Usage,
        notes: list[str],
        may_split: bool = True,
    ) -> list[tuple[M, bool]]:
        """Ask for part ``index`` of ``count`` of a document: its records, each with
        whether it came from the cache.

        An answer cut off at max_tokens is usually a repetition loop over a long list:
        a text of :data:`MIN_SPLIT_CHARS` or more is then asked for again in two (at
        sentence boundaries, sometimes three) overlapping parts, each of which may
        still get one warmer retry; a shorter one gets that retry itself.
        """
        messages = self.messages_for(
            text, published=published, doc_id=doc_id, chunk_index=index, chunk_count=count
        )
        splittable = may_split and len(text) >= MIN_SPLIT_CHARS
        try:
            asked = [await self._ask(messages, context, usage, retry_cut_off=not splittable)]
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
                    doc_id=doc_id,
                    context=context,
                    published=published,
                    usage=usage,
                    notes=notes,
                    may_split=False,
                )
            return parts
        return asked

    def messages_for(
        self,
        text: str,
        *,
        published: date | None = None,
        doc_id: str = "doc",
        chunk_index: int = 0,
        chunk_count: int = 1,
    ) -> list[dict[str, str]]:
        """The chat messages this extractor sends for one (cleaned) chunk of text."""
        return self.prompt.render(
            text=text,
            published=published.isoformat() if published else None,
            doc_id=doc_id,
            schema_name=self.schema.__name__,
            schema_outline=self._outline,
            schema_json=self._schema_json,
            chunk_index=chunk_index,
            chunk_count=chunk_count,
        )

    async def _ask(
        self,
        messages: list[dict[str, str]],
        context: DocumentContext,
        usage: Usage,
        *,
        retry_cut_off: bool = True,
        model: type[BaseModel] | None = None,
        pass_index: int = 0,
        max_tokens: int | None = None,
    ) -> tuple[Any, bool]:
        """One answer of ``model`` (default: the schema), from the cache or the endpoint,
        and whether it came from the cache."""
        response_model = model if model is not None else self._response_model
        fingerprint = self._schema_fingerprint if model is None else schema_fingerprint(model)
        if self._client is None and self._replays_locally:
            endpoint, params = self._planned_endpoint()  # a server only on a miss
        else:
            client = await self._ensure_client()
            endpoint, params = client.endpoint, client.request_params()
        key = cache_key(
            {
                "format": _CACHE_FORMAT,
                "model": endpoint.model,
                "endpoint": endpoint.identity,
                "mode": endpoint.mode.value,
                "messages": messages,
                "schema": fingerprint,
                "prompt": [self.prompt.name, self.prompt.version, self.prompt.fingerprint],
                "params": params,
                **({"pass": pass_index, "temperature": PASS_TEMPERATURE} if pass_index else {}),
                **({"max_tokens": max_tokens} if max_tokens is not None else {}),
            }
        )
        validation_context = {"llmx": context}
        hit = self.cache.get(key)
        if hit is not None and hit.cut_off:
            if not retry_cut_off:  # else: a caller that retries asks again
                context.note("answer cut off at max_tokens in an earlier run (cached)")
                raise TruncatedAnswerError(
                    "the model's answer was cut off at max_tokens in an earlier run (cached)",
                    max_tokens=self.settings.max_tokens,
                )
        elif hit is not None:
            mark = len(context.notes)
            try:
                record = response_model.model_validate_json(hit.content, context=validation_context)
                return record, True
            except ValidationError:
                del context.notes[mark:]  # stale entry for a changed schema: ask again
        client = await self._ensure_client()
        spent = Usage()
        try:
            record, content = await client.extract(
                messages,
                response_model,
                context=validation_context,
                usage=spent,
                notes=context.notes,
                retry_cut_off=retry_cut_off,
                temperature=PASS_TEMPERATURE if pass_index else None,
                max_tokens=max_tokens,
            )
        except TruncatedAnswerError:
            if not retry_cut_off:  # the caller asks for parts of the text instead
                self.cache.set(
                    key,
                    CachedAnswer(
                        content="",
                        prompt_tokens=spent.prompt_tokens,
                        completion_tokens=spent.completion_tokens,
                        cut_off=True,
                    ),
                )
            raise
        finally:
            usage.add(spent)
        self.cache.set(
            key,
            CachedAnswer(
                content=content,
                prompt_tokens=spent.prompt_tokens,
                completion_tokens=spent.completion_tokens,
            ),
        )
        return record, False

    def _apply_grounding_policy(
        self, record: M, grounding: list[GroundingInfo], notes: list[str]
    ) -> M:
        policy = self.settings.ungrounded
        missing = [g for g in grounding if not g.grounded]
        if not missing or policy == "keep":
            return record
        if policy == "flag":
            notes.extend(f"{g.path}: {g.problem}" for g in missing)
            return record
        notes.extend(f"{g.path}: dropped, {g.problem}" for g in missing)
        return drop_paths(record, [g.path for g in missing])


_PATH_STEP = re.compile(r"([A-Za-z_]\w*)(?:\[(\d+)\])?")


def drop_paths(record: M, paths: list[str]) -> M:
    """Return a copy of ``record`` without the list items named by ``paths``.

    Paths look like ``projects[2]`` or ``a.b[0]`` (as produced by grounding).
    """
    data = record.model_dump()
    targets: dict[tuple[str, ...], set[int]] = {}
    for path in paths:
        steps = [m.groups() for m in _PATH_STEP.finditer(path)]
        if not steps or steps[-1][1] is None:
            continue
        prefix = tuple(f"{n}[{i}]" if i is not None else n for n, i in steps[:-1])
        targets.setdefault((*prefix, steps[-1][0]), set()).add(int(steps[-1][1]))
    for route, indices in targets.items():
        node: Any = data
        for step in route[:-1]:
            m = _PATH_STEP.fullmatch(step)
            assert m is not None
            node = node[m.group(1)]
            if m.group(2) is not None:
                node = node[int(m.group(2))]
        items = node[route[-1]]
        node[route[-1]] = [item for i, item in enumerate(items) if i not in indices]
    return type(record).model_validate(data)


def _same_item(a: dict[str, Any], b: dict[str, Any], rules: NameRules) -> bool:
    """Whether two passes built the same raw item: same evidence and, where they have
    one, names that agree (under the item model's name ``rules``)."""
    if a.get("evidence") != b.get("evidence"):
        return False
    na, nb = a.get("name"), b.get("name")
    if isinstance(na, str) and isinstance(nb, str):
        return name_similarity(na, nb, rules) >= 0.8
    return True


def _confidence_paths(
    record: BaseModel, parts: list[Any], by_part: dict[int, float]
) -> dict[str, float]:
    """Confidence per list item path of the merged ``record``: the highest of the parts
    (single-item records) that hold an equal item or were merged into it."""
    out: dict[str, float] = {}
    for name in type(record).model_fields:
        items = getattr(record, name)
        if not isinstance(items, list):
            continue
        evidence = {id(p): getattr(p, name)[0] for p in parts if getattr(p, name, None)}
        for index, item in enumerate(items):
            scores = [
                by_part.get(pid, 1.0)
                for pid, part_item in evidence.items()
                if part_item == item or same_item(part_item, item)
            ]
            if scores:
                out[f"{name}[{index}]"] = max(scores)
    return out


def _strategy(wanted: str, reader: CandidateReader | None) -> str:
    """The strategy a run uses: ``auto`` is ``candidates`` where the schema has a reader."""
    if wanted == "auto":
        return "candidates" if reader is not None else "chunks"
    if wanted == "candidates" and reader is None:
        raise ConfigError(
            "the candidates strategy needs a schema with a candidate reader "
            "(__llmx_reader__); use --strategy chunks or document"
        )
    return wanted


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


__all__ = ["CleanText", "Extractor", "aextract", "drop_paths", "extract"]
