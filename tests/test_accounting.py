"""Nothing lost, nothing hidden: every input document is accounted for in the output or
the error report, and every failure is told truthfully, through the command line and the
public API against the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmx.testing import FakeOpenAI, error, structured
from tests.corpus import RECORD, news

ROOT = Path(__file__).resolve().parents[1]


def llmx(*args: str, stdin: str | bytes | None = None, cwd: Path = ROOT) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "llmx", *args],
        capture_output=True,
        input=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        cwd=cwd,
    )


def run(server: FakeOpenAI, *args: str, stdin: str | bytes | None = None) -> Any:
    """``llmx run ARGS`` against ``server``; stdout and stderr decoded."""
    done = llmx(
        "run",
        *args,
        "--base-url",
        server.base_url,
        "--model",
        "fake-model",
        "--no-progress",
        stdin=stdin,
    )
    done.stdout = done.stdout.decode("utf-8", "replace")
    done.stderr = done.stderr.decode("utf-8", "replace")
    return done


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


# ------------------------------------------------------------------ 1: resume by content


def test_a_second_story_through_stdin_is_extracted_not_skipped(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD)
    out = tmp_path / "o.jsonl"
    first = run(fake_openai, "-", "--out", str(out), stdin=news(0))
    assert first.returncode == 0, first.stderr
    second = run(fake_openai, "-", "--out", str(out), stdin=news(1))
    assert second.returncode == 0, second.stderr
    assert "0 already done" in second.stderr
    rows = {row["doc_id"]: row for row in lines(out)}
    assert set(rows) == {"stdin", "stdin~2"}
    assert fake_openai.calls == 2
    assert rows["stdin"]["content_sha256"] != rows["stdin~2"]["content_sha256"]
    assert any("taken in the output" in note for note in rows["stdin~2"]["notes"])
    # the same story again is done: skipped, nothing asked
    third = run(fake_openai, "-", "--out", str(out), stdin=news(1))
    assert third.returncode == 0 and "1 already done" in third.stderr
    assert fake_openai.calls == 2 and len(lines(out)) == 2


def test_index_pages_of_two_folders_in_two_runs(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    for name, i in (("a", 0), ("b", 1)):
        (tmp_path / "x" / name).mkdir(parents=True)
        (tmp_path / "x" / name / "index.html").write_text(
            f"<html><body><p>{news(i)}</p></body></html>", encoding="utf-8"
        )
    out = tmp_path / "o.jsonl"
    assert run(fake_openai, str(tmp_path / "x/a/index.html"), "--out", str(out)).returncode == 0
    second = run(fake_openai, str(tmp_path / "x/b/index.html"), "--out", str(out))
    assert second.returncode == 0, second.stderr
    rows = {row["doc_id"]: row["source"] for row in lines(out)}
    assert rows == {
        "index": str(tmp_path / "x/a/index.html"),
        "index~2": str(tmp_path / "x/b/index.html"),
    }


# ------------------------------------------------------------------ 2: same stems, one run


def test_same_stem_files_in_one_run_are_all_extracted(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "story.txt").write_text(news(0), encoding="utf-8")
    (folder / "story.html").write_text(f"<p>{news(1)}</p><p>{news(2)}</p>", encoding="utf-8")
    for name, i in (("a", 3), ("b", 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(f"<p>{news(i)}</p>", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    done = run(
        fake_openai,
        str(folder),
        str(tmp_path / "a/index.html"),
        str(tmp_path / "b/index.html"),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    rows = {row["doc_id"]: row for row in lines(out)}
    assert set(rows) == {"story", "story.txt", "index", "b/index"}
    assert all(row["error"] is None for row in rows.values())
    assert fake_openai.calls == 4
    assert "5 ok" not in done.stderr and "4 ok" in done.stderr
    assert "2 document(s) got a new doc_id" in done.stderr


# ------------------------------------------------------------------ 3, 4: reruns tell the truth


def test_rerun_after_failures_exits_1_and_suggests_retry_failed(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    def respond(request: dict[str, Any]) -> Any:
        text = json.dumps(request["messages"], ensure_ascii=False)
        return error(400) if "第2批" in text else structured(RECORD)

    fake_openai.default = respond
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text(news(i), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    first = run(fake_openai, str(folder), "--out", str(out))
    assert first.returncode == 1
    second = run(fake_openai, str(folder), "--out", str(out))
    assert second.returncode == 1, second.stderr
    assert "1 of them failed before" in second.stderr
    assert "--retry-failed" in second.stderr
    # the summary describes the whole output, not only the last (idle) invocation
    saved = json.loads((tmp_path / "o.summary.json").read_text(encoding="utf-8"))
    assert (saved["documents"], saved["ok"], saved["failed"]) == (3, 2, 1)
    assert saved["usage"]["requests"] == 3 and saved["usage"]["prompt_tokens"] > 0
    assert saved["errors_by_kind"] == {"endpoint_client": 1}
    assert (saved["run"]["ok"], saved["run"]["skipped"]) == (0, 3)
    # fixed: the retry clears it
    fake_openai.default = structured(RECORD)
    third = run(fake_openai, str(folder), "--out", str(out), "--retry-failed")
    assert third.returncode == 0, third.stderr
    saved = json.loads((tmp_path / "o.summary.json").read_text(encoding="utf-8"))
    assert (saved["documents"], saved["ok"], saved["failed"]) == (3, 3, 0)
    assert saved["usage"]["requests"] == 3  # one current line per document
