"""What an endpoint's failure means: worth retrying or not, how long the server asked us
to wait, and the llmx error it becomes.

The openai SDK reports HTTP and transport failures; instructor wraps the ones met inside
its re-ask loop (:func:`unwrap` finds the original). :func:`is_transient` decides what
:class:`~llmx._endpoints.client.EndpointClient` retries; :func:`to_llmx_error` turns what
is left, after retries and re-asks, into an :mod:`llmx._errors` error with the endpoint,
the model and what the model last answered.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

import openai
from pydantic import ValidationError

from llmx._config import Settings
from llmx._endpoints._instructor import IncompleteOutputException, InstructorRetryException
from llmx._endpoints.profiles import Endpoint, OutputMode
from llmx._errors import (
    ClientEndpointError,
    ExtractionError,
    TransientEndpointError,
    TruncatedAnswerError,
)

#: characters of the model's last invalid answer kept in an error report
LAST_ANSWER_CHARS = 500


class CutOffBodyError(Exception):
    """The endpoint's HTTP response ended before its JSON body did (a transport fault,
    retried like a dropped connection)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request is worth sending again: a connection failure or timeout,
    a cut-off body, HTTP 408, 409, 429 or 5xx."""
    if isinstance(exc, openai.APIConnectionError | CutOffBodyError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def unwrap(exc: BaseException) -> BaseException:
    """instructor wraps API errors raised inside its re-ask loop; find the original."""
    cause = exc.__cause__
    if isinstance(exc, InstructorRetryException) and isinstance(
        cause, openai.APIError | IncompleteOutputException | CutOffBodyError
    ):
        return cause
    return exc


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


def describe_rejection(error: Exception) -> str:
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


def to_llmx_error(
    exc: BaseException, endpoint: Endpoint, settings: Settings, *, requests: int
) -> Exception:
    """The llmx error for ``exc`` (already :func:`unwrap`-ped), the last failure of a call
    that sent ``requests`` requests to ``endpoint``."""
    where = {"endpoint": endpoint.identity, "model": endpoint.model}
    error: Exception
    if isinstance(exc, openai.APIStatusError):
        detail = _error_detail(exc)
        if is_transient(exc):
            error = TransientEndpointError(
                f"endpoint kept failing with HTTP {exc.status_code}: {detail}",
                status=exc.status_code,
                requests=requests,
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
            f"endpoint timed out after {settings.request_timeout:g}s",
            requests=requests,
            **where,
        )
    elif isinstance(exc, openai.APITimeoutError):
        error = TransientEndpointError(
            f"cannot connect to the endpoint: {connection_failure(exc)}",
            requests=requests,
            **where,
        )
    elif isinstance(exc, CutOffBodyError):
        error = TransientEndpointError(
            f"{exc.message} (after {requests} tries)", requests=requests, **where
        )
    elif isinstance(exc, openai.APIConnectionError):
        error = TransientEndpointError(
            f"connection to the endpoint failed: {exc}", requests=requests, **where
        )
    elif isinstance(exc, IncompleteOutputException):
        error = TruncatedAnswerError(
            "the model's answer was cut off at max_tokens; raise --max-tokens",
            max_tokens=settings.max_tokens,
            **where,
        )
    elif isinstance(exc, InstructorRetryException):
        failed = list(getattr(exc, "failed_attempts", None) or [])
        last_error = failed[-1].exception if failed else exc.__cause__
        reason = describe_rejection(last_error) if isinstance(last_error, Exception) else "unknown"
        completion = getattr(exc, "last_completion", None)
        if completion is None and failed:
            completion = failed[-1].completion
        attempts = getattr(exc, "n_attempts", None)
        asked = f"{attempts - 1} re-asks" if isinstance(attempts, int) else "re-asking"
        error = ExtractionError(
            f"the model's answer did not validate against the schema after {asked}: {reason}",
            attempts=attempts,
            last_answer=_last_answer(completion, endpoint.mode),
            **where,
        )
    else:
        error = ExtractionError(f"extraction failed: {exc!r}", **where)
    return error


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
