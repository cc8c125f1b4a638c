"""Each fixture's source with its gold and predicted evidence located, for the HTML report.

Gold records carry evidence quotes but no offsets, and a prediction may have been
made on another machine; both are located here the way ``llmx run`` grounds a
record (:class:`llmx._ground.GroundIndex` over the cleaned text, offsets into the
decoded document), so the two sides are drawn over the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from llmx._errors import LlmxError
from llmx._ground import GroundIndex
from llmx._text.clean import clean_text
from llmx._text.decode import to_text
from llmx.evals._compare import alternatives
from llmx.evals._fixtures import Fixture
from llmx.evals._report import Report
from llmx.evals._specs import ListSpec, RecordSpec, schema_spec

__all__ = ["EvidenceSpan", "SourceView", "source_views"]


@dataclass(frozen=True)
class EvidenceSpan:
    """One record's evidence: where it is in the text (``start`` None: not found)."""

    list: str
    index: int
    quote: str
    start: int | None
    end: int | None
    label: str | None = None


@dataclass
class SourceView:
    """A fixture's text with its gold and predicted evidence spans."""

    doc_id: str
    text: str | None
    gold: list[EvidenceSpan] = field(default_factory=list)
    pred: list[EvidenceSpan] = field(default_factory=list)
    problem: str | None = None


def _evidence_fields(schema: type[BaseModel]) -> dict[str, tuple[str, list[str]]]:
    """Record list -> (its evidence field, fields that name a record)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for name, spec in schema_spec(schema).fields.items():
        if isinstance(spec, ListSpec) and isinstance(spec.item, RecordSpec):
            item = spec.item
            if item.evidence is not None:
                names = [k for k in item.fields if k != item.evidence]
                out[name] = (item.evidence, names)
    return out


def _first_text(value: Any) -> str | None:
    for alt in alternatives(value):
        if isinstance(alt, str) and alt.strip():
            return alt
    return None


def _spans(
    record: Any, fields: dict[str, tuple[str, list[str]]], index: GroundIndex | None
) -> list[EvidenceSpan]:
    spans: list[EvidenceSpan] = []
    if not isinstance(record, dict):
        return spans
    for name, (evidence, label_fields) in fields.items():
        items = record.get(name)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            quote = _first_text(item.get(evidence))
            if quote is None:
                continue
            label = next((t for k in label_fields if (t := _first_text(item.get(k)))), None)
            found = index.locate(quote) if index is not None else None
            located = found is not None and found.found
            spans.append(
                EvidenceSpan(
                    name,
                    i,
                    quote,
                    found.start if located and found is not None else None,
                    found.end if located and found is not None else None,
                    label,
                )
            )
    return spans


def source_views(
    fixtures: Sequence[Fixture], report: Report, schema: type[BaseModel]
) -> dict[str, SourceView]:
    """A :class:`SourceView` per fixture; the prediction is ``info["predicted"]`` of the
    report's document (kept by :func:`~llmx.evals._harness.build_report`)."""
    fields = _evidence_fields(schema)
    out: dict[str, SourceView] = {}
    for fixture in fixtures:
        doc = report.document(fixture.doc_id)
        predicted = doc.info.get("predicted") if doc is not None else None
        try:
            text = to_text(fixture.text, name=str(fixture.path))
            index: GroundIndex | None = GroundIndex(clean_text(text))
            problem = None
        except LlmxError as exc:
            text, index, problem = None, None, exc.message
        out[fixture.doc_id] = SourceView(
            fixture.doc_id,
            text,
            _spans(fixture.gold, fields, index),
            _spans(predicted, fields, index),
            problem,
        )
    return out
