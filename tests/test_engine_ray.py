"""The Ray engine (``--engine ray``) end to end: a local Ray instance (2 CPUs) in this
process, extractor actors talking to the fake server over real HTTP.

Every document ends in the output exactly once, whatever happens to an actor or to the
driver; the accounting is that of one process; a 429 pauses every actor. Timings only
keep a run going long enough to act on it, except where the pause itself is the point.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from llmx._errors import ConfigError, LlmxError
from llmx._inputs import iter_documents
from llmx._runner import RunOutcome, aextract_batch
from llmx._shards import merge_shards, shard_files
from llmx.testing import FakeOpenAI, Reply, error, structured
from tests.corpus import RECORD, news
from tests.support import default_sigint, endpoint_settings

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]
FAIL = "【请求失败】"


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One small local Ray instance for the whole module; its address for other drivers."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",  # the test instance stays on loopback
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def write_folder(folder: Path, n: int, *, failing: frozenset[int] = frozenset()) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"n{i:03d}.txt").write_text(news(i, FAIL if i in failing else ""), "utf-8")
    return [f"n{i:03d}" for i in range(n)]


def fail_marked(req: dict[str, Any]) -> Reply:
    text = json.dumps(req, ensure_ascii=False)
    return error(400, "bad request") if FAIL in text else structured(RECORD)


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


async def run(
    server: FakeOpenAI, inputs: Any, out: Path, *, engine: str = "ray", **changes: Any
) -> RunOutcome:
    settings = endpoint_settings(server, **{"timeout": 10.0, **changes})
    return await aextract_batch(inputs, "investment", out=out, engine=engine, actors=2, **settings)  # type: ignore[arg-type]


def budget_actor() -> Any:
    """The running Ray engine's limiter actor (it knows the extractor actors)."""
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else entry
        if name.startswith("llmx-budget-"):
            namespace = entry.get("namespace") if isinstance(entry, dict) else None
            return ray.get_actor(name, namespace=namespace)
    return None


# --------------------------------------------------------------------------- exactly once


async def test_300_documents_each_exactly_once_with_the_accounting_of_one_process(
    ray_address: str, tmp_path: Path
) -> None:
    ids = write_folder(tmp_path / "in", 300, failing=frozenset({7, 150}))
    (tmp_path / "in" / "empty.txt").write_bytes(b"")  # unreadable: an error line, no request
    with FakeOpenAI(default=fail_marked, latency=0.02) as server:
        ray_out = tmp_path / "ray.jsonl"
        outcome = await run(server, [str(tmp_path / "in")], ray_out, concurrency=8)
        ray_requests = server.calls
        local_out = tmp_path / "local.jsonl"
        local = await run(server, [str(tmp_path / "in")], local_out, engine="local", cache=False)
    found = once(ray_out)
    assert sorted(found) == sorted([*ids, "empty"])
    # the actors cached their answers where the driver's settings say (this test's dir)
    assert any(Path(os.environ["LLMX_CACHE_DIR"]).iterdir())
    s = outcome.summary
    assert (s.total, s.ok, s.failed, s.skipped, s.interrupted) == (301, 298, 3, 0, False)
    assert s.errors_by_kind == local.summary.errors_by_kind
    assert s.usage == local.summary.usage and s.usage.requests == ray_requests
    assert s.cost == local.summary.cost
    assert found["n007"]["error"]["kind"] == local_found_kind(local_out, "n007")
    assert outcome.errors is not None
    ray_errors = sorted(r["doc_id"] for r in rows(outcome.errors))
    assert ray_errors == ["empty", "n007", "n150"]
    summary = json.loads(outcome.summary_path.read_text("utf-8"))
    assert summary["engine"] == "ray" and summary["actors"] == 2
    assert summary["usage"] == json.loads(local.summary_path.read_text("utf-8"))["usage"]
    # the same documents again: every one skipped, nothing asked
    again = await run(server, [str(tmp_path / "in")], ray_out)
    assert (again.summary.skipped, again.summary.processed) == (301, 0)
    assert len(rows(ray_out)) == 301


