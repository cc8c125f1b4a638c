"""Just enough HTTP/1.1 for :class:`~llmx.testing.FakeOpenAI`, on asyncio streams.

Requests: keep-alive (HTTP/1.1's default, HTTP/1.0's ``Connection: keep-alive``),
``Content-Length`` and chunked bodies, headers up to 64 KiB (the stream reader's limit;
more is a 431). Responses always carry ``Content-Length``. Besides whole responses, the
framing can produce the failures a test scripts: a response cut off mid-body (the
connection closed after part of the promised bytes) and no response at all (the
connection held until the client closes it).

Why hand-written rather than ``aiohttp.web`` (installed with ``openai[aiohttp]``):
aiohttp's low-level ``web.Server`` (no router, its C parser), put behind the same
routing and bodies, reproduces every scripted failure (drop, hang, truncated, error
with Retry-After, delay) and passes tests/test_fake_openai.py, but costs more CPU per
request in the server process, which is what a benchmark run must keep small. Measured
in one run, alternating the two: ``python -m llmx.testing`` (one fixed tool-call
answer) in its own process, 3,000 chat completions per measurement from
``openai.AsyncOpenAI`` (aiohttp transport, 32 concurrent, 2.7 KB tool-call requests as
llmx sends them), CPU from ``/proc/PID/stat``, median of the runs (aiohttp 3.14.5,
CPython 3.11, a shared 2-CPU machine):

==========================  ===========================  ============================
server latency              hand-written, CPU s / 1,000  aiohttp.web, CPU s / 1,000
==========================  ===========================  ============================
0 (5 runs each)             0.160                        0.253 (1.58x)
200 ms (3 runs each)        0.280                        0.383 (1.37x)
==========================  ===========================  ============================

Importing ``aiohttp.web`` would also add about 0.2 s to the first server start of a test
suite (importing ``llmx.testing._server`` takes about the same now), and its answers to
unreadable requests differ (400 text/plain and a logged traceback, instead of 431 / 400
with an OpenAI error body). It costs more than 1.3x the CPU at both latencies, so the
framing stays hand-written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read from the connection (header names lower-cased, repeated
    headers joined by ``", "``); ``received``: the event loop's time after its last byte."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    received: float

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


class Response:
    """A response to write: status, headers, body.

    ``cut``: send only the first ``cut`` bytes of the body (the headers still promise
    all of it), then close the connection.
    """

    __slots__ = ("body", "cut", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        cut: int | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.cut = cut
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        if headers:
            self.headers.update(headers)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), headers)

    def head(self, keep_alive: bool) -> bytes:
        """Status line and headers, with ``Content-Length`` and ``Connection``."""
        length = len(self.body)
        lines = [f"HTTP/1.1 {self.status} {_reason(self.status)}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "content-length"]
        lines.append(f"Content-Length: {length}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


#: answers a request: a response, or ``None`` to hold the connection until the client
#: closes it
Answer = Callable[[Request], Awaitable[Response | None]]
#: the response to a request that cannot be read (status, reason), before closing
Refusal = Callable[[int, str], Response]


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    answer: Answer,
    refusal: Refusal,
) -> None:
    """Read requests from one connection and write ``answer``'s responses, until the
    client closes it, a response closes it (``Connection: close``, a cut body, no
    response), or a request cannot be read."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return  # client closed the connection
        except asyncio.LimitOverrunError:
            await _send(writer, refusal(431, "request headers too large"), keep_alive=False)
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await _send(writer, refusal(400, "malformed request line"), keep_alive=False)
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
        response = await answer(Request(method.upper(), target, headers, body, received))
        if response is None:
            await _until_eof(reader)
            return
        if response.cut is not None:
            writer.write(response.head(keep_alive=False) + response.body[: response.cut])
            await writer.drain()
            return
        await _send(writer, response, keep_alive)
        if not keep_alive:
            return


async def _send(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    writer.write(response.head(keep_alive) + response.body)
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


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
