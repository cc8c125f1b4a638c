"""The schema walk the scorer runs on: any Pydantic model -> a small tree of specs.

:func:`schema_spec` turns a model into:

* :class:`LeafSpec` -- a scalar field with the comparator that scores it
  (:mod:`llmx.evals._compare`);
* :class:`RecordSpec` -- a model (a record, or a model nested in one), scored field by
  field with dotted names (``location.city``); a *money* model (``Compare("money")``,
  or any model with numeric ``value`` and ``currency`` fields) scores ``value`` with
  the money comparator (value within tolerance **and** same currency), folds
  ``currency`` into it, skips its verbatim ``text`` span by default and scores its
  other fields (``qualifier``) normally;
* :class:`ListSpec` -- a list; lists of models are paired like records, lists of
  scalars are scored as multisets.

Fields marked :class:`llmx.fields.Evidence` (or named ``evidence``) are verbatim
quotes and are not scored unless :attr:`ScoreConfig.score_evidence` is set.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel

from llmx.fields import ComparatorName, Compare, evidence_field, marker

LeafKind = Literal["text", "exact", "number", "money", "date", "percent"]


@dataclass(frozen=True)
class ScoreConfig:
    """Knobs of the scorer; the defaults follow the investment scoring spec."""

    #: pairs of records whose similarity is below this stay unpaired
    pair_threshold: float = 0.5
    #: share of the record similarity taken by non-key field agreement
    other_fields_weight: float = 0.3
    #: rapidfuzz ratio (0..1) at which two normalised texts match
    text_threshold: float = 0.8
    #: relative tolerance of numbers and money values
    number_tolerance: float = 0.01
    #: absolute tolerance of percentages
    percent_tolerance: float = 0.05
    #: score Evidence fields (verbatim quotes) as text
    score_evidence: bool = False
    #: score the verbatim ``text`` span of money models as text
    score_money_text: bool = False
    #: dotted field paths never scored, e.g. ``{"projects.industry"}``
    ignore_fields: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_threshold": self.pair_threshold,
            "other_fields_weight": self.other_fields_weight,
            "text_threshold": self.text_threshold,
            "number_tolerance": self.number_tolerance,
            "percent_tolerance": self.percent_tolerance,
            "score_evidence": self.score_evidence,
            "score_money_text": self.score_money_text,
            "ignore_fields": sorted(self.ignore_fields),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "ignore_fields" in known:
            known["ignore_fields"] = frozenset(known["ignore_fields"])
        return cls(**known)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class LeafSpec:
    """A scalar field and how it is compared."""

    kind: LeafKind
    tolerance: float | None = None
    threshold: float | None = None
    choices: tuple[Any, ...] | None = None
    #: the value is an object or list compared whole (``dict``/``Any`` fields, models
    #: compared with a non-model comparator)
    structured: bool = False


@dataclass(frozen=True)
class RecordSpec:
    """A model (a record, or a model nested in one), scored field by field."""

    model: type[BaseModel]
    fields: dict[str, Spec] = field(default_factory=dict)
    #: fields never scored (evidence quotes, ``Compare("ignore")``)
    skipped: frozenset[str] = frozenset()
    #: the verbatim evidence field, if any (shown in reports)
    evidence: str | None = None
    #: money model: scores ``value`` with ``currency`` folded in
    money: bool = False
    #: default currency of a money model (used when a side omits it)
    currency_default: str | None = None
    #: relative tolerance of a money model's value (``Compare("money", tolerance=...)``)
    tolerance: float | None = None


@dataclass(frozen=True)
class ListSpec:
    """A list of models (paired like records) or of scalars (a multiset)."""

    item: Spec


Spec: TypeAlias = LeafSpec | RecordSpec | ListSpec


def _unwrap_optional(tp: Any) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` and ``None`` from a union; return the type and metadata."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            tp = args[0]
            meta.extend(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            return tuple(members), meta
        return tp, meta


def _leaf_kind(tp: Any) -> LeafKind:
    if isinstance(tp, tuple):  # a union of several types
        kinds = {_leaf_kind(t) for t in tp}
        if kinds <= {"number", "exact"} and all(
            isinstance(t, type) and issubclass(t, int | float | Decimal) for t in tp
        ):
            return "number"
        return "text" if kinds == {"text"} else "exact"
    if typing.get_origin(tp) is Literal:
        return "exact"
    if isinstance(tp, type):
        if issubclass(tp, bool | int | enum.Enum):
            return "exact"
        if issubclass(tp, float | Decimal):
            return "number"
        if issubclass(tp, dt.date):
            return "date"
        if issubclass(tp, str):
            return "text"
    return "exact"


def _is_money(model: type[BaseModel]) -> bool:
    fields = model.model_fields
    if "value" not in fields:
        return False
    value_tp, _ = _unwrap_optional(fields["value"].annotation)
    return isinstance(value_tp, type) and issubclass(value_tp, int | float | Decimal)


def _build(tp: Any, meta: list[Any], override: Compare | None, seen: tuple[type, ...]) -> Spec:
    tp, more = _unwrap_optional(tp)
    meta = meta + more
    if override is None:
        override = next((m for m in meta if isinstance(m, Compare)), None)
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item_tp: Any = args[0] if args else Any
        return ListSpec(_build(item_tp, [], None, seen))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        name: ComparatorName | None = override.name if override is not None else None
        if name in (None, "model", "money"):
            if tp in seen:  # recursive models: compare deeper levels as whole values
                return LeafSpec("exact", structured=True)
            money = name == "money" or (name is None and _is_money(tp))
            tolerance = override.tolerance if override is not None else None
            return _record_spec(tp, money=money, tolerance=tolerance, seen=(*seen, tp))
        return LeafSpec("exact", structured=True)
    if tp is Any or tp is dict or origin is dict:
        return LeafSpec("exact", structured=True)
    kind: LeafKind = _leaf_kind(tp)
    choices: tuple[Any, ...] | None = None
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        choices = tuple(m.value for m in tp)
    if override is not None and override.name not in ("model", "ignore"):
        kind = "number" if override.name == "money" else typing.cast(LeafKind, override.name)
        return LeafSpec(kind, override.tolerance, override.threshold, choices)
    return LeafSpec(kind, None, None, choices)


def _record_spec(
    model: type[BaseModel], *, money: bool, seen: tuple[type, ...], tolerance: float | None = None
) -> RecordSpec:
    fields: dict[str, Spec] = {}
    skipped: set[str] = set()
    evidence = evidence_field(model)
    for name, info in model.model_fields.items():
        override = marker(info, Compare)
        if override is not None and override.name == "ignore":
            skipped.add(name)
            continue
        if name == evidence:
            skipped.add(name)
        fields[name] = _build(info.annotation, list(info.metadata), override, seen)
    currency_default: str | None = None
    if money:
        money = "value" in fields
        cur = model.model_fields.get("currency")
        if cur is not None and isinstance(cur.default, str):
            currency_default = cur.default
    return RecordSpec(
        model=model,
        fields=fields,
        skipped=frozenset(skipped),
        evidence=evidence,
        money=money,
        currency_default=currency_default,
        tolerance=tolerance,
    )


@lru_cache(maxsize=64)
def schema_spec(schema: type[BaseModel]) -> RecordSpec:
    """The spec tree of a schema (cached per class)."""
    return _record_spec(schema, money=False, seen=(schema,))


def scored_fields(spec: RecordSpec, config: ScoreConfig, path: str = "") -> dict[str, Spec]:
    """The fields of a model the scorer visits, with their dotted paths as keys.

    ``currency`` of a money model is folded into ``value``; its ``text`` span and
    evidence fields are skipped per ``config``.
    """
    out: dict[str, Spec] = {}
    for name, sub in spec.fields.items():
        dotted = f"{path}.{name}" if path else name
        if dotted in config.ignore_fields:
            continue
        if name in spec.skipped and not (config.score_evidence and name == spec.evidence):
            continue
        if spec.money and name == "currency":
            continue
        if spec.money and name == "text" and not config.score_money_text:
            continue
        out[dotted] = sub
    return out