def local_found_kind(path: Path, doc_id: str) -> str:
    return str(once(path)[doc_id]["error"]["kind"])


async def test_jsonl_and_parquet_inputs_flow_as_documents(ray_address: str, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"id": f"j{i}", "text": news(i)}, ensure_ascii=False) for i in range(5)
        )
        + "\n{not json\n",
        "utf-8",
    )
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(6)],
            "text": [news(i) for i in range(5)] + [None],
            "published": ["2024-03-15"] * 6,
        }
    )
    pq.write_table(table, tmp_path / "b.parquet")
    with FakeOpenAI(default=structured(RECORD)) as server:
        outcome = await run(
            server, [str(jsonl), str(tmp_path / "b.parquet")], tmp_path / "out.jsonl"
        )
    found = once(tmp_path / "out.jsonl")
    assert sorted(found) == sorted(
        [*(f"j{i}" for i in range(5)), "a.jsonl:6", *(f"p{i}" for i in range(6))]
    )
    assert found["p5"]["error"]["kind"] == "input"  # no text: reported, never sent
    assert found["a.jsonl:6"]["error"]["kind"] == "input"
    assert (outcome.summary.ok, outcome.summary.failed) == (10, 2)


async def test_shards_one_per_actor_then_resume_and_merge(ray_address: str, tmp_path: Path) -> None:
    ids = write_folder(tmp_path / "in", 120, failing=frozenset({3}))
    folder = tmp_path / "shards"
    with FakeOpenAI(default=fail_marked, latency=0.02) as server:
        settings = endpoint_settings(server, concurrency=4)
        first = await aextract_batch(
            [str(tmp_path / "in")], "investment", out=folder, engine="ray", actors=2,
            shards=True, **settings,
        )  # fmt: skip
        again = await aextract_batch(
            [str(tmp_path / "in")], "investment", out=folder, engine="ray", actors=2,
            shards=True, **settings,
        )  # fmt: skip
    assert (first.summary.ok, first.summary.failed) == (119, 1)
    parts = shard_files(folder)
    assert len(parts) == 2  # one per actor that wrote; the driver wrote none
    written = Counter(
        json.loads(x)["doc_id"] for p in parts for x in p.read_text("utf-8").splitlines()
    )
    assert sorted(written) == ids and set(written.values()) == {1}
    assert (again.summary.skipped, again.summary.processed) == (120, 0)
    assert merge_shards(folder, tmp_path / "merged.jsonl") == (120, 1)
    assert sorted(once(tmp_path / "merged.jsonl")) == ids
    assert first.summary_path == tmp_path / "shards.summary.json"


# --------------------------------------------------------------------------- faults


async def test_an_actor_killed_mid_run_loses_and_repeats_nothing(
    ray_address: str, tmp_path: Path
) -> None:
    ids = write_folder(tmp_path / "in", 200)
    killed: list[Any] = []

    def kill_one_actor(server: FakeOpenAI) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.calls < 40:
            time.sleep(0.01)
        budget = budget_actor()
        assert budget is not None
        members = ray.get(budget.members.remote())
        ray.kill(members[0], no_restart=False)  # Ray Data restarts it and retries its batches
        killed.append(members[0])

    with FakeOpenAI(default=structured(RECORD), latency=0.1) as server:
        killer = threading.Thread(target=kill_one_actor, args=(server,))
        killer.start()
        outcome = await run(server, [str(tmp_path / "in")], tmp_path / "out.jsonl", concurrency=4)
        killer.join()
    assert killed, "no actor was killed"
    assert sorted(once(tmp_path / "out.jsonl")) == ids
    s = outcome.summary
    assert (s.total, s.ok, s.failed, s.interrupted) == (200, 200, 0, False)
    assert outcome.engine_info["actor_starts"] >= 3  # two, and the killed one again


