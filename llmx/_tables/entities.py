"""Mentions of the same real-world thing across documents -> one entity.

Any schema works: what identifies an item comes from its markers
(:func:`llmx.fields.match_keys`) and its field types, never from domain words.

* **Match keys** (``MatchKey`` fields, e.g. a project's ``name``) are compared by
  similarity (rapidfuzz) after normalisation: NFKC, case-folded, spaces and punctuation
  removed, and the item model's name rules applied when it declares them (its
  ``__llmx_match__``, the same rules that merge a document's items: :mod:`llmx._names`):
  the investment schema's drop generic words and a leading place name.
* **Conflicts** keep mentions apart whatever their names: money amounts whose ranges do
  not overlap (a qualifier widens the range: ``at_least`` 100 ~ ``exact`` 139), another
  currency, a different place at any level both state (a nested object of text fields
  such as ``location``), different numbers (counts), and a different value of a field
  the name rules say must agree (their ``agree``: a statistic's period).
* **Support**: a compatible amount, the same place, the same number or agreeing field,
  a similar value of another text field (an investor) each count once.

Two mentions are joined when their key similarity (:func:`similarity`) is at least 0.92
(a short key, under four characters, also needs one supporting field) or at least 0.75
with one supporting field, and nothing conflicts. Joins are transitive only while no member of
one group conflicts with a member of the other, so a bare generic name cannot chain two
cities' projects together. Every join is recorded with its reason.

Only mentions that share a **block** are compared: the first two characters of the
normalised main key with the other keys' values (a statistic's region), and the first
two place values with the amount's half-decade. A name block larger than
:data:`MAX_BLOCK` is compared along its sort order (:func:`sort_key`: keys, agreeing
fields, numbers, places) with a window of :data:`WINDOW`, a place-and-amount block in
amount order with a window of :data:`AMOUNT_WINDOW`, so the work stays linear in the
mentions.
Everything is deterministic: the same output file gives the same entities, and an
entity's id is that of its first mention (a hash of list, doc_id and position).

One module over the usual size: the plan, the features, blocking, comparison, the
conflict-aware clusters and the canonical row are the stages of one matching algorithm,
and every stage reads the one compact feature layout (:func:`features`: ``d`` document,
``k`` keys, ``m`` money, ``p`` places, ``n`` numbers, ``a`` agreeing fields, ``s``
support), kept short because it is stored per mention during an export.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from rapidfuzz import fuzz

from llmx._names import NameRules, common_prefix, common_suffix, distinctive, fold, rules_for
from llmx._tables.flatten import Column, ListTable
from llmx.fields import Compare, marker, match_keys

__all__ = [
    "AMOUNT_WINDOW",
    "MAX_BLOCK",
    "WINDOW",
    "Clusters",
    "Features",
    "Link",
    "MatchPlan",
    "Summary",
    "UnionFind",
    "block_keys",
    "canonical_row",
    "compare",
    "features",
    "link_blocks",
    "sort_key",
]

MAX_BLOCK = 64
WINDOW = 10
AMOUNT_WINDOW = 4
STRONG = 0.92
MEDIUM = 0.75
SHORT_KEY = 4

_TOLERANCE: dict[str, tuple[float, float]] = {
    "exact": (0.97, 1.03),
    "approx": (0.8, 1.2),
    "at_least": (1.0, 3.0),
    "at_most": (1 / 3, 1.0),
}


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class MatchPlan:
    """Which columns of a list table play which part in matching."""

    table: ListTable
    keys: dict[str, float]
    money: dict[str, tuple[str, str | None, str | None]]
    places: dict[str, tuple[str, ...]]
    numbers: tuple[str, ...]
    agree: tuple[str, ...]
    support: tuple[str, ...]
    #: enum and date columns: an entity takes them from its latest mention
    events: tuple[str, ...]
    dates: tuple[str, ...]
    rules: NameRules

    @cached_property
    def ranked_keys(self) -> tuple[tuple[str, float], ...]:
        """Match keys by falling weight (the main key first)."""
        order = list(self.keys)
        return tuple(sorted(self.keys.items(), key=lambda kv: (-kv[1], order.index(kv[0]))))

    @cached_property
    def key_weight(self) -> float:
        return sum(self.keys.values())

    @cached_property
    def main_key(self) -> str | None:
        if not self.keys:
            return None
        return max(self.keys, key=lambda k: (self.keys[k], -list(self.keys).index(k)))

    @classmethod
    def build(cls, table: ListTable) -> MatchPlan:
        model = table.model
        rules = rules_for(model)
        top = {c.group: c for c in table.columns if len(c.path) == 1}
        groups: dict[str, list[Column]] = {}
        for c in table.columns:
            if len(c.path) == 2:
                groups.setdefault(c.group, []).append(c)
        if model is not None:
            keys = {k: w for k, w in match_keys(model).items() if k in top}
            agree = tuple(a for a in rules.agree if a in top)
        else:
            first = next(
                (c.name for c in top.values() if c.kind == "text" and c.name != table.evidence),
                None,
            )
            keys = {first: 1.0} if first else {}
            agree = ()
        money: dict[str, tuple[str, str | None, str | None]] = {}
        places: dict[str, tuple[str, ...]] = {}
        for group, cols in groups.items():
            names = {c.path[1]: c for c in cols}
            value = names.get("value")
            if value is not None and value.kind in ("real", "integer"):
                money[group] = (
                    value.name,
                    names["currency"].name if "currency" in names else None,
                    names["qualifier"].name if "qualifier" in names else None,
                )
            elif all(c.kind == "text" for c in cols):
                places[group] = tuple(c.name for c in cols)
        dates = tuple(n for n in top if _is_date(model, n))
        enums = tuple(n for n in top if _is_enum(model, n))
        numbers = tuple(
            n
            for n, c in top.items()
            if c.kind in ("integer", "real") and n not in keys and n not in agree
        )
        support = tuple(
            n
            for n, c in top.items()
            if c.kind == "text"
            and n not in keys
            and n != table.evidence
            and n not in agree
            and n not in dates
            and n not in enums
        )
        return cls(
            table,
            keys,
            money,
            places,
            numbers,
            agree,
            support,
            tuple(n for n in (*enums, *dates) if n not in agree),
            dates,
            rules,
        )

    def normalise(self, value: str) -> str:
        """A key or text value as compared: the name rules' distinctive part, case-folded
        (it is NFKC and without punctuation already)."""
        return distinctive(value, self.rules).casefold()


def _is_date(model: type[BaseModel] | None, name: str) -> bool:
    if model is None:
        return name in ("date", "period")
    info = model.model_fields.get(name)
    if info is None:
        return False
    compare = marker(info, Compare)
    return isinstance(compare, Compare) and compare.name == "date"


def _is_enum(model: type[BaseModel] | None, name: str) -> bool:
    if model is None or name not in model.model_fields:
        return False
    ann = model.model_fields[name].annotation
    return any(get_origin(a) is Literal for a in (ann, *get_args(ann)))


# --------------------------------------------------------------------------- features

Features = dict[str, Any]


def features(row: Mapping[str, Any], plan: MatchPlan) -> Features:
    """What matching needs of one mention row, JSON-ready."""
    out: Features = {"d": row.get("doc_id")}
    out["k"] = {k: plan.normalise(v) for k in plan.keys if isinstance(v := row.get(k), str) and v}
    out["m"] = {}
    for group, (value, currency, qualifier) in plan.money.items():
        v = row.get(value)
        if isinstance(v, int | float) and v > 0:
            out["m"][group] = [
                float(v),
                row.get(currency) if currency else None,
                row.get(qualifier) if qualifier else None,
            ]
    out["p"] = {
        group: {c: fold(v).casefold() for c in cols if isinstance(v := row.get(c), str) and v}
        for group, cols in plan.places.items()
    }
    out["n"] = {n: row[n] for n in plan.numbers if row.get(n) is not None}
    out["a"] = {a: row[a] for a in plan.agree if row.get(a) is not None}
    out["s"] = {
        s: plan.normalise(v) for s in plan.support if isinstance(v := row.get(s), str) and v
    }
    return out


def block_keys(f: Features, plan: MatchPlan) -> list[tuple[str, str]]:
    """The blocks a mention is compared within, each with the mention's place in that
    block's order (see the module docstring)."""
    keys: list[tuple[str, str]] = []
    main = plan.main_key
    name = f["k"].get(main) if main else None
    order = sort_key(f)
    if name:
        others = "|".join(v for k, v in sorted(f["k"].items()) if k != main)
        keys.append((f"n:{name[:2]}|{others}", order))
    place = "|".join(v for group in f["p"].values() for v in list(group.values())[:2])
    for group, (value, _, _) in f["m"].items():
        bucket = math.floor(math.log10(value) * 2) if value > 0 else 0
        # a place and amount band: neighbours by amount
        keys.append((f"a:{group}:{place}:{bucket}", f"{value:024.4f}\x1f{order}"))
    return keys


