"""The eval :class:`Report`: JSON round trip, a rich terminal view and Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llmx._errors import EvalError
from llmx.evals._results import ROOT, Counts, DocumentScore, RecordCounts, sum_counts

REPORT_VERSION = 1


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class Report:
    """Scores of one eval run over a fixture set.

    Aggregates (``overall``, ``fields``, ``lists``, ``records``) are micro sums
    over ``documents`` and are recomputed, never trusted, when a report is read.
    """

    schema: str
    documents: list[DocumentScore]
    model: str | None = None
    prompt: str | None = None
    prompt_version: str | None = None
    created: str = field(default_factory=_now)
    config: dict[str, Any] = field(default_factory=dict)
    #: record lists of the schema, in schema order
    record_lists: list[str] = field(default_factory=list)
    #: scored field paths of the schema, in schema order (orders the tables)
    field_order: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- aggregates

    @property
    def fixture_count(self) -> int:
        return len(self.documents)

    @property
    def failed(self) -> list[DocumentScore]:
        return [d for d in self.documents if d.failed]

    @property
    def overall(self) -> Counts:
        total = Counts()
        for doc in self.documents:
            total = total + doc.counts
        return total

    @property
    def fields(self) -> dict[str, Counts]:
        """Micro counts per field path, in schema order."""
        sums = sum_counts([d.fields for d in self.documents])
        order = {name: i for i, name in enumerate(self.field_order)}
        return dict(sorted(sums.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    @property
    def lists(self) -> dict[str, Counts]:
        """Micro counts per record list (``$root`` for top-level scalar fields)."""
        sums = sum_counts([d.lists for d in self.documents])
        order = {name: i for i, name in enumerate(self.record_lists)}
        return dict(sorted(sums.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    @property
    def records(self) -> dict[str, RecordCounts]:
        out: dict[str, RecordCounts] = {}
        for doc in self.documents:
            for name, rc in doc.records.items():
                out[name] = out.get(name, RecordCounts()) + rc
        return out

    def document(self, doc_id: str) -> DocumentScore | None:
        return next((d for d in self.documents if d.doc_id == doc_id), None)

    # ------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "schema": self.schema,
            "model": self.model,
            "prompt": self.prompt,
            "prompt_version": self.prompt_version,
            "created": self.created,
            "config": self.config,
            "record_lists": self.record_lists,
            "field_order": self.field_order,
            "usage": self.usage,
            "info": self.info,
            "summary": {
                "fixtures": self.fixture_count,
                "failed": [d.doc_id for d in self.failed],
                "overall": self.overall.to_dict(),
                "lists": {k: v.to_dict() for k, v in self.lists.items()},
                "records": {k: v.to_dict() for k, v in self.records.items()},
                "fields": {k: v.to_dict() for k, v in self.fields.items()},
            },
            "documents": [d.to_dict() for d in self.documents],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        try:
            return cls(
                schema=str(data["schema"]),
                documents=[DocumentScore.from_dict(d) for d in data.get("documents", [])],
                model=data.get("model"),
                prompt=data.get("prompt"),
                prompt_version=data.get("prompt_version"),
                created=str(data.get("created") or ""),
                config=dict(data.get("config") or {}),
                record_lists=list(data.get("record_lists") or []),
                field_order=list(data.get("field_order") or []),
                usage=dict(data.get("usage") or {}),
                info=dict(data.get("info") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EvalError(f"malformed eval report: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> Report:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalError(f"eval report is not valid JSON: {exc.msg}", line=exc.lineno) from exc
        if not isinstance(data, dict):
            raise EvalError("eval report must be a JSON object")
        return cls.from_dict(data)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_json(), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Report:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise EvalError("cannot read eval report", path=str(p), detail=str(exc)) from exc
        try:
            return cls.from_json(text)
        except EvalError as exc:
            raise EvalError(exc.message, path=str(p), **exc.context) from exc


# ------------------------------------------------------------------- formatting


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def header_lines(report: Report) -> list[tuple[str, str]]:
    """The (label, value) pairs shown above every rendering."""
    prompt = report.prompt or "-"
    if report.prompt_version:
        prompt = f"{prompt} ({report.prompt_version})"
    failed = report.failed
    return [
        ("schema", report.schema),
        ("model", report.model or "-"),
        ("prompt", prompt),
        ("date", report.created or "-"),
        ("strategy", str(report.info.get("strategy") or "-")),
        ("fixtures", str(report.fixture_count)),
        ("cost per document", _cost_line(report)),
        (
            "documents failed",
            f"{len(failed)}" + (f" ({', '.join(d.doc_id for d in failed)})" if failed else ""),
        ),
    ]


def _cost_line(report: Report) -> str:
    """Requests, tokens and seconds per document, median seconds: what a strategy costs."""
    docs = report.documents
    if not docs:
        return "-"
    n = len(docs)
    seconds = sorted(float(d.info.get("seconds") or 0.0) for d in docs)
    median = (seconds[(n - 1) // 2] + seconds[n // 2]) / 2
    usage = report.usage
    return (
        f"{usage.get('requests', 0) / n:.1f} requests, "
        f"{usage.get('prompt_tokens', 0) / n:,.0f} tokens in, "
        f"{usage.get('completion_tokens', 0) / n:,.0f} out, "
        f"{sum(seconds) / n:.1f} s (median {median:.1f} s)"
    )


def doc_cost(doc: DocumentScore) -> list[str]:
    """A document's requests, tokens in/out and seconds as table cells."""
    usage = doc.info.get("usage") or {}
    return [
        str(usage.get("requests", 0)),
        f"{usage.get('prompt_tokens', 0):,}",
        f"{usage.get('completion_tokens', 0):,}",
        f"{float(doc.info.get('seconds') or 0.0):.1f}",
    ]


