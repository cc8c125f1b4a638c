"""A self-contained HTML page for an eval :class:`~llmx.evals._report.Report`.

Inline CSS and SVG only, no scripts or external assets: the page can be mailed or
archived as one file. It shows the header, per-list and per-field bars, the
scores per document drawn (and against a baseline report when one is given), a
per-document table, and for every document each wrong, missed or spurious field
with gold beside predicted and, with ``sources``, the document's text twice, gold
evidence highlighted on the left and predicted evidence on the right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any

from llmx.evals._baseline import compare_to_baseline
from llmx.evals._charts import baseline_chart, document_chart
from llmx.evals._report import Report, format_value, header_lines, list_label, pct
from llmx.evals._results import Counts, DocumentScore, FieldDiff
from llmx.evals._sources import EvidenceSpan, SourceView

#: highlight colours per record list, in schema order
PALETTE = ("#ffd166", "#9ad0f5", "#b8e986", "#f7a6c8", "#c9b6ff", "#ffb38a")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2em;
color:#1d2433;max-width:1200px}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #dde;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px}
th,td{border:1px solid #dde;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta td:first-child{font-weight:600;background:#f8f9fc}
.bar{position:relative;background:#eef0f5;width:220px;height:14px;border-radius:3px}
.bar span{position:absolute;left:0;top:0;bottom:0;border-radius:3px}
.f1 span{background:#3b7ddd}.p span{background:#7aa9ee}.r span{background:#9cc3a5}
.low{color:#b3261e;font-weight:600}.failed{background:#fdecea}
.wrong{background:#fff4e5}.missed{background:#fdecea}.spurious{background:#eef3ff}
.tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px}
.tag.wrong{border:1px solid #e0a040}.tag.missed{border:1px solid #d9534f}
.tag.spurious{border:1px solid #5b7bd5}
.ev{color:#555;font-size:12px;max-width:420px}
code{font-size:13px}
.sources{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin:.6em 0}
.src{white-space:pre-wrap;border:1px solid #dde;padding:8px;font-size:14px;line-height:1.7;
max-height:420px;overflow:auto;background:#fff}
.src mark{border-radius:2px;padding:0 1px;color:inherit}
.src h4{margin:0 0 4px;font-size:13px;white-space:normal}
.lost{font-size:12px;color:#b3261e;white-space:normal}
.chart text{font-family:inherit}
"""


def _bar(value: float, cls: str) -> str:
    width = max(0.0, min(1.0, value)) * 100
    return (
        f'<div class="bar {cls}" title="{pct(value)}%"><span style="width:{width:.1f}%">'
        "</span></div>"
    )


def _value(value: Any) -> str:
    if value is None:
        return "<i>null</i>"
    if isinstance(value, str):
        return escape(value)
    return f"<code>{escape(format_value(value))}</code>"


def _counts_cells(counts: Counts) -> str:
    return "".join(
        f'<td class="n">{v}</td>'
        for v in (
            pct(counts.precision),
            pct(counts.recall),
            pct(counts.f1),
            counts.tp,
            counts.fp,
            counts.fn,
        )
    )


_HEAD = "<th>P</th><th>R</th><th>F1</th><th>TP</th><th>FP</th><th>FN</th>"


def _anchor(doc_id: str) -> str:
    return "doc-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in doc_id)


def _record_ref(diff: FieldDiff) -> str:
    g = f"gold #{diff.gold_index}" if diff.gold_index is not None else "no gold"
    p = f"pred #{diff.pred_index}" if diff.pred_index is not None else "no pred"
    label = escape(diff.label) if diff.label else ""
    where = "" if diff.list == "$root" else escape(diff.list)
    return f"{where} <small>({g}, {p})</small><br>{label}"


