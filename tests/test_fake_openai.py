"""FakeOpenAI, exercised with the real openai SDK, instructor, httpx and raw sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import instructor
import openai
import pydantic
import pytest

from llmx.testing import (
    FakeOpenAI,
    Reply,
    delay,
    drop,
    error,
    hang,
    structured,
    text,
    tool_args,
    truncated,
)

MESSAGES: list[Any] = [{"role": "user", "content": "Ada Lovelace, 36, mathematician."}]
REPO_ROOT = Path(__file__).resolve().parent.parent


class Person(pydantic.BaseModel):
    name: str
    age: int


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "gpt-test")
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


def raw_http(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh socket and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


# --------------------------------------------------------------------------- endpoints


def test_health_models_and_recording(fake_openai: FakeOpenAI) -> None:
    assert fake_openai.base_url == f"http://127.0.0.1:{fake_openai.port}/v1"
    with httpx.Client() as client:
        health = client.get(f"{fake_openai.url}/health")
        models = client.get(f"{fake_openai.base_url}/models")
        missing = client.get(f"{fake_openai.base_url}/nope")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert models.json()["data"][0]["object"] == "model"
    assert missing.status_code == 404 and "error" in missing.json()
    assert [(r.method, r.path) for r in fake_openai.requests] == [
        ("GET", "/health"),
        ("GET", "/v1/models"),
        ("GET", "/v1/nope"),
    ]
    assert fake_openai.calls == 0
    assert fake_openai.connections == 1  # keep-alive


def test_models_via_sdk(fake_openai: FakeOpenAI) -> None:
    models = fake_openai.client().models.list()
    assert [m.id for m in models] == ["fake-model"]


def test_chat_completion_shape_and_recording(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(text("hello"))
    client = fake_openai.client()
    completion = chat(client, model="my-model", temperature=0)
    assert completion.model == "my-model"
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert choice.message.role == "assistant" and choice.message.content == "hello"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(MESSAGES[0]["content"]) // 4
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 1
    assert fake_openai.calls == 1
    request = fake_openai.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json["temperature"] == 0
    assert request.headers["authorization"] == "Bearer test"
    assert request.messages == MESSAGES
    assert request.text == MESSAGES[0]["content"]
    assert fake_openai.last_request == request
    assert fake_openai.chat_requests == [request]


def test_usage_override_and_finish_reason(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(text("x", usage=(120, 7), finish_reason="length"))
    completion = chat(fake_openai.client())
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 7)
    assert completion.usage.total_tokens == 127
    assert completion.choices[0].finish_reason == "length"


def test_structured_answers_in_the_requested_shape(fake_openai: FakeOpenAI) -> None:
    obj = {"name": "Ada", "age": 36}
    client = fake_openai.client()
    fake_openai.queue(structured(obj), structured(obj), structured(obj))

    markdown = chat(client).choices[0]
    assert markdown.message.content == f"```json\n{json.dumps(obj)}\n```"

    json_mode = chat(client, response_format={"type": "json_object"}).choices[0]
    assert json.loads(json_mode.message.content or "") == obj
    assert json_mode.finish_reason == "stop"

    tools = [
        {"type": "function", "function": {"name": "first", "parameters": {}}},
        {"type": "function", "function": {"name": "second", "parameters": {}}},
    ]
    forced = {"type": "function", "function": {"name": "second"}}
    tool_mode = chat(client, tools=tools, tool_choice=forced).choices[0]
    assert tool_mode.finish_reason == "tool_calls"
    assert tool_mode.message.content is None
    calls = tool_mode.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "second"
    assert json.loads(calls[0].function.arguments) == obj


def test_structured_tool_name_defaults_to_first_tool_and_accepts_models(
    fake_openai: FakeOpenAI,
) -> None:
    tools = [{"type": "function", "function": {"name": "first", "parameters": {}}}]
    fake_openai.queue(structured(Person(name="Ada", age=36)), tool_args('{"broken": '))
    client = fake_openai.client()
    call = (chat(client, tools=tools).choices[0].message.tool_calls or [])[0]
    assert call.function.name == "first"
    assert json.loads(call.function.arguments) == {"name": "Ada", "age": 36}
    raw = (chat(client, tools=tools).choices[0].message.tool_calls or [])[0]
    assert raw.function.arguments == '{"broken": '
    assert raw.id != call.id


def test_legacy_functions(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(structured({"a": 1}))
    functions = [{"name": "extract", "parameters": {"type": "object"}}]
    choice = chat(fake_openai.client(), functions=functions).choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "extract"


def test_streaming(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(text("streamed"))
    stream = chat(fake_openai.client(), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "streamed"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None


async def test_async_openai_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(*(text(f"answer {i}", latency=0.05) for i in range(20)))
    async with fake_openai.async_client() as client:
        results = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=MESSAGES) for _ in range(20))
        )
    answers = sorted(r.choices[0].message.content or "" for r in results)
    assert answers == sorted(f"answer {i}" for i in range(20))
    assert fake_openai.calls == 20


# --------------------------------------------------------------------------- instructor


@pytest.mark.parametrize(
    "mode",
    [
        instructor.Mode.TOOLS,
        instructor.Mode.JSON,
        instructor.Mode.MD_JSON,
        instructor.Mode.JSON_SCHEMA,
    ],
)
def test_instructor_modes(fake_openai: FakeOpenAI, mode: instructor.Mode) -> None:
    fake_openai.queue(structured({"name": "Ada", "age": 36}))
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0) as raw:
        client = instructor.from_openai(raw, mode=mode)
        person = client.chat.completions.create(
            model="gpt-test", response_model=Person, messages=MESSAGES, max_retries=0
        )
    assert person.model_dump() == {"name": "Ada", "age": 36}
    assert fake_openai.calls == 1


async def test_instructor_async(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = structured({"name": "Ada", "age": 36})
    async with fake_openai.async_client() as raw:
        client = instructor.from_openai(raw, mode=instructor.Mode.TOOLS)
        people = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="gpt-test", response_model=Person, messages=MESSAGES, max_retries=0
                )
                for _ in range(5)
            )
        )
    assert [p.model_dump() for p in people] == [{"name": "Ada", "age": 36}] * 5


@pytest.mark.parametrize("mode", [instructor.Mode.JSON, instructor.Mode.TOOLS])
def test_instructor_reasks_after_invalid_json(
    fake_openai: FakeOpenAI, mode: instructor.Mode
) -> None:
    bad = text('{"projects": [') if mode is instructor.Mode.JSON else tool_args('{"projects": [')
    fake_openai.queue(bad, structured({"name": "Ada", "age": 36}))
    client = instructor.from_openai(fake_openai.client(), mode=mode)
    person = client.chat.completions.create(
        model="gpt-test", response_model=Person, messages=MESSAGES, max_retries=2
    )
    assert person.name == "Ada"
    assert fake_openai.calls == 2
    first, second = fake_openai.chat_requests
    assert len(second.messages) > len(first.messages)  # the re-ask carries the error back


# --------------------------------------------------------------------------- failures


def test_rate_limit_with_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(error(429, headers={"Retry-After": "1"}))
    with pytest.raises(openai.RateLimitError) as excinfo:
        chat(fake_openai.client())
    assert excinfo.value.status_code == 429
    assert excinfo.value.response.headers["retry-after"] == "1"
    assert excinfo.value.code is None and "error" in excinfo.value.message.lower()


def test_sdk_retries_honour_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(error(429, headers={"Retry-After": "0.05"}), text("ok"))
    completion = chat(fake_openai.client(max_retries=1))
    assert completion.choices[0].message.content == "ok"
    assert fake_openai.calls == 2


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_error_statuses(fake_openai: FakeOpenAI, status: int, exc_type: type[Exception]) -> None:
    fake_openai.queue(error(status))
    with pytest.raises(exc_type):
        chat(fake_openai.client())


def test_error_custom_body(fake_openai: FakeOpenAI) -> None:
    body = {"error": {"message": "context too long", "type": "invalid_request_error", "code": "x"}}
    fake_openai.queue(error(400, body))
    with pytest.raises(openai.BadRequestError) as excinfo:
        chat(fake_openai.client())
    assert excinfo.value.code == "x"
    assert "context too long" in str(excinfo.value)


def test_drop_is_a_connection_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(drop(), text("after"))
    client = fake_openai.client()
    with pytest.raises(openai.APIConnectionError) as excinfo:
        chat(client)
    assert not isinstance(excinfo.value, openai.APITimeoutError)
    assert chat(client).choices[0].message.content == "after"  # server keeps serving


def test_delay_beyond_client_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(delay(2.0, then=text("too late")), text("fast"))
    client = fake_openai.client(timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        chat(client)
    assert chat(client).choices[0].message.content == "fast"


def test_hang_until_client_gives_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(hang(), text("next"))
    client = fake_openai.client(timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        chat(client)
    assert chat(client).choices[0].message.content == "next"


def test_stop_while_hanging_is_prompt() -> None:
    with FakeOpenAI(default=hang()) as server:
        stopper = threading.Timer(0.3, server.stop)  # stop() while the request hangs
        stopper.start()
        with pytest.raises(openai.APIConnectionError):
            chat(server.client(timeout=30))
        stopper.join()


def test_delay_without_then_uses_default(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = text("default answer")
    fake_openai.queue(delay(0.05))
    assert chat(fake_openai.client()).choices[0].message.content == "default answer"


def test_truncated_body_is_valid_http_with_broken_json(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(truncated({"name": "Ada", "age": 36}))
    with httpx.Client() as client:
        response = client.post(f"{fake_openai.base_url}/chat/completions", json={"messages": []})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    fake_openai.queue(truncated({"name": "Ada"}))
    with pytest.raises(ValueError):  # the SDK lets the JSONDecodeError through
        chat(fake_openai.client())


# --------------------------------------------------------------------------- scripting


def test_empty_queue_without_default_fails_loudly(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="no scripted reply"):
        chat(fake_openai.client(max_retries=3))
    assert fake_openai.calls == 1  # x-should-retry: false stops the SDK retrying


def test_queue_is_fifo_then_default(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(text("one"), text("two"))
    fake_openai.default = text("default")
    client = fake_openai.client()
    assert fake_openai.pending == 2
    answers = [chat(client).choices[0].message.content for _ in range(4)]
    assert answers == ["one", "two", "default", "default"]
    assert fake_openai.pending == 0


def test_callable_responders(fake_openai: FakeOpenAI) -> None:
    def echo_model(request: dict[str, Any]) -> Reply:
        return text(f"you asked {request['model']}")

    fake_openai.queue(lambda req: text(str(len(req["messages"]))))
    fake_openai.default = echo_model
    client = fake_openai.client()
    assert chat(client).choices[0].message.content == "1"
    assert chat(client, model="m2").choices[0].message.content == "you asked m2"


def test_broken_responder_is_a_500(fake_openai: FakeOpenAI) -> None:
    def broken(request: dict[str, Any]) -> Reply:
        raise ZeroDivisionError("boom")

    fake_openai.default = broken
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        chat(fake_openai.client())


def test_server_latency_applies_to_every_reply() -> None:
    with FakeOpenAI(default=text("slow"), latency=0.5) as server:
        with pytest.raises(openai.APITimeoutError):
            chat(server.client(timeout=0.2))
        server.latency = 0
        assert chat(server.client(timeout=5)).choices[0].message.content == "slow"


async def test_server_latency_runs_from_the_request_and_holds_under_a_burst() -> None:
    # a burst of requests with large bodies: the server parses them one after another,
    # but each answer still comes `latency` after its request, never earlier
    latency = 0.3
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 200_000}]}
    with FakeOpenAI(default=text("ok"), latency=latency) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:

            async def one() -> float:
                start = asyncio.get_running_loop().time()
                response = await client.post("/chat/completions", json=body)
                assert response.status_code == 200
                return asyncio.get_running_loop().time() - start

            elapsed = await asyncio.gather(*(one() for _ in range(16)))
    assert min(elapsed) >= latency
    assert sorted(elapsed)[len(elapsed) // 2] < latency + 0.15


def test_reset(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(text("a"), text("b"))
    chat(fake_openai.client())
    fake_openai.reset()
    assert (fake_openai.calls, fake_openai.requests, fake_openai.pending) == (0, [], 0)


def test_keep_requests_bounds_what_is_recorded() -> None:
    with FakeOpenAI(default=text("ok"), keep_requests=2) as server:
        client = server.client()
        for word in ("one", "two", "three"):
            chat(client, messages=[{"role": "user", "content": word}])
        assert server.calls == 3
        assert [r.text for r in server.requests] == ["two", "three"]
        assert server.last_request is not None and server.last_request.text == "three"
    with FakeOpenAI(default=text("ok"), keep_requests=0) as server:
        chat(server.client())
        assert (server.calls, server.requests, server.last_request) == (1, [], None)


def test_bad_request_body(fake_openai: FakeOpenAI) -> None:
    with httpx.Client() as client:
        response = client.post(f"{fake_openai.base_url}/chat/completions", content=b"{not json")
    assert response.status_code == 400
    assert fake_openai.calls == 1 and fake_openai.requests[0].json is None
    assert fake_openai.requests[0].body == b"{not json"


# --------------------------------------------------------------------------- lifecycle / HTTP


def test_restart_keeps_the_port(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = text("up")
    client = fake_openai.client()
    port = fake_openai.port
    assert chat(client).choices[0].message.content == "up"
    fake_openai.stop()
    assert not fake_openai.running
    with pytest.raises(openai.APIConnectionError):
        chat(client)
    fake_openai.start()
    assert fake_openai.port == port
    assert chat(client).choices[0].message.content == "up"  # stale pooled connection recovered
    fake_openai.restart()
    assert chat(client).choices[0].message.content == "up"
    assert fake_openai.calls == 3


def test_restart_mid_run_with_sdk_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = text("ok")
    client = fake_openai.client(max_retries=3)
    chat(client)
    fake_openai.restart(downtime=0.1)
    assert chat(client).choices[0].message.content == "ok"


def test_keep_alive_and_connection_close(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = text("hi")
    client = fake_openai.client()
    for _ in range(5):
        chat(client)
    assert fake_openai.connections == 1

    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    raw = raw_http(fake_openai.port, request)  # returns only because the server closes
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in head
    assert json.loads(payload)["choices"][0]["message"]["content"] == "hi"


def test_chunked_request_body(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = text("chunked ok")
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    half = len(body) // 2
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:half], body[half:])
    )
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    raw = raw_http(fake_openai.port, request)
    assert b"chunked ok" in raw
    assert fake_openai.requests[0].json["model"] == "m"


async def test_many_concurrent_requests_httpx(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = structured({"ok": True}, latency=0.02)
    payload = {"model": "m", "messages": MESSAGES, "response_format": {"type": "json_object"}}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=fake_openai.base_url, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.post("/chat/completions", json=payload) for _ in range(300))
        )
    assert all(r.status_code == 200 for r in responses)
    assert {r.json()["choices"][0]["message"]["content"] for r in responses} == {'{"ok": true}'}
    assert fake_openai.calls == 300
    assert fake_openai.connections <= 32


@pytest.mark.slow
def test_cli_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "llmx.testing", "--port", "0"]
    cmd += ["--latency", "0.01", "--reply-json", '{"name": "Ada", "age": 36}']
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0) as raw:
                client = instructor.from_openai(raw, mode=instructor.Mode.TOOLS)
                person = client.chat.completions.create(
                    model="m", response_model=Person, messages=MESSAGES, max_retries=0
                )
            assert person.model_dump() == {"name": "Ada", "age": 36}
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


# --------------------------------------------------------------------------- environment


def test_clean_env(env_dirs: dict[str, Path]) -> None:
    leaked = [k for k in os.environ if k.startswith("OPENAI_")]
    assert leaked == []
    assert {k for k in os.environ if k.startswith("LLMX_")} == {
        "LLMX_CACHE_DIR",
        "LLMX_DATA_DIR",
        "LLMX_STRATEGY",  # pinned to the whole-document path (conftest)
    }
    assert os.environ["LLMX_STRATEGY"] == "document"
    for path in env_dirs.values():
        assert path.is_dir() and not any(path.iterdir())
    assert Path.home() == env_dirs["HOME"]