_COST_HEADERS = ("requests", "tokens in", "tokens out", "seconds")


def list_label(name: str) -> str:
    return "(top-level fields)" if name == ROOT else name


def _counts_row(counts: Counts) -> list[str]:
    return [
        pct(counts.precision),
        pct(counts.recall),
        pct(counts.f1),
        str(counts.tp),
        str(counts.fp),
        str(counts.fn),
    ]


_COUNT_HEADERS = ["P", "R", "F1", "TP", "FP", "FN"]


def terminal_tables(report: Report) -> list[Table]:
    """Rich tables: header, overall and per list, per field, per document."""
    head = Table(title="llmx eval", show_header=False, box=None)
    for label, value in header_lines(report):
        head.add_row(f"[bold]{escape(label)}[/bold]", escape(str(value)))

    summary = Table(title="Scores (micro, %)")
    summary.add_column("scope")
    for h in _COUNT_HEADERS:
        summary.add_column(h, justify="right")
    summary.add_column("records gold/pred/paired", justify="right")
    summary.add_row("[bold]overall[/bold]", *_counts_row(report.overall), "")
    records = report.records
    for name, counts in report.lists.items():
        rc = records.get(name)
        rec = f"{rc.gold}/{rc.pred}/{rc.paired}" if rc is not None else ""
        summary.add_row(escape(list_label(name)), *_counts_row(counts), rec)

    per_field = Table(title="Per field")
    per_field.add_column("field", no_wrap=True)
    for h in _COUNT_HEADERS:
        per_field.add_column(h, justify="right")
    per_field.add_column("support", justify="right")
    for name, counts in report.fields.items():
        style = "red" if counts.f1 < 0.5 else ("yellow" if counts.f1 < 0.8 else "")
        per_field.add_row(escape(name), *_counts_row(counts), str(counts.support), style=style)

    per_doc = Table(title="Per document")
    per_doc.add_column("document", no_wrap=True)
    for h in _COUNT_HEADERS:
        per_doc.add_column(h, justify="right")
    for h in _COST_HEADERS:
        per_doc.add_column(h, justify="right")
    per_doc.add_column("status")
    for doc in report.documents:
        status = Text(f"failed: {doc.error}", style="red") if doc.failed else Text("ok")
        per_doc.add_row(escape(doc.doc_id), *_counts_row(doc.counts), *doc_cost(doc), status)
    return [head, summary, per_field, per_doc]


