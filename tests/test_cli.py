"""The command line end to end, in subprocesses, against the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmx.testing import FakeOpenAI, error, structured
from tests.support import SEED_DIR, read_jsonl

#: every test here runs the CLI in a child process
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

RECORD = {
    "projects": [
        {
            "name": "卫蓝新能源固态电池项目",
            "investor": "卫蓝新能源",
            "amount": {"value": 139e8, "currency": "CNY", "qualifier": "exact", "text": "139亿元"},
            "location": {"province": "浙江省", "city": "湖州市", "park": "南太湖新区"},
            "industry": "固态电池",
            "stage": "signed",
            "date": None,
            "evidence": "近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。",
        }
    ],
    "stats": [],
}


def llmx(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "llmx", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=120,
        cwd=ROOT,
    )


def test_run_twice_second_run_served_from_cache(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    seeds = sorted(str(p) for p in SEED_DIR.glob("0*.txt"))
    common = ["--base-url", fake_openai.base_url, "--model", "fake-model", "--no-progress"]
    first = llmx(
        "run", "--schema", "investment", *seeds, "--out", str(tmp_path / "a.jsonl"), *common
    )
    assert first.returncode == 0, first.stderr
    out = read_jsonl(tmp_path / "a.jsonl")
    assert [o["doc_id"] for o in sorted(out, key=lambda o: o["doc_id"])] == [
        Path(s).stem for s in seeds
    ]
    assert all(o["error"] is None and not o["cached"] for o in out)
    assert fake_openai.calls == 5
    assert "5 ok" in first.stderr

    # a second process, a new output file: everything from the shared cache
    second = llmx(
        "run", "--schema", "investment", *seeds, "--out", str(tmp_path / "b.jsonl"), *common
    )
    assert second.returncode == 0, second.stderr
    assert fake_openai.calls == 5
    assert all(
        o["cached"] and o["usage"]["requests"] == 0 for o in read_jsonl(tmp_path / "b.jsonl")
    )

    # the same output file again: resumed, nothing to do
    third = llmx(
        "run", "--schema", "investment", *seeds, "--out", str(tmp_path / "a.jsonl"), *common
    )
    assert third.returncode == 0 and "5 already done" in third.stderr
    assert len(read_jsonl(tmp_path / "a.jsonl")) == 5

    # --no-cache goes to the endpoint again
    fourth = llmx(
        "run",
        "--schema",
        "investment",
        seeds[0],
        "--out",
        str(tmp_path / "c.jsonl"),
        "--no-cache",
        *common,
    )
    assert fourth.returncode == 0 and fake_openai.calls == 6


def test_failures_do_not_stop_others_and_set_exit_code(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    def respond(request: dict[str, Any]) -> Any:
        text = json.dumps(request["messages"], ensure_ascii=False)
        return error(400) if "淮安" in text else structured(RECORD)

    fake_openai.default = respond
    seeds = sorted(str(p) for p in SEED_DIR.glob("0*.txt"))
    out = tmp_path / "out.jsonl"
    result = llmx(
        "run",
        "--schema",
        "investment",
        *seeds,
        "--out",
        str(out),
        "--base-url",
        fake_openai.base_url,
        "--model",
        "m",
        "--no-progress",
    )
    assert result.returncode == 1
    rows = {o["doc_id"]: o for o in read_jsonl(out)}
    assert len(rows) == 5
    failed = [d for d, o in rows.items() if o["error"]]
    assert failed == ["004_18911edffe920a6e"]
    assert rows[failed[0]]["error"]["kind"] == "endpoint_client"
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["doc_id"] for e in errors] == failed
    assert "error report" in result.stderr


def test_stdin_and_jsonl_inputs(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured({"projects": [], "stats": []})
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "text": "湖州签约项目。", "published": "2023-02-07"})
        + "\n"
        + "{broken\n",
        encoding="utf-8",
    )
    out = tmp_path / "o.jsonl"
    args = ["--base-url", fake_openai.base_url, "--model", "m", "--no-progress", "--out", str(out)]
    result = llmx(
        "run", "--schema", "investment", str(jsonl), "-", *args, stdin="来自标准输入的文章。"
    )
    assert result.returncode == 1  # the broken line is reported, the rest succeed
    rows = {o["doc_id"]: o for o in read_jsonl(out)}
    assert rows["a"]["error"] is None and rows["stdin"]["error"] is None
    broken = [o for o in rows.values() if o["error"]]
    assert len(broken) == 1 and broken[0]["error"]["kind"] == "input"
    assert "2023-02-07" in fake_openai.chat_requests[0].text or any(
        "2023-02-07" in r.text for r in fake_openai.chat_requests
    )


def test_api_key_never_written(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    secret = "sk-test-very-secret-0123456789"
    cache = tmp_path / "cache"
    out = tmp_path / "o.jsonl"
    result = llmx(
        "run",
        "--schema",
        "investment",
        str(SEED_DIR / "000_07cdde901ed6cb39.txt"),
        "--out",
        str(out),
        "--base-url",
        fake_openai.base_url,
        "--model",
        "m",
        "--no-progress",
        env={"LLMX_API_KEY": secret, "LLMX_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    assert fake_openai.chat_requests[0].headers.get("authorization") == f"Bearer {secret}"
    for path in [*cache.rglob("*"), *tmp_path.glob("o*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr


def test_usage_errors_are_clear(tmp_path: Path) -> None:
    # no default schema: the error names the bundled ones and the other forms
    for command in (("run", "x.txt"), ("eval", "--fixtures", str(tmp_path))):
        result = llmx(*command)
        assert result.returncode == 2, result.stderr
        assert "--schema is required" in result.stderr and "bundled: investment" in result.stderr
        assert "path.py:Class" in result.stderr and "module:Class" in result.stderr
    result = llmx("run", "x.txt", "--schema", "nosuch", "--base-url", "http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert "unknown schema" in result.stderr and "Traceback" not in result.stderr
    result = llmx(
        "run",
        "--schema",
        "investment",
        "x.txt",
        "--mode",
        "banana",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--out",
        str(tmp_path / "o.jsonl"),
    )
    assert result.returncode == 2 and "unknown mode" in result.stderr


def test_cache_stats_and_clear(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    run = llmx(
        "run",
        "--schema",
        "investment",
        str(SEED_DIR / "000_07cdde901ed6cb39.txt"),
        "--out",
        str(tmp_path / "o.jsonl"),
        "--base-url",
        fake_openai.base_url,
        "--model",
        "m",
        "--no-progress",
    )
    assert run.returncode == 0, run.stderr
    stats = json.loads(llmx("cache", "stats", "--json").stdout)
    assert stats["entries"] == 1
    cleared = llmx("cache", "clear", "--yes")
    assert "removed 1 entries" in cleared.stdout
    assert json.loads(llmx("cache", "stats", "--json").stdout)["entries"] == 0


@pytest.mark.parametrize("predictions", [True])
def test_eval_scores_a_predictions_file(tmp_path: Path, predictions: bool) -> None:
    # a prediction file made from the gold itself scores perfectly
    rows = []
    for gold in sorted(SEED_DIR.glob("0*.gold.json")):
        record = json.loads(gold.read_text(encoding="utf-8"))["record"]
        rows.append({"doc_id": gold.name.removesuffix(".gold.json"), "record": record})
    (tmp_path / "p.jsonl").write_text(
        "\n".join(json.dumps(_first_alternatives(r), ensure_ascii=False) for r in rows),
        encoding="utf-8",
    )
    fixtures = tmp_path / "fx"
    fixtures.mkdir()
    for path in SEED_DIR.glob("0*"):
        (fixtures / path.name).write_bytes(path.read_bytes())
    result = llmx(
        "eval",
        "--schema",
        "investment",
        "--fixtures",
        str(fixtures),
        "--predictions",
        str(tmp_path / "p.jsonl"),
        "--report-dir",
        str(tmp_path / "rep"),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["overall"]["f1"] == pytest.approx(1.0)
    assert (tmp_path / "rep" / "report.html").read_text(encoding="utf-8").startswith("<!")
    # and against itself as a baseline there is no regression
    again = llmx(
        "eval",
        "--schema",
        "investment",
        "--fixtures",
        str(fixtures),
        "--predictions",
        str(tmp_path / "p.jsonl"),
        "--report-dir",
        str(tmp_path / "rep2"),
        "--baseline",
        str(tmp_path / "rep" / "report.json"),
    )
    assert again.returncode == 0, again.stderr


def _first_alternatives(value: Any) -> Any:
    """Resolve gold annotations: first $any_of alternative, drop $optional marks."""
    if isinstance(value, dict):
        if "$any_of" in value:
            return _first_alternatives(value["$any_of"][0])
        return {k: _first_alternatives(v) for k, v in value.items() if k != "$optional"}
    if isinstance(value, list):
        return [_first_alternatives(v) for v in value]
    return value
