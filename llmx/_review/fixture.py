"""Saving a reviewed document as an eval fixture.

A fixture is ``<name>.txt`` (the document's text) beside ``<name>.gold.json``
(``{"meta": ..., "record": ...}``), the format :func:`llmx.evals.load_fixtures`
reads. ``<name>`` comes from the document's doc_id, reduced to a safe file name;
nothing a request sends names a file, and every path is checked to stay inside
the fixture folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmx._errors import LlmxError
from llmx.evals._fixtures import GOLD_SUFFIX, gold_problems

__all__ = ["SavedFixture", "fixture_name", "gold_record", "save_fixture"]

_UNSAFE = re.compile(r"[^\w.\-]+")
_MAX_NAME = 120
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class SavedFixture:
    name: str
    text_path: Path
    gold_path: Path
    replaced: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text_path.name,
            "gold": self.gold_path.name,
            "replaced": self.replaced,
        }


def fixture_name(doc_id: str) -> str:
    """A file-name stem for ``doc_id``: word characters, ``.`` and ``-``; others -> ``_``.

    ``2024/03/article`` -> ``2024_03_article``; leading dots are dropped so the
    file is never hidden (the fixture loader skips hidden files).
    """
    name = _UNSAFE.sub("_", doc_id).strip("._") or "doc"
    return name[:_MAX_NAME]


def _collapse(value: Any) -> Any:
    """Nested objects whose every leaf is empty become ``null``."""
    if isinstance(value, dict):
        inner = {k: _collapse(v) for k, v in value.items()}
        if inner and all(v is None for v in inner.values()):
            return None
        return inner
    if isinstance(value, list):
        return [_collapse(v) for v in value]
    return value


def gold_record(record: dict[str, Any]) -> dict[str, Any]:
    """The corrected record as gold: blank nested objects collapsed to ``null``."""
    return {
        k: [_collapse(i) for i in v] if isinstance(v, list) else _collapse(v)
        for k, v in record.items()
    }


def _gold_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
    published = out.get("published")
    if published is not None and not (isinstance(published, str) and _DATE.match(published[:10])):
        out.pop("published")
    elif isinstance(published, str):
        out["published"] = published[:10]
    return out


def _inside(folder: Path, name: str) -> Path:
    path = (folder / name).resolve()
    if path.parent != folder:
        raise LlmxError("refusing to write outside the fixture folder", path=str(path))
    return path


def save_fixture(
    folder: Path,
    doc_id: str,
    text: str,
    record: dict[str, Any],
    meta: dict[str, Any],
    *,
    schema: type[BaseModel] | None = None,
) -> SavedFixture:
    """Write ``<name>.txt`` and ``<name>.gold.json`` into ``folder`` (created if missing).

    With ``schema`` the gold record is checked first and an :class:`LlmxError`
    lists what does not fit. Each file is written to a temporary name and
    renamed, so a fixture is never half written.
    """
    gold = gold_record(record)
    if schema is not None:
        problems = gold_problems(gold, schema)
        if problems:
            raise LlmxError(
                "the corrected record does not fit the schema: " + "; ".join(problems[:10]),
                schema=schema.__name__,
            )
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    name = fixture_name(doc_id)
    text_path = _inside(root, name + ".txt")
    gold_path = _inside(root, name + GOLD_SUFFIX)
    replaced = gold_path.exists()
    payload = {"meta": _gold_meta(meta), "record": gold}
    _write(text_path, text.encode("utf-8"))
    _write(gold_path, (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return SavedFixture(name, text_path, gold_path, replaced)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
