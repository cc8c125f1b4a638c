"""Candidates: the places in a document that may hold a record, found in code.

A small model asked for every record of a whole article lists one or two and stops.
The ``candidates`` strategy turns that around: code finds each place that may hold a
record (a sentence with an investment amount, a project count, a stage verb...), the
model answers a short question about each one, and code computes the record from
the answer and from the spans it found. The model cannot stop early: its answer has
one required entry per candidate.

A schema opts in by naming a :class:`CandidateReader` in a class variable::

    class InvestmentNews(BaseModel):
        __llmx_reader__: ClassVar[CandidateReader] = InvestmentReader()

A reader has three jobs, each in code that the schema's author controls:

* :meth:`~CandidateReader.find`: the candidates of one cleaned text;
* :meth:`~CandidateReader.question`: the Pydantic model of the answer wanted for one
  candidate (small: names and choices, never numbers the finder already has), or
  ``None`` when code needs no answer (the candidate is then never sent);
* :meth:`~CandidateReader.build`: the raw items (list field, JSON-like dict) that one
  candidate and its answer make; llmx validates them with the schema, so the
  schema's own normalisers apply.

Invariant: every candidate's ``start:end`` is a span of the text it was found in, and
``evidence`` is exactly that span; grounding therefore finds every candidate's
evidence exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, create_model

from llmx.normalize._context import DocumentContext


@dataclass(frozen=True)
class Candidate:
    """One place in a cleaned text that may hold a record.

    ``start``/``end`` delimit the evidence (usually one sentence) in the cleaned text;
    ``anchor`` the span that made it a candidate (an amount, a count, a name), inside
    it; ``kind`` the finder's reading (a list field of the schema, or ``None`` when
    the model must decide); ``facts`` what code computed for it (parsed amounts,
    counts, stages...), for the reader's :meth:`~CandidateReader.build`.
    """

    start: int
    end: int
    text: str
    anchor: tuple[int, int] | None = None
    kind: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: the sentence before, for the model to read; never evidence
    before: str = ""

    @property
    def marked(self) -> str:
        """The evidence with the anchor set in 【】 so the model knows which figure is meant."""
        if self.anchor is None:
            return self.text
        a, b = self.anchor[0] - self.start, self.anchor[1] - self.start
        return f"{self.text[:a]}【{self.text[a:b]}】{self.text[b:]}"


@runtime_checkable
class CandidateReader(Protocol):
    """What a schema supplies to be read candidate by candidate (see module docs)."""

    #: the prompt template (name or path) that asks about a group of candidates
    prompt: str

    def find(self, text: str, context: DocumentContext) -> list[Candidate]:
        """The candidates of one cleaned text, in reading order."""
        ...

    def question(self, candidate: Candidate) -> type[BaseModel] | None:
        """The model of the answer wanted about ``candidate``; ``None``: no question."""
        ...

    def build(
        self, candidate: Candidate, answer: BaseModel | None, context: DocumentContext
    ) -> list[tuple[str, dict[str, Any]]]:
        """The raw records (list field name, item data) that ``candidate`` makes, from
        the model's ``answer`` (``None`` for a candidate that was asked nothing)."""
        ...


def reader_for(schema: type[BaseModel]) -> CandidateReader | None:
    """The schema's candidate reader (its ``__llmx_reader__`` class variable), if any."""
    reader = getattr(schema, "__llmx_reader__", None)
    return reader if isinstance(reader, CandidateReader) else None


def groups(candidates: Sequence[Candidate], size: int) -> list[list[Candidate]]:
    """Consecutive groups of at most ``size`` candidates, as even as possible."""
    if not candidates:
        return []
    count = -(-len(candidates) // max(1, size))
    base, extra = divmod(len(candidates), count)
    out: list[list[Candidate]] = []
    at = 0
    for i in range(count):
        n = base + (1 if i < extra else 0)
        out.append(list(candidates[at : at + n]))
        at += n
    return out


@cache
def answers_model(questions: tuple[type[BaseModel], ...]) -> type[BaseModel]:
    """One object with a required key per candidate (``c1``, ``c2``...): a grammar-capable
    endpoint then has to answer every candidate, and any endpoint that leaves one out is
    re-asked. Built once per combination of question models."""
    fields: dict[str, Any] = {f"c{i + 1}": (q, ...) for i, q in enumerate(questions)}
    model: type[BaseModel] = create_model(
        "Answers",
        __config__=ConfigDict(extra="ignore"),
        __doc__="One answer per numbered candidate.",
        **fields,
    )
    return model


def answers_of(answers: BaseModel, count: int) -> list[BaseModel]:
    """The per-candidate answers of an :func:`answers_model` instance, in order."""
    return [getattr(answers, f"c{i + 1}") for i in range(count)]


__all__ = [
    "Candidate",
    "CandidateReader",
    "answers_model",
    "answers_of",
    "groups",
    "reader_for",
]
