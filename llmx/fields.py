"""Markers a schema author attaches to fields with ``typing.Annotated``.

They tell llmx (grounding, merging, evaluation) what a field means without
changing the JSON schema the model sees::

    class Project(BaseModel):
        name: Annotated[str, MatchKey()]
        evidence: Annotated[str, Evidence()]
        amount: Annotated[Money | None, Compare("money")] = None

Without markers llmx falls back to conventions: a field named ``evidence`` is
the evidence quote; the first ``str`` field of a list item is its match key.

How match keys compare is language-neutral (Unicode, case, punctuation, shared starts
and ends). What a schema knows about its names, such as the company forms and place
names that do not tell two names apart, an item model declares as the class variable
``__llmx_match__``: an object with any of these members (a missing one does nothing),
which merging within a document and matching entities across documents both use::

    class Project(BaseModel):
        __llmx_match__: ClassVar[object] = CompanyNames()
        name: Annotated[str, MatchKey()]

``fold(text) -> str``
    one spelling for variants that mean the same name (traditional to simplified
    Chinese); applied after NFKC, before lower case and punctuation.
``drop_generic(text) -> str``
    remove the words every name of the kind carries ("inc", "ltd", 有限公司, 项目); it
    gets folded text (lower case, no spaces or punctuation).
``drop_leading(text) -> str``
    remove a leading qualifier that does not tell two names apart (a place name:
    宁波拓烯新材料 ~ 拓烯新材料); it gets folded text without generic words.
``is_generic_head(head) -> bool``
    whether a start shared by two different names says nothing about which thing they
    are ("New", 新能源): such a shared start is no evidence for a match.
``variant``
    a compiled pattern of markers that make two otherwise equal names different things
    (一期/二期, "Phase 2"): items whose names state different markers never merge.
``agree: Sequence[str]``
    fields that must be equal, when two mentions both state them, for the mentions to
    be one entity across documents (a statistic's period).

``schemas/investment/names.py`` is a full example (Chinese company forms, sector
words, leading place names, 一期/二期).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = [
    "ComparatorName",
    "Compare",
    "Evidence",
    "MatchKey",
    "evidence_field",
    "marker",
    "match_keys",
]

ComparatorName = Literal["text", "exact", "number", "money", "date", "percent", "model", "ignore"]


@dataclass(frozen=True)
class Evidence:
    """The field holds a verbatim quote of the source that supports the record."""


@dataclass(frozen=True)
class MatchKey:
    """The field identifies a record: used to pair, merge and deduplicate records.

    ``weight`` sets its share of the record similarity when several keys exist.
    """

    weight: float = 1.0


@dataclass(frozen=True)
class Compare:
    """Override how the eval scorer compares this field.

    ``name`` picks a comparator; ``tolerance`` is relative for numbers/money and
    absolute for percentages; ``threshold`` is the edit ratio for text.
    """

    name: ComparatorName
    tolerance: float | None = None
    threshold: float | None = None


def marker(info: FieldInfo, kind: type[Any]) -> Any | None:
    """Return the first metadata object of type ``kind`` on a field, if any."""
    for item in info.metadata:
        if isinstance(item, kind):
            return item
    return None


def evidence_field(model: type[BaseModel]) -> str | None:
    """Name of the field holding the evidence quote of ``model``, if it has one."""
    for name, info in model.model_fields.items():
        if marker(info, Evidence) is not None:
            return name
    return "evidence" if "evidence" in model.model_fields else None


def match_keys(model: type[BaseModel]) -> dict[str, float]:
    """Fields that identify a record of ``model`` with their weights.

    Falls back to the first field annotated as plain ``str`` (weight 1).
    """
    keys = {
        name: m.weight
        for name, info in model.model_fields.items()
        if (m := marker(info, MatchKey)) is not None
    }
    if keys:
        return keys
    evidence = evidence_field(model)
    for name, info in model.model_fields.items():
        if info.annotation is str and name != evidence:
            return {name: 1.0}
    return {}
