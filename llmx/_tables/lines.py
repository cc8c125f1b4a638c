"""The lines of an llmx output file, read for export: one JSON object per document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OutputLine", "ReadStats", "iter_output"]


@dataclass
class OutputLine:
    """One parsed line of an llmx output file."""

    number: int
    raw: dict[str, Any]

    @property
    def doc_id(self) -> str:
        return str(self.raw["doc_id"])

    @property
    def record(self) -> dict[str, Any] | None:
        rec = self.raw.get("record")
        return rec if isinstance(rec, dict) else None

    @property
    def ok(self) -> bool:
        return self.raw.get("error") is None and self.record is not None

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.raw.get("meta")
        return meta if isinstance(meta, dict) else {}


@dataclass
class ReadStats:
    """What reading an output file skipped."""

    lines: int = 0
    corrupt_lines: int = 0


def iter_output(path: str | Path, stats: ReadStats | None = None) -> Iterator[OutputLine]:
    """Stream the valid lines of an output file; corrupt or torn lines are counted, skipped."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("doc_id"), str):
                if stats is not None:
                    stats.corrupt_lines += 1
                continue
            if stats is not None:
                stats.lines += 1
            yield OutputLine(number, obj)