def sort_key(f: Features) -> str:
    """Where a mention sits in a large block: similar mentions end up side by side."""
    parts = [*(v for _, v in sorted(f["k"].items())), *(str(v) for _, v in sorted(f["a"].items()))]
    parts += [str(v) for _, v in sorted(f["n"].items())]
    parts += [v for group in f["p"].values() for v in group.values()]
    return "\x1f".join(parts)


# --------------------------------------------------------------------------- compare


def _affixes(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common prefix and of the common suffix (not overlapping it)."""
    p = common_prefix(a, b)
    return p, common_suffix(a[p:], b[p:])


def similarity(a: str, b: str) -> float:
    """Similarity of two normalised keys in [0, 1].

    The common start and end are cut off first. When one key is left empty, the shorter
    is contained in the longer (卫蓝固态电池 in 卫蓝新能源固态电池): similar. When both are
    left with something, a shared start and a shared end of two characters or more each
    (拓烯COC新材料 vs 拓烯高端光学新材料) is a middling 0.75; otherwise only what is left
    is compared (逸正恒光伏组件 vs 鑫恒光伏组件: 逸正 vs 鑫), so a shared generic tail
    alone never makes two names similar.
    """
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    p, s = _affixes(a, b)
    ma, mb = a[p : len(a) - s], b[p : len(b) - s]
    if not ma or not mb:
        short, long = min(len(a), len(b)), max(len(a), len(b))
        return 0.8 + 0.15 * short / long if short >= 2 else 0.0
    if p >= 2 and s >= 2:
        return 0.75
    return float(fuzz.ratio(ma, mb)) / 100.0


def _interval(m: Sequence[Any]) -> tuple[float, float]:
    lo, hi = _TOLERANCE.get(str(m[2]), _TOLERANCE["exact"])
    return m[0] * lo, m[0] * hi


def _fmt_money(m: Sequence[Any]) -> str:
    return f"{m[2] or 'exact'} {m[0]:g}{' ' + m[1] if m[1] else ''}"


def _same_number(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= 0.01 * max(abs(float(a)), abs(float(b)), 1.0)
    return bool(a == b)


def conflicts(fa: Features, fb: Features) -> str | None:
    """Why two mentions cannot be the same entity, or None."""
    for group, ma in fa["m"].items():
        mb = fb["m"].get(group)
        if mb is None:
            continue
        if ma[1] and mb[1] and ma[1] != mb[1]:
            return f"{group} currency {ma[1]} vs {mb[1]}"
        (alo, ahi), (blo, bhi) = _interval(ma), _interval(mb)
        if ahi < blo or bhi < alo:
            return f"{group} {_fmt_money(ma)} vs {_fmt_money(mb)}"
    for group, pa in fa["p"].items():
        pb = fb["p"].get(group, {})
        for col, va in pa.items():
            vb = pb.get(col)
            if vb is not None and va != vb and va not in vb and vb not in va:
                return f"{col} {va} vs {vb}"
    for kind in ("n", "a"):
        for col, va in fa[kind].items():
            vb = fb[kind].get(col)
            if vb is not None and not _same_number(va, vb):
                return f"{col} {va} vs {vb}"
    return None


@dataclass(frozen=True)
class Link:
    """Why two mentions were judged the same entity."""

    a: int
    b: int
    score: float
    reason: str


def compare(a: int, fa: Features, b: int, fb: Features, plan: MatchPlan) -> Link | None:
    """A link between two mentions when they are the same entity (module docstring)."""
    total = weight = 0.0
    compared: list[tuple[str, float, str, str]] = []
    remaining = plan.key_weight
    for key, w in plan.ranked_keys:
        remaining -= w
        ka, kb = fa["k"].get(key), fb["k"].get(key)
        if not ka or not kb:
            continue
        s = similarity(ka, kb)
        total += w * s
        weight += w
        compared.append((key, s, ka, kb))
        if total + remaining < MEDIUM * (weight + remaining):
            return None  # even identical other keys could not lift it to MEDIUM
    if not weight:
        return None
    sim = total / weight
    if sim < MEDIUM or conflicts(fa, fb) is not None:
        return None
    support: list[str] = []
    for group, ma in fa["m"].items():
        if (mb := fb["m"].get(group)) is not None:
            support.append(f"{group} {_fmt_money(ma)} ~ {_fmt_money(mb)}")
    for group, pa in fa["p"].items():
        pb = fb["p"].get(group, {})
        same = [c for c, v in pa.items() if pb.get(c) == v]
        if same:
            support.append(f"same {same[-1]} {pa[same[-1]]}")
    for kind in ("n", "a"):
        for col, va in fa[kind].items():
            if col in fb[kind]:
                support.append(f"same {col} {va}")
    for col, va in fa["s"].items():
        vb = fb["s"].get(col)
        if vb is not None and similarity(va, vb) >= 0.85:
            support.append(f"{col} {va} ~ {vb}")
    main = plan.main_key
    short = (
        main is not None and min(len(fa["k"].get(main, "")), len(fb["k"].get(main, ""))) < SHORT_KEY
    )
    n = len(support)
    ok = (sim >= STRONG and (n >= 1 or not short)) or (sim >= MEDIUM and n >= 1)
    if not ok:
        return None
    parts = [f"{k} {s:.2f}" + ("" if ka == kb else f" ({ka} ~ {kb})") for k, s, ka, kb in compared]
    reason = "; ".join([*parts, *support])
    return Link(min(a, b), max(a, b), round(sim + 0.02 * n, 4), reason)


def _by_amount(key: str) -> bool:
    return key.startswith("a:")


def link_blocks(
    rows: Iterable[tuple[str, int, Features, str]],
    plan: MatchPlan,
    large: Collection[str] = (),
) -> Iterator[Link]:
    """Candidate links within each block from ``(block key, mention id, features,
    signature)`` rows ordered by block key, then by the mentions' order in the block.

    A block in ``large`` (over :data:`MAX_BLOCK` mentions) is compared along its order,
    each mention with the :data:`WINDOW` before it, holding only those in memory; a
    smaller block in full. A place-and-amount block, in amount order, is always compared
    along a window of :data:`AMOUNT_WINDOW`: it only catches what the name blocks miss
    (the same project under a name that starts differently). A pair that shares an
    earlier block that was compared in full is skipped, so no set of compared pairs is
    kept. A mention whose matching features (its ``signature``, everything but the
    document) equal an earlier one's is linked to the latest such and compared no
    further: the earlier one was compared with the rest. Mentions of one document are
    never linked: its list was deduplicated when it was extracted.
    """
    for key, group in itertools.groupby(rows, key=lambda r: r[0]):
        width = AMOUNT_WINDOW if _by_amount(key) else WINDOW if key in large else None
        recent: deque[tuple[int, Features, set[str], str]] = deque(maxlen=width)
        for _, b, fb, sig in group:
            kb = {k for k, _ in block_keys(fb, plan)}
            # earlier blocks compared in full: a pair sharing one was compared there
            early = {k for k in kb if k < key and k not in large and not _by_amount(k)}
            for a, fa, ka, sa in reversed(recent):
                if fa["d"] == fb["d"] or not early.isdisjoint(ka):
                    continue
                link = compare(a, fa, b, fb, plan)
                if link is not None:
                    yield link
                    if sa == sig:
                        break
            recent.append((b, fb, kb, sig))


@dataclass
class Summary:
    """What a group of mentions states, enough to tell whether it conflicts with another.

    Money keeps the intersection of the members' ranges (ranges on a line overlap in
    pairs exactly when they share a point), places and numbers their distinct values.
    """

    money: dict[str, tuple[float, float, str | None]]
    places: dict[str, dict[str, set[str]]]
    values: dict[str, list[Any]]

    @classmethod
    def of(cls, f: Features) -> Summary:
        money = {}
        for group, m in f["m"].items():
            lo, hi = _interval(m)
            money[group] = (lo, hi, m[1] or None)
        places = {g: {c: {v} for c, v in p.items()} for g, p in f["p"].items()}
        values = {c: [v] for kind in ("n", "a") for c, v in f[kind].items()}
        return cls(money, places, values)

    def conflicts(self, other: Summary) -> bool:
        for group, (lo, hi, cur) in self.money.items():
            if group in other.money:
                olo, ohi, ocur = other.money[group]
                if (cur and ocur and cur != ocur) or hi < olo or ohi < lo:
                    return True
        for group, cols in self.places.items():
            ocols = other.places.get(group, {})
            for col, names in cols.items():
                for va in names:
                    for vb in ocols.get(col, ()):
                        if va != vb and va not in vb and vb not in va:
                            return True
        for col, values in self.values.items():
            for va in values:
                if any(not _same_number(va, vb) for vb in other.values.get(col, ())):
                    return True
        return False

    def merge(self, other: Summary) -> Summary:
        money = dict(self.money)
        for group, (lo, hi, cur) in other.money.items():
            if group in money:
                slo, shi, scur = money[group]
                money[group] = (max(lo, slo), min(hi, shi), scur or cur)
            else:
                money[group] = (lo, hi, cur)
        places = {g: {c: set(v) for c, v in cols.items()} for g, cols in self.places.items()}
        for group, cols in other.places.items():
            for col, names in cols.items():
                places.setdefault(group, {}).setdefault(col, set()).update(names)
        stated = {c: list(v) for c, v in self.values.items()}
        for col, vs in other.values.items():
            stated.setdefault(col, []).extend(v for v in vs if v not in stated.get(col, ()))
        return Summary(money, places, stated)


class UnionFind:
    """Union-find over mention ids ``1..size``: one integer per mention."""

    def __init__(self, size: int) -> None:
        self._parent = array("q", range(size + 1))

    def find(self, x: int) -> int:
        parent = self._parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> tuple[int, int] | None:
        """Join the groups of ``a`` and ``b``; ``(root, absorbed root)`` or None."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        root, other = (ra, rb) if ra < rb else (rb, ra)
        self._parent[other] = root
        return root, other

    def roots(self) -> Iterator[tuple[int, int]]:
        """``(mention, root)`` for every mention in a group of two or more, but the root."""
        for mid in range(1, len(self._parent)):
            root = self.find(mid)
            if root != mid:
                yield mid, root


