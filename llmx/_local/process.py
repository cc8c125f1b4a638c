"""The server's process: spawning it, signalling it, stopping it, and making sure an
ephemeral one never outlives llmx.

A server that belongs to one run is started with ``PR_SET_PDEATHSIG=SIGKILL`` on
Linux, so even ``kill -9`` of llmx takes it down; :func:`stop_at_exit` adds an
``atexit`` hook and a SIGTERM handler for the orderly ends.

PDEATHSIG is set by a tiny bootstrap (``python -c``) that calls ``prctl`` and then
``exec``\\ s the real server, rather than by a ``preexec_fn``: ``preexec_fn`` runs
Python in the forked child and can deadlock when the parent has other threads
(asyncio executors, HTTP pools). The signal is tied to the *thread* that forked,
so servers are forked from one daemon thread that lives as long as the process:
spawning is safe from any thread, including ``asyncio.to_thread`` workers.

Every server runs in its own session (its own process group), so stopping it
signals the group: whatever the server started goes with it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from llmx._errors import LocalModelError

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


# ---------------------------------------------------------------------------
# Facts about a pid


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


def reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (avoids zombies in long-lived parents)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# ---------------------------------------------------------------------------
# Signals and stopping


def kill_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group ``pid`` leads, and to ``pid`` itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


#: ``wait_exit(timeout)``: whether the process ended within ``timeout`` seconds
ExitWaiter = Callable[[float], bool]


def stop_group(pid: int, grace: float, wait_exit: ExitWaiter) -> None:
    """SIGTERM the process group ``pid`` leads, SIGKILL it if ``pid`` has not ended
    after ``grace`` seconds (then wait up to 5 s more)."""
    kill_group(pid, signal.SIGTERM)
    if not wait_exit(grace):
        kill_group(pid, signal.SIGKILL)
        wait_exit(5.0)


def child_exit_waiter(proc: subprocess.Popen[bytes]) -> ExitWaiter:
    """:data:`ExitWaiter` for a child of this process."""

    def wait_exit(timeout: float) -> bool:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    return wait_exit


def pid_exit_waiter(pid: int) -> ExitWaiter:
    """:data:`ExitWaiter` for any process (polled; reaped if it is our child)."""

    def wait_exit(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reap(pid)
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    return wait_exit


# ---------------------------------------------------------------------------
# Stopping ephemeral servers on exit / SIGTERM


class Stoppable(Protocol):
    def stop(self, grace: float = ...) -> None: ...


_LIVE: set[Stoppable] = set()
_LIVE_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def stop_at_exit(server: Stoppable) -> None:
    """Stop ``server`` when this process exits or gets SIGTERM (until :func:`forget`)."""
    with _LIVE_LOCK:
        _LIVE.add(server)
    _install_hooks()


def forget(server: Stoppable) -> None:
    """``server`` is stopped (or stops itself): nothing to do at exit."""
    with _LIVE_LOCK:
        _LIVE.discard(server)


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


def spawn(
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
