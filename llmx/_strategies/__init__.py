"""How one cleaned document is read: the strategies.

A strategy turns a document's cleaned text into records of the schema, one request at
a time through :class:`~llmx._requests.ModelRequests`; the extractor then merges them,
grounds them and applies the grounding policy.

* ``document`` and ``chunks`` (:mod:`llmx._strategies.chunks`): the schema itself asked
  for the whole text, or for each window of it;
* ``candidates`` (:mod:`llmx._strategies.candidates`): code finds the places that may
  hold a record (the schema's :class:`~llmx._candidates.CandidateReader`), the model
  answers a short question about a group of them per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from llmx._candidates import CandidateReader
from llmx._errors import ConfigError
from llmx._types import Usage
from llmx.normalize._context import DocumentContext

M = TypeVar("M", bound=BaseModel)


@dataclass
class Reading(Generic[M]):
    """What a strategy read in one document."""

    #: records of the schema, each usually one list item, in reading order (not merged)
    records: list[M] = field(default_factory=list)
    #: whether every answer came from the cache
    cached: bool = True
    #: with ``passes`` > 1: ``id`` of a record -> the share of passes that agree on it
    agreement: dict[int, float] = field(default_factory=dict)


class Strategy(Protocol[M]):
    """Reads the records of one document."""

    async def read(
        self, doc_id: str, context: DocumentContext, usage: Usage, notes: list[str]
    ) -> Reading[M]:
        """The records of the cleaned text ``context.text``; the requests' tokens go to
        ``usage``, what happened on the way to ``notes`` (also when it raises)."""
        ...


def choose_strategy(wanted: str, reader: CandidateReader | None) -> str:
    """The strategy a run uses: ``auto`` is ``candidates`` where the schema has a reader."""
    if wanted == "auto":
        return "candidates" if reader is not None else "chunks"
    if wanted == "candidates" and reader is None:
        raise ConfigError(
            "the candidates strategy needs a schema with a candidate reader "
            "(__llmx_reader__); use --strategy chunks or document"
        )
    return wanted


__all__ = ["Reading", "Strategy", "choose_strategy"]
