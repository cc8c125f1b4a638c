"""What scoring produces: counts with P/R/F1, per-document scores, diffs and pairings.

Plain data with ``to_dict``/``from_dict`` (a report is saved and loaded as JSON), kept
apart from the scorer (:mod:`llmx.evals._score`) so that reading, printing and comparing
reports does not import the pairing machinery (scipy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ROOT = "$root"

Outcome = Literal["wrong", "missed", "spurious"]


@dataclass(frozen=True)
class Counts:
    """True/false positive and false negative counts with micro P/R/F1.

    With nothing predicted and nothing to find, precision, recall and F1 are 1.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def support(self) -> int:
        """Gold values scored: ``tp + fn``."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        if self.tp + self.fp == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        if self.tp + self.fn == 0:
            return 1.0 if self.fp == 0 else 0.0
        return self.tp / (self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    @property
    def net(self) -> int:
        return self.tp - self.fp - self.fn

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        return cls(int(data.get("tp", 0)), int(data.get("fp", 0)), int(data.get("fn", 0)))


@dataclass(frozen=True)
class RecordCounts:
    """Record-level pairing counts of one list."""

    gold: int = 0
    pred: int = 0
    paired: int = 0
    unpaired_gold: int = 0
    unpaired_pred: int = 0
    optional_unpaired: int = 0

    def __add__(self, other: RecordCounts) -> RecordCounts:
        return RecordCounts(
            self.gold + other.gold,
            self.pred + other.pred,
            self.paired + other.paired,
            self.unpaired_gold + other.unpaired_gold,
            self.unpaired_pred + other.unpaired_pred,
            self.optional_unpaired + other.optional_unpaired,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "gold": self.gold,
            "pred": self.pred,
            "paired": self.paired,
            "unpaired_gold": self.unpaired_gold,
            "unpaired_pred": self.unpaired_pred,
            "optional_unpaired": self.optional_unpaired,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordCounts:
        return cls(**{k: int(data.get(k, 0)) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class FieldDiff:
    """One wrong, missed or spurious field, with the record it belongs to."""

    list: str
    field: str
    outcome: Outcome
    gold: Any = None
    pred: Any = None
    gold_index: int | None = None
    pred_index: int | None = None
    label: str | None = None
    gold_evidence: str | None = None
    pred_evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "list": self.list,
            "field": self.field,
            "outcome": self.outcome,
            "gold": self.gold,
            "pred": self.pred,
            "gold_index": self.gold_index,
            "pred_index": self.pred_index,
            "label": self.label,
            "gold_evidence": self.gold_evidence,
            "pred_evidence": self.pred_evidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldDiff:
        outcome = data.get("outcome")
        if outcome not in ("wrong", "missed", "spurious"):
            raise ValueError(f"unknown diff outcome {outcome!r}")
        return cls(
            list=str(data.get("list", ROOT)),
            field=str(data.get("field", "")),
            outcome=outcome,
            gold=data.get("gold"),
            pred=data.get("pred"),
            gold_index=data.get("gold_index"),
            pred_index=data.get("pred_index"),
            label=data.get("label"),
            gold_evidence=data.get("gold_evidence"),
            pred_evidence=data.get("pred_evidence"),
        )


@dataclass(frozen=True)
class PairInfo:
    """How a gold and a predicted record were paired (index ``None``: unpaired)."""

    list: str
    gold_index: int | None
    pred_index: int | None
    similarity: float | None = None
    label: str | None = None
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "list": self.list,
            "gold_index": self.gold_index,
            "pred_index": self.pred_index,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "label": self.label,
            "optional": self.optional,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairInfo:
        return cls(
            list=str(data.get("list", ROOT)),
            gold_index=data.get("gold_index"),
            pred_index=data.get("pred_index"),
            similarity=data.get("similarity"),
            label=data.get("label"),
            optional=bool(data.get("optional", False)),
        )


@dataclass
class DocumentScore:
    """The score of one document: counts per field and list, and what went wrong."""

    doc_id: str
    fields: dict[str, Counts] = field(default_factory=dict)
    lists: dict[str, Counts] = field(default_factory=dict)
    records: dict[str, RecordCounts] = field(default_factory=dict)
    diffs: list[FieldDiff] = field(default_factory=list)
    pairs: list[PairInfo] = field(default_factory=list)
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def counts(self) -> Counts:
        total = Counts()
        for c in self.fields.values():
            total = total + c
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "error": self.error,
            "counts": self.counts.to_dict(),
            "fields": {k: v.to_dict() for k, v in sorted(self.fields.items())},
            "lists": {k: v.to_dict() for k, v in sorted(self.lists.items())},
            "records": {k: v.to_dict() for k, v in sorted(self.records.items())},
            "diffs": [d.to_dict() for d in self.diffs],
            "pairs": [p.to_dict() for p in self.pairs],
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentScore:
        return cls(
            doc_id=str(data["doc_id"]),
            fields={k: Counts.from_dict(v) for k, v in data.get("fields", {}).items()},
            lists={k: Counts.from_dict(v) for k, v in data.get("lists", {}).items()},
            records={k: RecordCounts.from_dict(v) for k, v in data.get("records", {}).items()},
            diffs=[FieldDiff.from_dict(d) for d in data.get("diffs", [])],
            pairs=[PairInfo.from_dict(p) for p in data.get("pairs", [])],
            error=data.get("error"),
            info=dict(data.get("info") or {}),
        )


def sum_counts(items: list[dict[str, Counts]]) -> dict[str, Counts]:
    """Add up per-key counts over several documents."""
    out: dict[str, Counts] = {}
    for item in items:
        for key, counts in item.items():
            out[key] = out.get(key, Counts()) + counts
    return out
