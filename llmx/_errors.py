"""The llmx exception tree.

Every error llmx raises on purpose is an :class:`LlmxError`. Each carries a
human-readable message plus ``context``: a dict of the facts a user needs to act
on it (the document id, the endpoint, the HTTP status, the file path ...).
Secrets never enter ``context``.
"""

from __future__ import annotations

from typing import Any


class LlmxError(Exception):
    """Base class of every error llmx raises deliberately."""

    #: short machine-readable kind, written to error reports
    kind: str = "error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({details})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``{"kind", "message", **context}``."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        for key, value in self.context.items():
            out[key] = value if isinstance(value, str | int | float | bool) else str(value)
        return out


class ConfigError(LlmxError):
    """Settings are missing, contradictory or malformed."""

    kind = "config"


class InputError(LlmxError):
    """An input document cannot be read or decoded (empty, binary, too large ...)."""

    kind = "input"


class SchemaError(LlmxError):
    """A schema cannot be found, loaded, or is not a Pydantic model."""

    kind = "schema"


class PromptError(LlmxError):
    """A prompt template cannot be found or rendered."""

    kind = "prompt"


class EndpointError(LlmxError):
    """The model endpoint failed in a way retries did not fix."""

    kind = "endpoint"


class TransientEndpointError(EndpointError):
    """429, 5xx, timeouts, dropped connections: worth retrying."""

    kind = "endpoint_transient"


class ClientEndpointError(EndpointError):
    """A 4xx answer other than 429: the request itself is wrong; never retried."""

    kind = "endpoint_client"


class ExtractionError(LlmxError):
    """The model's answers never validated against the schema within the re-ask bound."""

    kind = "validation"


class TruncatedAnswerError(ExtractionError):
    """The model's answer was cut off at ``max_tokens`` (usually a repetition loop)."""


class CacheError(LlmxError):
    """The response cache cannot be opened or written."""

    kind = "cache"


class LocalModelError(LlmxError):
    """The bundled local model server cannot be set up, started or reached."""

    kind = "local"


class EvalError(LlmxError):
    """Fixtures, predictions or baselines for an evaluation are malformed."""

    kind = "eval"


class BaselineRegression(EvalError):
    """Scores dropped below the baseline by more than the tolerance."""

    kind = "regression"
