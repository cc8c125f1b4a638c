"""Launching ``llama_cpp.server``: its parameters, its command line, a free port, and
the probe that says it is up.

Everything here is about *what* to start and *how to tell it started*; starting the
process and stopping it is :mod:`llmx._local.process`, the object that does both for
one run is :class:`llmx._local.server.LocalServer`.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmx._errors import LocalModelError
from llmx._local.model import INSTALL_HINT

#: the name the server reports for the model (``GET /v1/models``); send it as ``model=``
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct"
LOOPBACK = "127.0.0.1"

MIN_CONTEXT = 2048
MAX_CONTEXT = 32768  # Qwen2.5-Coder-1.5B's trained context length
CONTEXT_STEP = 1024
#: added to every context estimate: chat-template tokens and estimator error
CONTEXT_MARGIN_TOKENS = 256

STARTUP_TIMEOUT_S = 180.0

_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")


# ---------------------------------------------------------------------------
# Parameters


def context_size_for(prompt_tokens_estimate: int, max_output_tokens: int) -> int:
    """The ``n_ctx`` to start the server with for the largest request of a run.

    ``prompt + output + CONTEXT_MARGIN_TOKENS``, rounded up to a multiple of 1024
    and clamped to ``[2048, 32768]``. A request needing more than 32768 tokens
    cannot run on this model; callers should check against :data:`MAX_CONTEXT`.
    """
    need = max(0, prompt_tokens_estimate) + max(0, max_output_tokens) + CONTEXT_MARGIN_TOKENS
    rounded = -(-need // CONTEXT_STEP) * CONTEXT_STEP
    return max(MIN_CONTEXT, min(MAX_CONTEXT, rounded))


def default_threads() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_port(host: str = LOOPBACK) -> int:
    """A currently free TCP port on ``host`` (racy by nature; start-up retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_llama_cpp() -> None:
    """Raise :class:`LocalModelError` unless ``llama-cpp-python[server]`` is importable."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise LocalModelError(
            "The local model server needs llama-cpp-python with its server extra, which is "
            f"not installed. Install it with: {INSTALL_HINT}",
            missing_modules=", ".join(missing),
        )


# ---------------------------------------------------------------------------
# The command line


@dataclass(frozen=True)
class LaunchConfig:
    """Everything the server command needs; passed to a :data:`CommandFactory`."""

    model: Path
    host: str
    port: int
    n_ctx: int
    n_threads: int
    model_alias: str = MODEL_ALIAS
    chat_format: str | None = None
    extra_args: tuple[str, ...] = ()


#: builds the server's argv from a launch config (tests substitute a fake server)
CommandFactory = Callable[[LaunchConfig], Sequence[str]]


def llama_server_command(cfg: LaunchConfig) -> list[str]:
    """``python -m llama_cpp.server ...`` for ``cfg``."""
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(cfg.model),
        "--model_alias",
        cfg.model_alias,
        "--host",
        cfg.host,
        "--port",
        str(cfg.port),
        "--n_ctx",
        str(cfg.n_ctx),
        "--n_threads",
        str(cfg.n_threads),
        "--n_threads_batch",
        str(cfg.n_threads),
    ]
    if cfg.chat_format:
        cmd += ["--chat_format", cfg.chat_format]
    return [*cmd, *cfg.extra_args]


# ---------------------------------------------------------------------------
# A started server: its facts, its health, its start-up log


@dataclass(frozen=True)
class ServerInfo:
    """A started server: what ``local-server.json`` records."""

    pid: int
    port: int
    base_url: str
    model: str
    n_ctx: int
    started: float
    host: str = LOOPBACK
    model_alias: str = MODEL_ALIAS
    log: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerInfo:
        try:
            return cls(
                pid=int(data["pid"]),
                port=int(data["port"]),
                base_url=str(data["base_url"]),
                model=str(data["model"]),
                n_ctx=int(data["n_ctx"]),
                started=float(data["started"]),
                host=str(data.get("host", LOOPBACK)),
                model_alias=str(data.get("model_alias", MODEL_ALIAS)),
                log=None if data.get("log") is None else str(data["log"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LocalModelError(f"Malformed local server state: {exc}") from exc


def base_url_for(host: str, port: int) -> str:
    return f"http://{host}:{port}/v1"


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_health(base_url: str, timeout: float = 2.0) -> bool:
    """``GET <base_url>/models`` answers 200 (proxies bypassed: this is loopback)."""
    try:
        with _NO_PROXY_OPENER.open(f"{base_url}/models", timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path | None, start: int = 0, max_chars: int = 3000) -> str:
    """The end of a log file, from byte ``start`` on (at most ``max_chars`` bytes)."""
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(start, size - max_chars, 0))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def address_in_use(log_text: str) -> bool:
    """Whether a start-up log says the port was taken (another port may work)."""
    text = log_text.lower()
    return "address already in use" in text or "errno 98" in text
