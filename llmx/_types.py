"""Plain data types that travel between llmx's stages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from llmx._errors import LlmxError

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Document:
    """One input document as read, before decoding.

    ``data`` is raw bytes (from files) or text (from JSONL/stdin/API calls).
    ``meta`` carries caller-provided fields such as ``published`` (ISO date).
    ``error`` is set when the input could not even be read; such a document is
    never sent to a model but still ends in the error report. ``notes`` says what
    reading it changed (a doc_id given because another input held the natural one);
    they travel to the output line's notes.
    """

    doc_id: str
    source: str
    data: bytes | str
    meta: dict[str, Any] = field(default_factory=dict)
    error: LlmxError | None = None
    notes: tuple[str, ...] = ()

    @cached_property
    def content_sha256(self) -> str:
        """sha256 (hex) of the document as read: the raw bytes of a file or stdin, the
        UTF-8 bytes of a text given as a string (a JSONL ``text``, an API call).

        Resuming a run compares it with the ``content_sha256`` of the output line of the
        same doc_id: a document counts as done only when the same content was done.
        """
        data = (
            self.data.encode("utf-8", "surrogatepass") if isinstance(self.data, str) else self.data
        )
        return hashlib.sha256(data).hexdigest()

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
    offsets into the decoded source text, end exclusive. ``checks`` says, per key value
    and amount span, whether it appears inside the record's own evidence. ``injection``
    is set when the evidence reads like an instruction to the model (``忽略以上所有指令``,
    "ignore previous instructions"): text that was put in the page for the model, not a
    fact the page reports.
    """

    path: str
    status: str
    start: int | None = None
    end: int | None = None
    score: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    injection: bool = False

    @property
    def problem(self) -> str | None:
        """Why the record is not grounded, or ``None`` when it is: its evidence is not in
        the source, an amount is not inside its evidence, or the evidence is an injected
        instruction. (Names and regions outside the evidence are reported in
        ``checks`` but do not make a record ungrounded.)"""
        if self.status == "not_found":
            return "evidence not found in the source"
        if self.injection:
            return "evidence reads like an instruction to the model (prompt injection)"
        outside = [k for k, ok in self.checks.items() if k.endswith(".text") and not ok]
        if outside:
            return f"{', '.join(k.removesuffix('.text') for k in outside)} not in its evidence"
        return None

    @property
    def grounded(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "checks": dict(self.checks),
            "injection": self.injection,
            "grounded": self.grounded,
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
    #: the input's own fields besides id and text (a JSONL line's url, title, published ...)
    meta: dict[str, Any] = field(default_factory=dict)
    #: :attr:`Document.content_sha256` of the input (``None`` when not known)
    content_sha256: str | None = None

    @classmethod
    def for_document(cls, doc: Document, error: LlmxError | None = None) -> Result[Any]:
        """A result of ``doc`` with its id, source, metadata, content hash and notes."""
        return cls(
            doc_id=doc.doc_id,
            source=doc.source,
            error=error,
            meta=dict(doc.meta),
            content_sha256=doc.content_sha256,
            notes=list(doc.notes),
        )

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
            "meta": _jsonable_meta(self.meta),
            "content_sha256": self.content_sha256,
        }
        if self.confidence is not None:
            line["confidence"] = {k: round(v, 3) for k, v in self.confidence.items()}
        return line


def _jsonable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` for a JSON line: JSON values as they are, anything else as its ``str``."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None or isinstance(value, str | int | float | bool | list | dict):
            out[str(key)] = value
        else:
            out[str(key)] = str(value)
    return out
