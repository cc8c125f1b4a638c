"""The OpenAI-shaped bodies :class:`~llmx.testing.FakeOpenAI` answers with: chat
completions (plain or streamed as server-sent events) for the message replies, and the
``{"error": {...}}`` body of every error.

A :func:`~llmx.testing.structured` answer takes the shape the request asks for (tool
call, legacy function call, JSON content, or markdown JSON), as the real API's answer
would for each ``instructor`` mode.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from typing import Any

from llmx.testing._http import Response
from llmx.testing._recording import message_text
from llmx.testing._replies import Error, MessageReply, Structured, Text, ToolArgs, Truncated

#: the model named by ``GET /v1/models`` and by completions whose request names none
DEFAULT_MODEL = "fake-model"

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


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": message or f"FakeOpenAI scripted error {status}",
            "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error"),
            "param": None,
            "code": None,
        }
    }


def error_response(status: int, message: str) -> Response:
    """A JSON error response with :func:`error_body`."""
    return Response.json(status, error_body(status, message))


def scripted_error(reply: Error) -> Response:
    """The response of an :func:`~llmx.testing.error` reply: its body (JSON, or bytes and
    text as given; :func:`error_body` by default) and its headers."""
    payload = reply.body if reply.body is not None else error_body(reply.status)
    if isinstance(payload, bytes | str):
        response = Response(reply.status, payload.encode() if isinstance(payload, str) else payload)
    else:
        response = Response.json(reply.status, payload)
    response.headers.update(reply.headers)
    return response


class Completions:
    """Builds chat completion responses; one per server, numbering the completion and
    tool call ids it hands out (``chatcmpl-fake000001``, ``call_fake000002``, ...)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def response(self, req: Mapping[str, Any], reply: MessageReply) -> Response:
        """The completion answering request ``req`` with ``reply``: JSON, or server-sent
        events when the request streams."""
        message, default_finish = self._message(req, reply)
        finish = reply.finish_reason or default_finish
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:
            prompt_text = "\n".join(
                message_text(m) for m in req.get("messages") or [] if isinstance(m, dict)
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
            return Response(
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
        return Response.json(200, completion, headers)

    def _message(self, req: Mapping[str, Any], reply: MessageReply) -> tuple[dict[str, Any], str]:
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


def _dumps(obj: Any) -> str:
    dump = getattr(obj, "model_dump", None)  # pydantic models, without importing pydantic
    return json.dumps(dump(mode="json") if callable(dump) else obj, ensure_ascii=False)


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