def print_report(report: Report, console: Console | None = None) -> None:
    """Print the report's tables to the terminal."""
    console = console or Console()
    for table in terminal_tables(report):
        console.print(table)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_value(value: Any) -> str:
    """A diff value as short text: money as ``13,900,000,000 CNY``, ``$any_of`` as ``a | b``."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e4:
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 1e4:
        return f"{value:,}"
    if isinstance(value, dict) and set(value) == {"value", "currency"}:
        return f"{format_value(value['value'])} {value['currency'] or ''}".strip()
    if isinstance(value, dict) and set(value) == {"$any_of"} and isinstance(value["$any_of"], list):
        return "any of: " + " | ".join(format_value(v) for v in value["$any_of"])
    return json.dumps(value, ensure_ascii=False)


def _md_value(value: Any) -> str:
    return _md_escape(format_value(value))


def to_markdown(report: Report, *, max_diffs: int = 50) -> str:
    """The report as GitHub-flavoured Markdown (diffs limited per document)."""
    lines = ["# llmx eval report", ""]
    for label, value in header_lines(report):
        lines.append(f"- **{label}**: {_md_escape(value)}")
    heads = " | ".join(_COUNT_HEADERS)
    lines += ["", "## Scores (micro, %)", "", f"| scope | {heads} | records gold/pred/paired |"]
    lines.append("|---" * (len(_COUNT_HEADERS) + 2) + "|")
    lines.append(f"| **overall** | {' | '.join(_counts_row(report.overall))} | |")
    records = report.records
    for name, counts in report.lists.items():
        rc = records.get(name)
        rec = f"{rc.gold}/{rc.pred}/{rc.paired}" if rc is not None else ""
        lines.append(f"| {list_label(name)} | {' | '.join(_counts_row(counts))} | {rec} |")
    lines += ["", "## Per field", "", f"| field | {heads} | support |"]
    lines.append("|---" * (len(_COUNT_HEADERS) + 2) + "|")
    for name, counts in report.fields.items():
        lines.append(f"| `{name}` | {' | '.join(_counts_row(counts))} | {counts.support} |")
    cost_heads = " | ".join(_COST_HEADERS)
    lines += ["", "## Per document", "", f"| document | {heads} | {cost_heads} | status |"]
    lines.append("|---" * (len(_COUNT_HEADERS) + len(_COST_HEADERS) + 2) + "|")
    for doc in report.documents:
        status = f"failed: {_md_escape(doc.error or '')}" if doc.failed else "ok"
        cells = " | ".join([*_counts_row(doc.counts), *doc_cost(doc)])
        lines.append(f"| {doc.doc_id} | {cells} | {status} |")
    wrong = [d for d in report.documents if d.diffs]
    if wrong:
        lines += ["", "## Errors by document"]
        for doc in wrong:
            lines += [
                "",
                f"### {doc.doc_id}",
                "",
                "| record | field | outcome | gold | predicted |",
            ]
            lines.append("|---|---|---|---|---|")
            for diff in doc.diffs[:max_diffs]:
                record = _md_escape(diff.label or "")
                lines.append(
                    f"| {record} | `{diff.field}` | {diff.outcome} | {_md_value(diff.gold)} "
                    f"| {_md_value(diff.pred)} |"
                )
            if len(doc.diffs) > max_diffs:
                lines.append(f"\n... and {len(doc.diffs) - max_diffs} more")
    return "\n".join(lines) + "\n"
