"""Output shard folders (``llmx run --engine ray --shards``): resume, reading and merging.

The shards here are written with the same :class:`~llmx._writer.ResultWriter` the actors use;
the Ray run that writes them is in ``test_engine_ray.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmx._errors import ExtractionError, InputError
from llmx._outfile import default_errors_path
from llmx._shards import iter_shard_lines, merge_shards, new_shard_path, scan_shards, shard_files
from llmx._types import Result
from llmx._writer import ResultWriter

ROOT = Path(__file__).resolve().parents[1]


class Rec(BaseModel):
    value: str


def ok(doc_id: str) -> Result[Rec]:
    return Result(doc_id=doc_id, source=f"{doc_id}.txt", record=Rec(value=doc_id))


def bad(doc_id: str) -> Result[Rec]:
    return Result(doc_id=doc_id, source=f"{doc_id}.txt", error=ExtractionError("no record"))


def write_shard(folder: Path, *results: Result[Rec]) -> Path:
    path = new_shard_path(folder)
    with ResultWriter(path) as writer:
        for result in results:
            writer.write(result)
    return path


def test_shards_sort_by_start_and_a_later_line_decides(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    first = write_shard(folder, ok("a"), bad("b"), bad("c"))
    second = write_shard(folder, ok("b"), ok("d"))  # a later run retried b
    (folder / "notes.txt").write_text("not a shard", "utf-8")
    assert shard_files(folder) == [first, second]
    assert scan_shards(folder) == {"a", "b", "c", "d"}
    assert scan_shards(folder, retry_failed=True) == {"a", "b", "d"}  # c failed last


def test_a_torn_last_line_is_repaired_and_its_document_redone(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    shard = write_shard(folder, ok("a"))
    with open(shard, "ab") as fh:  # an actor killed mid-write
        fh.write(b'{"doc_id": "b", "record": {"val')
    assert scan_shards(folder) == {"a"}
    assert [json.loads(line)["doc_id"] for line in iter_shard_lines(folder)] == ["a"]


def test_merge_keeps_one_line_per_document_and_writes_the_error_report(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    write_shard(folder, ok("a"), bad("b"), ok("c"))
    write_shard(folder, ok("c"), bad("d"))  # c twice: an actor killed after writing it
    merged = tmp_path / "merged.jsonl"
    assert merge_shards(folder, merged) == (4, 2)
    lines = [json.loads(x) for x in merged.read_text("utf-8").splitlines()]
    assert sorted(line["doc_id"] for line in lines) == ["a", "b", "c", "d"]
    report = [json.loads(x) for x in default_errors_path(merged).read_text("utf-8").splitlines()]
    assert sorted(r["doc_id"] for r in report) == ["b", "d"]


def test_merge_refuses_a_folder_without_shards_and_a_shard_as_target(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no output shards"):
        merge_shards(tmp_path, tmp_path / "merged.jsonl")
    shard = write_shard(tmp_path, ok("a"))
    with pytest.raises(InputError, match="one of the shards"):
        merge_shards(tmp_path, shard)
    assert [json.loads(x)["doc_id"] for x in shard.read_text("utf-8").splitlines()] == ["a"]


def llmx(*args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "llmx", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        cwd=ROOT,
    )


def test_cli_merge_exit_codes(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    write_shard(folder, ok("a"))
    done = llmx("shards", "merge", str(folder), "--out", str(tmp_path / "m.jsonl"))
    assert done.returncode == 0, done.stderr
    write_shard(folder, bad("b"))
    failed = llmx("shards", "merge", str(folder), "--out", str(tmp_path / "m.jsonl"))
    assert failed.returncode == 1 and "error report" in failed.stderr
    empty = llmx("shards", "merge", str(tmp_path / "none"), "--out", str(tmp_path / "x.jsonl"))
    assert empty.returncode == 2 and "no output shards" in empty.stderr
