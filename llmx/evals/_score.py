"""Scoring one prediction against its gold record, generic over any Pydantic schema.

Counting follows the investment spec ("How a prediction is scored"):

* a matching field is a true positive (TP);
* a wrong value is a false positive **and** a false negative (FP + FN);
* a value where gold has null is an FP; a null where gold has a value is an FN;
* an unpaired predicted record counts every filled field as FP, an unpaired gold
  record every filled field as FN (nothing when it is ``$optional``);
* a field left out of a gold record is not scored; evidence quotes are skipped.

Field names are dotted paths from the schema root (``projects.amount.value``,
``projects.location.city``). Top-level list fields of the schema are *record
lists*; top-level scalar fields form one implicit record whose list is ``$root``.

Gold ``$any_of`` values: every alternative is tried and the one that scores best
(most ``TP - FP - FN``) counts. A null prediction against ``[v, null]`` costs
nothing; a wrong prediction against it costs just one FP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from llmx.evals._compare import (
    MoneyValue,
    alternatives,
    is_any_of,
    is_empty,
    leaf_match,
    money_leaf,
    money_value,
)
from llmx.evals._pairing import first_record, is_optional, pair_records, pair_values
from llmx.evals._results import ROOT, Counts, DocumentScore, FieldDiff, PairInfo, RecordCounts
from llmx.evals._specs import (
    LeafSpec,
    ListSpec,
    RecordSpec,
    ScoreConfig,
    Spec,
    schema_spec,
    scored_fields,
)
from llmx.fields import match_keys

# ------------------------------------------------------------------------- tallying


@dataclass(frozen=True)
class _Ctx:
    """The record a field belongs to, for diffs."""

    list: str = ROOT
    gold_index: int | None = None
    pred_index: int | None = None
    label: str | None = None
    gold_evidence: str | None = None
    pred_evidence: str | None = None


@dataclass
class _Tally:
    fields: dict[str, Counts] = field(default_factory=dict)
    records: dict[str, RecordCounts] = field(default_factory=dict)
    diffs: list[FieldDiff] = field(default_factory=list)
    pairs: list[PairInfo] = field(default_factory=list)

    def count(self, name: str, counts: Counts) -> None:
        self.fields[name] = self.fields.get(name, Counts()) + counts

    def merge(self, other: _Tally) -> None:
        for name, counts in other.fields.items():
            self.count(name, counts)
        for name, rc in other.records.items():
            self.records[name] = self.records.get(name, RecordCounts()) + rc
        self.diffs.extend(other.diffs)
        self.pairs.extend(other.pairs)

    def total(self) -> Counts:
        total = Counts()
        for c in self.fields.values():
            total = total + c
        return total


def _best(tallies: list[_Tally]) -> _Tally:
    """The alternative that scores best: highest TP-FP-FN, then most TP."""
    best = tallies[0]
    best_key = (best.total().net, best.total().tp)
    for tally in tallies[1:]:
        key = (tally.total().net, tally.total().tp)
        if key > best_key:
            best, best_key = tally, key
    return best


def _display(value: Any) -> Any:
    if isinstance(value, MoneyValue):
        return value.to_json()
    if is_any_of(value):
        return {"$any_of": [_display(a) for a in alternatives(value)]}
    return value


_OUTCOME_COUNTS: dict[str, Counts] = {
    "match": Counts(1, 0, 0),
    "none": Counts(),
    "wrong": Counts(0, 1, 1),
    "missed": Counts(0, 0, 1),
    "spurious": Counts(0, 1, 0),
}


def _leaf_outcome(spec: LeafSpec, gold: Any, pred: Any, config: ScoreConfig) -> str:
    g_empty, p_empty = is_empty(gold), is_empty(pred)
    if g_empty and p_empty:
        return "none"
    if g_empty:
        return "spurious"
    if p_empty:
        return "missed"
    return "match" if leaf_match(spec, gold, pred, config) else "wrong"


def _score_leaf(
    spec: LeafSpec, name: str, gold: Any, pred: Any, ctx: _Ctx, config: ScoreConfig
) -> _Tally:
    outcomes = [_leaf_outcome(spec, alt, pred, config) for alt in alternatives(gold)]
    outcome = max(outcomes, key=lambda o: (_OUTCOME_COUNTS[o].net, _OUTCOME_COUNTS[o].tp))
    tally = _Tally()
    counts = _OUTCOME_COUNTS[outcome]
    if counts != Counts():
        tally.count(name, counts)
    if outcome in ("wrong", "missed", "spurious"):
        tally.diffs.append(
            FieldDiff(
                list=ctx.list,
                field=name,
                outcome=outcome,  # type: ignore[arg-type]
                gold=_display(gold),
                pred=_display(pred),
                gold_index=ctx.gold_index,
                pred_index=ctx.pred_index,
                label=ctx.label,
                gold_evidence=ctx.gold_evidence,
                pred_evidence=ctx.pred_evidence,
            )
        )
    return tally


def _score(spec: Spec, name: str, gold: Any, pred: Any, ctx: _Ctx, config: ScoreConfig) -> _Tally:
    if isinstance(spec, LeafSpec):
        return _score_leaf(spec, name, gold, pred, ctx, config)
    if is_any_of(gold):
        return _best([_score(spec, name, alt, pred, ctx, config) for alt in alternatives(gold)])
    if isinstance(spec, RecordSpec):
        return _score_record(spec, name, gold, pred, ctx, config)
    return _score_list(spec, name, gold, pred, ctx, config)


def _score_record(
    spec: RecordSpec, path: str, gold: Any, pred: Any, ctx: _Ctx, config: ScoreConfig
) -> _Tally:
    tally = _Tally()
    g: dict[str, Any] = gold if isinstance(gold, dict) else dict.fromkeys(spec.fields)
    p: dict[str, Any] = pred if isinstance(pred, dict) else {}
    for dotted, sub in scored_fields(spec, config, path).items():
        key = dotted.rsplit(".", 1)[-1]
        if key not in g:
            continue  # left out of gold: not scored
        if spec.money and key == "value":
            gval = money_value(spec, g) if isinstance(gold, dict) else None
            pval = money_value(spec, p) if isinstance(pred, dict) else None
            tally.merge(_score_leaf(money_leaf(spec), dotted, gval, pval, ctx, config))
        else:
            tally.merge(_score(sub, dotted, g[key], p.get(key), ctx, config))
    return tally


def _label(spec: RecordSpec, record: Any) -> str | None:
    rec = first_record(record)
    if rec is None:
        return None
    keys = match_keys(spec.model)
    parts: list[str] = []
    for key in sorted(keys, key=lambda k: -keys[k]):
        for alt in alternatives(rec.get(key)):
            if not is_empty(alt) and not isinstance(alt, dict | list):
                parts.append(str(alt))
                break
    return " · ".join(parts) or None


def _evidence(spec: RecordSpec, record: Any) -> str | None:
    rec = first_record(record)
    if rec is None or spec.evidence is None:
        return None
    value = rec.get(spec.evidence)
    return value if isinstance(value, str) else None


def _score_list(
    spec: ListSpec, path: str, gold: Any, pred: Any, ctx: _Ctx, config: ScoreConfig
) -> _Tally:
    gold_items = gold if isinstance(gold, list) else ([] if is_empty(gold) else [gold])
    pred_items = pred if isinstance(pred, list) else ([] if is_empty(pred) else [pred])
    tally = _Tally()
    item = spec.item
    if isinstance(item, LeafSpec):
        pairing = pair_values(item, gold_items, pred_items, config)
        for i, j, _ in pairing.pairs:
            tally.merge(_score_leaf(item, path, gold_items[i], pred_items[j], ctx, config))
        for i in pairing.unpaired_gold:
            tally.merge(_score_leaf(item, path, gold_items[i], None, ctx, config))
        for j in pairing.unpaired_pred:
            tally.merge(_score_leaf(item, path, None, pred_items[j], ctx, config))
        return tally
    if isinstance(item, ListSpec):  # lists of lists: compare whole items exactly
        return _score_list(ListSpec(LeafSpec("exact")), path, gold, pred, ctx, config)

    pairing = pair_records(item, gold_items, pred_items, config)
    optional_unpaired = [i for i in pairing.unpaired_gold if is_optional(gold_items[i])]

    def child(gi: int | None, pj: int | None) -> _Ctx:
        g = gold_items[gi] if gi is not None else None
        p = pred_items[pj] if pj is not None else None
        return _Ctx(
            list=path,
            gold_index=gi,
            pred_index=pj,
            label=_label(item, g) or _label(item, p),
            gold_evidence=_evidence(item, g),
            pred_evidence=_evidence(item, p),
        )

    for i, j, sim in pairing.pairs:
        c = child(i, j)
        tally.merge(_score(item, path, gold_items[i], pred_items[j], c, config))
        tally.pairs.append(PairInfo(path, i, j, sim, c.label, is_optional(gold_items[i])))
    for i in pairing.unpaired_gold:
        c = child(i, None)
        optional = i in optional_unpaired
        if not optional:
            tally.merge(_score(item, path, gold_items[i], None, c, config))
        tally.pairs.append(PairInfo(path, i, None, None, c.label, optional))
    for j in pairing.unpaired_pred:
        c = child(None, j)
        tally.merge(_score(item, path, None, pred_items[j], c, config))
        tally.pairs.append(PairInfo(path, None, j, None, c.label))
    tally.records[path] = tally.records.get(path, RecordCounts()) + RecordCounts(
        gold=len(gold_items),
        pred=len(pred_items),
        paired=len(pairing.pairs),
        unpaired_gold=len(pairing.unpaired_gold) - len(optional_unpaired),
        unpaired_pred=len(pairing.unpaired_pred),
        optional_unpaired=len(optional_unpaired),
    )
    return tally


# ------------------------------------------------------------------------ public API


def record_lists(schema: type[BaseModel]) -> list[str]:
    """Names of the top-level list-of-model fields of a schema (its record lists)."""
    spec = schema_spec(schema)
    return [
        name
        for name, sub in spec.fields.items()
        if isinstance(sub, ListSpec) and isinstance(sub.item, RecordSpec)
    ]


def prediction_dict(pred: BaseModel | dict[str, Any] | None) -> Any:
    """A prediction as plain JSON data.

    Dicts are scored as they are, never re-validated: a schema's validators may
    normalise with document context (publication date, home region) that the
    scorer does not have, and the extraction path has already run them.
    """
    if isinstance(pred, BaseModel):
        return pred.model_dump(mode="json")
    return pred


def score_document(
    schema: type[BaseModel],
    gold: dict[str, Any],
    pred: BaseModel | dict[str, Any] | None,
    *,
    doc_id: str = "",
    config: ScoreConfig | None = None,
    error: str | None = None,
) -> DocumentScore:
    """Score one predicted record (``None``: nothing predicted) against its gold record."""
    config = config or ScoreConfig()
    spec = schema_spec(schema)
    pdata = prediction_dict(pred)
    tally = _score_record(spec, "", gold, pdata if isinstance(pdata, dict) else {}, _Ctx(), config)
    lists = set(record_lists(schema))
    per_list: dict[str, Counts] = {}
    for name, counts in tally.fields.items():
        top = name.split(".", 1)[0]
        key = top if top in lists else ROOT
        per_list[key] = per_list.get(key, Counts()) + counts
    for name in lists:
        per_list.setdefault(name, Counts())
    return DocumentScore(
        doc_id=doc_id,
        fields=tally.fields,
        lists=per_list,
        records=tally.records,
        diffs=tally.diffs,
        pairs=tally.pairs,
        error=error,
    )


def field_names(schema: type[BaseModel], config: ScoreConfig | None = None) -> list[str]:
    """Every scored field path of a schema, in schema order (used to order reports)."""
    config = config or ScoreConfig()
    out: list[str] = []

    def walk(spec: Spec, path: str) -> None:
        if isinstance(spec, LeafSpec):
            out.append(path)
        elif isinstance(spec, ListSpec):
            walk(spec.item, path)
        else:
            for dotted, sub in scored_fields(spec, config, path).items():
                walk(sub, dotted)

    walk(schema_spec(schema), "")
    return out
