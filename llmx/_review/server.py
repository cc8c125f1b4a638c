"""Serving the review app with uvicorn on 127.0.0.1 only."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmx._errors import LlmxError

__all__ = ["HOST", "bind", "serve", "serve_in_thread"]

HOST = "127.0.0.1"


def bind(port: int = 0) -> socket.socket:
    """A listening socket on the loopback interface (``port`` 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise LlmxError(f"cannot listen on {HOST}:{port}: {exc.strerror}", port=port) from exc
    sock.listen(128)
    return sock


def _server(app: Any) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until interrupted."""
    _server(app).run(sockets=[sock])


@contextmanager
def serve_in_thread(app: Any, port: int = 0) -> Iterator[int]:
    """Serve ``app`` from a background thread; yields the port. Stops on exit."""
    sock = bind(port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise LlmxError("the review server did not start")
        time.sleep(0.02)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
