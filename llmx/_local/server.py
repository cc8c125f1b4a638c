"""Running ``llama_cpp.server`` as a child process, and the long-lived server.

Two ways to run the bundled model behind an OpenAI-compatible HTTP endpoint:

* :class:`LocalServer` -- an *ephemeral* server owned by the current process
  (``llmx run`` with no endpoint configured). It listens on a free loopback port
  in its own process group, and cannot outlive its owner: ``stop()`` is called by
  the context manager, by ``atexit`` and by a SIGTERM handler, and on Linux the
  child is started with ``PR_SET_PDEATHSIG=SIGKILL`` so even ``kill -9`` of llmx
  takes the server down with it.
* :func:`start_detached` / :func:`running_server` / :func:`stop_detached` -- a
  *long-lived* server (``llmx local start``) that survives the CLI, recorded in
  ``<data_dir>/local-server.json`` so later runs can reuse it.

PDEATHSIG is set by a tiny bootstrap (``python -c``) that calls ``prctl`` and then
``exec``\\ s the real server, rather than by a ``preexec_fn``: ``preexec_fn`` runs
Python in the forked child and can deadlock when the parent has other threads
(asyncio executors, HTTP pools). The signal is tied to the *thread* that forked,
so servers are forked from one daemon thread that lives as long as the process:
``start()`` is safe from any thread, including ``asyncio.to_thread`` workers.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from llmx._config import default_data_dir
from llmx._errors import LocalModelError
from llmx._local.model import INSTALL_HINT, ensure_model

#: the name the server reports for the model (``GET /v1/models``); send it as ``model=``
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct"
LOOPBACK = "127.0.0.1"

MIN_CONTEXT = 2048
MAX_CONTEXT = 32768  # Qwen2.5-Coder-1.5B's trained context length
CONTEXT_STEP = 1024
#: added to every context estimate: chat-template tokens and estimator error
CONTEXT_MARGIN_TOKENS = 256

STATE_FILENAME = "local-server.json"
STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 5.0

_PR_SET_PDEATHSIG = 1
# prctl(PR_SET_PDEATHSIG, SIGKILL); exit if the parent is already gone; exec the server.
_BOOTSTRAP = (
    "import ctypes,os,sys\n"
    "libc=ctypes.CDLL(None,use_errno=True)\n"
    f"libc.prctl({_PR_SET_PDEATHSIG},{int(signal.SIGKILL)},0,0,0)\n"
    "if os.getppid()!=int(sys.argv[1]):os._exit(70)\n"
    "os.execv(sys.argv[2],sys.argv[3:])\n"
)

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
    import importlib.util

    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise LocalModelError(
            "The local model server needs llama-cpp-python with its server extra, which is "
            f"not installed. Install it with: {INSTALL_HINT}",
            missing_modules=", ".join(missing),
        )


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
# Server facts and probes


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


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # state is the field after the parenthesised command name
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (avoids zombies in long-lived parents)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path | None, start: int = 0, max_chars: int = 3000) -> str:
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


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# ---------------------------------------------------------------------------
# Cleanup of ephemeral servers on exit / SIGTERM

_LIVE: set[LocalServer] = set()
_LIVE_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(grace=1.0)


def _on_sigterm(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        _stop_all()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return handler


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_stop_all)
    # SIGINT already becomes KeyboardInterrupt (context managers and atexit run);
    # SIGTERM's default action skips both, so chain a handler in front of it.
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, _on_sigterm(previous))


# ---------------------------------------------------------------------------
# Spawning


class _Spawner:
    """One daemon thread that lives as long as the process and forks every server.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child exits, so a
    server spawned from a short-lived worker thread (``asyncio.to_thread``) would
    be killed with it. Forking from this thread ties the server to the process.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            self._queue.get()()

    def call(self, fn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="llmx-local-spawner", daemon=True
                )
                self._thread.start()
        done = threading.Event()
        box: list[subprocess.Popen[bytes] | BaseException] = []

        def job() -> None:
            try:
                box.append(fn())
            except BaseException as exc:
                box.append(exc)
            finally:
                done.set()

        self._queue.put(job)
        done.wait()
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return result


