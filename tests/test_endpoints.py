"""Endpoint client against the fake server: every mode, retry and re-ask path."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from llmx._config import Settings
from llmx._endpoints._instructor import fast_response_model
from llmx._endpoints.client import EndpointClient
from llmx._endpoints.profiles import PROFILES, Endpoint, OutputMode, detect_profile
from llmx._errors import ClientEndpointError, ConfigError, ExtractionError, TransientEndpointError
from llmx._types import Usage
from llmx.testing import FakeOpenAI, delay, drop, error, structured, text, tool_args
from tests.support import client_for

MESSAGES = [{"role": "user", "content": "Ada Lovelace, born 1815."}]


class Person(BaseModel):
    """A person named in the text."""

    name: str
    born: int

    @field_validator("name")
    @classmethod
    def not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v


@pytest.mark.parametrize("mode", [m.value for m in OutputMode])
async def test_every_mode_round_trips(fake_openai: FakeOpenAI, mode: str) -> None:
    fake_openai.queue(structured({"name": "Ada", "born": 1815}, usage=(30, 7)))
    client = client_for(fake_openai, mode)
    usage = Usage()
    record, raw = await client.extract(MESSAGES, Person, usage=usage)
    await client.aclose()
    assert (record.name, record.born) == ("Ada", 1815)
    assert isinstance(record, Person)
    assert '"Ada"' in raw
    assert (usage.prompt_tokens, usage.completion_tokens, usage.requests) == (30, 7, 1)
    body = fake_openai.chat_requests[0].json
    # the bulky parameters travel as extra_body; the server must see one normal body
    assert body["model"] == "fake-model" and body["temperature"] == 0.0
    assert body["messages"][-1]["content"].startswith(MESSAGES[-1]["content"])
    if mode == "tools":
        assert body["tools"][0]["function"]["name"] == "Person"
        assert set(body["tools"][0]["function"]["parameters"]["properties"]) == {"name", "born"}
        assert body["tool_choice"]["function"]["name"] == "Person"
    elif mode == "json_schema":
        assert body["response_format"]["type"] == "json_schema"
    elif mode == "json_object_schema":
        # the llama-cpp-python server rejects type=json_schema with HTTP 500
        assert body["response_format"]["type"] == "json_object"
        assert body["response_format"]["schema"]["title"] == "Person"
        assert "tools" not in body
    elif mode == "json":
        assert body["response_format"] == {"type": "json_object"}
    else:
        assert "response_format" not in body and "tools" not in body


async def test_invalid_json_is_reasked_and_counted(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        tool_args('{"name": "Ada", "born": ', usage=(10, 3)),
        structured({"name": "  ", "born": 1815}, usage=(20, 4)),
        structured({"name": "Ada", "born": 1815}, usage=(30, 5)),
    )
    client = client_for(fake_openai, max_reasks=2)
    usage = Usage()
    notes: list[str] = []
    record, _ = await client.extract(MESSAGES, Person, usage=usage, notes=notes)
    assert record.name == "Ada"
    assert len(notes) == 2 and "name must not be blank" in notes[1]
    assert fake_openai.calls == 3
    assert usage.requests == 3
    assert (usage.prompt_tokens, usage.completion_tokens) == (60, 12)
    # the re-ask carries the validation error back to the model
    last = fake_openai.chat_requests[-1].text
    assert "name must not be blank" in last


async def test_reasks_are_bounded(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(*[text("not json at all", usage=(5, 1)) for _ in range(5)])
    client = client_for(fake_openai, mode="md_json", max_reasks=1)
    usage = Usage()
    with pytest.raises(ExtractionError, match="did not validate"):
        await client.extract(MESSAGES, Person, usage=usage)
    assert fake_openai.calls == 2
    assert usage.requests == 2 and usage.prompt_tokens == 10


async def test_429_honours_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        error(429, headers={"Retry-After": "0.3"}),
        structured({"name": "Ada", "born": 1815}),
    )
    seen: list[float | None] = []
    client = client_for(fake_openai)
    client.on_rate_limited = seen.append
    started = time.monotonic()
    record, _ = await client.extract(MESSAGES, Person)
    assert record.name == "Ada"
    assert time.monotonic() - started >= 0.3
    assert seen == [0.3]
    assert fake_openai.calls == 2


@pytest.mark.parametrize(
    "fault",
    [lambda: error(500), lambda: error(503), lambda: drop(), lambda: delay(2.0)],
    ids=["500", "503", "drop", "timeout"],
)
async def test_transient_faults_are_retried(fake_openai: FakeOpenAI, fault: Any) -> None:
    fake_openai.queue(fault(), fault(), structured({"name": "Ada", "born": 1815}))
    client = client_for(fake_openai, timeout=0.5)
    usage = Usage()
    record, _ = await client.extract(MESSAGES, Person, usage=usage)
    assert record.born == 1815
    assert usage.requests == 3


async def test_retries_are_bounded(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(*[error(500) for _ in range(10)])
    client = client_for(fake_openai, max_retries=2)
    with pytest.raises(TransientEndpointError, match="HTTP 500") as info:
        await client.extract(MESSAGES, Person)
    assert fake_openai.calls == 3
    assert info.value.context["status"] == 500


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(fake_openai: FakeOpenAI, status: int) -> None:
    fake_openai.queue(error(status), structured({"name": "Ada", "born": 1815}))
    client = client_for(fake_openai, api_key="sk-secret-123")
    with pytest.raises(ClientEndpointError) as info:
        await client.extract(MESSAGES, Person)
    assert fake_openai.calls == 1
    assert info.value.context["status"] == status
    assert "sk-secret-123" not in str(info.value)


def test_profiles_and_detection() -> None:
    assert detect_profile("https://api.openai.com/v1") == "openai"
    assert detect_profile("https://api.deepseek.com") == "deepseek"
    assert detect_profile("http://localhost:11434/v1") == "ollama"
    assert detect_profile("http://10.0.0.2:8000/v1") == "generic"
    assert PROFILES["llama_cpp"].default_mode is OutputMode.JSON_OBJECT_SCHEMA
    assert OutputMode.JSON_SCHEMA not in PROFILES["llama_cpp"].modes
    with pytest.raises(ConfigError, match="not supported"):
        Endpoint.from_settings(
            Settings(base_url="http://x/v1", profile="llama_cpp", mode="json_schema")
        )
    with pytest.raises(ConfigError, match="API key"):
        Endpoint.from_settings(Settings(base_url="https://api.openai.com/v1"))
    with pytest.raises(ConfigError, match="no model"):
        Endpoint.from_settings(Settings(base_url="http://10.0.0.2:8000/v1"))


def test_identity_never_contains_the_key() -> None:
    endpoint = Endpoint.from_settings(
        Settings(base_url="https://user:pw@api.openai.com/v1/", api_key="sk-secret", model="m")
    )
    assert endpoint.identity == "https://api.openai.com/v1"
    assert "sk-secret" not in repr(endpoint)


def test_fast_response_model_computes_schema_once() -> None:
    fast = fast_response_model(Person)
    assert fast is fast_response_model(Person)
    assert fast.__name__ == "Person" and fast.__doc__ == Person.__doc__
    assert fast.model_json_schema() is fast.model_json_schema()
    assert fast.model_json_schema() == Person.model_json_schema()
    assert issubclass(fast, Person)
    with pytest.raises(ValueError):
        fast.model_validate({"name": " ", "born": 1})


async def test_llama_cpp_profile_request_shape(fake_openai: FakeOpenAI) -> None:
    """What the llama-cpp-python server accepts: json_object + schema, no json_schema type."""
    fake_openai.queue(structured({"name": "Ada", "born": 1815}))
    settings = Settings(base_url=fake_openai.base_url, profile="llama_cpp", timeout=5)
    endpoint = Endpoint.from_settings(settings)
    assert endpoint.mode is OutputMode.JSON_OBJECT_SCHEMA
    client = EndpointClient(endpoint, settings)
    record, _ = await client.extract(MESSAGES, Person)
    await client.aclose()
    body = fake_openai.chat_requests[0].json
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["schema"]["properties"]["born"]["type"] == "integer"
    assert body["repeat_penalty"] == 1.0
    assert record.born == 1815


async def test_a_cut_off_answer_is_asked_again_once_warmer(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        text('{"name": "Ada", "born": 18151815181518', finish_reason="length"),
        structured({"name": "Ada", "born": 1815}),
    )
    client = client_for(fake_openai, mode="json_object_schema", profile="llama_cpp")
    notes: list[str] = []
    record, _ = await client.extract(MESSAGES, Person, notes=notes)
    assert record.born == 1815
    first, second = (r.json for r in fake_openai.chat_requests)
    assert (first["temperature"], second["temperature"]) == (0.0, 0.7)
    assert "frequency_penalty" not in first and second["frequency_penalty"] == 0.5
    assert any("cut off at max_tokens" in n for n in notes)


async def test_an_answer_cut_off_twice_fails_clearly(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(*[text('{"name": "A', finish_reason="length") for _ in range(3)])
    client = client_for(fake_openai, mode="json_object_schema", profile="llama_cpp")
    with pytest.raises(ExtractionError, match="cut off at max_tokens"):
        await client.extract(MESSAGES, Person)
    assert fake_openai.calls == 2


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_both_http_clients_reach_a_loopback_server_past_an_env_proxy(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, http_client: str
) -> None:
    # a proxy from the environment (here a closed port) must not capture loopback traffic
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    fake_openai.queue(
        error(503, headers={"Retry-After": "0"}),
        structured({"name": "Ada", "born": 1815}),
    )
    client = client_for(fake_openai, http_client=http_client)
    usage = Usage()
    record, _ = await client.extract(MESSAGES, Person, usage=usage)
    await client.aclose()
    assert record.name == "Ada" and usage.requests == 2
