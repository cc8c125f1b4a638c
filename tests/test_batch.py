from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmx._accounting import BatchSummary, NullProgress
from llmx._batch import run_batch
from llmx._cli.progress import RichProgress, make_progress
from llmx._errors import EndpointError, InputError, LlmxError
from llmx._inputs import iter_documents
from llmx._outfile import default_errors_path
from llmx._ratelimit import RateLimiter
from llmx._resume import read_output
from llmx._types import Document, Result, Usage
from llmx._writer import ResultWriter
from tests.support import default_sigint, read_jsonl

REPO = Path(__file__).resolve().parents[1]


class Rec(BaseModel):
    value: str


def docs(n: int, prefix: str = "d") -> list[Document]:
    return [
        Document(doc_id=f"{prefix}{i:05d}", source=f"{i}.txt", data=f"text {i}") for i in range(n)
    ]


def ok_result(doc: Document, **kw: Any) -> Result[Rec]:
    return Result(
        doc_id=doc.doc_id,
        source=doc.source,
        record=Rec(value=str(doc.data)),
        usage=kw.pop("usage", Usage(100, 20, 1)),
        attempts=1,
        **kw,
    )


async def echo(doc: Document) -> Result[Rec]:
    await asyncio.sleep(0)
    return ok_result(doc)


def ids(path: Path) -> list[str]:
    return [row["doc_id"] for row in read_jsonl(path)]


async def test_every_document_ends_in_output_or_error_report(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "boom", "llmx", "ok2"):
        (inputs / f"{name}.txt").write_text(name, encoding="utf-8")
    big = inputs / "big.txt"
    big.write_bytes(b"x" * 500)
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text('{"id": "j1", "text": "j"}\n{bad json\n{"id": "a", "text": "dup of a"}\n')
    documents = iter_documents(
        [str(inputs), str(jsonl), str(tmp_path / "missing.txt")], max_bytes=100
    )
    calls: list[str] = []

    async def process(doc: Document) -> Result[Rec]:
        calls.append(doc.doc_id)
        if doc.doc_id == "boom":
            raise RuntimeError("kaboom")
        if doc.doc_id == "llmx":
            raise EndpointError("server said no", status=500)
        return ok_result(doc)

    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as writer:
        summary = await run_batch(documents, process, writer=writer, concurrency=3)
    rows = {row["doc_id"]: row for row in read_jsonl(out)}
    expected = {"a", "big", "boom", "llmx", "ok2", "j1", "more.jsonl:2", "a~2", "missing"}
    assert set(rows) == expected
    assert len(read_jsonl(out)) == len(expected)
    assert rows["boom"]["error"]["kind"] == "error"
    assert "RuntimeError" in rows["boom"]["error"]["message"]
    assert rows["llmx"]["error"]["kind"] == "endpoint"
    for input_failure in ("big", "more.jsonl:2", "missing"):
        assert rows[input_failure]["error"]["kind"] == "input"
        assert input_failure not in calls  # never sent to the model
    # a different text under a taken id is extracted too, under a new id, and said so
    assert rows["a~2"]["error"] is None and "a~2" in calls
    assert any("'a~2'" in note for note in rows["a~2"]["notes"])
    errors = {e["doc_id"] for e in read_jsonl(default_errors_path(out))}
    assert errors == {"big", "boom", "llmx", "more.jsonl:2", "missing"}
    assert (summary.total, summary.ok, summary.failed) == (9, 4, 5)
    assert summary.errors_by_kind == {"input": 3, "error": 1, "endpoint": 1}
    assert not summary.interrupted


