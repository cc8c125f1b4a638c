"""Plain data types that travel between llmx's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from llmx.errors import LlmxError

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Document:
    """One input document as read, before decoding.

    ``data`` is raw bytes (from files) or text (from JSONL/stdin/API calls).
    ``meta`` carries caller-provided fields such as ``published`` (ISO date).
    ``error`` is set when the input could not even be read; such a document is
    never sent to a model but still ends in the error report.
    """

    doc_id: str
    source: str
    data: bytes | str
    meta: dict[str, Any] = field(default_factory=dict)
    error: LlmxError | None = None

    @property
    def published(self) -> date | None:
        value = self.meta.get("published")
        if isinstance(value, date):
            return value
        if isinstance(value, str) and value:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return None
        return None


@dataclass
class Usage:
    """Token and request accounting; failed attempts count too."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class GroundingInfo:
    """Where one record's evidence was found in the source document.

    ``path`` points at the record inside the output, e.g. ``projects[0]``.
    ``status`` is ``exact``, ``fuzzy`` or ``not_found``; offsets are character
    offsets into the decoded source text, end exclusive.
    """

    path: str
    status: str
    start: int | None = None
    end: int | None = None
    score: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "checks": dict(self.checks),
        }


@dataclass
class Result(Generic[T]):
    """The outcome of extracting one document."""

    doc_id: str
    source: str
    record: T | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    attempts: int = 0
    error: LlmxError | None = None
    grounding: list[GroundingInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cost_usd: float | None = None
    #: with ``passes`` > 1: per record path (``projects[0]``), the share of passes whose
    #: answer gave that record
    confidence: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.record is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL line ``llmx run`` writes for this document."""
        line = {
            "doc_id": self.doc_id,
            "source": self.source,
            "record": self.record.model_dump(mode="json") if self.record is not None else None,
            "usage": self.usage.to_dict(),
            "cached": self.cached,
            "attempts": self.attempts,
            "error": self.error.to_dict() if self.error is not None else None,
            "grounding": [g.to_dict() for g in self.grounding],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 8),
        }
        if self.confidence is not None:
            line["confidence"] = {k: round(v, 3) for k, v in self.confidence.items()}
        return line
