"""OpenAI-compatible endpoints: profiles, structured-output modes, retries.

A *profile* describes a family of servers (OpenAI, DeepSeek, llama.cpp, vLLM,
Ollama, generic) and which structured-output *modes* they support. The mode
decides how instructor asks for JSON:

``tools``               a forced function call (instructor ``TOOLS``)
``json_schema``         ``response_format={"type": "json_schema", ...}`` (OpenAI
                        structured outputs, vLLM, Ollama)
``json_object_schema``  ``response_format={"type": "json_object", "schema": ...}``:
                        grammar-constrained JSON on the llama-cpp-python server,
                        which answers HTTP 500 to ``json_schema``
``json``                ``json_object`` with the schema described in the prompt
``md_json``             a fenced JSON block in plain text: works anywhere

Transient failures (429 honouring ``Retry-After``, 5xx, timeouts, dropped
connections) are retried with jittered exponential back-off; other 4xx are not.
Answers that fail validation are re-asked with the error by instructor (through
:mod:`llmx._endpoints._instructor`, the one module that touches it), bounded by
``max_reasks``.
Retries and re-asks draw on one budget: a call sends at most ``max_requests_per_call``
requests (default ``1 + max_retries + max_reasks``), whatever mix of failures it meets.
Every request's tokens are counted, failed ones included.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlparse

import openai
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from llmx._config import Settings
from llmx._endpoints._instructor import (
    IncompleteOutputException,
    InstructorRetryException,
    StructuredClient,
    fast_response_model,
)
from llmx._errors import (
    ClientEndpointError,
    ConfigError,
    ExtractionError,
    TransientEndpointError,
    TruncatedAnswerError,
)
from llmx._ratelimit import RateLimiter, estimate_tokens
from llmx._types import Usage

M = TypeVar("M", bound=BaseModel)

#: sampling for the one retry after an answer was cut off at max_tokens (usually a
#: repetition loop): warmer, and penalising tokens already repeated
TRUNCATION_TEMPERATURE = 0.7
TRUNCATION_FREQUENCY_PENALTY = 0.5


class OutputMode(StrEnum):
    TOOLS = "tools"
    JSON_SCHEMA = "json_schema"
    JSON_OBJECT_SCHEMA = "json_object_schema"
    JSON = "json"
    MD_JSON = "md_json"


#: the instructor mode each output mode is asked in (``json_object_schema`` overrides the
#: ``response_format`` of ``json_schema``, see :meth:`EndpointClient.extract`)
_INSTRUCTOR_MODES = {
    OutputMode.TOOLS: "tools",
    OutputMode.JSON_SCHEMA: "json_schema",
    OutputMode.JSON_OBJECT_SCHEMA: "json_schema",
    OutputMode.JSON: "json",
    OutputMode.MD_JSON: "md_json",
}


@dataclass(frozen=True)
class Profile:
    """What a family of OpenAI-compatible servers can do."""

    name: str
    default_mode: OutputMode
    modes: frozenset[OutputMode]
    needs_api_key: bool = False
    default_model: str | None = None
    #: extra request body fields this server family wants
    extra_body: tuple[tuple[str, Any], ...] = ()


_ALL = frozenset(OutputMode)
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("openai", OutputMode.TOOLS, _ALL, needs_api_key=True, default_model="gpt-4o-mini"),
        Profile(
            "deepseek",
            OutputMode.TOOLS,
            frozenset({OutputMode.TOOLS, OutputMode.JSON, OutputMode.MD_JSON}),
            needs_api_key=True,
            default_model="deepseek-chat",
        ),
        Profile(
            "llama_cpp",
            OutputMode.JSON_OBJECT_SCHEMA,
            frozenset(
                {
                    OutputMode.TOOLS,
                    OutputMode.JSON_OBJECT_SCHEMA,
                    OutputMode.JSON,
                    OutputMode.MD_JSON,
                }
            ),
            default_model="local",
            # the server's default repeat penalty (1.1) can bend JSON keys and values
            extra_body=(("repeat_penalty", 1.0),),
        ),
        Profile("vllm", OutputMode.JSON_SCHEMA, _ALL),
        Profile("ollama", OutputMode.JSON_SCHEMA, _ALL),
        Profile("generic", OutputMode.MD_JSON, _ALL),
    )
}


def detect_profile(base_url: str | None) -> str:
    """Guess the profile from the endpoint URL; ``generic`` when nothing fits."""
    if base_url is None:
        return "openai"
    parsed = urlparse(base_url)
    host = (parsed.hostname or "").lower()
    if host.endswith("openai.com"):
        return "openai"
    if host.endswith("deepseek.com"):
        return "deepseek"
    if parsed.port == 11434:
        return "ollama"
    return "generic"


@cache
def grammar_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema handed to a grammar-constrained server (llama.cpp).

    Every property is made required (nullable ones still accept ``null``): a
    grammar puts required keys first and lets the model stop after them, and small
    models then skip every optional field. Computed once per schema.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            props = out.get("properties")
            if isinstance(props, dict) and out.get("type", "object") == "object":
                out["required"] = list(props)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema.model_json_schema())
    return result


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint: where to send requests and how to ask for JSON."""

    base_url: str | None
    model: str
    profile: Profile
    mode: OutputMode
    api_key: str | None = field(default=None, repr=False)
    identity_override: str | None = None

    @property
    def identity(self) -> str:
        """Stable identity for cache keys: the URL without credentials, never the key."""
        if self.identity_override:
            return self.identity_override
        parsed = urlparse(self.base_url or "https://api.openai.com/v1")
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{host}{port}{parsed.path.rstrip('/')}"

    @classmethod
    def from_settings(cls, settings: Settings, *, identity: str | None = None) -> Endpoint:
        name = settings.profile or detect_profile(settings.base_url)
        profile = PROFILES.get(name)
        if profile is None:
            raise ConfigError(
                f"unknown endpoint profile {name!r}", choices=", ".join(sorted(PROFILES))
            )
        try:
            mode = OutputMode(settings.mode) if settings.mode else profile.default_mode
        except ValueError as exc:
            raise ConfigError(
                f"unknown mode {settings.mode!r}", choices=", ".join(m.value for m in OutputMode)
            ) from exc
        if mode not in profile.modes:
            raise ConfigError(
                f"mode {mode.value} is not supported by the {profile.name} profile",
                supported=", ".join(sorted(m.value for m in profile.modes)),
            )
        model = settings.model or profile.default_model
        if model is None:
            raise ConfigError(
                "no model given: pass --model (or set LLMX_MODEL)", endpoint=settings.base_url
            )
        if profile.needs_api_key and not settings.api_key:
            raise ConfigError(
                "this endpoint needs an API key: set LLMX_API_KEY or OPENAI_API_KEY",
                profile=profile.name,
            )
        return cls(
            base_url=settings.base_url,
            model=model,
            profile=profile,
            mode=mode,
            api_key=settings.api_key,
            identity_override=identity,
        )


