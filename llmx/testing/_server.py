"""A scripted fake OpenAI-compatible HTTP server for tests and benchmarks.

LLM calls in llmx's tests go over real HTTP to this server, so the ``openai`` SDK and
``instructor`` run unmodified. It speaks just enough HTTP/1.1 (keep-alive, Content-Length
and chunked request bodies) and answers:

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
clients alike. It can also run as a separate process (for benchmarks)::

    python -m llmx.testing --port 0 --latency 0.2 --reply-json '{"a": 1}'

which prints the base URL (``http://127.0.0.1:PORT/v1``) as its first stdout line.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias

if TYPE_CHECKING:
    import openai

__all__ = [
    "Delay",
    "Drop",
    "Error",
    "FakeOpenAI",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Structured",
    "Text",
    "ToolArgs",
    "Truncated",
    "delay",
    "drop",
    "error",
    "hang",
    "structured",
    "text",
    "tool_args",
    "truncated",
]

DEFAULT_MODEL = "fake-model"
_MAX_HEADER_BYTES = 64 * 1024


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received (header names are lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes = b""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat ``messages`` of the request ([] when absent)."""
        if isinstance(self.json, dict):
            messages = self.json.get("messages")
            if isinstance(messages, list):
                return [m for m in messages if isinstance(m, dict)]
        return []

    @property
    def text(self) -> str:
        """All textual message content of the request, joined by newlines."""
        return "\n".join(_message_text(m) for m in self.messages)


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, kw_only=True)
class Reply:
    """Base of every scripted reply.

    ``latency`` -- seconds the server waits before answering (added to the server's own
    ``latency``). ``usage`` -- ``(prompt_tokens, completion_tokens)`` for the ``usage``
    block; by default derived from the lengths of the request text and the answer (~4
    characters a token).
    """

    latency: float = 0.0
    usage: tuple[int, int] | None = None


@dataclass(frozen=True, kw_only=True)
class _MessageReply(Reply):
    """A reply that produces an assistant message (``finish_reason`` overridable)."""

    finish_reason: str | None = None


@dataclass(frozen=True)
class Structured(_MessageReply):
    """Answer ``obj`` in whatever shape the request asks for (see :func:`structured`)."""

    obj: Any


@dataclass(frozen=True)
class Text(_MessageReply):
    """Raw assistant ``content``."""

    content: str


@dataclass(frozen=True)
class ToolArgs(_MessageReply):
    """A tool call whose ``arguments`` string is ``raw`` verbatim."""

    raw: str
    name: str | None = None


@dataclass(frozen=True)
class Error(Reply):
    """An HTTP error status with an OpenAI-style error body."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay(Reply):
    """Wait ``seconds``, then answer ``then`` (``None``: the server's default responder)."""

    seconds: float
    then: Reply | None = None


@dataclass(frozen=True)
class Drop(Reply):
    """Send the status line, headers (with Content-Length) and part of the body; then close."""


@dataclass(frozen=True)
class Hang(Reply):
    """Never answer; hold the connection until the client gives up (or the server stops)."""


@dataclass(frozen=True)
class Truncated(_MessageReply):
    """A valid HTTP response whose JSON body (the :func:`structured` answer) is cut short."""

    obj: Any


Responder: TypeAlias = Reply | Callable[[dict[str, Any]], Reply]
"""A reply, or a callable building one from the request JSON."""


def structured(
    obj: Any,
    *,
    latency: float = 0.0,
    usage: tuple[int, int] | None = None,
    finish_reason: str | None = None,
) -> Structured:
    """Answer ``obj`` (a dict / list, or a pydantic model) in the shape the request asks for.

    * request has ``tools`` -> an assistant ``tool_calls`` message calling the requested tool
      (``tool_choice``'s name, else ``tools[0]``) with ``arguments=json.dumps(obj)``,
      finish_reason ``"tool_calls"`` (legacy ``functions`` -> ``function_call``);
    * request has ``response_format`` (json_object / json_schema) -> ``content=json.dumps(obj)``;
    * otherwise (markdown JSON mode) -> ``content="```json\\n...\\n```"``.
    """
    return Structured(obj, latency=latency, usage=usage, finish_reason=finish_reason)


def text(
    content: str,
    *,
    latency: float = 0.0,
    usage: tuple[int, int] | None = None,
    finish_reason: str | None = None,
) -> Text:
    """Raw assistant content, e.g. invalid JSON to trigger instructor re-asks."""
    return Text(content, latency=latency, usage=usage, finish_reason=finish_reason)


def tool_args(
    raw: str,
    *,
    name: str | None = None,
    latency: float = 0.0,
    usage: tuple[int, int] | None = None,
    finish_reason: str | None = None,
) -> ToolArgs:
    """A tool call with the raw ``arguments`` string ``raw`` (tool name as for structured)."""
    return ToolArgs(raw, name, latency=latency, usage=usage, finish_reason=finish_reason)


def error(
    status: int,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    latency: float = 0.0,
) -> Error:
    """An HTTP error, e.g. ``error(429, headers={"Retry-After": "1"})``.

    ``body`` defaults to ``{"error": {"message", "type", "param", "code"}}``.
    """
    return Error(status, body, dict(headers or {}), latency=latency)


def delay(seconds: float, then: Reply | None = None) -> Delay:
    """Sleep ``seconds`` before answering ``then`` (default: the server's default responder)."""
    return Delay(seconds, then)


def drop(*, latency: float = 0.0) -> Drop:
    """Close the connection in the middle of the response body."""
    return Drop(latency=latency)


def hang() -> Hang:
    """Never answer: the client's timeout is what ends the request."""
    return Hang()


def truncated(obj: Any, *, latency: float = 0.0) -> Truncated:
    """A complete HTTP response whose JSON body is cut in half."""
    return Truncated(obj, latency=latency)


# --------------------------------------------------------------------------- helpers


def _jsonable(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic models, without importing pydantic
    if callable(dump):
        return dump(mode="json")
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), ensure_ascii=False)


