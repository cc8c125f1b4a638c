"""Helpers shared by the whole-run tests: settings for the fake server, child processes."""

from __future__ import annotations

import signal
from typing import Any

from llmx.testing import FakeOpenAI


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
