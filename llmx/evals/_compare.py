"""Field comparators and the schema walk the scorer runs on.

:func:`schema_spec` turns any Pydantic model into a small tree of specs:

* :class:`LeafSpec` -- a scalar field with the comparator that scores it;
* :class:`ModelSpec` -- a nested model, scored field by field with dotted names
  (``location.city``); a *money* model (``Compare("money")``, or any model with
  numeric ``value`` and ``currency`` fields) scores ``value`` with the money
  comparator (value within tolerance **and** same currency), folds ``currency``
  into it, skips its verbatim ``text`` span by default and scores its other
  fields (``qualifier``) normally;
* :class:`ListSpec` -- a list; lists of models are paired like records, lists of
  scalars are scored as multisets.

Comparators (chosen by type, overridable with :class:`llmx.fields.Compare`):

========  ====================================================================
text      ``str``: normalise (NFKC, traditional->simplified, casefold, strip
          whitespace/punctuation), then equal, contained (>= 2 chars) or
          rapidfuzz ratio >= threshold (0.8)
exact     ``int``, ``bool``, ``Literal``, ``Enum``: equality
number    ``float``/``Decimal``: relative tolerance (1%)
money     see above
date      ``date``/``datetime`` or ``Compare("date")``: simple dates at the
          gold's precision (gold ``2023-02`` accepts ``2023-02-06``, not vice
          versa); periods (``2023-Q1``, ``2024-01/2024-09``) exactly after
          normalisation
percent   absolute tolerance (0.05)
========  ====================================================================

Fields marked :class:`llmx.fields.Evidence` (or named ``evidence``) are verbatim
quotes and are not scored unless :attr:`ScoreConfig.score_evidence` is set.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel
from rapidfuzz import fuzz

from llmx.fields import ComparatorName, Compare, evidence_field, marker

ANY_OF = "$any_of"
OPTIONAL = "$optional"

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
class ModelSpec:
    """A nested model, scored field by field."""

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


Spec: TypeAlias = LeafSpec | ModelSpec | ListSpec


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
            return _model_spec(tp, money=money, tolerance=tolerance, seen=(*seen, tp))
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


def _model_spec(
    model: type[BaseModel], *, money: bool, seen: tuple[type, ...], tolerance: float | None = None
) -> ModelSpec:
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
    return ModelSpec(
        model=model,
        fields=fields,
        skipped=frozenset(skipped),
        evidence=evidence,
        money=money,
        currency_default=currency_default,
        tolerance=tolerance,
    )


@lru_cache(maxsize=64)
def schema_spec(schema: type[BaseModel]) -> ModelSpec:
    """The spec tree of a schema (cached per class)."""
    return _model_spec(schema, money=False, seen=(schema,))


def scored_fields(spec: ModelSpec, config: ScoreConfig, path: str = "") -> dict[str, Spec]:
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


# --------------------------------------------------------------------- annotations


def is_any_of(value: Any) -> bool:
    return isinstance(value, dict) and ANY_OF in value


def alternatives(value: Any) -> list[Any]:
    """The alternatives of a gold value: ``[v]`` or the ``$any_of`` list."""
    if is_any_of(value):
        alts = value[ANY_OF]
        return list(alts) if isinstance(alts, list) else [alts]
    return [value]


def is_empty(value: Any) -> bool:
    """``None``, ``""`` and ``[]`` count as "no value"."""
    return value is None or value == "" or (isinstance(value, list) and not value)


# ----------------------------------------------------------------------- comparators

_PUNCT_CATEGORIES = ("P", "Z", "C")


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def normalize_text(text: str) -> str:
    """NFKC, traditional->simplified, casefold, drop whitespace/punctuation/controls."""
    text = unicodedata.normalize("NFKC", text)
    text = str(_converter().convert(text))
    text = text.casefold()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(_PUNCT_CATEGORIES))


def text_similarity(gold: str, pred: str) -> float:
    """Graded similarity in [0, 1]: 1 equal, >= 0.9 contained, else edit ratio."""
    a, b = normalize_text(gold), normalize_text(pred)
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    ratio = fuzz.ratio(a, b) / 100.0
    if min(len(a), len(b)) >= 2 and (a in b or b in a):
        return max(0.9, ratio)
    return ratio


def text_match(gold: str, pred: str, threshold: float = 0.8) -> bool:
    a, b = normalize_text(gold), normalize_text(pred)
    if a == b:
        return True
    if not a or not b:
        return False
    if min(len(a), len(b)) >= 2 and (a in b or b in a):
        return True
    return fuzz.ratio(a, b) / 100.0 >= threshold


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(unicodedata.normalize("NFKC", value).replace(",", "").strip())
        except ValueError:
            return None
    return None


def number_match(gold: Any, pred: Any, tolerance: float = 0.01) -> bool:
    g, p = _as_float(gold), _as_float(pred)
    if g is None or p is None:
        return bool(gold == pred)
    return abs(g - p) <= tolerance * abs(g) + 1e-9


def percent_match(gold: Any, pred: Any, tolerance: float = 0.05) -> bool:
    g, p = _as_float(gold), _as_float(pred)
    if g is None or p is None:
        return bool(gold == pred)
    return abs(g - p) <= tolerance + 1e-9


_SIMPLE_DATE = re.compile(r"^(\d{4})(?:[-./](\d{1,2})(?:[-./](\d{1,2}))?)?$")
_QUARTER = re.compile(r"^(\d{4})-?([QH])(\d)$")


def _norm_date_part(text: str) -> str:
    text = text.strip()
    text = re.sub(r"[T ]\d{1,2}:\d{2}.*$", "", text)
    m = _SIMPLE_DATE.match(text)
    if m:
        return "-".join([m.group(1)] + [f"{int(g):02d}" for g in m.groups()[1:] if g is not None])
    m = _QUARTER.match(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}{m.group(3)}"
    return text


def normalize_date(value: Any) -> str:
    """Canonical text of a date or period: zero-padded ISO parts, ranges with ``/``."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = unicodedata.normalize("NFKC", str(value)).upper().replace(" ", "")
    text = re.sub(r"(?<=\d)(?:至|~|--|–|—)(?=\d)", "/", text)
    if "/" in text and not _SIMPLE_DATE.match(text):
        return "/".join(_norm_date_part(p) for p in text.split("/"))
    return _norm_date_part(text)


