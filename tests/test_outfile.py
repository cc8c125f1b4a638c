"""The output file and its writer: lines, the error report, a torn tail, resume scans,
compaction."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmx._errors import ExtractionError
from llmx._outfile import FinalizeReport, default_errors_path, finalize_output
from llmx._resume import read_output
from llmx._types import Result, Usage
from llmx._writer import ResultWriter
from tests.support import read_jsonl


class Rec(BaseModel):
    name: str


def ok(doc_id: str, name: str = "x") -> Result[Rec]:
    return Result(doc_id=doc_id, source=f"{doc_id}.txt", record=Rec(name=name), attempts=1)


def bad(doc_id: str) -> Result[Rec]:
    return Result(
        doc_id=doc_id,
        source=f"{doc_id}.txt",
        error=ExtractionError("never validated", doc_id=doc_id),
        attempts=3,
        usage=Usage(10, 5, 3),
    )


def test_writer_lines_and_error_report(tmp_path: Path) -> None:
    out = tmp_path / "res.jsonl"
    with ResultWriter(out) as writer:
        writer.write(ok("a"))
        writer.write(bad("b"))
    rows = read_jsonl(out)
    assert [r["doc_id"] for r in rows] == ["a", "b"]
    assert rows[0]["record"] == {"name": "x"} and rows[0]["error"] is None
    assert rows[1]["record"] is None and rows[1]["error"]["kind"] == "validation"
    assert set(rows[0]) >= {"doc_id", "source", "record", "usage", "cached", "attempts", "error"}
    errors_path = default_errors_path(out)
    assert errors_path.name == "res.errors.jsonl"
    [err] = read_jsonl(errors_path)
    assert err == {
        "doc_id": "b",
        "source": "b.txt",
        "error": {"kind": "validation", "message": "never validated", "doc_id": "b"},
        "attempts": 3,
    }


def test_writer_unserialisable_result_still_written(tmp_path: Path) -> None:
    class Boom(Result[Rec]):
        def to_dict(self) -> dict[str, Any]:
            raise ValueError("nope")

    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(Boom(doc_id="z", source="z.txt", record=Rec(name="n")))
    [row] = read_jsonl(out)
    assert row["doc_id"] == "z" and "serialise" in row["error"]["message"]
    assert read_jsonl(default_errors_path(out))[0]["doc_id"] == "z"


def test_torn_last_line_repaired(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(ok("a"))
        writer.write(ok("b"))
    good_size = out.stat().st_size
    with open(out, "ab") as fh:
        fh.write(b'{"doc_id": "c", "rec')  # killed mid-write
    scan = read_output(out)
    assert scan.torn_bytes > 0
    assert out.stat().st_size == good_size
    assert scan.ok == {"a", "b"}


def test_invalid_json_last_line_with_newline_repaired(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_bytes(json.dumps(ok("a").to_dict()).encode() + b"\n" + b"garbage\n")
    scan = read_output(out)
    assert scan.torn_bytes == len(b"garbage\n")
    assert scan.done_ids() == {"a"}
    assert not out.read_bytes().endswith(b"garbage\n")


def test_writer_repairs_tail_before_appending(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(ok("a"))
    with open(out, "ab") as fh:
        fh.write(b'{"doc_id": "b"')
    with ResultWriter(out) as writer:
        assert writer.torn_bytes_repaired > 0
        writer.write(ok("b"))
    assert [r["doc_id"] for r in read_jsonl(out)] == ["a", "b"]


def test_scan_last_line_wins_and_resume_sets(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(ok("a"))
        writer.write(bad("b"))
        writer.write(bad("c"))
        writer.write(ok("c"))  # retried and fixed
        writer.write(ok("d"))
        writer.write(bad("d"))  # later failure is authoritative
        writer.close(finalize=False)
    scan = read_output(out)
    assert scan.ok == {"a", "c"}
    assert scan.failed == {"b", "d"}
    assert scan.duplicates == 2
    assert scan.done_ids() == {"a", "b", "c", "d"}
    assert scan.done_ids(retry_failed=True) == {"a", "c"}


def test_compact_keeps_last_line_per_doc(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(bad("a"))
        writer.write(ok("b"))
        writer.write(ok("a", name="fixed"))
        writer.close(finalize=False)
    assert finalize_output(out).compacted_lines == 1
    rows = read_jsonl(out)
    assert [r["doc_id"] for r in rows] == ["b", "a"]
    assert rows[1]["record"] == {"name": "fixed"}
    assert finalize_output(out).compacted_lines == 0


def test_error_report_reflects_current_state(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    errors = default_errors_path(out)
    with ResultWriter(out) as writer:
        writer.write(bad("a"))
        writer.write(bad("b"))
    assert {e["doc_id"] for e in read_jsonl(errors)} == {"a", "b"}
    # a --retry-failed run fixes "a"
    with ResultWriter(out) as writer:
        writer.write(ok("a"))
        report = writer.close()
    assert report.compacted_lines == 1
    assert report.failed_documents == 1
    assert [e["doc_id"] for e in read_jsonl(errors)] == ["b"]
    assert [r["doc_id"] for r in read_jsonl(out)] == ["b", "a"]
    with ResultWriter(out) as writer:
        writer.write(ok("b"))
    assert not errors.exists()  # no errors left: no report
    assert finalize_output(out).failed_documents == 0


def test_overwrite_truncates(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        writer.write(bad("a"))
    with ResultWriter(out, overwrite=True) as writer:
        writer.write(ok("z"))
    assert [r["doc_id"] for r in read_jsonl(out)] == ["z"]
    assert not default_errors_path(out).exists()


def test_each_line_is_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o.jsonl"
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: Any) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    with ResultWriter(out, fsync_every=1) as writer:
        writer.write(ok("a", name="multi\nline \u2028 text"))
    assert len(writes) == 1 and writes[0].endswith(b"\n") and writes[0].count(b"\n") == 1
    [row] = read_jsonl(out)
    assert row["record"]["name"] == "multi\nline \u2028 text"


def test_output_in_new_folder_and_default_errors_path(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "dir" / "run"
    with ResultWriter(out) as writer:
        writer.write(bad("a"))
    assert (tmp_path / "deep" / "dir" / "run.errors.jsonl").exists()


def test_scan_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_output(tmp_path / "none.jsonl").done_ids() == set()
    assert finalize_output(tmp_path / "none.jsonl") == FinalizeReport()
    assert not (tmp_path / "none.jsonl").exists()


def test_finalize_output_keeps_current_lines_and_rebuilds_the_report(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        for doc_id, good in [("a", False), ("b", True), ("c", False), ("a", True)]:
            writer.write(ok(doc_id) if good else bad(doc_id))
        writer.write(bad("b"))  # a later failure is authoritative
        writer.close(finalize=False)
    current = out.read_bytes().splitlines(keepends=True)[2:]  # c, a, b
    with open(out, "ab") as fh:
        fh.write(b"not json\n" + b'{"doc_id": "torn", "rec')  # corrupt line, torn tail
    report = finalize_output(out)
    # two superseded lines and a corrupt one dropped; the torn tail repaired first
    assert (report.compacted_lines, report.failed_documents) == (3, 2)
    assert out.read_bytes() == b"".join(current)
    assert report.errors_path == default_errors_path(out)
    assert [e["doc_id"] for e in read_jsonl(report.errors_path)] == ["c", "b"]
    totals = report.totals
    assert (totals.documents, totals.ok, totals.failed) == (3, 1, 2)
    assert totals.errors_by_kind == {"validation": 2}
    assert totals.usage.requests == 6  # the failed lines' 3 requests each; none for "a"
    assert finalize_output(out) == FinalizeReport(
        failed_documents=2, errors_path=report.errors_path, totals=totals
    )
