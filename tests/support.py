"""Helpers shared by the tests: where the seed documents are, reading JSONL output,
settings for the fake server, child processes."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from llmx._config import Settings
from llmx._endpoints.client import EndpointClient
from llmx._endpoints.profiles import Endpoint
from llmx.testing import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
#: the investment fixtures: seed articles (``NNN_<hash>.txt``), their gold answers and
#: hand-made cases (``case_*.txt``)
SEED_DIR = REPO / "evals" / "investment"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file, one a line; none for a file that does not exist.

    Lines are split on ``\\n`` only: ``str.splitlines()`` would also split on U+2028
    inside a JSON string.
    """
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def client_for(server: FakeOpenAI, mode: str = "tools", **changes: Any) -> EndpointClient:
    """An endpoint client for ``server`` in ``mode``: quick back-off, short timeout."""
    values: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5}
    values.update(changes)
    settings = Settings(base_url=server.base_url, model="fake-model", mode=mode, **values)
    return EndpointClient(Endpoint.from_settings(settings), settings)


def endpoint_settings(server: FakeOpenAI, **changes: Any) -> dict[str, Any]:
    """Settings overrides for a batch run against ``server``: quick back-off, short timeout."""
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": "test",
        "model": "fake-model",
        "mode": "tools",
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
        "concurrency": 4,
    }
    values.update(changes)
    return values


def default_sigint() -> None:
    """Let Ctrl-C reach the child even when this run inherited SIGINT ignored.

    A shell starts background jobs (and so, in some CI setups, the whole test run)
    with SIGINT ignored, and children inherit that: Python then never raises
    KeyboardInterrupt. The test is about what llmx does on Ctrl-C, so give the child
    the terminal's default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
