"""A scripted fake OpenAI-compatible HTTP server for tests and benchmarks.

LLM calls in llmx's tests go over real HTTP to this server, so the ``openai`` SDK and
``instructor`` run unmodified. It answers:

* ``POST /v1/chat/completions`` -- the next scripted :class:`Reply` (FIFO queue), else the
  server's ``default`` responder, else a loud 500 "no scripted reply" error;
* ``GET /v1/models`` -- one fake model;
* ``GET /health`` -- ``{"status": "ok"}``.

Example::

    from llmx.testing import FakeOpenAI, error, structured

    with FakeOpenAI() as server:
        server.queue(error(429, headers={"Retry-After": "1"}), structured({"name": "Ada"}))
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.calls == 2
        assert server.requests[0].json["model"] == "gpt-4o-mini"

The server runs on its own event loop in a daemon thread, so it serves sync and async
clients alike. It can also run as a separate process (for benchmarks, see
:mod:`llmx.testing.__main__`)::

    python -m llmx.testing --port 0 --latency 0.2 --reply-json '{"a": 1}'

This module holds the server's life cycle, its script and its recordings; the reply
types are in :mod:`llmx.testing._replies`, the bodies it answers with in
:mod:`llmx.testing._completions`, the HTTP/1.1 framing in :mod:`llmx.testing._http`.
Only the standard library is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from llmx.testing._completions import (
    DEFAULT_MODEL,
    Completions,
    error_response,
    scripted_error,
)
from llmx.testing._http import Request, Response, serve_connection
from llmx.testing._recording import RecordedRequest
from llmx.testing._replies import (
    Delay,
    Drop,
    Error,
    Hang,
    MessageReply,
    Reply,
    Responder,
    Structured,
    Text,
    Truncated,
)

if TYPE_CHECKING:
    import openai


class _ResponderError(Exception):
    """The scripted responder could not produce a reply (answered as a 500)."""


class FakeOpenAI:
    """A scripted, recording, OpenAI-compatible HTTP server on ``host:port``.

    Use as a context manager (or ``start()`` / ``stop()``). ``port=0`` picks a free port;
    :meth:`restart` reopens the same port. Thread-safe: script and inspect it from any
    thread while clients talk to it.
    """

    def __init__(
        self,
        *,
        default: Responder | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_requests: int | None = None,
    ) -> None:
        """``keep_requests``: how many of the latest requests :attr:`requests` keeps
        (``None``: all of them, what tests inspect). A long-running server, such as one
        serving a benchmark, keeps few: thousands of retained request bodies make each
        full garbage collection of the server's process longer (hundreds of ms after
        10,000 requests), and every reply due during one comes late."""
        #: answers when the queue is empty (None -> 500 "no scripted reply")
        self.default: Responder | None = default
        #: seconds from a chat completion request's last byte read to its reply: the
        #: server's own work (parsing, building the reply, queueing behind other
        #: requests) happens within that time, so a fixed latency stays fixed under load
        self.latency: float = latency
        self.host = host
        self._port = port
        self._lock = threading.Lock()
        self._queue: deque[Responder] = deque()
        self._requests: deque[RecordedRequest] = deque(maxlen=keep_requests)
        self._calls = 0
        self._connections = 0
        self._completions = Completions()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._clients: list[openai.OpenAI] = []

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start serving in a background thread (no-op if already running)."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="FakeOpenAI", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Stop serving: close the socket and every open connection. Recordings are kept."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None

    def restart(self, *, downtime: float = 0.0) -> None:
        """Stop, optionally stay down ``downtime`` seconds, and start again on the same port."""
        self.stop()
        if downtime > 0:
            time.sleep(downtime)
        self.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.close_clients()

    @property
    def port(self) -> int:
        """The bound port (the requested one before the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no path)."""
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"{self.url}/v1"

    # ----------------------------------------------------------------- scripting

    def queue(self, *replies: Responder) -> None:
        """Append replies (or callables ``request_json -> Reply``) to the FIFO script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Number of scripted replies not used yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Clear the scripted queue, the recorded requests and the counters."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._calls = 0
            self._connections = 0

    # ----------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far (all endpoints), oldest first: all
        of them, or the latest ``keep_requests``."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """A snapshot of the chat completion requests only."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    @property
    def calls(self) -> int:
        """Number of chat completion requests received."""
        with self._lock:
            return self._calls

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted (keep-alive reuses one for many requests)."""
        with self._lock:
            return self._connections

    # ----------------------------------------------------------------- client helpers

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` pointed at this server (api_key="test", max_retries=0).

        Closed by :meth:`close_clients`, which leaving the ``with`` block calls.
        """
        import openai

        kwargs.setdefault("api_key", "test")
        kwargs.setdefault("max_retries", 0)
        client = openai.OpenAI(base_url=self.base_url, **kwargs)
        self._clients.append(client)
        return client

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` pointed at this server (api_key="test", max_retries=0).

        Close it yourself (``async with`` / ``await client.close()``), on your event loop.
        """
        import openai

        kwargs.setdefault("api_key", "test")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.base_url, **kwargs)

    def close_clients(self) -> None:
        """Close the sync clients made by :meth:`client`."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    # ----------------------------------------------------------------- internals: loop side

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, reuse_address=True, backlog=1024
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        with self._lock:
            self._connections += 1
        try:
            await serve_connection(reader, writer, self._answer, error_response)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, request: Request) -> Response | None:
        """Record ``request`` and answer it (``None``: hang until the client closes)."""
        path = request.path
        route = path[3:] if path.startswith("/v1/") else path
        payload: Any = None
        bad_json = False
        if request.body:
            try:
                payload = json.loads(request.body)
            except ValueError:
                bad_json = True
        method = request.method
        is_chat = method == "POST" and route == "/chat/completions"
        with self._lock:
            self._requests.append(
                RecordedRequest(method, path, request.headers, payload, request.body)
            )
            if is_chat:
                self._calls += 1

        if is_chat:
            if bad_json or not isinstance(payload, dict):
                return error_response(400, "request body is not a JSON object")
            return await self._chat(payload, request.received)
        if method == "GET" and route == "/models":
            model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "llmx"}
            return Response.json(200, {"object": "list", "data": [model]})
        if method == "GET" and route in ("/health", "/healthz"):
            return Response.json(200, {"status": "ok"})
        return error_response(404, f"no route for {method} {path}")

    def _next_reply(self, req: dict[str, Any]) -> Reply:
        with self._lock:
            responder: Responder | None = self._queue.popleft() if self._queue else self.default
        return self._resolve(responder, req)

    def _resolve(self, responder: Responder | None, req: dict[str, Any]) -> Reply:
        if responder is None:
            raise _ResponderError(
                "FakeOpenAI: no scripted reply (the queue is empty and no default is set)"
            )
        if isinstance(responder, Reply):
            return responder
        try:
            reply = responder(req)
        except Exception as exc:
            raise _ResponderError(f"FakeOpenAI: responder raised {exc!r}") from exc
        if not isinstance(reply, Reply):
            raise _ResponderError(f"FakeOpenAI: responder returned {reply!r}, not a Reply")
        return reply

    async def _chat(self, req: dict[str, Any], received: float) -> Response | None:
        """The answer to a chat completion request read at loop time ``received``."""
        try:
            reply = self._next_reply(req)
            wait = self.latency + reply.latency
            while isinstance(reply, Delay):
                wait += reply.seconds
                reply = reply.then if reply.then is not None else self._resolve(self.default, req)
                wait += reply.latency
        except _ResponderError as exc:
            # x-should-retry: false -> the SDK fails at once instead of retrying a 500
            response = error_response(500, str(exc))
            response.headers["x-should-retry"] = "false"
            return response

        if isinstance(reply, Hang):
            return None
        answer: Response | None = None
        if isinstance(reply, MessageReply) and not isinstance(reply, Truncated):
            answer = self._completions.response(req, reply)  # built within the latency
        if wait > 0:
            elapsed = asyncio.get_running_loop().time() - received
            await asyncio.sleep(max(0.0, wait - elapsed))

        if isinstance(reply, Error):
            return scripted_error(reply)
        if isinstance(reply, Drop):
            response = self._completions.response(req, Text(""))
            response.cut = len(response.body) // 2
            return response
        if isinstance(reply, Truncated):
            response = self._completions.response(req, Structured(reply.obj, usage=reply.usage))
            response.body = response.body[: len(response.body) // 2]
            return response
        if answer is not None:
            return answer
        return error_response(500, f"FakeOpenAI: unsupported reply {reply!r}")