_SPAWNER = _Spawner()


def _spawn(
    argv: Sequence[str], log_file: Path, *, die_with_parent: bool, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, output to ``log_file``."""
    if die_with_parent and sys.platform.startswith("linux"):
        return _SPAWNER.call(lambda: _spawn_now(argv, log_file, True, env))
    return _spawn_now(argv, log_file, die_with_parent, env)


def _spawn_now(
    argv: Sequence[str], log_file: Path, die_with_parent: bool, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    argv = list(argv)
    if die_with_parent and sys.platform.startswith("linux"):
        exe = argv[0]
        if os.sep not in exe:
            import shutil

            exe = shutil.which(exe) or exe
        argv = [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), exe, *argv]
    with log_file.open("ab") as log:
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=None if env is None else dict(env),
            )
        except OSError as exc:
            raise LocalModelError(
                f"Cannot start the local model server: {exc}", command=argv[0]
            ) from exc


def _address_in_use(log_text: str) -> bool:
    text = log_text.lower()
    return "address already in use" in text or "errno 98" in text


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
        self._proc = _spawn(
            argv, self._log_path, die_with_parent=self.die_with_parent, env=self.env
        )
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
            with _LIVE_LOCK:
                _LIVE.add(self)
            _install_hooks()
        return cfg

    def _check_exited(self) -> bool:
        """``True`` if it died on a busy port (retryable); raise for any other exit."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return False
        log_text = _tail(self._log_path, self._log_offset)
        self._forget()
        if self.port is None and _address_in_use(log_text):
            return True
        raise LocalModelError(
            f"The local model server exited during start-up (exit code {code}). "
            f"Last lines of its log:\n{log_text or '<empty>'}",
            exit_code=code,
            log=str(self._log_path),
        )

    def _timeout_error(self) -> LocalModelError:
        log_text = _tail(self._log_path, self._log_offset)
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
                    if self._check_exited():
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

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                _kill_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    _kill_group(proc.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5.0)
            else:
                # the leader is gone; make sure nothing it started lingers
                _kill_group(proc.pid, signal.SIGKILL)
        self._forget()
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


# ---------------------------------------------------------------------------
# The long-lived server (``llmx local start``)


def state_path(data_dir: Path | None = None) -> Path:
    return (data_dir if data_dir is not None else default_data_dir()) / STATE_FILENAME


@contextlib.contextmanager
def _state_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / f".{STATE_FILENAME}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    directory = data_dir if data_dir is not None else default_data_dir()
    info = read_state(directory)
    status = ServerStatus(info=info, state_file=str(state_path(directory)))
    if info is None:
        return status
    status.alive = pid_alive(info.pid) and _owns_port(info.pid, info.port)
    status.healthy = status.alive and probe_health(info.base_url)
    return status


def running_server(data_dir: Path | None = None, min_n_ctx: int = 0) -> ServerInfo | None:
    """A healthy long-lived server to reuse, or ``None``.

    A state file whose process is gone is removed. ``min_n_ctx`` rejects a server
    started with a smaller context than the run needs.
    """
    directory = data_dir if data_dir is not None else default_data_dir()
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
    n_ctx: int = 8192,
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
    directory = data_dir if data_dir is not None else default_data_dir()
    with _state_lock(directory):
        existing = read_state(directory)
        if (
            existing is not None
            and pid_alive(existing.pid)
            and _owns_port(existing.pid, existing.port)
        ):
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
    directory = data_dir if data_dir is not None else default_data_dir()
    with _state_lock(directory):
        info = read_state(directory)
        if info is None:
            return None
        running = pid_alive(info.pid) and _owns_port(info.pid, info.port)
        if running:
            _kill_group(info.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                _reap(info.pid)
                if not pid_alive(info.pid):
                    break
                time.sleep(0.1)
            else:
                _kill_group(info.pid, signal.SIGKILL)
                for _ in range(50):
                    _reap(info.pid)
                    if not pid_alive(info.pid):
                        break
                    time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            state_path(directory).unlink()
        return info if running else None