def _evidence(diff: FieldDiff) -> str:
    parts = []
    if diff.gold_evidence:
        parts.append(f"<b>gold:</b> {escape(diff.gold_evidence)}")
    if diff.pred_evidence and diff.pred_evidence != diff.gold_evidence:
        parts.append(f"<b>pred:</b> {escape(diff.pred_evidence)}")
    return "<br>".join(parts)


def _highlighted(text: str, spans: Sequence[EvidenceSpan], colours: Mapping[str, str]) -> str:
    """``text`` escaped, with each located span in a ``<mark>`` (overlaps split)."""
    located = [
        (s.start, s.end, s)
        for s in spans
        if s.start is not None and s.end is not None and s.end > s.start
    ]
    cuts = sorted({0, len(text), *(a for a, _, _ in located), *(b for _, b, _ in located)})
    out: list[str] = []
    for a, b in pairwise(cuts):
        covering = [s for start, end, s in located if start <= a and end >= b]
        piece = escape(text[a:b])
        if not covering:
            out.append(piece)
            continue
        first = covering[0]
        title = "; ".join(f"{s.list}[{s.index}] {s.label or ''}".strip() for s in covering)
        out.append(
            f'<mark style="background:{colours.get(first.list, PALETTE[0])}" '
            f'data-list="{escape(first.list)}" data-start="{a}" data-end="{b}" '
            f'title="{escape(title)}">{piece}</mark>'
        )
    return "".join(out)


def _lost(spans: Sequence[EvidenceSpan]) -> str:
    lost = [s for s in spans if s.start is None]
    if not lost:
        return ""
    items = "".join(
        f"<li>{escape(s.list)}[{s.index}] {escape(s.label or '')}: {escape(s.quote)}</li>"
        for s in lost
    )
    return f'<div class="lost">evidence not found in the text:<ul>{items}</ul></div>'


def _source_section(view: SourceView, colours: Mapping[str, str]) -> str:
    if view.text is None:
        return f'<p class="low">Source not shown: {escape(view.problem or "")}</p>'
    sides = []
    for side, spans in (("gold", view.gold), ("predicted", view.pred)):
        sides.append(
            f'<div class="src {side}"><h4>{side} evidence ({len(spans)})</h4>'
            f"{_highlighted(view.text, spans, colours)}{_lost(spans)}</div>"
        )
    return f'<div class="sources">{"".join(sides)}</div>'


