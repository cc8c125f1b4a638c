"""Batch runs over several worker processes (``llmx.workers``), end to end against the fake
server: every document ends in the output exactly once, whatever the workers do.

No test depends on timings; latencies only keep a run going long enough to act on it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmx.config import Settings
from llmx.errors import SchemaError
from llmx.io import default_errors_path
from llmx.runner import RunOutcome, aextract_batch
from llmx.testing import FakeOpenAI, Reply, error, structured
from llmx.types import Document
from llmx.workers import _jobs, plan_workers, shard_of, worker_slots
from tests.corpus import RECORD, docs, news
from tests.support import default_sigint, endpoint_settings

ROOT = Path(__file__).resolve().parents[1]
FAIL = "【请求失败】"


def doc_factory(n: int) -> Iterator[Document]:
    """A picklable document source (module level): every worker calls it."""
    yield from docs(n, prefix="f")


def write_folder(folder: Path, n: int, *, failing: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        (folder / f"n{i:03d}.txt").write_text(news(i, FAIL if i in failing else ""), "utf-8")
        ids.append(f"n{i:03d}")
    return ids


def fail_marked(req: dict[str, Any]) -> Reply:
    text = json.dumps(req, ensure_ascii=False)
    return error(400, "bad request") if FAIL in text else structured(RECORD)


def overrides(server: FakeOpenAI, **changes: Any) -> dict[str, Any]:
    return endpoint_settings(server, **{"timeout": 10.0, "concurrency": 6, "workers": 2, **changes})


async def run(server: FakeOpenAI, inputs: Any, out: Path, **changes: Any) -> RunOutcome:
    return await aextract_batch(inputs, "investment", out=out, **overrides(server, **changes))


def rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def once(path: Path) -> dict[str, dict[str, Any]]:
    """The output's rows by doc_id, asserting that no doc_id appears twice."""
    found = rows(path)
    counts = Counter(r["doc_id"] for r in found)
    assert all(c == 1 for c in counts.values()), [d for d, c in counts.items() if c > 1]
    return {r["doc_id"]: r for r in found}


# --------------------------------------------------------------------------- units


def test_slots_split_concurrency_exactly() -> None:
    for concurrency in (2, 3, 5, 8, 32, 33):
        for n in range(1, min(concurrency, 5) + 1):
            slots = worker_slots(concurrency, n)
            assert sum(slots) == concurrency and len(slots) == n
            assert max(slots) - min(slots) <= 1


def test_shard_is_stable_and_balanced() -> None:
    ids = [f"doc{i}" for i in range(4000)]
    shards = Counter(shard_of(d, 32, 2) for d in ids)
    assert set(shards) == {0, 1}
    assert abs(shards[0] - shards[1]) < 300
    assert shard_of("é/文件~2", 5, 2) == shard_of("é/文件~2", 5, 2)
    # uneven slots: a worker's share follows its concurrency (3 of 5 vs 2 of 5)
    uneven = Counter(shard_of(d, 5, 2) for d in ids)
    assert 0.52 < uneven[0] / len(ids) < 0.68


def test_plan_falls_back_to_one_process_when_it_must(tmp_path: Path) -> None:
    remote = Settings(base_url="http://127.0.0.1:1/v1", api_key="k", workers=2, concurrency=4)
    assert plan_workers(["a.txt", "b"], remote).workers == 2
    assert plan_workers(docs(3), remote).total == 3
    assert plan_workers(functools.partial(doc_factory, 3), remote).workers == 2
    assert plan_workers(["a.txt", "-"], remote).workers == 1  # stdin is read once
    assert plan_workers(iter(docs(3)), remote).workers == 1  # one-pass iterator
    local = Settings(workers=2, concurrency=4)  # no endpoint: the bundled local model
    assert plan_workers(["a.txt"], local).workers == 1
    assert plan_workers(["a.txt"], remote.replace(concurrency=1)).workers == 1
    assert plan_workers(["a.txt"], remote.replace(workers=8)).workers == 4  # <= concurrency
    auto = Settings(base_url="http://127.0.0.1:1/v1", api_key="k", workers=0, concurrency=64)
    assert plan_workers(["a.txt"], auto).workers == min(64, len(os.sched_getaffinity(0)))


def test_workers_setting_is_validated() -> None:
    with pytest.raises(Exception, match="workers"):
        Settings(workers=-1)


def test_rate_limits_and_skips_are_split(tmp_path: Path) -> None:
    settings = Settings(
        base_url="http://127.0.0.1:1/v1", api_key="k", concurrency=5, rpm=100, tpm=1000
    )
    plan = plan_workers(["x"], settings.replace(workers=2))
    skip = {f"d{i}" for i in range(50)}
    jobs = _jobs(plan, "investment", out=tmp_path / "o.jsonl", prompt=None, settings=settings,
                 skip=skip)  # fmt: skip
    assert [j.settings.concurrency for j in jobs] == [3, 2]
    assert [j.settings.rpm for j in jobs] == [60, 40]
    assert [j.settings.tpm for j in jobs] == [600, 400]
    assert jobs[0].skip | jobs[1].skip == skip and not jobs[0].skip & jobs[1].skip
    assert all(shard_of(d, 5, 2) == j.index for j in jobs for d in j.skip)