def cli_driver(
    server: FakeOpenAI, inputs: Path, out: Path, ray_address: str
) -> subprocess.Popen[str]:
    """``llmx run --engine ray`` in a child process, joined to this module's Ray instance."""
    args = [
        *("run", "--schema", "investment", str(inputs), "--out", str(out), "--engine", "ray"),
        *("--ray-address", ray_address, "--actors", "2", "--concurrency", "4"),
        *("--base-url", server.base_url, "--model", "fake-model", "--mode", "tools"),
        "--no-progress",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "llmx", *args],
        cwd=ROOT,
        env={**os.environ, "LLMX_API_KEY": "test"},
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(proc: subprocess.Popen[str], out: Path, lines: int) -> None:
    deadline = time.monotonic() + 90
    while not (out.exists() and out.read_bytes().count(b"\n") >= lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"driver ended early or never wrote: {proc.communicate()}")
        time.sleep(0.02)


def test_driver_killed_with_kill_9_then_resume_yields_each_document_once(
    ray_address: str, tmp_path: Path
) -> None:
    ids = write_folder(tmp_path / "in", 300)
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(default=structured(RECORD), latency=0.1) as server:
        proc = cli_driver(server, tmp_path / "in", out, ray_address)
        wait_for_lines(proc, out, 30)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        before = [r["doc_id"] for r in rows(out)]
        assert 30 <= len(before) < 300 and len(set(before)) == len(before)
        outcome = await_run(run(server, [str(tmp_path / "in")], out, concurrency=4))
    s = outcome.summary
    assert s.skipped == len(before) and s.processed == 300 - len(before)
    assert sorted(once(out)) == ids


def test_ctrl_c_stops_the_cli_driver_cleanly(ray_address: str, tmp_path: Path) -> None:
    write_folder(tmp_path / "in", 300)
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(default=structured(RECORD), latency=0.1) as server:
        proc = cli_driver(server, tmp_path / "in", out, ray_address)
        wait_for_lines(proc, out, 20)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    written = once(out)
    summary = json.loads((tmp_path / "out.summary.json").read_text("utf-8"))
    assert summary["run"]["interrupted"] and summary["ok"] == len(written)


def await_run(coro: Any) -> RunOutcome:
    return asyncio.run(coro)  # type: ignore[no-any-return]


async def test_a_stop_leaves_each_written_document_once_and_a_resume_finishes(
    ray_address: str, tmp_path: Path
) -> None:
    ids = write_folder(tmp_path / "in", 200)
    out = tmp_path / "out.jsonl"
    stop = asyncio.Event()

    async def stop_soon() -> None:
        while out.read_bytes().count(b"\n") < 20 if out.exists() else True:
            await asyncio.sleep(0.02)
        stop.set()

    with FakeOpenAI(default=structured(RECORD), latency=0.1) as server:
        settings = endpoint_settings(server, concurrency=4)
        stopper = asyncio.create_task(stop_soon())
        first = await aextract_batch(
            [str(tmp_path / "in")],
            "investment",
            out=out,
            engine="ray",
            actors=2,
            stop=stop,
            **settings,
        )
        await stopper
        written = once(out)
        assert first.summary.interrupted and len(written) == first.summary.processed < 200
        second = await run(server, [str(tmp_path / "in")], out, concurrency=4)
    assert second.summary.skipped == len(written) and not second.summary.interrupted
    assert sorted(once(out)) == ids


