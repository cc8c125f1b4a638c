"""How names are compared, for any schema: a language-neutral core and the schema's rules.

Merging one document's items (:mod:`llmx._merge`) and matching mentions across documents
(:mod:`llmx._tables.entities`) both compare names. The core of that comparison knows no
language: Unicode NFKC, lower case, spaces and punctuation removed, shared starts and
ends. What a schema knows about its own names it declares on an item model as the class
variable ``__llmx_match__``; its members (``fold``, ``drop_generic``, ``drop_leading``,
``is_generic_head``, ``variant``, ``agree``) are documented for schema authors in
:mod:`llmx.fields`, and any missing one does nothing.

The steps run on folded text (:func:`fold`), in one order for every caller:
``drop_generic``, then ``drop_leading`` (:func:`distinctive`). Merging scores a pair of
names higher the fewer steps it takes to make them equal, and removes variant markers
with the generic words, comparing them on their own; across documents the markers stay
in the name and keep 一期 and 二期 apart that way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

__all__ = [
    "NameRules",
    "common_prefix",
    "common_suffix",
    "distinctive",
    "fold",
    "rules_for",
    "strip_generic",
    "variants",
]

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def _same(text: str) -> str:
    return text


def _never(head: str) -> bool:
    return False


@dataclass(frozen=True)
class NameRules:
    """A schema's ``__llmx_match__`` read once, every member present (see the module
    docstring); :data:`PLAIN` is the rules of a schema that declares none."""

    fold: Callable[[str], str] = _same
    drop_generic: Callable[[str], str] = _same
    drop_leading: Callable[[str], str] = _same
    is_generic_head: Callable[[str], bool] = _never
    variant: re.Pattern[str] | None = None
    agree: tuple[str, ...] = ()

    @classmethod
    def of(cls, declared: Any) -> NameRules:
        """The rules an ``__llmx_match__`` object declares, defaults for the rest."""
        if declared is None:
            return PLAIN
        variant = getattr(declared, "variant", None)
        agree = getattr(declared, "agree", ())
        return cls(
            fold=getattr(declared, "fold", _same),
            drop_generic=getattr(declared, "drop_generic", _same),
            drop_leading=getattr(declared, "drop_leading", _same),
            is_generic_head=getattr(declared, "is_generic_head", _never),
            variant=variant if isinstance(variant, re.Pattern) else None,
            agree=(agree,) if isinstance(agree, str) else tuple(agree),
        )


PLAIN = NameRules()


@cache
def rules_for(model: type[BaseModel] | None) -> NameRules:
    """The name rules ``model`` declares (``__llmx_match__``), or :data:`PLAIN`."""
    return NameRules.of(getattr(model, "__llmx_match__", None))


def fold(text: str, rules: NameRules = PLAIN) -> str:
    """``text`` in the form names are compared in: NFKC, the schema's fold, lower case,
    no spaces or punctuation."""
    return _PUNCT.sub("", rules.fold(unicodedata.normalize("NFKC", text)).lower())


def strip_generic(folded: str, rules: NameRules, *, drop_variants: bool = False) -> str:
    """A folded name without its generic words (and, with ``drop_variants``, without
    its variant markers); the name itself when nothing would be left."""
    out = rules.drop_generic(folded)
    if drop_variants and rules.variant is not None:
        out = rules.variant.sub("", out)
    return out or folded


def distinctive(text: str, rules: NameRules) -> str:
    """What tells a name apart from others of its kind: folded, without generic words
    and a leading qualifier. Variant markers stay (they keep 一期 and 二期 apart)."""
    return rules.drop_leading(strip_generic(fold(text, rules), rules))


def variants(folded: str, rules: NameRules) -> set[str]:
    """The variant markers a folded name states."""
    if rules.variant is None:
        return set()
    return {m.group(0) for m in rules.variant.finditer(folded)}


def common_prefix(a: str, b: str) -> int:
    """Length of the start ``a`` and ``b`` share."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def common_suffix(a: str, b: str) -> int:
    """Length of the end ``a`` and ``b`` share."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