# --------------------------------------------------------------------------- end to end


async def test_two_workers_every_input_exactly_once(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = fail_marked
    ids = write_folder(tmp_path / "in", 36, failing={3, 17})
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        json.dumps({"id": "j1", "text": news(100)}, ensure_ascii=False)
        + "\n{broken json\n"
        + json.dumps({"id": "n005", "text": news(101)}, ensure_ascii=False)  # duplicate id
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    outcome = await run(
        fake_openai, [str(tmp_path / "in"), str(jsonl), str(tmp_path / "missing.txt")], out
    )
    assert outcome.workers == 2 and outcome.worker_errors == [] and outcome.complete
    by_id = once(out)
    input_errors = {"more.jsonl:2", "n005~2", "missing"}
    expected = {*ids, "j1", *input_errors}
    assert set(by_id) == expected
    failed = {"n003", "n017", *input_errors}
    assert {d for d, r in by_id.items() if r["error"] is not None} == failed
    assert {r["doc_id"] for r in rows(default_errors_path(out))} == failed
    for doc_id in input_errors:
        assert by_id[doc_id]["error"]["kind"] == "input"
    s = outcome.summary
    assert (s.total, s.ok, s.failed, s.skipped, s.cached) == (40, 35, 5, 0, 0)
    assert s.errors_by_kind == {"input": 3, "endpoint_client": 2}
    assert s.requests == fake_openai.calls == 37
    assert s.usage.prompt_tokens == sum(r["usage"]["prompt_tokens"] for r in by_id.values())
    assert s.usage.completion_tokens == sum(r["usage"]["completion_tokens"] for r in by_id.values())
    saved = json.loads(outcome.summary_path.read_text("utf-8"))
    assert saved["workers"] == 2 and saved["worker_errors"] == []
    assert saved["ok"] == 35 and saved["requests"] == 37 and saved["schema"] == "InvestmentNews"
    # both shards did work
    assert {shard_of(d, 6, 2) for d in by_id} == {0, 1}


async def test_documents_and_factories_as_inputs(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    listed = await run(fake_openai, docs(12), tmp_path / "a.jsonl")
    assert listed.workers == 2 and set(once(listed.out)) == {f"d{i:03d}" for i in range(12)}
    made = await run(fake_openai, functools.partial(doc_factory, 10), tmp_path / "b.jsonl")
    assert made.workers == 2 and set(once(made.out)) == {f"f{i:03d}" for i in range(10)}
    assert made.summary.ok == 10 and made.summary.cached == 10  # same texts as above
    # a one-pass iterator runs in this process
    single = await run(fake_openai, iter(docs(3, "g")), tmp_path / "c.jsonl")
    assert single.workers == 1 and set(once(single.out)) == {"g000", "g001", "g002"}


async def test_resume_skips_done_documents(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    ids = write_folder(tmp_path / "in", 40)
    out = tmp_path / "out.jsonl"
    first = await run(fake_openai, sorted(str(p) for p in (tmp_path / "in").iterdir())[:15], out)
    assert first.summary.ok == 15 and fake_openai.calls == 15
    second = await run(fake_openai, [str(tmp_path / "in")], out)
    assert (second.summary.total, second.summary.skipped, second.summary.ok) == (40, 15, 25)
    assert fake_openai.calls == 40  # nothing done twice
    assert set(once(out)) == set(ids)
    third = await run(fake_openai, [str(tmp_path / "in")], out)
    assert third.summary.skipped == 40 and fake_openai.calls == 40
    overwritten = await run(fake_openai, [str(tmp_path / "in")], out, overwrite=True)
    assert overwritten.summary.ok == 40 and overwritten.summary.cached == 40
    assert set(once(out)) == set(ids)


async def test_retry_failed(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = fail_marked
    ids = write_folder(tmp_path / "in", 20, failing={1, 2, 13})
    out = tmp_path / "out.jsonl"
    first = await run(fake_openai, [str(tmp_path / "in")], out)
    assert first.summary.failed == 3 and first.errors is not None
    calls = fake_openai.calls
    fake_openai.default = structured(RECORD)
    plain = await run(fake_openai, [str(tmp_path / "in")], out)
    assert plain.summary.skipped == 20 and fake_openai.calls == calls
    retried = await run(fake_openai, [str(tmp_path / "in")], out, retry_failed=True)
    assert (retried.summary.skipped, retried.summary.ok, retried.summary.failed) == (17, 3, 0)
    assert fake_openai.calls == calls + 3
    by_id = once(out)  # compacted: the retried documents' old error lines are gone
    assert set(by_id) == set(ids) and all(r["error"] is None for r in by_id.values())
    assert retried.errors is None and not default_errors_path(out).exists()


async def test_startup_error_aborts_before_any_document(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD)
    write_folder(tmp_path / "in", 4)
    out = tmp_path / "out.jsonl"
    out.write_text('{"doc_id": "old", "record": {"projects": []}, "error": null}\n', "utf-8")
    with pytest.raises(SchemaError):
        await aextract_batch(
            [str(tmp_path / "in")],
            "no_such_schema",
            out=out,
            overwrite=True,
            **overrides(fake_openai),
        )
    assert fake_openai.calls == 0
    assert [r["doc_id"] for r in rows(out)] == ["old"]  # not truncated
    assert not multiprocessing.active_children()


def _workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("llmx-worker")]


async def test_killed_worker_is_reported_and_a_rerun_completes(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD, latency=0.1)
    ids = write_folder(tmp_path / "in", 40)
    out = tmp_path / "out.jsonl"
    task = asyncio.create_task(run(fake_openai, [str(tmp_path / "in")], out, concurrency=4))
    while len(rows(out)) < 6 and not task.done():
        await asyncio.sleep(0.02)
    victim = next(p for p in _workers() if p.name == "llmx-worker-0")
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    first = await task
    assert len(first.worker_errors) == 1 and "killed by signal 9" in first.worker_errors[0]
    assert not first.complete
    done = once(out)  # no duplicate and nothing torn in what was written
    assert set(done) < set(ids)
    assert all(r["error"] is None for r in done.values())
    # the dead worker's counts are what it reported (every 0.2 s) before dying
    assert 0 < first.summary.ok <= len(done)
    calls = fake_openai.calls

    fake_openai.default = structured(RECORD)
    second = await run(fake_openai, [str(tmp_path / "in")], out, cache=False)
    assert second.complete and second.summary.skipped == len(done)
    assert set(once(out)) == set(ids)
    assert fake_openai.calls - calls == len(ids) - len(done)


async def test_stop_interrupts_cleanly_and_resume_finishes(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD, latency=0.1)
    ids = write_folder(tmp_path / "in", 40)
    out = tmp_path / "out.jsonl"
    stop = asyncio.Event()
    task = asyncio.create_task(
        aextract_batch(
            [str(tmp_path / "in")],
            "investment",
            out=out,
            stop=stop,
            **overrides(fake_openai, concurrency=4),
        )
    )
    while len(rows(out)) < 4 and not task.done():
        await asyncio.sleep(0.02)
    stop.set()
    first = await task
    assert first.summary.interrupted and first.worker_errors == []
    assert first.summary.resume_hint is not None
    done = once(out)
    assert first.summary.ok == len(done) < len(ids)
    assert not _workers()
    fake_openai.default = structured(RECORD)
    second = await run(fake_openai, [str(tmp_path / "in")], out)
    assert second.complete and set(once(out)) == set(ids)


def test_cli_workers_option(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(RECORD)
    ids = write_folder(tmp_path / "in", 12)
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMX_"))}
    env["LLMX_CACHE_DIR"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "llmx", "run", str(tmp_path / "in"), "--out", str(out)]
    common = ["--base-url", fake_openai.base_url, "--model", "fake-model", "--no-progress"]
    done = subprocess.run(
        [*command, *common, "--workers", "2"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "12 ok" in done.stderr and set(once(out)) == set(ids)
    assert json.loads((tmp_path / "out.summary.json").read_text("utf-8"))["workers"] == 2
    bad = subprocess.run(
        [*command, *common, "--workers", "many"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "--workers" in bad.stderr


def test_cli_ctrl_c_stops_every_process_and_the_rerun_resumes(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = structured(RECORD, latency=0.5)
    ids = write_folder(tmp_path / "in", 60)
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMX_"))}
    env["LLMX_CACHE_DIR"] = str(tmp_path / "cache")
    command = [
        *(sys.executable, "-m", "llmx", "run", str(tmp_path / "in"), "--out", str(out)),
        *("--base-url", fake_openai.base_url, "--model", "fake-model", "--no-progress"),
        *("--workers", "2", "--concurrency", "4"),
    ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while len(rows(out)) < 5:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "run the same command again" in stderr
    done = once(out)
    assert 0 < len(done) < len(ids)
    deadline = time.monotonic() + 10
    while True:  # no worker (nor the forkserver) outlives the command
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes left in the group"
        time.sleep(0.05)
    fake_openai.default = structured(RECORD)
    again = subprocess.run(
        [*command[:-4], "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert set(once(out)) == set(ids)
