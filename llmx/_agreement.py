"""Agreement between passes: how sure a record is when a document is read more than once.

With ``passes`` > 1 the ``candidates`` strategy asks about each group of candidates
again, warmer (each pass its own cache entry). A record built from the first answer
about a candidate scores the share of passes whose answers build the same raw item
(:func:`pass_agreement`); a record code built alone, without asking, scores 1. After the
records of a document are merged, each list item of the merged record gets the highest
score of the records merged into it (:func:`confidence_paths`): ``Result.confidence``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from llmx._merge import name_similarity, same_item
from llmx._names import NameRules

#: names of two passes' items at least this similar are the same name
SAME_NAME_SIMILARITY = 0.8


def same_raw_item(a: dict[str, Any], b: dict[str, Any], rules: NameRules) -> bool:
    """Whether two passes built the same raw item: same evidence and, where they have
    one, names that agree (under the item model's name ``rules``)."""
    if a.get("evidence") != b.get("evidence"):
        return False
    na, nb = a.get("name"), b.get("name")
    if isinstance(na, str) and isinstance(nb, str):
        return name_similarity(na, nb, rules) >= SAME_NAME_SIMILARITY
    return True


def pass_agreement(
    list_name: str,
    item: dict[str, Any],
    later_builds: Iterable[list[tuple[str, dict[str, Any]]]],
    passes: int,
    rules: NameRules,
) -> float:
    """The share of ``passes`` that agree on ``item`` (of list ``list_name``), built from
    the first pass's answer: the first pass itself, and each later pass whose answer
    about the same candidate built an item of the same list that is the same raw item
    (``later_builds``: what each later answer built)."""
    agreed = 1 + sum(
        any(same_raw_item(item, other, rules) for name, other in built if name == list_name)
        for built in later_builds
    )
    return agreed / passes


def confidence_paths(
    record: BaseModel, parts: list[Any], by_part: dict[int, float]
) -> dict[str, float]:
    """Confidence per list item path of the merged ``record``: the highest of the parts
    (single-item records) that hold an equal item or were merged into it."""
    out: dict[str, float] = {}
    for name in type(record).model_fields:
        items = getattr(record, name)
        if not isinstance(items, list):
            continue
        evidence = {id(p): getattr(p, name)[0] for p in parts if getattr(p, name, None)}
        for index, item in enumerate(items):
            scores = [
                by_part.get(pid, 1.0)
                for pid, part_item in evidence.items()
                if part_item == item or same_item(part_item, item)
            ]
            if scores:
                out[f"{name}[{index}]"] = max(scores)
    return out


__all__ = ["SAME_NAME_SIMILARITY", "confidence_paths", "pass_agreement", "same_raw_item"]
