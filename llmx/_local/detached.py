"""The long-lived server (``llmx local start``) and the state file that shares it.

:func:`start_detached` starts a :class:`~llmx._local.server.LocalServer` without the
parent-death signal, so it survives the CLI, and records it in
``<data_dir>/local-server.json``; later runs (other processes) find it there with
:func:`running_server` and reuse it, ``llmx local status`` reads it with
:func:`server_status`, :func:`stop_detached` stops it and removes the record.

Writers of the state file hold an exclusive lock next to it, so two ``llmx local
start`` never both start a server; the file itself is replaced atomically, so a
reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmx._config import default_data_dir
from llmx._errors import LocalModelError
from llmx._local.launch import (
    LOOPBACK,
    STARTUP_TIMEOUT_S,
    CommandFactory,
    ServerInfo,
    probe_health,
)
from llmx._local.lock import exclusive_lock
from llmx._local.process import STOP_GRACE_S, pid_alive, pid_exit_waiter, stop_group
from llmx._local.server import LocalServer

STATE_FILENAME = "local-server.json"
#: ``n_ctx`` of a long-lived server unless told otherwise: room for long articles
DETACHED_CONTEXT = 8192


def state_path(data_dir: Path | None = None) -> Path:
    return (data_dir or default_data_dir()) / STATE_FILENAME


@contextlib.contextmanager
def _state_lock(data_dir: Path) -> Iterator[None]:
    """Held while the state file is read to be changed, and changed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(data_dir / f".{STATE_FILENAME}.lock"):
        yield


def read_state(data_dir: Path | None = None) -> ServerInfo | None:
    """The recorded long-lived server, alive or not; ``None`` if nothing is recorded."""
    path = state_path(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LocalModelError(f"Cannot read local server state: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise LocalModelError("Malformed local server state", path=str(path))
    return ServerInfo.from_json(data)


def _write_state(info: ServerInfo, data_dir: Path) -> None:
    path = state_path(data_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _owns_port(pid: int, port: int) -> bool:
    """Best-effort guard against pid reuse: the process's command line names ``port``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid
    return str(port).encode() in cmdline


def _still_running(info: ServerInfo) -> bool:
    """Whether the recorded server's process is alive (and is still that server)."""
    return pid_alive(info.pid) and _owns_port(info.pid, info.port)


@dataclass
class ServerStatus:
    """What ``llmx local status`` reports."""

    info: ServerInfo | None
    alive: bool = False
    healthy: bool = False
    state_file: str = ""
    notes: list[str] = field(default_factory=list)


def server_status(data_dir: Path | None = None) -> ServerStatus:
    """Recorded long-lived server, whether its process is alive and its API healthy."""
    directory = data_dir or default_data_dir()
    info = read_state(directory)
    status = ServerStatus(info=info, state_file=str(state_path(directory)))
    if info is None:
        return status
    status.alive = _still_running(info)
    status.healthy = status.alive and probe_health(info.base_url)
    return status


def running_server(data_dir: Path | None = None, min_n_ctx: int = 0) -> ServerInfo | None:
    """A healthy long-lived server to reuse, or ``None``.

    A state file whose process is gone is removed. ``min_n_ctx`` rejects a server
    started with a smaller context than the run needs.
    """
    directory = data_dir or default_data_dir()
    try:
        status = server_status(directory)
    except LocalModelError:
        return None
    info = status.info
    if info is None:
        return None
    if not status.alive:
        with _state_lock(directory), contextlib.suppress(OSError):
            if read_state(directory) == info:
                state_path(directory).unlink()
        return None
    if not status.healthy or info.n_ctx < min_n_ctx:
        return None
    return info


def start_detached(
    model: Path | str | None = None,
    *,
    data_dir: Path | None = None,
    n_ctx: int = DETACHED_CONTEXT,
    n_threads: int | None = None,
    port: int | None = None,
    host: str = LOOPBACK,
    chat_format: str | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT_S,
    command: CommandFactory | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[ServerInfo, bool]:
    """Start the long-lived server unless one is already healthy.

    Returns ``(info, started)``; ``started`` is ``False`` when an existing server
    was found. The server has no parent-death signal and outlives this process;
    its log is ``<data_dir>/logs/local-server.log``.
    """
    directory = data_dir or default_data_dir()
    with _state_lock(directory):
        existing = read_state(directory)
        if existing is not None and _still_running(existing):
            if probe_health(existing.base_url):
                return existing, False
            raise LocalModelError(
                "A local model server is already running but not healthy (still loading?); "
                "check `llmx local status` or stop it with `llmx local stop`",
                pid=existing.pid,
                base_url=existing.base_url,
            )
        server = LocalServer(
            model,
            n_ctx=n_ctx,
            n_threads=n_threads,
            host=host,
            port=port,
            data_dir=directory,
            chat_format=chat_format,
            extra_args=extra_args,
            startup_timeout=startup_timeout,
            command=command,
            log_path=directory / "logs" / "local-server.log",
            die_with_parent=False,
            env=env,
        )
        info = server.start()
        _write_state(info, directory)
        return info, True


def stop_detached(data_dir: Path | None = None, grace: float = STOP_GRACE_S) -> ServerInfo | None:
    """Stop the long-lived server; returns what was stopped (``None`` if nothing ran)."""
    directory = data_dir or default_data_dir()
    with _state_lock(directory):
        info = read_state(directory)
        if info is None:
            return None
        running = _still_running(info)
        if running:
            stop_group(info.pid, grace, pid_exit_waiter(info.pid))
        with contextlib.suppress(FileNotFoundError):
            state_path(directory).unlink()
        return info if running else None
