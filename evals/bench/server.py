"""The fake OpenAI server the benchmarks run against: ``python -m llmx.testing`` in a
separate process (so its CPU is not the client's), and the settings that point llmx at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.bench.corpus import MODEL, RECORD

#: the repository root: the server process runs there, with it on its ``PYTHONPATH``
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server process has used so far (Linux only)."""
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[Server]:
    """A fake OpenAI server in a separate process answering :data:`RECORD`."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmx.testing",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--reply-json",
            json.dumps(RECORD, ensure_ascii=False),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the fake server did not start")
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def settings_overrides(url: str, concurrency: int, cache_dir: Path) -> dict[str, Any]:
    return {
        "base_url": url,
        "api_key": "bench",
        "model": MODEL,
        "mode": "tools",
        "concurrency": concurrency,
        "cache_dir": cache_dir,
        "timeout": 60.0,
    }