def _document_section(
    doc: DocumentScore, view: SourceView | None = None, colours: Mapping[str, str] | None = None
) -> str:
    c = doc.counts
    out = [
        f'<h3 id="{_anchor(doc.doc_id)}">{escape(doc.doc_id)} '
        f"<small>P {pct(c.precision)} · R {pct(c.recall)} · F1 {pct(c.f1)}</small></h3>"
    ]
    if doc.failed:
        out.append(
            f'<p class="low">Failed: {escape(doc.error or "")} (scored as an empty prediction)</p>'
        )
    if view is not None:
        out.append(_source_section(view, colours or {}))
    if not doc.diffs:
        out.append("<p>No wrong, missed or spurious fields.</p>")
        return "\n".join(out)
    out.append(
        "<table><tr><th>record</th><th>field</th><th>outcome</th><th>gold</th>"
        "<th>predicted</th><th>evidence</th></tr>"
    )
    for diff in doc.diffs:
        out.append(
            f'<tr class="{diff.outcome}"><td>{_record_ref(diff)}</td>'
            f"<td><code>{escape(diff.field)}</code></td>"
            f'<td><span class="tag {diff.outcome}">{diff.outcome}</span></td>'
            f"<td>{_value(diff.gold)}</td><td>{_value(diff.pred)}</td>"
            f'<td class="ev">{_evidence(diff)}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def to_html(
    report: Report,
    *,
    title: str | None = None,
    baseline: Report | None = None,
    tolerance: float = 0.02,
    sources: Mapping[str, SourceView] | None = None,
) -> str:
    """Render ``report`` as one self-contained HTML page.

    ``baseline`` adds the comparison drawn (regressions beyond ``tolerance`` in red)
    and baseline marks on the per-document chart; ``sources`` (from
    :func:`~llmx.evals._sources.source_views`) adds each document's text with gold
    and predicted evidence highlighted side by side.
    """
    title = title or f"llmx eval · {report.schema}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<table class="meta">',
    ]
    for label, value in header_lines(report):
        parts.append(f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>")
    parts.append("</table>")

    overall = report.overall
    parts.append("<h2>Scores (micro)</h2>")
    parts.append(
        f"<table><tr><th>scope</th>{_HEAD}<th>F1</th><th>records gold/pred/paired</th></tr>"
    )
    parts.append(
        f"<tr><td><b>overall</b></td>{_counts_cells(overall)}<td>{_bar(overall.f1, 'f1')}</td>"
        "<td></td></tr>"
    )
    records = report.records
    for name, counts in report.lists.items():
        rc = records.get(name)
        rec = f"{rc.gold}/{rc.pred}/{rc.paired}" if rc is not None else ""
        parts.append(
            f"<tr><td>{escape(list_label(name))}</td>{_counts_cells(counts)}"
            f"<td>{_bar(counts.f1, 'f1')}</td><td>{rec}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Per field</h2>")
    parts.append(
        f"<table><tr><th>field</th>{_HEAD}<th>support</th><th>precision</th><th>recall</th>"
        "<th>F1</th></tr>"
    )
    for name, counts in report.fields.items():
        low = ' class="low"' if counts.f1 < 0.5 and counts.support else ""
        parts.append(
            f"<tr><td{low}><code>{escape(name)}</code></td>{_counts_cells(counts)}"
            f'<td class="n">{counts.support}</td><td>{_bar(counts.precision, "p")}</td>'
            f"<td>{_bar(counts.recall, 'r')}</td><td>{_bar(counts.f1, 'f1')}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Scores per document</h2>")
    parts.append(document_chart(report, baseline))
    if baseline is not None:
        diff = compare_to_baseline(report, baseline, tolerance=tolerance)
        parts.append("<h2>Against the baseline</h2>")
        parts.append(
            f"<p>Baseline of {escape(baseline.created or '-')} "
            f"({escape(baseline.model or '-')}): {len(diff.regressions)} regression(s), "
            f"{len(diff.improvements)} improvement(s).</p>"
        )
        parts.append(baseline_chart(diff))
        parts.extend(f'<p class="low">{escape(note)}</p>' for note in diff.notes)

    parts.append("<h2>Per document</h2>")
    parts.append(f"<table><tr><th>document</th>{_HEAD}<th>errors</th><th>status</th></tr>")
    for doc in report.documents:
        cls = ' class="failed"' if doc.failed else ""
        status = f"failed: {escape(doc.error or '')}" if doc.failed else "ok"
        parts.append(
            f'<tr{cls}><td><a href="#{_anchor(doc.doc_id)}">{escape(doc.doc_id)}</a></td>'
            f'{_counts_cells(doc.counts)}<td class="n">{len(doc.diffs)}</td><td>{status}</td></tr>'
        )
    parts.append("</table>")

    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(report.record_lists)}
    parts.append("<h2>Documents</h2>")
    if sources:
        legend = " ".join(
            f'<mark style="background:{c}">{escape(name)}</mark>' for name, c in colours.items()
        )
        parts.append(f"<p>Evidence highlighted per list: {legend}</p>")
    for doc in report.documents:
        view = sources.get(doc.doc_id) if sources else None
        parts.append(_document_section(doc, view, colours))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(
    report: Report,
    path: str | Path,
    *,
    baseline: Report | None = None,
    tolerance: float = 0.02,
    sources: Mapping[str, SourceView] | None = None,
) -> Path:
    """Write :func:`to_html` of ``report`` to ``path`` (parents created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        to_html(report, baseline=baseline, tolerance=tolerance, sources=sources),
        encoding="utf-8",
    )
    return out