async def test_resume_skips_done_documents(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    all_docs = docs(20)
    with ResultWriter(out) as writer:
        await run_batch(all_docs[:8], echo, writer=writer)
    seen: list[str] = []

    async def process(doc: Document) -> Result[Rec]:
        seen.append(doc.doc_id)
        return ok_result(doc)

    skip = read_output(out).done_ids()
    with ResultWriter(out) as writer:
        summary = await run_batch(all_docs, process, writer=writer, skip=skip)
    assert sorted(seen) == [d.doc_id for d in all_docs[8:]]
    assert (summary.total, summary.skipped, summary.ok) == (20, 8, 12)
    assert Counter(ids(out)) == Counter(d.doc_id for d in all_docs)


async def test_retry_failed_rewrites_failed_docs_once(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    all_docs = docs(6)

    async def flaky(doc: Document) -> Result[Rec]:
        if doc.doc_id in {"d00001", "d00004"}:
            raise EndpointError("down")
        return ok_result(doc)

    with ResultWriter(out) as writer:
        await run_batch(all_docs, flaky, writer=writer)
    assert {e["doc_id"] for e in read_jsonl(default_errors_path(out))} == {"d00001", "d00004"}
    # default resume: nothing to do
    with ResultWriter(out) as writer:
        summary = await run_batch(all_docs, echo, writer=writer, skip=read_output(out).done_ids())
    assert summary.skipped == 6 and summary.processed == 0
    # --retry-failed: only failed ones, then compaction keeps one line each
    with ResultWriter(out) as writer:
        summary = await run_batch(
            all_docs, echo, writer=writer, skip=read_output(out).done_ids(retry_failed=True)
        )
        report = writer.close()
    assert summary.ok == 2 and summary.skipped == 4
    assert report.compacted_lines == 2 and report.failed_documents == 0
    assert Counter(ids(out)) == Counter(d.doc_id for d in all_docs)
    assert all(row["error"] is None for row in read_jsonl(out))
    assert not default_errors_path(out).exists()


@pytest.mark.parametrize("concurrency", [1, 4, 16])
async def test_concurrency_bound_is_reached_and_respected(tmp_path: Path, concurrency: int) -> None:
    in_flight = 0
    peak = 0

    async def process(doc: Document) -> Result[Rec]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        return ok_result(doc)

    with ResultWriter(tmp_path / "o.jsonl") as writer:
        summary = await run_batch(docs(80), process, writer=writer, concurrency=concurrency)
    assert peak == concurrency
    assert summary.ok == 80


async def test_governor_lowers_effective_concurrency(tmp_path: Path) -> None:
    limiter = RateLimiter(max_concurrency=8, increase_after=10**6)
    in_flight = 0
    peak_late = 0
    count = 0

    async def process(doc: Document) -> Result[Rec]:
        nonlocal in_flight, peak_late, count
        in_flight += 1
        count += 1
        try:
            if count == 12:  # all 8 slots busy: a 429 from inside the HTTP layer
                limiter.on_rate_limited(0.01)
                limiter.on_rate_limited(0.01)  # same burst: ignored
            if count > 30:
                peak_late = max(peak_late, in_flight)
            await asyncio.sleep(0.003)
            return ok_result(doc)
        finally:
            in_flight -= 1

    with ResultWriter(tmp_path / "o.jsonl") as writer:
        summary = await run_batch(docs(80), process, writer=writer, concurrency=8, limiter=limiter)
    assert summary.ok == 80 and summary.rate_limited == 2
    assert limiter.governor.max_in_flight_seen == 8
    assert limiter.governor.limit == 4
    assert peak_late == 4  # the 8 document tasks now share 4 slots


async def test_memory_stays_flat_for_50k_documents(tmp_path: Path) -> None:
    live = 0
    peak = 0
    produced = 0

    def dec() -> None:
        nonlocal live
        live -= 1

    def generate(n: int) -> Iterator[Document]:
        nonlocal live, peak, produced
        for i in range(n):
            doc = Document(doc_id=f"d{i}", source="gen", data="x")
            live += 1
            produced += 1
            peak = max(peak, live)
            weakref.finalize(doc, dec)
            yield doc

    async def noop(doc: Document) -> Result[Rec]:
        return Result(doc_id=doc.doc_id, source=doc.source, record=Rec(value="v"))

    concurrency = 8
    with ResultWriter(tmp_path / "o.jsonl", fsync_every=None, fsync_interval=None) as writer:
        summary = await run_batch(generate(50_000), noop, writer=writer, concurrency=concurrency)
        report = writer.close(finalize=False)
    del report
    assert produced == 50_000 and summary.ok == 50_000
    assert peak <= 2 * concurrency + 3, peak
    assert live <= 1


async def test_cancellation_flushes_and_reports_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    all_docs = docs(200)
    done = 0

    async def slow(doc: Document) -> Result[Rec]:
        nonlocal done
        await asyncio.sleep(0.005)
        done += 1
        return ok_result(doc)

    writer = ResultWriter(out)
    task = asyncio.create_task(run_batch(all_docs, slow, writer=writer, concurrency=4))
    while done < 20:
        await asyncio.sleep(0.001)
    task.cancel()
    summary = await task  # returns instead of raising
    writer.close()
    assert summary.interrupted
    assert summary.resume_hint is not None and "resume" in summary.resume_hint
    written = ids(out)
    assert len(written) == summary.ok == summary.processed
    assert 20 <= len(written) < 200
    assert len(set(written)) == len(written)
    # resume completes each document exactly once
    with ResultWriter(out) as writer2:
        again = await run_batch(all_docs, slow, writer=writer2, skip=read_output(out).done_ids())
    assert not again.interrupted
    assert Counter(ids(out)) == Counter(d.doc_id for d in all_docs)


async def test_stop_event_and_drain_timeout_cancels_stuck_documents(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    stop = asyncio.Event()
    started: list[str] = []

    async def process(doc: Document) -> Result[Rec]:
        started.append(doc.doc_id)
        if doc.doc_id == "d00005":
            stop.set()
        if doc.doc_id in {"d00004", "d00005"}:
            await asyncio.sleep(60)  # stuck request
        return ok_result(doc)

    t0 = time.monotonic()
    with ResultWriter(out) as writer:
        summary = await run_batch(
            docs(50), process, writer=writer, concurrency=2, stop=stop, drain_timeout=0.05
        )
    assert time.monotonic() - t0 < 5
    assert summary.interrupted
    written = ids(out)
    assert "d00004" not in written and "d00005" not in written  # cancelled: resume redoes them
    assert len(written) == summary.processed
    assert len(started) < 50


async def test_drain_lets_in_flight_documents_finish(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    stop = asyncio.Event()

    async def process(doc: Document) -> Result[Rec]:
        if doc.doc_id == "d00002":
            stop.set()
        await asyncio.sleep(0.02)
        return ok_result(doc)

    with ResultWriter(out) as writer:
        summary = await run_batch(
            docs(100), process, writer=writer, concurrency=3, stop=stop, drain_timeout=5
        )
    assert summary.interrupted
    assert {"d00000", "d00001", "d00002"} <= set(ids(out))
    assert summary.processed < 100


async def test_wrong_doc_id_and_non_result_are_handled(tmp_path: Path) -> None:
    async def process(doc: Document) -> Any:
        if doc.doc_id == "d00000":
            return Result(doc_id="other", source="?", record=Rec(value="v"))
        return {"not": "a result"}

    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer:
        summary = await run_batch(docs(2), process, writer=writer)
    rows = read_jsonl(out)
    assert [r["doc_id"] for r in rows] == ["d00000", "d00001"]
    assert rows[0]["error"] is None
    assert "not Result" in rows[1]["error"]["message"]
    assert summary.ok == 1 and summary.failed == 1


async def test_writer_failure_aborts_the_run(tmp_path: Path) -> None:
    class FullDisk(ResultWriter):
        def write(self, result: Result[Any]) -> None:
            if self.lines_written >= 5:
                raise LlmxError("cannot write output: No space left on device")
            super().write(result)

    with FullDisk(tmp_path / "o.jsonl") as writer, pytest.raises(LlmxError, match="No space"):
        await run_batch(docs(50), echo, writer=writer, concurrency=2)


async def test_iterator_failure_propagates_after_draining(tmp_path: Path) -> None:
    def broken() -> Iterator[Document]:
        yield from docs(3)
        raise OSError("disk vanished")

    out = tmp_path / "o.jsonl"
    with ResultWriter(out) as writer, pytest.raises(OSError, match="vanished"):
        await run_batch(broken(), echo, writer=writer)
    assert len(ids(out)) <= 3


async def test_summary_totals_and_cache(tmp_path: Path) -> None:
    async def process(doc: Document) -> Result[Rec]:
        cached = doc.doc_id.endswith(("0", "2"))
        return ok_result(doc, cached=cached, usage=Usage(1000, 100, 1))

    with ResultWriter(tmp_path / "o.jsonl") as writer:
        summary = await run_batch(docs(10), process, writer=writer)
    assert summary.cached == 2
    assert summary.usage.prompt_tokens == 8000 and summary.requests == 8
    assert summary.cost is None  # the batch API estimates it, from this usage
    assert summary.docs_per_second > 0
    data = summary.to_dict()
    assert data["ok"] == 10 and data["usage"]["total_tokens"] == 8800
    assert json.dumps(data)


async def test_progress_sink_events(tmp_path: Path) -> None:
    events: list[str] = []

    class Sink:
        def start(self, total: int | None) -> None:
            events.append(f"start {total}")

        def advance(self, result: Result[Any]) -> None:
            events.append(f"advance {result.doc_id}")

        def skip(self, count: int = 1) -> None:
            events.append("skip")

        def finish(self, summary: BatchSummary) -> None:
            events.append(f"finish {summary.ok}")

    with ResultWriter(tmp_path / "o.jsonl") as writer:
        await run_batch(docs(3), echo, writer=writer, progress=Sink(), skip={"d00001"})
    assert events[0] == "start 3" and events[-1] == "finish 2"
    assert sorted(events[1:-1]) == ["advance d00000", "advance d00002", "skip"]


async def test_rich_progress_runs_and_null_when_not_a_tty(tmp_path: Path) -> None:
    assert isinstance(make_progress(), NullProgress)  # pytest's stderr is not a TTY
    sink = make_progress(True)
    assert isinstance(sink, RichProgress)
    failing = Document(doc_id="bad", source="-", data="", error=InputError("empty"))
    with ResultWriter(tmp_path / "o.jsonl") as writer:
        summary = await run_batch(
            [*docs(5), failing], echo, writer=writer, progress=sink, skip={"d00000"}
        )
    assert (sink.counts.ok, sink.counts.failed) == (4, 1)
    assert summary.skipped == 1


DRIVER = r"""
import asyncio, sys
from pydantic import BaseModel
from llmx._batch import run_batch
from llmx._resume import read_output
from llmx._writer import ResultWriter
from llmx._types import Document, Result

class Rec(BaseModel):
    value: str

out, n, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def documents():
    for i in range(n):
        yield Document(doc_id=f"d{i:05d}", source="gen", data="x" * 200)

async def process(doc):
    await asyncio.sleep(delay)
    return Result(doc_id=doc.doc_id, source=doc.source, record=Rec(value="v" * 300))

async def main():
    skip = read_output(out).done_ids()
    with ResultWriter(out, fsync_every=None, fsync_interval=None) as writer:
        s = await run_batch(documents(), process, writer=writer, concurrency=8, skip=skip)
    print(s.ok, s.skipped, flush=True)

asyncio.run(main())
"""


def run_driver(out: Path, n: int, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(out), str(n), str(delay)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_kill_9_then_resume_yields_each_document_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    n = 400
    proc = run_driver(out, n, 0.01)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 40:
            break
        if proc.poll() is not None:
            pytest.fail(f"driver ended early: {proc.communicate()}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    before = ids(out)
    assert 40 <= len(before) < n
    assert len(set(before)) == len(before)
    # the worst a kill can do to an O_APPEND single-write file: a torn last line
    with open(out, "ab") as fh:
        fh.write(b'{"doc_id": "d00399", "record": {"val')
    resume = run_driver(out, n, 0.0)
    stdout, stderr = resume.communicate(timeout=60)
    assert resume.returncode == 0, stderr
    ok, skipped = map(int, stdout.split())
    assert skipped == len(before) and ok == n - len(before)
    assert Counter(ids(out)) == Counter(f"d{i:05d}" for i in range(n))


SIGINT_DRIVER = r"""
import asyncio, sys
from pydantic import BaseModel
from llmx._batch import run_batch
from llmx._writer import ResultWriter
from llmx._types import Document, Result

class Rec(BaseModel):
    value: str

async def process(doc):
    await asyncio.sleep(0.01)
    return Result(doc_id=doc.doc_id, source=doc.source, record=Rec(value="v"))

async def main():
    docs = (Document(doc_id=f"d{i:05d}", source="gen", data="x") for i in range(100_000))
    with ResultWriter(sys.argv[1]) as writer:
        s = await run_batch(docs, process, writer=writer, concurrency=4, drain_timeout=2)
    print("interrupted" if s.interrupted else "finished", s.ok, flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
def test_ctrl_c_under_asyncio_run_returns_an_interrupted_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_DRIVER, str(out)],
        cwd=REPO,
        env=env,
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_bytes().count(b"\n") >= 20):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    word, ok = stdout.split()
    assert word == "interrupted"
    written = ids(out)
    assert len(written) == int(ok) == len(set(written))


async def test_heap_frozen_during_a_run_and_collector_restored_after(tmp_path: Path) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int]] = []
    garbage: list[weakref.ref[Any]] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    async def process(doc: Document) -> Result[Rec]:
        seen.append((gc.get_freeze_count(), gc.get_threshold()[0]))
        cycle = Cycle()  # made during the run: still collectable
        garbage.append(weakref.ref(cycle))
        return await echo(doc)

    await asyncio.gather(
        run_batch(docs(3, "a"), process, writer=ResultWriter(tmp_path / "a.jsonl")),
        run_batch(docs(3, "b"), process, writer=ResultWriter(tmp_path / "b.jsonl")),
    )
    assert len(seen) == 6 and all(frozen > 0 and threshold >= 10_000 for frozen, threshold in seen)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    gc.collect()
    assert all(ref() is None for ref in garbage)