def _requested_tool_name(req: Mapping[str, Any]) -> str | None:
    choice = req.get("tool_choice")
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(choice.get("name"), str):
            return str(choice["name"])
    tools = req.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict):
        fn = tools[0].get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(tools[0].get("name"), str):
            return str(tools[0]["name"])
    return None


def _requested_function_name(req: Mapping[str, Any]) -> str:
    call = req.get("function_call")
    if isinstance(call, dict) and isinstance(call.get("name"), str):
        return str(call["name"])
    functions = req.get("functions")
    if isinstance(functions, list) and functions and isinstance(functions[0], dict):
        name = functions[0].get("name")
        if isinstance(name, str):
            return name
    return "function"


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    422: "unprocessable_entity_error",
    429: "rate_limit_exceeded",
}


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message or f"FakeOpenAI scripted error {status}",
            "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error"),
            "param": None,
            "code": None,
        }
    }


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Response:
    """A response to write: status, headers, body; ``keep_alive`` False closes afterwards."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        if headers:
            self.headers.update(headers)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Response:
        return cls(status, json.dumps(payload).encode(), headers)

    def head(self, keep_alive: bool) -> bytes:
        length = len(self.body)
        lines = [f"HTTP/1.1 {self.status} {_reason(self.status)}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "content-length"]
        lines.append(f"Content-Length: {length}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _ResponderError(Exception):
    """The scripted responder could not produce a reply (answered as a 500)."""


# --------------------------------------------------------------------------- server


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
        self._ids = itertools.count(1)
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
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # client closed the connection
            except asyncio.LimitOverrunError:
                resp = _Response.json(431, _error_body(431, "request headers too large"))
                writer.write(resp.head(keep_alive=False) + resp.body)
                await writer.drain()
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                resp = _Response.json(400, _error_body(400, "malformed request line"))
                writer.write(resp.head(keep_alive=False) + resp.body)
                await writer.drain()
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                key = name.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = await _read_chunked(reader)
            else:
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length > 0 else b""
            received = asyncio.get_running_loop().time()
            connection = headers.get("connection", "").lower()
            keep_alive = (
                "close" not in connection
                if version.upper() != "HTTP/1.0"
                else "keep-alive" in connection
            )
            keep_alive = await self._dispatch(
                method.upper(), target, headers, body, reader, writer, keep_alive, received
            )
            if not keep_alive:
                return

    async def _dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
        received: float,
    ) -> bool:
        """Answer one request; returns whether the connection stays open.

        ``received``: the event loop's time when the request had been read.
        """
        path = target.split("?", 1)[0]
        route = path[3:] if path.startswith("/v1/") else path
        payload: Any = None
        bad_json = False
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                bad_json = True
        is_chat = method == "POST" and route == "/chat/completions"
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, payload, body))
            if is_chat:
                self._calls += 1

        if is_chat:
            if bad_json or not isinstance(payload, dict):
                resp = _Response.json(400, _error_body(400, "request body is not a JSON object"))
            else:
                return await self._chat(payload, reader, writer, keep_alive, received)
        elif method == "GET" and route == "/models":
            model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "llmx"}
            resp = _Response.json(200, {"object": "list", "data": [model]})
        elif method == "GET" and route in ("/health", "/healthz"):
            resp = _Response.json(200, {"status": "ok"})
        else:
            resp = _Response.json(404, _error_body(404, f"no route for {method} {path}"))
        await _send(writer, resp, keep_alive)
        return keep_alive

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

    async def _chat(
        self,
        req: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
        received: float,
    ) -> bool:
        try:
            reply = self._next_reply(req)
            wait = self.latency + reply.latency
            while isinstance(reply, Delay):
                wait += reply.seconds
                reply = reply.then if reply.then is not None else self._resolve(self.default, req)
                wait += reply.latency
        except _ResponderError as exc:
            # x-should-retry: false -> the SDK fails at once instead of retrying a 500
            resp = _Response.json(500, _error_body(500, str(exc)), {"x-should-retry": "false"})
            await _send(writer, resp, keep_alive)
            return keep_alive

        if isinstance(reply, Hang):
            await _until_eof(reader)
            return False
        answer: _Response | None = None
        if isinstance(reply, _MessageReply) and not isinstance(reply, Truncated):
            answer = self._completion_response(req, reply)  # built within the latency
        if wait > 0:
            elapsed = asyncio.get_running_loop().time() - received
            await asyncio.sleep(max(0.0, wait - elapsed))

        if isinstance(reply, Error):
            payload = reply.body if reply.body is not None else _error_body(reply.status)
            if isinstance(payload, bytes | str):
                resp = _Response(
                    reply.status, payload.encode() if isinstance(payload, str) else payload
                )
            else:
                resp = _Response.json(reply.status, payload)
            resp.headers.update(reply.headers)
            await _send(writer, resp, keep_alive)
            return keep_alive
        if isinstance(reply, Drop):
            resp = self._completion_response(req, text(""))
            writer.write(resp.head(keep_alive=False) + resp.body[: len(resp.body) // 2])
            await writer.drain()
            return False
        if isinstance(reply, Truncated):
            resp = self._completion_response(req, Structured(reply.obj, usage=reply.usage))
            resp.body = resp.body[: len(resp.body) // 2]
            await _send(writer, resp, keep_alive)
            return keep_alive
        if answer is not None:
            await _send(writer, answer, keep_alive)
            return keep_alive
        resp = _Response.json(500, _error_body(500, f"FakeOpenAI: unsupported reply {reply!r}"))
        await _send(writer, resp, keep_alive)
        return keep_alive

    # ----------------------------------------------------------------- completions

    def _message(self, req: Mapping[str, Any], reply: _MessageReply) -> tuple[dict[str, Any], str]:
        """The assistant message for ``reply`` and its default finish_reason."""
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(reply, ToolArgs):
            name = reply.name or _requested_tool_name(req) or "tool"
            message["tool_calls"] = [self._tool_call(name, reply.raw)]
            return message, "tool_calls"
        if isinstance(reply, Text):
            message["content"] = reply.content
            return message, "stop"
        assert isinstance(reply, Structured | Truncated)
        dumped = _dumps(reply.obj)
        if req.get("tools"):
            name = _requested_tool_name(req) or "tool"
            message["tool_calls"] = [self._tool_call(name, dumped)]
            return message, "tool_calls"
        if req.get("functions"):
            name = _requested_function_name(req)
            message["function_call"] = {"name": name, "arguments": dumped}
            return message, "function_call"
        if req.get("response_format"):
            message["content"] = dumped
        else:
            message["content"] = f"```json\n{dumped}\n```"
        return message, "stop"

    def _tool_call(self, name: str, arguments: str) -> dict[str, Any]:
        call_id = f"call_fake{next(self._ids):06d}"
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }

    def _completion_response(self, req: Mapping[str, Any], reply: _MessageReply) -> _Response:
        message, default_finish = self._message(req, reply)
        finish = reply.finish_reason or default_finish
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:
            prompt_text = "\n".join(
                _message_text(m) for m in req.get("messages") or [] if isinstance(m, dict)
            )
            out = message["content"] or ""
            for call in message.get("tool_calls") or []:
                out += call["function"]["arguments"]
            if message.get("function_call"):
                out += message["function_call"]["arguments"]
            prompt_tokens = max(1, len(prompt_text) // 4)
            completion_tokens = max(1, len(out) // 4)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        n = next(self._ids)
        model = req.get("model") if isinstance(req.get("model"), str) else DEFAULT_MODEL
        headers = {"x-request-id": f"req_fake{n:06d}"}
        created = int(time.time())
        if req.get("stream"):
            return _Response(
                200,
                _sse_body(f"chatcmpl-fake{n:06d}", created, model, message, finish, usage, req),
                {**headers, "Content-Type": "text/event-stream"},
            )
        completion = {
            "id": f"chatcmpl-fake{n:06d}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
        return _Response.json(200, completion, headers)


def _sse_body(
    cid: str,
    created: int,
    model: Any,
    message: dict[str, Any],
    finish: str,
    usage: dict[str, int],
    req: Mapping[str, Any],
) -> bytes:
    """The whole answer as one content chunk, a finish chunk (and a usage chunk), then DONE."""
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    if message.get("function_call"):
        delta["function_call"] = message["function_call"]
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
    ]
    options = req.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        chunks.append({**base, "choices": [], "usage": usage})
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


async def _send(writer: asyncio.StreamWriter, resp: _Response, keep_alive: bool) -> None:
    writer.write(resp.head(keep_alive) + resp.body)
    await writer.drain()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers, up to the empty line
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


# --------------------------------------------------------------------------- CLI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m llmx.testing",
        description="Run a fake OpenAI-compatible server; prints its base URL on stdout.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reply-json", help="JSON answered via structured() to every request")
    group.add_argument("--reply-text", help="raw assistant content answered to every request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    default: Reply | None = None
    if args.reply_json is not None:
        default = structured(json.loads(args.reply_json))
    elif args.reply_text is not None:
        default = text(args.reply_text)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # nothing outside this process can read recorded requests: keep none
    server = FakeOpenAI(
        default=default, latency=args.latency, host=args.host, port=args.port, keep_requests=0
    )
    with server as srv:
        sys.stdout.write(srv.base_url + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
