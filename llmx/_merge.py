"""Merge per-chunk records of one document and deduplicate list items, for any schema.

A long document is extracted chunk by chunk; :func:`merge_records` joins the records into
one of the same type. Within one record a model often lists the same project several
times under slightly different names; :func:`dedupe_items` joins those.

Items of a list are "the same" when their match keys (:func:`llmx.fields.match_keys`)
are similar. Name similarity is conservative; what a schema knows about its names (its
generic words, a leading place name, generic heads, variant markers) comes from its
``__llmx_match__`` rules (:mod:`llmx._names`), the examples below from the investment
schema's:

* generic words (项目, 有限公司, 集团, ...) and a leading qualifier (宁波, 湖州市) are
  discounted, then the shared prefix and suffix are cut off;
* containment counts (``卫蓝新能源固态电池项目`` vs ``卫蓝固态电池项目``);
* a shared generic suffix alone does not (``华友新材料项目`` vs ``华谊新材料项目``; a bare
  ``新材料项目`` joins nothing);
* a shared distinctive head with different tails (``拓烯高端光学新材料项目`` vs
  ``宁波拓烯COC新材料项目``) is a weak match, joined only when no other field conflicts.

Clearly different amounts or counts, and different variant markers (一期/二期), always
block a join. A joined item takes its fields from the most complete item, fills gaps from
the others in order, and keeps the evidence of the first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel
from rapidfuzz import fuzz

from llmx._names import (
    PLAIN,
    NameRules,
    common_prefix,
    common_suffix,
    fold,
    rules_for,
    strip_generic,
    variants,
)
from llmx.fields import evidence_field, match_keys

__all__ = [
    "dedupe_items",
    "item_model",
    "item_similarity",
    "merge_records",
    "name_similarity",
    "same_item",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)

STRONG = 0.85
"""Similarity at or above which items join unless amounts/counts/variants conflict."""
WEAK = 0.7
"""Similarity at or above which items join only when no other field conflicts."""


def name_similarity(a: str | None, b: str | None, rules: NameRules = PLAIN) -> float:
    """Similarity in [0, 1] of two names under a schema's name ``rules`` (see the
    module docstring).

    ``>= 0.85`` means the same thing, ``0.7`` a weak match (same distinctive head).
    """
    if not a or not b:
        return 0.0
    na, nb = fold(a, rules), fold(b, rules)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    ga, gb = (
        strip_generic(na, rules, drop_variants=True),
        strip_generic(nb, rules, drop_variants=True),
    )
    if ga == gb:
        return 0.97
    pa, pb = rules.drop_leading(ga), rules.drop_leading(gb)
    if pa == pb:
        return 0.95
    suffix = common_suffix(pa, pb)
    ca, cb = pa[: len(pa) - suffix], pb[: len(pb) - suffix]
    prefix = common_prefix(ca, cb)
    ma, mb = ca[prefix:], cb[prefix:]
    head = ca[:prefix]
    distinctive_head = prefix >= 2 and not rules.is_generic_head(head)
    if not ma or not mb:
        # one contains the other (after the shared suffix)
        if distinctive_head:
            return 0.9
        if prefix == 0:
            # only a shared tail: "新材料" vs "拓烯高端光学新材料"
            shorter = min(len(ca), len(cb))
            return 0.5 if shorter == 0 else 0.6
        return 0.6
    if distinctive_head:
        return WEAK + 0.05
    if not ca or not cb:
        return 0.0
    return float(fuzz.ratio(ca, cb)) / 100.0 * 0.9


def _key_value(item: BaseModel, key: str) -> str | None:
    value = getattr(item, key, None)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def item_similarity(a: BaseModel, b: BaseModel) -> float:
    """Weighted name similarity of two items over their match keys."""
    keys = match_keys(type(a))
    rules = rules_for(type(a))
    total = 0.0
    weight = 0.0
    for key, w in keys.items():
        va, vb = _key_value(a, key), _key_value(b, key)
        if va is None and vb is None:
            continue
        weight += w
        total += w * name_similarity(va, vb, rules)
    return total / weight if weight else 0.0


def _money_like(value: Any) -> tuple[float, str] | None:
    if isinstance(value, BaseModel):
        v = getattr(value, "value", None)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v), str(getattr(value, "currency", ""))
    return None


def _variants(item: BaseModel, keys: dict[str, float], rules: NameRules) -> set[str]:
    out: set[str] = set()
    for key in keys:
        v = _key_value(item, key)
        if v:
            out |= variants(fold(v, rules), rules)
    return out


def _conflicts(a: BaseModel, b: BaseModel) -> tuple[bool, bool]:
    """``(hard, soft)`` conflicts between two items' non-key fields.

    Hard: money values or numbers that clearly differ, different variant markers. Soft: any other
    scalar (enum, date, ...) filled in both with different values; strings other than
    dates are not compared (sector phrases and investor names vary in wording).
    """
    model = type(a)
    keys = match_keys(model)
    evidence = evidence_field(model)
    hard = False
    soft = False
    rules = rules_for(model)
    pa, pb = _variants(a, keys, rules), _variants(b, keys, rules)
    if pa and pb and pa != pb:
        hard = True
    for name in model.model_fields:
        if name in keys or name == evidence:
            continue
        va, vb = getattr(a, name, None), getattr(b, name, None)
        if va is None or vb is None:
            continue
        ma, mb = _money_like(va), _money_like(vb)
        if ma is not None and mb is not None:
            if ma[1] == mb[1] and abs(ma[0] - mb[0]) > 0.02 * max(ma[0], mb[0]):
                hard = True
            continue
        if isinstance(va, bool) or isinstance(vb, bool):
            soft = soft or va != vb
        elif isinstance(va, int | float) and isinstance(vb, int | float):
            if abs(float(va) - float(vb)) > 1e-6 * max(abs(float(va)), abs(float(vb)), 1.0):
                hard = True
        elif isinstance(va, str) and isinstance(vb, str):
            if _looks_like_date(va) and _looks_like_date(vb):
                n = min(len(va), len(vb))
                soft = soft or va[:n] != vb[:n]
            elif _is_enum(model, name):
                soft = soft or va != vb
    return hard, soft


def _looks_like_date(s: str) -> bool:
    return bool(re.fullmatch(r"\d{4}(?:-[\dQH]{1,2})*(?:/\d{4}-\d{2})?", s))


def _is_enum(model: type[BaseModel], name: str) -> bool:
    ann = model.model_fields[name].annotation
    args = get_args(ann)
    candidates = [ann, *args]
    return any(get_origin(c) is Literal for c in candidates)


def same_item(a: BaseModel, b: BaseModel) -> bool:
    """Whether two list items describe the same thing."""
    sim = item_similarity(a, b)
    if sim < WEAK:
        return False
    hard, soft = _conflicts(a, b)
    if hard:
        return False
    return sim >= STRONG or not soft


def _filled(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, BaseModel):
        return sum(_filled(getattr(value, n)) for n in type(value).model_fields)
    if isinstance(value, str | list | dict | tuple | set):
        return 1 if value else 0
    return 1


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | dict | tuple | set):
        return not value
    if isinstance(value, BaseModel):
        return _filled(value) == 0
    return False


def _fill(base: T, others: Sequence[BaseModel]) -> T:
    updates: dict[str, Any] = {}
    for name in type(base).model_fields:
        value = getattr(base, name)
        if isinstance(value, BaseModel):
            same = [getattr(o, name) for o in others]
            peers = [v for v in same if isinstance(v, type(value))]
            if peers:
                updates[name] = _fill(value, peers)
            continue
        if _is_empty(value):
            for other in others:
                candidate = getattr(other, name, None)
                if not _is_empty(candidate):
                    updates[name] = candidate
                    break
    return base.model_copy(update=updates) if updates else base


def _join(group: list[T]) -> T:
    if len(group) == 1:
        return group[0]
    best = max(range(len(group)), key=lambda i: (_filled(group[i]), -i))
    base = group[best]
    others = [g for i, g in enumerate(group) if i != best]
    merged = _fill(base, others)
    evidence = evidence_field(type(base))
    if evidence is not None and not _is_empty(getattr(group[0], evidence, None)):
        merged = merged.model_copy(update={evidence: getattr(group[0], evidence)})
    return merged


def dedupe_items(items: Sequence[T]) -> list[T]:
    """Join items that describe the same thing; order follows first mentions."""
    groups: list[list[T]] = []
    for item in items:
        for group in groups:
            if any(same_item(member, item) for member in group) and all(
                not _conflicts(member, item)[0] for member in group
            ):
                group.append(item)
                break
        else:
            groups.append([item])
    return [_join(g) for g in groups]


def item_model(annotation: Any) -> type[BaseModel] | None:
    """The item model of a ``list[Model]`` field's annotation, else ``None``."""
    if get_origin(annotation) is list:
        (arg,) = get_args(annotation) or (None,)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def merge_records(records: Sequence[M]) -> M:
    """Merge the per-chunk records of one document into one record of the same type.

    List fields of model items are concatenated in chunk order and deduplicated with
    :func:`dedupe_items` (so ``merge_records([record])`` deduplicates one record); other
    fields take the first non-empty value. Raises ``ValueError`` on an empty sequence.
    """
    if not records:
        raise ValueError("merge_records needs at least one record")
    first = records[0]
    model = type(first)
    updates: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        values = [getattr(r, name) for r in records]
        if item_model(info.annotation) is not None:
            items: list[BaseModel] = [item for v in values if v for item in v]
            updates[name] = dedupe_items(items)
        elif isinstance(values[0], BaseModel):
            updates[name] = _fill(values[0], [v for v in values[1:] if isinstance(v, BaseModel)])
        elif _is_empty(values[0]):
            updates[name] = next((v for v in values if not _is_empty(v)), values[0])
    return first.model_copy(update=updates)
