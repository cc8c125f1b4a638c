"""Shared fixtures.

* ``fake_openai`` -- a started :class:`llmx.testing.FakeOpenAI` per test (LLM calls go over
  real HTTP to it; tests never mock the SDK).
* markers -- ``slow`` on tests that start child processes (CLI runs, Ctrl-C, servers) or
  run a benchmark; every ``browser``, ``local_model`` and ``ray`` test is ``slow`` too (see
  :func:`pytest_collection_modifyitems`), so ``pytest -m "not slow"`` is the quick run.
* ``_clean_env`` (autouse) -- every test runs without the user's ``OPENAI_*`` / ``LLMX_*``
  variables, with cache, data, config and home directories inside its own tmp dir, and
  with the whole-document strategy unless it asks for another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmx.testing import FakeOpenAI

# Ray instances started by the tests (and the drivers they start in child processes)
# run on this machine only, while each test moves HOME, where Ray keeps its auth token
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


#: markers whose tests are always slow: a real browser, the real local model, a Ray cluster
ALWAYS_SLOW = ("browser", "local_model", "ray")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in ALWAYS_SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "LLMX_")):
            monkeypatch.delenv(name, raising=False)
    root = tmp_path_factory.mktemp("env")
    dirs = {
        "HOME": root / "home",
        "XDG_CONFIG_HOME": root / "config",
        "XDG_CACHE_HOME": root / "cache",
        "XDG_DATA_HOME": root / "data",
        "XDG_STATE_HOME": root / "state",
        "LLMX_CACHE_DIR": root / "llmx-cache",
        "LLMX_DATA_DIR": root / "llmx-data",
    }
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    # Most tests script one whole-document answer of the investment schema to test what
    # happens around a request (cache, retries, faults, output). They pin the document
    # strategy; tests of the candidates strategy (tests/test_candidates.py) ask for it.
    monkeypatch.setenv("LLMX_STRATEGY", "document")


@pytest.fixture
def env_dirs() -> dict[str, Path]:
    """The isolated directories ``_clean_env`` set up for this test."""
    names = [
        *("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"),
        *("LLMX_CACHE_DIR", "LLMX_DATA_DIR"),
    ]
    return {name: Path(os.environ[name]) for name in names}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake OpenAI server; ``fake_openai.base_url`` is ``http://127.0.0.1:PORT/v1``."""
    with FakeOpenAI() as server:
        yield server
