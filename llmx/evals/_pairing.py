"""Pairing predicted with gold records by optimal assignment.

The similarity of two records of a model is

* the weighted mean of the similarities of its match-key fields
  (:func:`llmx.fields.match_keys`; text keys use a graded similarity: 1 when
  equal after normalisation, >= 0.9 when one contains the other, else the
  rapidfuzz ratio), blended with
* the share of its other scalar fields that agree (compared by their scorers),
  counted over fields both sides fill, weighted ``ScoreConfig.other_fields_weight``
  (0.3 by default). For ``Stat`` this brings ``amount`` and ``project_count`` in
  beside the ``scope``/``region`` keys.

Records are assigned with :func:`scipy.optimize.linear_sum_assignment` on that
similarity; pairs below ``ScoreConfig.pair_threshold`` stay unpaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from llmx.evals._compare import (
    OPTIONAL,
    alternatives,
    is_empty,
    leaf_match,
    leaf_similarity,
    money_leaf,
    money_value,
)
from llmx.evals._specs import LeafSpec, RecordSpec, ScoreConfig, scored_fields
from llmx.fields import match_keys


@dataclass(frozen=True)
class Pairing:
    """Result of pairing two lists: index pairs with their similarity, and leftovers."""

    pairs: list[tuple[int, int, float]]
    unpaired_gold: list[int]
    unpaired_pred: list[int]


def first_record(value: Any) -> dict[str, Any] | None:
    """The record itself, or the first object alternative of an ``$any_of`` record."""
    for alt in alternatives(value):
        if isinstance(alt, dict):
            return alt
    return None


def is_optional(value: Any) -> bool:
    record = first_record(value)
    return bool(record is not None and record.get(OPTIONAL) is True)


def flatten(
    spec: RecordSpec, record: Any, config: ScoreConfig, path: str = ""
) -> dict[str, tuple[LeafSpec, Any]]:
    """Scored scalar leaves of a record by dotted path (nested lists left out).

    Only fields present in ``record`` appear; gold ``$any_of`` values are kept.
    """
    out: dict[str, tuple[LeafSpec, Any]] = {}
    rec = first_record(record)
    if rec is None:
        return out
    for dotted, sub in scored_fields(spec, config, path).items():
        name = dotted.rsplit(".", 1)[-1]
        if name not in rec:
            continue
        if spec.money and name == "value":
            out[dotted] = (money_leaf(spec), money_value(spec, rec))
        elif isinstance(sub, LeafSpec):
            out[dotted] = (sub, rec[name])
        elif isinstance(sub, RecordSpec):
            out.update(flatten(sub, rec[name], config, dotted))
    return out


def _best_similarity(spec: LeafSpec, gold: Any, pred: Any, config: ScoreConfig) -> float:
    best = 0.0
    for alt in alternatives(gold):
        if not is_empty(alt):
            best = max(best, leaf_similarity(spec, alt, pred, config))
    return best


def record_similarity(spec: RecordSpec, gold: Any, pred: Any, config: ScoreConfig) -> float:
    """Similarity in [0, 1] of a gold and a predicted record of ``spec.model``."""
    return _similarity(spec, flatten(spec, gold, config), flatten(spec, pred, config), config)


def _similarity(
    spec: RecordSpec,
    gflat: dict[str, tuple[LeafSpec, Any]],
    pflat: dict[str, tuple[LeafSpec, Any]],
    config: ScoreConfig,
) -> float:
    keys = match_keys(spec.model)
    key_total = 0.0
    key_score = 0.0
    agree: list[float] = []
    for dotted, (leaf, gval) in gflat.items():
        top = dotted.split(".", 1)[0]
        pval = pflat.get(dotted, (leaf, None))[1]
        gold_empty = all(is_empty(a) for a in alternatives(gval))
        if top in keys:
            if gold_empty and is_empty(pval):
                continue
            weight = keys[top]
            key_total += weight
            if not gold_empty and not is_empty(pval):
                key_score += weight * _best_similarity(leaf, gval, pval, config)
        elif not gold_empty and not is_empty(pval):
            hit = any(
                not is_empty(a) and leaf_match(leaf, a, pval, config) for a in alternatives(gval)
            )
            agree.append(1.0 if hit else 0.0)
    other = sum(agree) / len(agree) if agree else None
    if key_total > 0:
        key_sim = key_score / key_total
        if other is None:
            return key_sim
        w = config.other_fields_weight
        return (1 - w) * key_sim + w * other
    return other if other is not None else 0.0


def pair_records(
    spec: RecordSpec, gold: list[Any], pred: list[Any], config: ScoreConfig
) -> Pairing:
    """Optimal one-to-one pairing of ``gold`` and ``pred`` records above the threshold."""
    pairs: list[tuple[int, int, float]] = []
    if gold and pred:
        sim = np.zeros((len(gold), len(pred)))
        pflats = [flatten(spec, p, config) for p in pred]
        for i, g in enumerate(gold):
            gflat = flatten(spec, g, config)
            for j, pflat in enumerate(pflats):
                sim[i, j] = _similarity(spec, gflat, pflat, config)
        rows, cols = linear_sum_assignment(sim, maximize=True)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if sim[i, j] >= config.pair_threshold:
                pairs.append((int(i), int(j), float(sim[i, j])))
    paired_g = {i for i, _, _ in pairs}
    paired_p = {j for _, j, _ in pairs}
    return Pairing(
        pairs=sorted(pairs),
        unpaired_gold=[i for i in range(len(gold)) if i not in paired_g],
        unpaired_pred=[j for j in range(len(pred)) if j not in paired_p],
    )


def pair_values(spec: LeafSpec, gold: list[Any], pred: list[Any], config: ScoreConfig) -> Pairing:
    """Pair the items of two lists of scalars (a multiset match)."""
    pairs: list[tuple[int, int, float]] = []
    if gold and pred:
        sim = np.zeros((len(gold), len(pred)))
        for i, g in enumerate(gold):
            for j, p in enumerate(pred):
                if not is_empty(p) and any(
                    not is_empty(a) and leaf_match(spec, a, p, config) for a in alternatives(g)
                ):
                    sim[i, j] = 1.0
        rows, cols = linear_sum_assignment(sim, maximize=True)
        pairs = [
            (int(i), int(j), 1.0)
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
            if sim[i, j] > 0
        ]
    paired_g = {i for i, _, _ in pairs}
    paired_p = {j for _, j, _ in pairs}
    return Pairing(
        pairs=sorted(pairs),
        unpaired_gold=[i for i in range(len(gold)) if i not in paired_g],
        unpaired_pred=[j for j in range(len(pred)) if j not in paired_p],
    )


__all__ = [
    "Pairing",
    "first_record",
    "flatten",
    "is_optional",
    "pair_records",
    "pair_values",
    "record_similarity",
]
