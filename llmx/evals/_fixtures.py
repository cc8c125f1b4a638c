"""Eval fixtures: documents beside their hand-labelled gold records.

A fixture folder holds ``<doc_id>.txt`` (or ``.html``/``.htm``/``.md``), the
document as scraped, beside ``<doc_id>.gold.json`` (a ``README`` file is
ignored)::

    {"meta": {"published": "2023-02-07", ...}, "record": { ...schema JSON... }}

Gold annotations understood by the scorer:

* ``{"$any_of": [v1, v2, null]}`` in place of any value: the story is ambiguous;
  any alternative counts as a match, and ``null`` among them means a null
  prediction is fine;
* ``"$optional": true`` on a list item: if paired it is scored normally, if
  left unpaired it costs nothing;
* a field left out of a gold record is not scored at all.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from llmx._errors import EvalError
from llmx._inputs import TEXT_SUFFIXES
from llmx._types import Document
from llmx.evals._compare import ANY_OF, OPTIONAL, alternatives, is_any_of
from llmx.evals._specs import LeafSpec, ListSpec, RecordSpec, Spec, schema_spec

GOLD_SUFFIX = ".gold.json"


@dataclass(frozen=True)
class Fixture:
    """One labelled document."""

    doc_id: str
    path: Path
    text: bytes
    meta: dict[str, Any]
    gold: dict[str, Any]
    gold_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self) -> Document:
        """The fixture as an llmx input :class:`~llmx._types.Document`."""
        return Document(doc_id=self.doc_id, source=str(self.path), data=self.text, meta=self.meta)


def _is_readme(path: Path) -> bool:
    """``README``/``README.md`` etc. describe the folder; they are not documents."""
    return path.stem.upper() == "README"


def _gold_stem(path: Path) -> str:
    return path.name[: -len(GOLD_SUFFIX)]


def read_gold(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a ``.gold.json`` file into ``(meta, record)``; raise :class:`EvalError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise EvalError("gold file is not UTF-8", path=str(path), detail=str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise EvalError(
            f"gold file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path=str(path),
        ) from exc
    except OSError as exc:
        raise EvalError("cannot read gold file", path=str(path), detail=str(exc)) from exc
    if not isinstance(data, dict):
        raise EvalError("gold file must hold a JSON object {meta, record}", path=str(path))
    record = data.get("record")
    if not isinstance(record, dict):
        raise EvalError('gold file needs a "record" object', path=str(path))
    meta = data.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise EvalError('"meta" of a gold file must be an object', path=str(path))
    published = meta.get("published")
    if published is not None and not (
        isinstance(published, str) and len(published) >= 4 and published[:4].isdigit()
    ):
        raise EvalError(
            '"meta.published" must be "YYYY-MM-DD" or null', path=str(path), value=published
        )
    return meta, record


def load_fixtures(
    folder: str | Path,
    *,
    schema: type[BaseModel] | None = None,
    missing_gold: Literal["error", "skip"] = "error",
) -> list[Fixture]:
    """Load every fixture of ``folder``, sorted by ``doc_id``.

    Raises :class:`EvalError` for a missing folder, no fixtures, malformed gold
    JSON, gold without a document, two documents with one id, and (unless
    ``missing_gold="skip"``) documents without gold. With ``schema`` the gold
    records are also checked against it (:func:`check_gold`).
    """
    root = Path(folder)
    if not root.is_dir():
        raise EvalError("fixture folder not found", path=str(root))
    texts: dict[str, list[Path]] = {}
    golds: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file() or _is_readme(path):
            continue
        if path.name.endswith(GOLD_SUFFIX):
            golds[_gold_stem(path)] = path
        elif path.suffix.lower() in TEXT_SUFFIXES:
            texts.setdefault(path.stem, []).append(path)
    doubled = [p for paths in texts.values() if len(paths) > 1 for p in paths]
    if doubled:
        raise EvalError(
            "several documents share one fixture id: " + ", ".join(p.name for p in doubled),
            path=str(root),
        )
    orphans = sorted(set(golds) - set(texts))
    if orphans:
        raise EvalError(
            "gold files without a document: " + ", ".join(golds[o].name for o in orphans),
            path=str(root),
        )
    unlabelled = sorted(set(texts) - set(golds))
    if unlabelled and missing_gold == "error":
        raise EvalError(
            "documents without a .gold.json: " + ", ".join(texts[u][0].name for u in unlabelled),
            path=str(root),
        )
    fixtures: list[Fixture] = []
    for doc_id in sorted(set(texts) & set(golds)):
        text_path = texts[doc_id][0]
        meta, record = read_gold(golds[doc_id])
        try:
            data = text_path.read_bytes()
        except OSError as exc:
            raise EvalError("cannot read document", path=str(text_path), detail=str(exc)) from exc
        fixture = Fixture(doc_id, text_path, data, meta, record, golds[doc_id])
        if schema is not None:
            check_gold(fixture, schema)
        fixtures.append(fixture)
    if not fixtures:
        raise EvalError("no fixtures (<id>.txt beside <id>.gold.json) found", path=str(root))
    return fixtures


def gold_problems(gold: Any, schema: type[BaseModel]) -> list[str]:
    """Unknown fields, bad enum values and malformed annotations in a gold record."""
    problems: list[str] = []
    _check(schema_spec(schema), gold, "record", problems, item=False)
    return problems


def check_gold(fixture: Fixture, schema: type[BaseModel]) -> None:
    """Raise :class:`EvalError` naming the gold file when its record does not fit ``schema``."""
    problems = gold_problems(fixture.gold, schema)
    if problems:
        raise EvalError(
            "gold record does not fit schema " + schema.__name__ + ": " + "; ".join(problems[:10]),
            path=str(fixture.gold_path or fixture.path),
        )


def _check(spec: Spec, value: Any, where: str, problems: list[str], *, item: bool) -> None:
    if is_any_of(value):
        alts = value[ANY_OF]
        if not isinstance(alts, list) or not alts or set(value) - {ANY_OF}:
            problems.append(f'{where}: "$any_of" needs a non-empty list and nothing beside it')
            return
        for i, alt in enumerate(alternatives(value)):
            _check(spec, alt, f"{where}[$any_of {i}]", problems, item=item)
        return
    if value is None:
        return
    if isinstance(spec, RecordSpec):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for key, sub in value.items():
            if key == OPTIONAL and item:
                if not isinstance(sub, bool):
                    problems.append(f'{where}: "$optional" must be true or false')
                continue
            if key not in spec.fields:
                problems.append(f"{where}: unknown field {key!r}")
                continue
            _check(spec.fields[key], sub, f"{where}.{key}", problems, item=False)
    elif isinstance(spec, ListSpec):
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, sub in enumerate(value):
            _check(spec.item, sub, f"{where}[{i}]", problems, item=True)
    elif isinstance(spec, LeafSpec):
        if isinstance(value, dict | list) and not spec.structured:
            problems.append(f"{where}: expected a single value, got {type(value).__name__}")
        elif spec.choices is not None and value not in spec.choices:
            problems.append(f"{where}: {value!r} is not one of {list(spec.choices)}")
    else:  # pragma: no cover - exhaustive
        typing.assert_never(spec)
