"""The response cache, and recordings that replay it.

Keys are stable hashes of everything that determines a model's answer: model,
endpoint identity (never the API key), mode, messages, schema JSON, prompt
version and generation parameters. Values are the model's raw JSON answer (the
one that validated) plus the tokens it cost; records are re-validated on every
hit, so better normalisers apply to old answers too. Failures are never stored,
except that an answer was cut off where the text is then asked for in parts
(:attr:`CachedAnswer.cut_off`).

The cache is a :class:`diskcache.Cache` (SQLite underneath): safe to share
between processes and concurrent workers.

A *recording* is a JSONL file of ``{"key", "content", "usage"}`` lines kept in a
repository (e.g. under ``evals/``) so CI can replay answers deterministically:
unchanged requests are served from it, changed ones go to the endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache

from llmx._errors import CacheError


def cache_key(parts: dict[str, Any]) -> str:
    """A stable sha256 of ``parts`` (canonical JSON: sorted keys, no whitespace)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    """One cached model answer.

    ``cut_off``: the answer was cut off at ``max_tokens`` (``content`` is empty). Only
    stored where the caller does not retry such an answer but asks for smaller parts of
    the text instead, so that a later run goes straight to the parts rather than paying
    for the same cut-off generation again (minutes on a local model).
    """

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cut_off: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "content": self.content,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
        }
        if self.cut_off:
            data["cut_off"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CachedAnswer:
        usage = data.get("usage") or {}
        return cls(
            content=str(data["content"]),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cut_off=bool(data.get("cut_off", False)),
        )


class Recording:
    """A JSONL recording of answers, loaded into memory, optionally appended to."""

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        self._answers: dict[str, CachedAnswer] = {}
        self._lock = threading.Lock()
        if path.is_file():
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    self._answers[data["key"]] = CachedAnswer.from_dict(data)
                except (ValueError, KeyError, TypeError) as exc:
                    raise CacheError(
                        "malformed recording line", path=str(path), line=lineno
                    ) from exc
        elif not writable:
            raise CacheError("recording not found", path=str(path))

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> CachedAnswer | None:
        return self._answers.get(key)

    def add(self, key: str, answer: CachedAnswer) -> None:
        if not self.writable:
            return
        with self._lock:
            if self._answers.get(key) == answer:
                return
            self._answers[key] = answer
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"key": key, **answer.to_dict()}, ensure_ascii=False) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)


class ResponseCache:
    """The on-disk answer cache, with an optional recording layered on top."""

    def __init__(
        self,
        directory: Path | None,
        *,
        enabled: bool = True,
        refresh: bool = False,
        replay: Path | None = None,
        record: Path | None = None,
    ) -> None:
        self.enabled = enabled and directory is not None
        self.refresh = refresh
        self.directory = directory
        self._disk: diskcache.Cache | None = None
        self.replay = Recording(replay) if replay is not None else None
        self.recorder = Recording(record, writable=True) if record is not None else None
        self.hits = 0
        self.misses = 0

    def _open(self) -> diskcache.Cache:
        if self._disk is None:
            assert self.directory is not None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._disk = diskcache.Cache(str(self.directory), size_limit=2**34)
            except (OSError, diskcache.Timeout) as exc:
                raise CacheError(f"cannot open cache: {exc}", path=str(self.directory)) from exc
        return self._disk

    def get(self, key: str) -> CachedAnswer | None:
        answer: CachedAnswer | None = None
        if self.replay is not None:
            answer = self.replay.get(key)
        if answer is None and self.enabled and not self.refresh:
            raw = self._open().get(key)
            if isinstance(raw, dict):
                answer = CachedAnswer.from_dict(raw)
        if answer is None:
            self.misses += 1
        else:
            self.hits += 1
            if self.recorder is not None:
                self.recorder.add(key, answer)
        return answer

    def set(self, key: str, answer: CachedAnswer) -> None:
        if self.enabled:
            self._open().set(key, answer.to_dict())
        if self.recorder is not None:
            self.recorder.add(key, answer)

    def stats(self) -> dict[str, Any]:
        """Entries and bytes on disk."""
        if self.directory is None or not self.directory.exists():
            return {"directory": str(self.directory), "entries": 0, "bytes": 0}
        disk = self._open()
        return {
            "directory": str(self.directory),
            "entries": len(disk),
            "bytes": int(disk.volume()),
        }

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        if self.directory is None or not self.directory.exists():
            return 0
        return int(self._open().clear())

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None
