"""Field comparators: whether a predicted value matches its gold value, by the kind of
field (:class:`~llmx.evals._specs.LeafSpec`), and how gold values are annotated.

Comparators (chosen by type, overridable with :class:`llmx.fields.Compare`):

========  ====================================================================
text      ``str``: normalise (NFKC, traditional->simplified, casefold, strip
          whitespace/punctuation), then equal, contained (>= 2 chars) or
          rapidfuzz ratio >= threshold (0.8)
exact     ``int``, ``bool``, ``Literal``, ``Enum``: equality
number    ``float``/``Decimal``: relative tolerance (1%)
money     ``value`` within the number tolerance **and** the same ``currency``
date      ``date``/``datetime`` or ``Compare("date")``: simple dates at the
          gold's precision (gold ``2023-02`` accepts ``2023-02-06``, not vice
          versa); periods (``2023-Q1``, ``2024-01/2024-09``) exactly after
          normalisation
percent   absolute tolerance (0.05)
========  ====================================================================

A money model's ``value`` is compared with its ``currency`` folded in
(:class:`MoneyValue`). Gold values may be annotated: ``{"$any_of": [...]}`` lists
accepted alternatives, ``"$optional": true`` marks a record that may be left out.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from llmx.evals._specs import LeafSpec, RecordSpec, ScoreConfig
from llmx.normalize._chinese import to_simplified

ANY_OF = "$any_of"
OPTIONAL = "$optional"


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


@lru_cache(maxsize=65536)
def normalize_text(text: str) -> str:
    """NFKC, traditional->simplified, casefold, drop whitespace/punctuation/controls."""
    text = to_simplified(text).casefold()
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


def money_value(spec: RecordSpec, record: Any) -> Any:
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


def money_leaf(spec: RecordSpec) -> LeafSpec:
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
