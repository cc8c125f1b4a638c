"""The answer cache: stable keys, shared across processes, recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmx._cache import CachedAnswer, ResponseCache, cache_key
from llmx._errors import CacheError


def test_key_is_stable_and_order_independent() -> None:
    a = cache_key({"model": "m", "messages": [{"role": "user", "content": "x"}], "t": 0})
    b = cache_key({"t": 0, "messages": [{"content": "x", "role": "user"}], "model": "m"})
    assert a == b and len(a) == 64
    assert a != cache_key({"model": "m2", "messages": [{"role": "user", "content": "x"}], "t": 0})


def test_round_trip_and_stats(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c")
    assert cache.get("k") is None
    cache.set("k", CachedAnswer('{"a": 1}', 10, 2))
    assert cache.get("k") == CachedAnswer('{"a": 1}', 10, 2)
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.stats()["entries"] == 1
    assert cache.clear() == 1
    assert cache.get("k") is None


def test_disabled_and_refresh(tmp_path: Path) -> None:
    ResponseCache(tmp_path).set("k", CachedAnswer("{}"))
    assert ResponseCache(tmp_path, enabled=False).get("k") is None
    refreshing = ResponseCache(tmp_path, refresh=True)
    assert refreshing.get("k") is None
    refreshing.set("k", CachedAnswer('{"new": 1}'))
    assert ResponseCache(tmp_path).get("k") == CachedAnswer('{"new": 1}')


_WRITER = """
import sys
from pathlib import Path
from llmx._cache import CachedAnswer, ResponseCache
cache = ResponseCache(Path(sys.argv[1]))
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    cache.set(f"k{i}", CachedAnswer(f'{{"i": {i}}}'))
"""


@pytest.mark.slow
def test_shared_between_concurrent_processes(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(lo), str(lo + 100)])
        for lo in (0, 100, 200)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    cache = ResponseCache(tmp_path)
    assert all(cache.get(f"k{i}") == CachedAnswer(f'{{"i": {i}}}') for i in range(300))


def test_recording_replays_and_records(tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    writer = ResponseCache(tmp_path / "c", record=rec)
    writer.set("k1", CachedAnswer('{"x": 1}', 5, 1))
    writer.set("k1", CachedAnswer('{"x": 1}', 5, 1))
    lines = rec.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["key"] == "k1"
    replay = ResponseCache(None, replay=rec)
    assert replay.get("k1") == CachedAnswer('{"x": 1}', 5, 1)
    assert replay.get("k2") is None


def test_cut_off_marker_round_trips_and_old_entries_read_as_answers(tmp_path: Path) -> None:
    marker = CachedAnswer("", 900, 4096, cut_off=True)
    rec = tmp_path / "rec.jsonl"
    ResponseCache(tmp_path / "c", record=rec).set("k", marker)
    assert ResponseCache(tmp_path / "c").get("k") == marker
    assert ResponseCache(None, replay=rec).get("k") == marker
    assert json.loads(rec.read_text(encoding="utf-8"))["cut_off"] is True
    old = {"content": '{"a": 1}', "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    assert CachedAnswer.from_dict(old) == CachedAnswer('{"a": 1}', 1, 2)
    assert "cut_off" not in CachedAnswer('{"a": 1}').to_dict()


def test_missing_or_broken_recording(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="not found"):
        ResponseCache(None, replay=tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(CacheError, match="malformed") as info:
        ResponseCache(None, replay=bad)
    assert info.value.context["line"] == 1