def _raw_content(completion: Any, mode: OutputMode) -> str:
    """The text of the model's answer, for an error report (JSON where it can be found)."""
    message = completion.choices[0].message
    if mode is OutputMode.TOOLS:
        return str(message.tool_calls[0].function.arguments)
    content = str(message.content or "")
    if mode is OutputMode.MD_JSON:
        fenced = re.search(r"```(?:json)?\s*(.*?)```", content, re.S)
        if fenced:
            return fenced.group(1).strip()
    return content


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` names this machine (``localhost``, ``127.x.x.x``, ``::1``)."""
    host = urlparse(base_url or "").hostname or ""
    return host in {"localhost", "::1"} or host.startswith("127.")


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` or ``retry-after-ms``)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())


class CutOffBodyError(Exception):
    """The endpoint's HTTP response ended before its JSON body did (a transport fault,
    retried like a dropped connection)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def connection_failure(exc: BaseException) -> str | None:
    """Why a request that the SDK reports as timed out could not connect at all.

    The SDK's aiohttp transport reports a refused connection (or an unknown host) as
    ``APITimeoutError``; the operating system's error in its causes tells what happened.
    """
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cause = todo.pop()
        if cause is None or any(cause is seen for seen in chain):
            continue
        chain.append(cause)
        # aiohttp keeps the operating system's error beside the chain, as ``os_error``
        todo += [cause.__cause__, cause.__context__, getattr(cause, "os_error", None)]
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused ({cause.strerror or cause})"
    for cause in chain:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return cause.strerror or str(cause)
    return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError | CutOffBodyError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _unwrap(exc: BaseException) -> BaseException:
    """instructor wraps API errors raised inside its re-ask loop; find the original."""
    cause = exc.__cause__
    if isinstance(exc, InstructorRetryException) and isinstance(
        cause, openai.APIError | IncompleteOutputException | CutOffBodyError
    ):
        return cause
    return exc


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
            self._openai, self._send, _INSTRUCTOR_MODES[endpoint.mode]
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
        exc = _unwrap(raw) if raw is not None else None
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
                notes.append(f"re-asked after an invalid answer: {_describe(error)}")

        body: dict[str, Any] = dict(self.endpoint.profile.extra_body)
        if self.endpoint.mode is OutputMode.JSON_OBJECT_SCHEMA:
            # instructor's JSON_SCHEMA mode sends type=json_schema; override it here
            body["response_format"] = {
                "type": "json_object",
                "schema": grammar_schema(schema),
            }
        extra: dict[str, Any] = {"extra_body": body} if body else {}
        truncated = 0
        call = _Call(usage)
        budget = self.settings.request_budget

        def worth_retrying(exc: BaseException) -> bool:
            # a cut-off answer is usually a repetition loop: ask once more, warmer
            cause = _unwrap(exc)
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
            raise self._map_error(_unwrap(exc), usage) from exc
        finally:
            _CALL.reset(accounting)
        return answer.record, answer.text

    def _map_error(self, exc: BaseException, usage: Usage) -> Exception:
        where = {"endpoint": self.endpoint.identity, "model": self.endpoint.model}
        error: Exception
        if isinstance(exc, openai.APIStatusError):
            detail = _error_detail(exc)
            if is_transient(exc):
                error = TransientEndpointError(
                    f"endpoint kept failing with HTTP {exc.status_code}: {detail}",
                    status=exc.status_code,
                    requests=usage.requests,
                    **where,
                )
            else:
                error = ClientEndpointError(
                    f"endpoint rejected the request with HTTP {exc.status_code}: {detail}",
                    status=exc.status_code,
                    **where,
                )
        elif isinstance(exc, openai.APITimeoutError) and connection_failure(exc) is None:
            error = TransientEndpointError(
                f"endpoint timed out after {self.settings.request_timeout:g}s",
                requests=usage.requests,
                **where,
            )
        elif isinstance(exc, openai.APITimeoutError):
            error = TransientEndpointError(
                f"cannot connect to the endpoint: {connection_failure(exc)}",
                requests=usage.requests,
                **where,
            )
        elif isinstance(exc, CutOffBodyError):
            error = TransientEndpointError(
                f"{exc.message} (after {usage.requests} tries)", requests=usage.requests, **where
            )
        elif isinstance(exc, openai.APIConnectionError):
            error = TransientEndpointError(
                f"connection to the endpoint failed: {exc}", requests=usage.requests, **where
            )
        elif isinstance(exc, IncompleteOutputException):
            error = TruncatedAnswerError(
                "the model's answer was cut off at max_tokens; raise --max-tokens",
                max_tokens=self.settings.max_tokens,
                **where,
            )
        elif isinstance(exc, InstructorRetryException):
            failed = list(getattr(exc, "failed_attempts", None) or [])
            last_error = failed[-1].exception if failed else exc.__cause__
            reason = _describe(last_error) if isinstance(last_error, Exception) else "unknown"
            completion = getattr(exc, "last_completion", None)
            if completion is None and failed:
                completion = failed[-1].completion
            attempts = getattr(exc, "n_attempts", None)
            asked = f"{attempts - 1} re-asks" if isinstance(attempts, int) else "re-asking"
            error = ExtractionError(
                f"the model's answer did not validate against the schema after {asked}: {reason}",
                attempts=attempts,
                last_answer=_last_answer(completion, self.endpoint.mode),
                **where,
            )
        else:
            error = ExtractionError(f"extraction failed: {exc!r}", **where)
        return error


def _describe(error: Exception) -> str:
    """One line saying why an answer was rejected."""
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
            for e in error.errors()[:3]
        ]
        more = error.error_count() - len(parts)
        return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else repr(error))[:300]


#: characters of the model's last invalid answer kept in an error report
LAST_ANSWER_CHARS = 500


def _last_answer(completion: Any, mode: OutputMode) -> str | None:
    """The start of the model's last answer, for the error report (None if unknown)."""
    if completion is None:
        return None
    try:
        raw = _raw_content(completion, mode)
    except (AttributeError, IndexError, TypeError):
        return None
    if len(raw) > LAST_ANSWER_CHARS:
        return raw[:LAST_ANSWER_CHARS] + f"… ({len(raw)} chars)"
    return raw


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        return json.dumps(body, ensure_ascii=False)[:300]
    return str(exc.message)[:300]
