"""One question to the model, through the response cache.

:class:`ModelRequests` owns what a request needs besides its messages: the endpoint
client (made at the first request that needs it, starting the local model server when
the settings name the local model), the response cache, and the cache key that names a
request. A key covers everything that shapes the answer: the endpoint and model, the
messages, the answer's schema, the identity of the prompt sent and the generation
parameters. Replaying a recording on the local model starts no server: keys are made
from the endpoint the server would have, and a server starts at the first miss.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ValidationError

from llmx._cache import CachedAnswer, ResponseCache, cache_key
from llmx._config import Settings
from llmx._endpoints.client import EndpointClient, request_params
from llmx._endpoints.profiles import Endpoint
from llmx._errors import TruncatedAnswerError
from llmx._prompts import Prompt
from llmx._ratelimit import RateLimiter
from llmx._types import Usage
from llmx.normalize._context import DocumentContext

#: version of the cache key's layout; a change re-keys every request
CACHE_FORMAT = 1
#: sampling temperature of the passes after the first (``passes`` > 1)
PASS_TEMPERATURE = 0.7


class ModelRequests:
    """The endpoint client and the response cache of one extractor."""

    def __init__(self, settings: Settings, prompt: Prompt, *, chunk_chars: int) -> None:
        self.settings = settings
        #: the prompt the strategy renders its messages with: its identity is part of
        #: every key (a new version asks again even where the text came out the same)
        self.prompt = prompt
        #: the largest text a request holds, for the local server's context size
        self.chunk_chars = chunk_chars
        self.cache = ResponseCache(
            settings.resolved_cache_dir,
            enabled=settings.cache,
            refresh=settings.refresh,
            replay=settings.replay,
            record=settings.record,
        )
        #: shared request/token budget; set before the client is made
        self.limiter: RateLimiter | None = None
        self._client: EndpointClient | None = None
        self._planned: tuple[Endpoint, dict[str, Any]] | None = None
        self._local: Any = None
        self._client_lock = asyncio.Lock()

    async def start(self) -> Endpoint:
        """Resolve the endpoint now (see :meth:`llmx.Extractor.start`)."""
        if self._client is None and self._replays_locally:
            return self._planned_endpoint()[0]
        return (await self._ensure_client()).endpoint

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint requests go to, once known."""
        if self._client is None and self._planned is not None:
            return self._planned[0]
        return self._client.endpoint if self._client is not None else None

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

    async def ask(
        self,
        messages: list[dict[str, str]],
        context: DocumentContext,
        usage: Usage,
        *,
        answer_model: type[BaseModel],
        fingerprint: str,
        retry_cut_off: bool = True,
        pass_index: int = 0,
        max_tokens: int | None = None,
    ) -> tuple[Any, bool]:
        """One answer of ``answer_model`` (whose schema ``fingerprint`` enters the key),
        from the cache or the endpoint, and whether it came from the cache.

        An answer cut off at max_tokens raises :class:`TruncatedAnswerError`. With
        ``retry_cut_off`` the client first retries once warmer; without, the caller asks
        for smaller parts instead, and the cut-off is cached so that a later run does
        not ask again. Passes after the first (``pass_index`` > 0) are asked at
        :data:`PASS_TEMPERATURE`, each its own cache entry.
        """
        if self._client is None and self._replays_locally:
            endpoint, params = self._planned_endpoint()  # a server only on a miss
        else:
            client = await self._ensure_client()
            endpoint, params = client.endpoint, client.request_params()
        key = cache_key(
            {
                "format": CACHE_FORMAT,
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
                answer = answer_model.model_validate_json(hit.content, context=validation_context)
                return answer, True
            except ValidationError:
                del context.notes[mark:]  # stale entry for a changed schema: ask again
        client = await self._ensure_client()
        spent = Usage()
        try:
            answer, content = await client.extract(
                messages,
                answer_model,
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
        return answer, False

    async def aclose(self) -> None:
        """Close the client, stop a local model server this started, close the cache."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
            self._local = None
        self.cache.close()


__all__ = ["CACHE_FORMAT", "PASS_TEMPERATURE", "ModelRequests"]