async def test_a_429_pauses_every_actor_together(ray_address: str, tmp_path: Path) -> None:
    write_folder(tmp_path / "in", 120)
    arrivals: list[tuple[float, bool]] = []
    lock = threading.Lock()

    def storm(req: dict[str, Any]) -> Reply:
        with lock:
            n = len(arrivals)
            limited = n == 40  # one actor sees it; the other would carry on alone
            arrivals.append((time.monotonic(), limited))
        return error(429, headers={"Retry-After": "1"}) if limited else structured(RECORD)

    with FakeOpenAI(default=storm, latency=0.05) as server:
        outcome = await run(server, [str(tmp_path / "in")], tmp_path / "out.jsonl", concurrency=4)
    first_429 = min(t for t, limited in arrivals if limited)
    # every actor sat the pause out: nothing reached the server in the middle of it
    quiet = [round(t - first_429, 3) for t, _ in arrivals if 0.3 < t - first_429 < 0.85]
    assert quiet == [], f"requests during the pause, seconds after the first 429: {quiet}"
    assert any(t - first_429 >= 0.85 for t, _ in arrivals)  # and the run went on after it
    assert outcome.summary.ok == 120 and outcome.summary.rate_limited >= 1


async def test_a_failing_dataset_is_an_llmx_error_and_keeps_what_was_written(
    ray_address: str, tmp_path: Path
) -> None:
    broken = functools.partial(iter_documents, 42)  # the read task raises TypeError
    with FakeOpenAI(default=structured(RECORD)) as server, pytest.raises(LlmxError) as caught:
        await run(server, broken, tmp_path / "out.jsonl")
    assert "the Ray job failed" in caught.value.message
    assert "TypeError" in caught.value.message


# --------------------------------------------------------------------------- usage errors


async def test_the_bundled_model_is_refused_before_ray_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs an endpoint"):
        await aextract_batch(["x.txt"], "investment", out=tmp_path / "o.jsonl", engine="ray")


async def test_stdin_is_refused_before_ray_starts(tmp_path: Path) -> None:
    with FakeOpenAI() as server, pytest.raises(ConfigError, match="stdin"):
        await run(server, ["-"], tmp_path / "o.jsonl")


def test_without_ray_installed_the_message_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from llmx._cli import main\n"
        "sys.argv = ['llmx', 'run', 'x.txt', '--schema', 'investment', '--engine', 'ray', "
        "'--base-url', "
        "'http://127.0.0.1:9/v1', '--model', 'm', '--out', sys.argv[1]]\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LLMX_API_KEY": "test"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'llmx[ray]'" in proc.stderr


async def test_different_content_under_a_taken_id_is_extracted_not_skipped(
    ray_address: str, tmp_path: Path
) -> None:
    """Resume keys on content with the Ray engine too: a second story saved under the
    same file name is renamed and extracted; the same story again is skipped."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "story.txt").write_text(news(1), "utf-8")
    (second / "story.txt").write_text(news(2), "utf-8")
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(default=structured(RECORD)) as server:
        await run(server, [str(first / "story.txt")], out)
        again = await run(server, [str(second / "story.txt")], out)
        same = await run(server, [str(first / "story.txt")], out)
    lines = rows(out)
    assert sorted(line["doc_id"] for line in lines) == ["story", "story~2"]
    assert len({line["content_sha256"] for line in lines}) == 2
    assert (again.summary.ok, again.summary.skipped) == (1, 0)
    assert (same.summary.ok, same.summary.skipped) == (0, 1)


async def test_an_endpoint_that_rejects_everything_stops_the_ray_run_early(
    ray_address: str, tmp_path: Path
) -> None:
    """``stop_after_failures`` holds on Ray as in one process: the run stops once that
    many documents in a row failed the same way, the rest stay unwritten for a resume."""
    write_folder(tmp_path / "in", 60)
    out = tmp_path / "o.jsonl"
    with FakeOpenAI(default=error(401), latency=0.05) as server:
        outcome = await run(server, [str(tmp_path / "in")], out, concurrency=1)
    s = outcome.summary
    assert s.stopped_early and s.stopped_early.startswith("3 documents in a row")
    assert 3 <= s.failed < 60 and len(rows(out)) == s.processed
