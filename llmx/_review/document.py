"""One document opened for review: its text, records, highlights and notes.

The text is the one grounding offsets point into: the input read again from the
line's ``source`` and decoded the way ``llmx run`` decoded it (an HTML page reduced
to its article text). A line from a JSONL input (``source`` ``inputs.jsonl:12``)
is read from that line's ``text``. When the source cannot be read, the records
are still shown, without highlights, and the reason is said.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmx._errors import LlmxError
from llmx._review.index import ROOT, record_lists, split_path
from llmx._text.decode import to_text
from llmx.fields import evidence_field

__all__ = ["DocText", "ListInfo", "build_document", "list_infos", "read_source"]

#: highlight colours, one per record list in the order the lists are first seen
PALETTE = ("#ffd166", "#9ad0f5", "#b8e986", "#f7a6c8", "#c9b6ff", "#ffb38a", "#8ee0d0")
_JSONL_SOURCE = re.compile(r"^(.*\.jsonl):(\d+)$", re.IGNORECASE)
_MAX_SOURCE_BYTES = 20 * 2**20


@dataclass
class DocText:
    """The document's text, or why it is not available."""

    text: str | None
    problem: str | None = None
    changed: bool = False


def _candidates(source: str, roots: Sequence[Path]) -> list[Path]:
    path = Path(source)
    if path.is_absolute():
        return [path]
    return [root / path for root in roots]


def _read_jsonl_line(path: Path, lineno: int) -> str | None:
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            if i == lineno:
                obj = json.loads(line)
                text = obj.get("text") if isinstance(obj, dict) else None
                return text if isinstance(text, str) else None
    return None


def read_source(source: str, roots: Sequence[Path], sha256: str | None = None) -> DocText:
    """Read and decode the input a line came from (see the module doc)."""
    if not source or source == "-":
        return DocText(None, "the document came from stdin; its text was not kept")
    m = _JSONL_SOURCE.match(source)
    try:
        if m is not None:
            for path in _candidates(m.group(1), roots):
                if path.is_file():
                    raw = _read_jsonl_line(path, int(m.group(2)))
                    if raw is None:
                        return DocText(None, f"line {m.group(2)} of {path} has no text")
                    return _decoded(raw, raw.encode("utf-8"), source, sha256)
            return DocText(None, f"source not found: {m.group(1)}")
        for path in _candidates(source, roots):
            if path.is_file():
                if path.stat().st_size > _MAX_SOURCE_BYTES:
                    return DocText(None, f"source is larger than {_MAX_SOURCE_BYTES} bytes")
                data = path.read_bytes()
                return _decoded(data, data, source, sha256)
    except (OSError, ValueError) as exc:
        return DocText(None, f"cannot read source: {exc}")
    except LlmxError as exc:
        return DocText(None, f"cannot decode source: {exc.message}")
    return DocText(None, f"source not found: {source}")


def _decoded(data: bytes | str, raw: bytes, source: str, sha256: str | None) -> DocText:
    text = to_text(data, name=source)
    changed = False
    if isinstance(sha256, str) and sha256:
        digests = {
            hashlib.sha256(raw).hexdigest(),
            hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
        changed = sha256.lower() not in digests
    return DocText(text, None, changed)


@dataclass
class ListInfo:
    """What the review page needs to know about one record list."""

    name: str
    colour: str
    evidence: str | None
    template: dict[str, Any] = field(default_factory=dict)
    #: JSON type of each leaf seen (``amount.value`` -> ``number``), to read edits back
    kinds: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "colour": self.colour,
            "evidence": self.evidence,
            "template": self.template,
            "kinds": self.kinds,
        }


