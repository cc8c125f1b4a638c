"""What a test scripts :class:`~llmx.testing.FakeOpenAI` to answer: the reply types and
the builders that make them.

A reply is plain frozen data; the server turns it into bytes on the wire
(:mod:`llmx.testing._completions` for the bodies, :mod:`llmx.testing._http` for the
framing, including the failures: dropped connections, hangs, truncated bodies).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


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
class MessageReply(Reply):
    """A reply that produces an assistant message (``finish_reason`` overridable)."""

    finish_reason: str | None = None


@dataclass(frozen=True)
class Structured(MessageReply):
    """Answer ``obj`` in whatever shape the request asks for (see :func:`structured`)."""

    obj: Any


@dataclass(frozen=True)
class Text(MessageReply):
    """Raw assistant ``content``."""

    content: str


@dataclass(frozen=True)
class ToolArgs(MessageReply):
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
class Truncated(MessageReply):
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