class Clusters(UnionFind):
    """A :class:`UnionFind` that refuses a join when any two members would conflict.

    Besides one integer per mention it keeps one :class:`Summary` per group of two or
    more, until :meth:`forget`: links are resolved one connected component of the
    candidate graph at a time, and a finished component's summaries are not needed
    again. A single mention's features come from ``load``.
    """

    def __init__(self, size: int, load: Callable[[int], Features]) -> None:
        super().__init__(size)
        self._summary: dict[int, Summary] = {}
        self._load = load

    def _summary_of(self, root: int) -> Summary:
        summary = self._summary.get(root)
        return summary if summary is not None else Summary.of(self._load(root))

    def join(self, link: Link) -> bool:
        ra, rb = self.find(link.a), self.find(link.b)
        if ra == rb:
            return False
        sa, sb = self._summary_of(ra), self._summary_of(rb)
        if sa.conflicts(sb):
            return False
        joined = self.union(ra, rb)
        assert joined is not None
        root, other = joined
        self._summary[root] = sa.merge(sb)
        self._summary.pop(other, None)
        return True

    def forget(self) -> None:
        """Drop the summaries of the groups formed so far (their component is done)."""
        self._summary.clear()


# --------------------------------------------------------------------------- canonical


def _mode(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    counts = Counter(present)
    # most common; ties: the longest text, then the first seen
    return max(counts, key=lambda v: (counts[v], len(str(v)), -present.index(v)))


def _latest_key(row: Mapping[str, Any], plan: MatchPlan) -> tuple[str, str, int]:
    date = next((str(row[d]) for d in plan.dates if row.get(d)), "")
    return date, str(row.get("published") or ""), int(row.get("mention_id") or 0)


def canonical_row(rows: Sequence[Mapping[str, Any]], plan: MatchPlan) -> dict[str, Any]:
    """One entity row from its mention rows (all of the table's item columns).

    Most common value for text and numbers; the most specific place (most levels
    stated); an exact amount before a qualified one; enum and date fields together from
    the latest mention that states them (by that date, then by publication date).
    """
    table = plan.table
    out: dict[str, Any] = {}
    by_group: dict[str, list[Column]] = {}
    for c in table.columns:
        by_group.setdefault(c.group, []).append(c)
    for group, cols in by_group.items():
        if group in plan.money:
            value, _, qualifier = plan.money[group]
            stated = [r for r in rows if r.get(value) is not None]
            exact = [r for r in stated if qualifier is None or r.get(qualifier) == "exact"]
            pool = exact or stated
            best = _mode([r.get(value) for r in pool])
            pick = next((r for r in pool if r.get(value) == best), None)
            out.update({c.name: pick.get(c.name) if pick else None for c in cols})
        elif group in plan.places:
            names = [c.name for c in cols]
            tuples = [tuple(r.get(n) for n in names) for r in rows]
            best_place = max(
                tuples,
                key=lambda t: (sum(v is not None for v in t), tuples.count(t), -tuples.index(t)),
            )
            out.update(dict(zip(names, best_place, strict=True)))
        elif group in plan.events:
            continue
        elif group == table.evidence:
            out[cols[0].name] = rows[0].get(cols[0].name)
        else:
            for c in cols:
                out[c.name] = _mode([r.get(c.name) for r in rows])
    if plan.events:
        stating = [r for r in rows if any(r.get(e) is not None for e in plan.events)]
        latest = max(stating, key=lambda r: _latest_key(r, plan)) if stating else None
        for e in plan.events:
            out[e] = latest.get(e) if latest is not None else None
    return out