def _kinds(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _kinds(sub, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, bool):
        out.setdefault(prefix, "boolean")
    elif isinstance(value, int | float):
        out.setdefault(prefix, "number")
    elif isinstance(value, str):
        out.setdefault(prefix, "string")


def _blank(value: Any) -> Any:
    """The shape of ``value`` with every leaf emptied (a new record's fields)."""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return []
    return None


def _merge_shape(into: dict[str, Any], record: dict[str, Any]) -> None:
    for key, value in record.items():
        if key not in into or (isinstance(value, dict) and not isinstance(into[key], dict)):
            into[key] = _blank(value)
        elif isinstance(value, dict) and isinstance(into[key], dict):
            _merge_shape(into[key], value)


def _schema_list_models(schema: type[BaseModel] | None) -> dict[str, type[BaseModel]]:
    if schema is None:
        return {}
    out: dict[str, type[BaseModel]] = {}
    for name, info in schema.model_fields.items():
        args = getattr(info.annotation, "__args__", ())
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                out[name] = arg
    return out


def _guess_evidence(items: list[dict[str, Any]]) -> str | None:
    """A field named ``evidence``, else the string field with the longest values."""
    keys: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            if key == "evidence":
                return key
            if isinstance(value, str):
                keys[key] = keys.get(key, 0) + len(value)
    for key in keys:
        if "evidence" in key or "quote" in key:
            return key
    return None


def list_infos(
    names: Sequence[str], samples: dict[str, list[dict[str, Any]]], schema: type[BaseModel] | None
) -> dict[str, ListInfo]:
    """Colour, evidence field and a blank new-record template for each list.

    With ``schema`` the evidence field and template come from the list's item
    model; otherwise from the records seen (``samples``).
    """
    models = _schema_list_models(schema)
    out: dict[str, ListInfo] = {}
    for i, name in enumerate(names):
        items = samples.get(name, [])
        template: dict[str, Any] = {}
        model = models.get(name)
        if model is not None:
            for key in model.model_fields:
                template[key] = None
            evidence = evidence_field(model)
        else:
            evidence = _guess_evidence(items)
        kinds: dict[str, str] = {}
        for item in items:
            _merge_shape(template, item)
            _kinds(item, "", kinds)
        out[name] = ListInfo(name, PALETTE[i % len(PALETTE)], evidence, template, kinds)
    return out


def _record_notes(path: str, record: dict[str, Any], notes: list[str]) -> list[str]:
    """The notes that name this record: by its path, or by a quoted string value."""
    keys = [f"{path}.", f"{path}:", f"{path} "]
    labels = [
        f"'{v}'"
        for v in list(record.values())[:3]
        if isinstance(v, str) and 0 < len(v) <= 80 and "'" not in v
    ]
    return [
        n
        for n in notes
        if any(n.startswith(k) or f" {k}" in n for k in keys) or any(lb in n for lb in labels)
    ]


def build_document(
    line: dict[str, Any],
    text: DocText,
    infos: dict[str, ListInfo],
) -> dict[str, Any]:
    """The JSON the document view renders from (see ``review.js``)."""
    record = line.get("record") if isinstance(line.get("record"), dict) else None
    notes = [str(n) for n in line.get("notes") or [] if isinstance(n, str | int | float)]
    confidence = line.get("confidence") if isinstance(line.get("confidence"), dict) else {}
    grounding: dict[str, dict[str, Any]] = {}
    for g in line.get("grounding") or []:
        if isinstance(g, dict) and isinstance(g.get("path"), str):
            grounding[g["path"]] = g
    limit = len(text.text) if text.text is not None else -1
    records: list[dict[str, Any]] = []
    used_notes: set[str] = set()
    for name, items in record_lists(record).items():
        for i, item in enumerate(items):
            path = f"{name}[{i}]"
            g = grounding.get(path)
            start, end = (g.get("start"), g.get("end")) if g else (None, None)
            located = (
                isinstance(start, int)
                and isinstance(end, int)
                and 0 <= start < end <= limit
                and g is not None
                and g.get("status") != "not_found"
            )
            mine = _record_notes(path, item, notes)
            used_notes.update(mine)
            conf = confidence.get(path) if isinstance(confidence, dict) else None
            records.append(
                {
                    "list": name,
                    "index": i,
                    "path": path,
                    "fields": item,
                    "grounding": g,
                    "start": start if located else None,
                    "end": end if located else None,
                    "notes": mine,
                    "confidence": conf if isinstance(conf, int | float) else None,
                }
            )
    root_fields = (
        {k: v for k, v in record.items() if k not in record_lists(record)} if record else {}
    )
    extra_spans = [
        {"path": p, "status": g.get("status"), "start": g.get("start"), "end": g.get("end")}
        for p, g in grounding.items()
        if split_path(p)[0] == ROOT or split_path(p)[0] not in infos
    ]
    meta = line.get("meta") if isinstance(line.get("meta"), dict) else {}
    return {
        "doc_id": line.get("doc_id"),
        "source": line.get("source"),
        "meta": meta,
        "error": line.get("error"),
        "text": text.text,
        "text_problem": text.problem,
        "source_changed": text.changed,
        "lists": [info.to_dict() for info in infos.values()],
        "records": records,
        "root_fields": root_fields,
        "other_grounding": extra_spans,
        "notes": notes,
        "doc_notes": [n for n in notes if n not in used_notes],
        "has_record": record is not None,
    }
