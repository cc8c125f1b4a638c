"""An ephemeral ``llama_cpp.server`` owned by the current process.

:class:`LocalServer` runs the bundled model behind an OpenAI-compatible HTTP
endpoint for the life of one llmx run (``llmx run`` with no endpoint configured).
It listens on a free loopback port in its own process group, and cannot outlive
its owner: ``stop()`` is called by the context manager, by ``atexit`` and by a
SIGTERM handler, and on Linux the child is started with
``PR_SET_PDEATHSIG=SIGKILL`` so even ``kill -9`` of llmx takes the server down
with it (:mod:`llmx._local.process`). ``start()`` is safe from any thread,
including ``asyncio.to_thread`` workers.

The long-lived server that survives the CLI (``llmx local start``) is the same
object started without the parent-death signal, recorded for other processes by
:mod:`llmx._local.detached`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from llmx._errors import LocalModelError
from llmx._local.launch import (
    LOOPBACK,
    MIN_CONTEXT,
    MODEL_ALIAS,
    STARTUP_TIMEOUT_S,
    CommandFactory,
    LaunchConfig,
    ServerInfo,
    address_in_use,
    base_url_for,
    check_llama_cpp,
    default_threads,
    free_port,
    llama_server_command,
    log_tail,
    probe_health,
)
from llmx._local.model import ensure_model
from llmx._local.process import (
    STOP_GRACE_S,
    child_exit_waiter,
    forget,
    kill_group,
    spawn,
    stop_at_exit,
    stop_group,
)

#: ``from llmx._local.server import MODEL_ALIAS`` keeps working: the alias is part of
#: what a caller of the server needs to know
__all__ = ["MODEL_ALIAS", "LocalServer"]


class LocalServer:
    """An ephemeral llama.cpp server for the life of one llmx run.

    ``with LocalServer(n_ctx=context_size_for(...)) as server: ...`` (or
    ``async with``) starts it, waits until it is healthy and stops it on exit;
    ``server.base_url`` is the OpenAI-compatible base URL (``.../v1``).

    ``model`` defaults to :func:`~llmx._local.model.ensure_model` (assembled on
    first use). ``command`` replaces the ``llama_cpp.server`` command line (tests);
    with it, the llama-cpp installation check is skipped.
    """

    def __init__(
        self,
        model: Path | str | None = None,
        *,
        n_ctx: int = MIN_CONTEXT,
        n_threads: int | None = None,
        host: str = LOOPBACK,
        port: int | None = None,
        data_dir: Path | None = None,
        model_alias: str = MODEL_ALIAS,
        chat_format: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT_S,
        command: CommandFactory | None = None,
        log_path: Path | None = None,
        die_with_parent: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.model = None if model is None else Path(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.model_alias = model_alias
        self.chat_format = chat_format
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.command = command
        self.die_with_parent = die_with_parent
        self.env = env
        self._log_path = log_path
        self._own_log = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._info: ServerInfo | None = None
        self._lock = threading.Lock()

    # -- properties -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``; only valid once started."""
        if self._info is None:
            raise LocalModelError("The local model server is not running")
        return self._info.base_url

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            raise LocalModelError("The local model server is not running")
        return self._info

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- start ------------------------------------------------------------

    def _prepare(self) -> None:
        if self.command is None:
            check_llama_cpp()
        if self.model is None:
            self.model = ensure_model(self.data_dir)
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="llmx-local-server-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
            self._own_log = True
        else:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)

    def _launch(self) -> LaunchConfig:
        assert self.model is not None and self._log_path is not None
        port = self.port if self.port is not None else free_port(self.host)
        cfg = LaunchConfig(
            model=self.model,
            host=self.host,
            port=port,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            model_alias=self.model_alias,
            chat_format=self.chat_format,
            extra_args=self.extra_args,
        )
        argv = (self.command or llama_server_command)(cfg)
        self._log_offset = self._log_path.stat().st_size if self._log_path.exists() else 0
        self._proc = spawn(argv, self._log_path, die_with_parent=self.die_with_parent, env=self.env)
        self._info = ServerInfo(
            pid=self._proc.pid,
            port=port,
            base_url=base_url_for(self.host, port),
            model=str(self.model),
            n_ctx=self.n_ctx,
            started=time.time(),
            host=self.host,
            model_alias=self.model_alias,
            log=str(self._log_path),
        )
        if self.die_with_parent:
            stop_at_exit(self)
        return cfg

    def _died_on_taken_port(self) -> bool:
        """``True`` if it died on a busy port (retryable); raise for any other exit."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return False
        log_text = log_tail(self._log_path, self._log_offset)
        forget(self)
        if self.port is None and address_in_use(log_text):
            return True
        raise LocalModelError(
            f"The local model server exited during start-up (exit code {code}). "
            f"Last lines of its log:\n{log_text or '<empty>'}",
            exit_code=code,
            log=str(self._log_path),
        )

    def _timeout_error(self) -> LocalModelError:
        log_text = log_tail(self._log_path, self._log_offset)
        self._own_log = False  # the message points at it: keep it
        self.stop()
        return LocalModelError(
            f"The local model server did not become healthy within {self.startup_timeout:.0f}s. "
            f"Last lines of its log:\n{log_text or '<empty>'}",
            timeout_s=self.startup_timeout,
            log=str(self._log_path),
        )

    def start(self) -> ServerInfo:
        """Start the server and block until ``GET /v1/models`` answers 200."""
        with self._lock:
            if self.is_running():
                return self.info
            self._prepare()
            for _attempt in range(3):
                self._launch()
                deadline = time.monotonic() + self.startup_timeout
                while True:
                    if self._died_on_taken_port():
                        break  # port taken between probe and bind: try another
                    if probe_health(self.base_url):
                        return self.info
                    if time.monotonic() > deadline:
                        raise self._timeout_error()
                    time.sleep(0.2)
            raise LocalModelError("Could not find a free port for the local model server")

    async def astart(self) -> ServerInfo:
        """:meth:`start` without blocking the event loop."""
        return await asyncio.to_thread(self.start)

    # -- stop -------------------------------------------------------------

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                stop_group(proc.pid, grace, child_exit_waiter(proc))
            else:
                # the leader is gone; make sure nothing it started lingers
                kill_group(proc.pid, signal.SIGKILL)
        forget(self)
        self._proc = None
        self._info = None
        if self._own_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()

    async def astop(self, grace: float = STOP_GRACE_S) -> None:
        await asyncio.to_thread(self.stop, grace)

    # -- context managers ---------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # stop synchronously: it must also run when the task is being cancelled
        self.stop()

    def __repr__(self) -> str:
        where = self._info.base_url if self._info else "not started"
        return f"LocalServer({where}, pid={self.pid}, n_ctx={self.n_ctx})"
