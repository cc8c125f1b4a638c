"""Inline SVG charts for the eval HTML report: no script, no network, one file.

* :func:`document_chart` -- precision, recall and F1 per document, with the
  baseline's F1 of that document marked when a baseline is given;
* :func:`baseline_chart` -- F1 overall and per field, baseline beside now, the
  change written out and regressions in red.
"""

from __future__ import annotations

from html import escape

from llmx.evals._baseline import OVERALL, BaselineDiff, ScoreDelta
from llmx.evals._report import Report, pct

__all__ = ["baseline_chart", "document_chart"]

LABEL_W = 230
BAR_W = 420
COLOURS = {"precision": "#7aa9ee", "recall": "#9cc3a5", "f1": "#3b7ddd", "base": "#b8bcc6"}
RED, GREEN = "#c62828", "#2e7d32"


def _label(text: str, limit: int = 32) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _axis(x0: int, top: int, height: int) -> list[str]:
    out = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + tick * BAR_W
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" '
            'stroke="#e3e7ef" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{top - 4}" font-size="10" text-anchor="middle" '
            f'fill="#6b7280">{int(tick * 100)}</text>'
        )
    return out


def document_chart(report: Report, baseline: Report | None = None) -> str:
    """P, R and F1 per document as horizontal bars (an ``<svg>`` element)."""
    row, top = 30, 22
    base = {d.doc_id: d for d in baseline.documents} if baseline is not None else {}
    height = top + row * len(report.documents) + 26
    width = LABEL_W + BAR_W + 70
    parts = [
        f'<svg class="chart" id="doc-chart" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="precision, recall and F1 per document">',
        *_axis(LABEL_W, top, row * len(report.documents)),
    ]
    for i, doc in enumerate(report.documents):
        y = top + i * row
        c = doc.counts
        colour = RED if doc.failed else "#1d2433"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 17}" font-size="12" text-anchor="end" '
            f'fill="{colour}">{_label(doc.doc_id)}<title>{escape(doc.doc_id)}</title></text>'
        )
        for j, (name, value) in enumerate(
            (("precision", c.precision), ("recall", c.recall), ("f1", c.f1))
        ):
            h = 10 if name == "f1" else 5
            yy = y + (3, 9, 15)[j]
            parts.append(
                f'<rect class="bar-{name}" x="{LABEL_W}" y="{yy}" width="{value * BAR_W:.1f}" '
                f'height="{h}" fill="{COLOURS[name]}" data-doc="{escape(doc.doc_id)}" '
                f'data-value="{value:.4f}"><title>{escape(doc.doc_id)} {name} '
                f"{pct(value)}%</title></rect>"
            )
        parts.append(
            f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 17}" font-size="11" '
            f'fill="#1d2433">{pct(c.f1)}</text>'
        )
        old = base.get(doc.doc_id)
        if old is not None:
            x = LABEL_W + old.counts.f1 * BAR_W
            parts.append(
                f'<line class="baseline-mark" x1="{x:.1f}" y1="{y + 12}" x2="{x:.1f}" '
                f'y2="{y + 28}" stroke="#1d2433" stroke-width="2" '
                f'data-value="{old.counts.f1:.4f}"><title>baseline F1 '
                f"{pct(old.counts.f1)}%</title></line>"
            )
    ly = top + row * len(report.documents) + 14
    legend = [("precision", "precision"), ("recall", "recall"), ("f1", "F1")]
    for k, (key, text) in enumerate(legend):
        x = LABEL_W + k * 90
        parts.append(
            f'<rect x="{x}" y="{ly - 8}" width="10" height="8" fill="{COLOURS[key]}"/>'
            f'<text x="{x + 14}" y="{ly}" font-size="11">{text}</text>'
        )
    if base:
        x = LABEL_W + 3 * 90
        parts.append(
            f'<line x1="{x + 4}" y1="{ly - 10}" x2="{x + 4}" y2="{ly + 1}" stroke="#1d2433" '
            f'stroke-width="2"/><text x="{x + 12}" y="{ly}" font-size="11">baseline F1</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _delta_colour(d: ScoreDelta, diff: BaselineDiff) -> str:
    if any(r.name == d.name for r in diff.regressions):
        return RED
    if any(r.name == d.name for r in diff.improvements):
        return GREEN
    return "#1d2433"


def baseline_chart(diff: BaselineDiff) -> str:
    """F1 now beside the baseline's, overall and per field (an ``<svg>`` element)."""
    rows = [diff.overall, *diff.fields]
    row, top = 28, 22
    height = top + row * len(rows) + 26
    width = LABEL_W + BAR_W + 110
    parts = [
        f'<svg class="chart" id="baseline-chart" '
        f'width="{width}" height="{height}" role="img" aria-label="F1 against the baseline">',
        *_axis(LABEL_W, top, row * len(rows)),
    ]
    for i, d in enumerate(rows):
        y = top + i * row
        weight = "700" if d.name == OVERALL else "400"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 15}" font-size="12" text-anchor="end" '
            f'font-weight="{weight}">{_label(d.name)}<title>{escape(d.name)}</title></text>'
        )
        for j, (key, value) in enumerate((("base", d.baseline_f1), ("now", d.f1))):
            if value is None:
                continue
            colour = COLOURS["base"] if key == "base" else COLOURS["f1"]
            parts.append(
                f'<rect class="bar-{key}" x="{LABEL_W}" y="{y + 3 + j * 10}" '
                f'width="{value * BAR_W:.1f}" height="9" fill="{colour}" '
                f'data-field="{escape(d.name)}" data-value="{value:.4f}"><title>'
                f"{escape(d.name)} {'baseline' if key == 'base' else 'now'} {pct(value)}%"
                "</title></rect>"
            )
        delta = d.delta
        text = "new" if d.baseline_f1 is None else "gone" if d.f1 is None else ""
        if delta is not None:
            text = f"{100 * delta:+.1f}"
        parts.append(
            f'<text class="delta" x="{LABEL_W + BAR_W + 8}" y="{y + 15}" font-size="12" '
            f'fill="{_delta_colour(d, diff)}">{escape(text)}</text>'
        )
    ly = top + row * len(rows) + 14
    parts.append(
        f'<rect x="{LABEL_W}" y="{ly - 8}" width="10" height="8" fill="{COLOURS["base"]}"/>'
        f'<text x="{LABEL_W + 14}" y="{ly}" font-size="11">baseline</text>'
        f'<rect x="{LABEL_W + 90}" y="{ly - 8}" width="10" height="8" fill="{COLOURS["f1"]}"/>'
        f'<text x="{LABEL_W + 104}" y="{ly}" font-size="11">now</text>'
        f'<text x="{LABEL_W + 160}" y="{ly}" font-size="11" fill="{RED}">red: regression '
        f"beyond {100 * diff.tolerance:.1f} points</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
