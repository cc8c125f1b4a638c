"""Comparing an eval report with a stored baseline report."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmx._errors import BaselineRegression
from llmx.evals._report import Report
from llmx.evals._results import Counts

OVERALL = "(overall)"


@dataclass(frozen=True)
class ScoreDelta:
    """F1 of one field (or overall) now and in the baseline."""

    name: str
    f1: float | None
    baseline_f1: float | None
    support: int
    baseline_support: int

    @property
    def delta(self) -> float | None:
        if self.f1 is None or self.baseline_f1 is None:
            return None
        return self.f1 - self.baseline_f1


@dataclass
class BaselineDiff:
    """Per-field and overall F1 deltas; ``regressions`` lists drops beyond tolerance."""

    overall: ScoreDelta
    fields: list[ScoreDelta]
    tolerance: float
    min_support: int
    regressions: list[ScoreDelta] = field(default_factory=list)
    improvements: list[ScoreDelta] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions

    def to_text(self) -> str:
        """A plain-text table of the deltas, regressions flagged."""

        def fmt(v: float | None) -> str:
            return "   -  " if v is None else f"{100 * v:6.1f}"

        def sign(v: float | None) -> str:
            return "    -  " if v is None else f"{100 * v:+6.1f}"

        regressed = {r.name for r in self.regressions}
        width = max([len(d.name) for d in [self.overall, *self.fields]] + [5])
        lines = [
            f"Baseline comparison (F1 %, tolerance {100 * self.tolerance:.1f} points, "
            f"fields need support >= {self.min_support})",
            f"{'field':<{width}}  {'base':>6}  {'now':>6}  {'delta':>7}  support",
        ]
        for d in [self.overall, *self.fields]:
            flag = "  REGRESSION" if d.name in regressed else ""
            lines.append(
                f"{d.name:<{width}}  {fmt(d.baseline_f1)}  {fmt(d.f1)}  {sign(d.delta)}  "
                f"{d.support:>7}{flag}"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        if self.regressions:
            names = ", ".join(r.name for r in self.regressions)
            lines.append(f"{len(self.regressions)} regression(s): {names}")
        else:
            lines.append("no regressions")
        return "\n".join(lines)

    def raise_for_regressions(self) -> None:
        """Raise :class:`~llmx._errors.BaselineRegression` when anything regressed."""
        if self.regressions:
            raise BaselineRegression(
                "scores dropped below the baseline",
                fields=", ".join(r.name for r in self.regressions),
                tolerance=self.tolerance,
            )


def _delta(name: str, now: Counts | None, base: Counts | None) -> ScoreDelta:
    return ScoreDelta(
        name=name,
        f1=None if now is None else now.f1,
        baseline_f1=None if base is None else base.f1,
        support=0 if now is None else now.support,
        baseline_support=0 if base is None else base.support,
    )


def compare_to_baseline(
    report: Report, baseline_report: Report, tolerance: float = 0.02, *, min_support: int = 3
) -> BaselineDiff:
    """Compare F1 per field and overall with ``baseline_report``.

    A field regresses when its F1 dropped by more than ``tolerance`` and both
    runs scored at least ``min_support`` gold values for it; the overall F1
    regresses on any drop beyond ``tolerance``.
    """
    now_fields = report.fields
    base_fields = baseline_report.fields
    names = list(now_fields) + [n for n in base_fields if n not in now_fields]
    overall = _delta(OVERALL, report.overall, baseline_report.overall)
    deltas = [_delta(n, now_fields.get(n), base_fields.get(n)) for n in names]
    diff = BaselineDiff(
        overall=overall, fields=deltas, tolerance=tolerance, min_support=min_support
    )
    eps = 1e-9
    if overall.delta is not None and overall.delta < -tolerance - eps:
        diff.regressions.append(overall)
    for d in deltas:
        if d.delta is None:
            continue
        enough = min(d.support, d.baseline_support) >= min_support
        if d.delta < -tolerance - eps and enough:
            diff.regressions.append(d)
        elif d.delta > tolerance + eps and enough:
            diff.improvements.append(d)
    now_ids = {d.doc_id for d in report.documents}
    base_ids = {d.doc_id for d in baseline_report.documents}
    if now_ids != base_ids:
        diff.notes.append(
            f"fixture sets differ: {len(now_ids - base_ids)} new, "
            f"{len(base_ids - now_ids)} missing compared with the baseline"
        )
    if report.schema != baseline_report.schema:
        diff.notes.append(f"schema differs: {baseline_report.schema} -> {report.schema}")
    return diff