def date_match(gold: Any, pred: Any) -> bool:
    """Gold precision rules for simple dates; exact match for periods and ranges."""
    g, p = normalize_date(gold), normalize_date(pred)
    gm, pm = _SIMPLE_DATE.match(g), _SIMPLE_DATE.match(p)
    if gm and pm:
        gparts = [x for x in gm.groups() if x is not None]
        pparts = [x for x in pm.groups() if x is not None]
        return len(pparts) >= len(gparts) and pparts[: len(gparts)] == gparts
    return g == p


def exact_match(gold: Any, pred: Any) -> bool:
    if isinstance(gold, str) and isinstance(pred, str):
        return (
            unicodedata.normalize("NFKC", gold).strip()
            == unicodedata.normalize("NFKC", pred).strip()
        )
    if isinstance(gold, bool) or isinstance(pred, bool):
        return gold is pred
    return bool(gold == pred)


@dataclass(frozen=True)
class MoneyValue:
    """The value of a money model with its currency folded in (one scored leaf)."""

    value: Any
    currency: str | None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "currency": self.currency}


def money_value(spec: ModelSpec, record: Any) -> Any:
    """The ``value`` leaf of a money record as :class:`MoneyValue` (``$any_of`` kept)."""
    if not isinstance(record, dict):
        return None
    out: list[Any] = []
    for value in alternatives(record.get("value")):
        if is_empty(value):
            out.append(None)
            continue
        for currency in alternatives(record.get("currency")):
            cur = currency if isinstance(currency, str) and currency else spec.currency_default
            out.append(MoneyValue(value, cur))
    if len(out) == 1:
        return out[0]
    return {ANY_OF: out}


def money_leaf(spec: ModelSpec) -> LeafSpec:
    return LeafSpec("money", tolerance=spec.tolerance)


def leaf_match(spec: LeafSpec, gold: Any, pred: Any, config: ScoreConfig) -> bool:
    """Compare two non-empty scalar values with the spec's comparator."""
    if isinstance(gold, MoneyValue) or isinstance(pred, MoneyValue):
        if not isinstance(gold, MoneyValue) or not isinstance(pred, MoneyValue):
            return False
        tolerance = spec.tolerance or config.number_tolerance
        return number_match(gold.value, pred.value, tolerance) and currency_match(
            gold.currency, pred.currency, None
        )
    if spec.kind == "text":
        if not isinstance(gold, str) or not isinstance(pred, str):
            return exact_match(gold, pred)
        return text_match(gold, pred, spec.threshold or config.text_threshold)
    if spec.kind in ("number", "money"):
        return number_match(gold, pred, spec.tolerance or config.number_tolerance)
    if spec.kind == "percent":
        return percent_match(gold, pred, spec.tolerance or config.percent_tolerance)
    if spec.kind == "date":
        return date_match(gold, pred)
    return exact_match(gold, pred)


def leaf_similarity(spec: LeafSpec, gold: Any, pred: Any, config: ScoreConfig) -> float:
    """Graded similarity for pairing: edit ratio for text, 0/1 otherwise."""
    if spec.kind == "text" and isinstance(gold, str) and isinstance(pred, str):
        return text_similarity(gold, pred)
    return 1.0 if leaf_match(spec, gold, pred, config) else 0.0


def currency_match(gold: Any, pred: Any, default: str | None) -> bool:
    """Currencies compared case-insensitively; a missing one means the default."""
    g = gold if isinstance(gold, str) and gold else default
    p = pred if isinstance(pred, str) and pred else default
    if g is None or p is None:
        return g == p
    return g.strip().upper() == p.strip().upper()
