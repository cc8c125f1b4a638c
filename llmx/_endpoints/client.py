"""Sending extraction requests to one endpoint: retries, re-asks and the request budget.

:class:`EndpointClient` sends through the openai SDK (its own retries off) and lets
instructor shape each request for the endpoint's mode, parse the answer and re-ask
(through :mod:`llmx._endpoints._instructor`, the one module that touches instructor).

Transient failures (429 honouring ``Retry-After``, 5xx, timeouts, dropped
connections; :func:`llmx._endpoints.errors.is_transient`) are retried with jittered
exponential back-off; other 4xx are not. Answers that fail validation are re-asked with
the error, bounded by ``max_reasks``. Retries and re-asks draw on one budget: a call
sends at most ``max_requests_per_call`` requests (default ``1 + max_retries +
max_reasks``), whatever mix of failures it meets. Every request's tokens are counted,
failed ones included.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from llmx._config import Settings
from llmx._endpoints._instructor import (
    IncompleteOutputException,
    StructuredClient,
    fast_response_model,
)
from llmx._endpoints.errors import (
    CutOffBodyError,
    describe_rejection,
    is_transient,
    retry_after_seconds,
    to_llmx_error,
    unwrap,
)
from llmx._endpoints.profiles import (
    INSTRUCTOR_MODES,
    Endpoint,
    OutputMode,
    grammar_schema,
    is_loopback,
    json_object_response_format,
)
from llmx._ratelimit import RateLimiter, estimate_tokens
from llmx._types import Usage

M = TypeVar("M", bound=BaseModel)

#: sampling for the one retry after an answer was cut off at max_tokens (usually a
#: repetition loop): warmer, and penalising tokens already repeated
TRUNCATION_TEMPERATURE = 0.7
TRUNCATION_FREQUENCY_PENALTY = 0.5


def _http_client(kind: str, *, loopback: bool) -> Any:
    """The SDK's HTTP client: aiohttp (default) or httpx, with the SDK's own defaults.

    aiohttp is the transport the openai SDK recommends for many concurrent requests: about
    0.5 ms less CPU per request than httpx. A proxy from the environment must not capture
    loopback traffic (a local server), so ``trust_env`` is off for loopback endpoints.
    """
    factory = openai.DefaultAioHttpClient if kind == "aiohttp" else openai.DefaultAsyncHttpxClient
    return factory(trust_env=not loopback)


@dataclass
class _Call:
    """The :meth:`EndpointClient.extract` call in progress in this task:
    :meth:`EndpointClient._send` counts every request into it and adds its tokens to
    ``usage``."""

    usage: Usage
    requests: int = 0


_CALL: ContextVar[_Call | None] = ContextVar("llmx_endpoint_call", default=None)

#: ``create`` arguments the SDK acts on itself; the rest travel as ``extra_body``
#: (see :meth:`EndpointClient._send`)
_SDK_ARGS = frozenset({"model", "stream", "timeout", "extra_headers", "extra_query", "extra_body"})


def request_params(settings: Settings) -> dict[str, Any]:
    """Generation parameters that shape the answer (they enter the cache key)."""
    params: dict[str, Any] = {"temperature": settings.temperature}
    if settings.max_tokens is not None:
        params["max_tokens"] = settings.max_tokens
    if settings.seed is not None:
        params["seed"] = settings.seed
    return params


class EndpointClient:
    """Sends extraction requests to one endpoint with retries and accounting."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        on_rate_limited: Callable[[float | None], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.limiter = limiter
        self.on_rate_limited = on_rate_limited
        self._openai = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "not-needed",
            max_retries=0,
            timeout=settings.request_timeout,
            http_client=_http_client(settings.http_client, loopback=is_loopback(endpoint.base_url)),
        )
        self._structured = StructuredClient(
            self._openai, self._send, INSTRUCTOR_MODES[endpoint.mode]
        )

    async def _send(self, **kwargs: Any) -> Any:
        """POST one chat completion for instructor, the request body as ``extra_body``.

        ``chat.completions.create`` walks every parameter through the SDK's TypedDict
        transform, the tool's whole JSON schema included: about 1 ms of CPU per call
        that changes nothing in a chat request. Passed as ``extra_body`` (merged over
        the body, so the server gets the same JSON) they skip the walk; only what the
        SDK itself acts on (model, stream, timeout, headers, query) goes the usual way.
        Every request and its tokens are added to the calling :meth:`extract`'s usage.
        """
        body = {key: kwargs.pop(key) for key in list(kwargs) if key not in _SDK_ARGS}
        body.update(kwargs.pop("extra_body", None) or {})
        call = _CALL.get()
        usage = call.usage if call is not None else None
        if call is not None:
            call.requests += 1
            call.usage.requests += 1  # counted before sending: failed requests count too
        try:
            completion = await self._openai.chat.completions.create(
                messages=[], extra_body=body or None, **kwargs
            )
        except json.JSONDecodeError as exc:
            # the SDK could not parse the HTTP body: it was cut off on the way, a transport
            # fault to retry, not an answer to re-ask (instructor re-asks JSON errors)
            raise CutOffBodyError(
                f"the endpoint's response body was cut off or is not JSON: {exc}"
            ) from exc
        if usage is not None and completion.usage is not None:
            usage.prompt_tokens += completion.usage.prompt_tokens or 0
            usage.completion_tokens += completion.usage.completion_tokens or 0
        return completion

    async def aclose(self) -> None:
        await self._openai.close()

    def request_params(self) -> dict[str, Any]:
        """Generation parameters that shape the answer (they enter the cache key)."""
        return request_params(self.settings)

    def _wait(self, state: RetryCallState) -> float:
        """Jittered exponential back-off; a server's ``Retry-After`` wins when given."""
        raw = state.outcome.exception() if state.outcome else None
        exc = unwrap(raw) if raw is not None else None
        base = self.settings.backoff_initial * (2 ** (state.attempt_number - 1))
        delay: float = min(self.settings.backoff_max, base) * (0.5 + random.random() / 2)
        if exc is not None:
            asked = retry_after_seconds(exc)
            if isinstance(exc, openai.RateLimitError):
                if self.on_rate_limited is not None:
                    self.on_rate_limited(asked)
                if self.limiter is not None:
                    self.limiter.on_rate_limited(asked)
            if asked is not None:
                delay = asked + random.random() * min(1.0, self.settings.backoff_initial)
        return delay

    async def extract(
        self,
        messages: list[dict[str, str]],
        schema: type[M],
        *,
        context: dict[str, Any] | None = None,
        usage: Usage | None = None,
        notes: list[str] | None = None,
        retry_cut_off: bool = True,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> tuple[M, str]:
        """Ask for one record of ``schema``; returns it and the raw JSON it came from.

        Every request's tokens are added to ``usage`` as they happen, so a caller
        sees what failed attempts cost too; why an answer was re-asked goes to
        ``notes``. An answer cut off at ``max_tokens`` is asked once more, warmer,
        unless ``retry_cut_off`` is false (the caller has a better plan, such as asking
        for a shorter text). ``temperature`` and ``max_tokens`` override the settings'
        for this call.
        Raises :class:`TransientEndpointError`,
        :class:`ClientEndpointError` or :class:`ExtractionError`
        (:class:`TruncatedAnswerError` for a cut-off answer).
        """
        usage = usage if usage is not None else Usage()
        response_model = fast_response_model(schema)

        def on_reask(error: Exception) -> None:
            if notes is not None:
                notes.append(f"re-asked after an invalid answer: {describe_rejection(error)}")

        body: dict[str, Any] = dict(self.endpoint.profile.extra_body)
        if self.endpoint.mode is OutputMode.JSON_OBJECT_SCHEMA:
            # instructor's JSON_SCHEMA mode sends type=json_schema; override it here
            body["response_format"] = json_object_response_format(grammar_schema(schema))
        extra: dict[str, Any] = {"extra_body": body} if body else {}
        truncated = 0
        call = _Call(usage)
        budget = self.settings.request_budget

        def worth_retrying(exc: BaseException) -> bool:
            # a cut-off answer is usually a repetition loop: ask once more, warmer
            cause = unwrap(exc)
            return is_transient(cause) or (
                retry_cut_off and isinstance(cause, IncompleteOutputException) and truncated == 1
            )

        def stop(state: RetryCallState) -> bool:
            return state.attempt_number > self.settings.max_retries or call.requests >= budget

        retrying = AsyncRetrying(
            retry=retry_if_exception(worth_retrying),
            stop=stop,
            wait=self._wait,
            reraise=True,
        )
        estimate = 0
        if self.limiter is not None:
            text = "".join(m["content"] for m in messages)
            estimate = estimate_tokens(text, self.settings.max_tokens or 0)
        accounting = _CALL.set(call)  # _send counts each request into it
        try:
            async for attempt in retrying:
                with attempt:
                    reserved = await self.limiter.acquire(estimate) if self.limiter else 0
                    before = usage.total_tokens
                    params = self.request_params()
                    if temperature is not None:
                        params["temperature"] = temperature
                    if max_tokens is not None:
                        params["max_tokens"] = max_tokens
                    if truncated:
                        params["temperature"] = max(params["temperature"], TRUNCATION_TEMPERATURE)
                        params["frequency_penalty"] = TRUNCATION_FREQUENCY_PENALTY
                    try:
                        answer = await self._structured.create(
                            model=self.endpoint.model,
                            messages=messages,
                            response_model=response_model,
                            # re-asks draw on the same budget as retries
                            max_reasks=min(self.settings.max_reasks, budget - call.requests - 1),
                            context=context,
                            on_reask=on_reask,
                            params={**params, **extra},
                        )
                    except IncompleteOutputException:
                        truncated += 1
                        if notes is not None:
                            notes.append(
                                "answer cut off at max_tokens (a repetition loop?)"
                                + (
                                    "; asked again at a higher temperature"
                                    if truncated == 1 and retry_cut_off and call.requests < budget
                                    else ""
                                )
                            )
                        if self.limiter is not None:
                            self.limiter.record(
                                usage.total_tokens - before, reserved, success=False
                            )
                        raise
                    except BaseException:
                        if self.limiter is not None:
                            self.limiter.record(
                                usage.total_tokens - before, reserved, success=False
                            )
                        raise
                    if self.limiter is not None:
                        self.limiter.record(usage.total_tokens - before, reserved)
        except Exception as exc:
            raise to_llmx_error(
                unwrap(exc), self.endpoint, self.settings, requests=usage.requests
            ) from exc
        finally:
            _CALL.reset(accounting)
        return answer.record, answer.text
