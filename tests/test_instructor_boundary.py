"""The one boundary to instructor (``llmx._endpoints._instructor``): each thing it relies
on inside instructor is in effect, and the per-call request budget, over real HTTP to the
fake server.

These tests are what ``pyproject.toml``'s pin of instructor rests on: when an upgrade
silently undoes one of the boundary's arrangements, one of them fails.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

import llmx
from llmx._config import Settings
from llmx._endpoints import _instructor
from llmx._errors import ExtractionError, TransientEndpointError
from llmx._types import Usage
from llmx.testing import FakeOpenAI, error, structured, text, tool_args
from tests.support import client_for

MESSAGES = [{"role": "user", "content": "Ada Lovelace, born 1815."}]
ADA = {"name": "Ada", "born": 1815}


class Person(BaseModel):
    """A person named in the text."""

    name: str
    born: int

    @field_validator("name")
    @classmethod
    def seen_in_context(cls, v: str, info: ValidationInfo) -> str:
        if isinstance(info.context, dict) and "seen" in info.context:
            info.context["seen"].append(v)
        return v


@contextmanager
def counting_calls(code: CodeType) -> Iterator[list[int]]:
    """Count calls of the function whose code is ``code`` in this thread."""
    count = [0]
    previous = sys.getprofile()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is code:
            count[0] += 1

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(previous)


async def calls_during(code: CodeType, action: Callable[[], Awaitable[object]]) -> int:
    with counting_calls(code) as count:
        await action()
    return count[0]


# --------------------------------------------------------------------------- 1. as given


async def test_the_response_model_is_used_as_given(fake_openai: FakeOpenAI) -> None:
    """instructor builds no wrapper class (``create_model``) around a fast response model."""
    from instructor.v2.core.function_calls import response_schema

    fake_openai.default = structured(ADA)
    client = client_for(fake_openai)
    await client.extract(MESSAGES, Person)  # warm: the fast model is built here
    wrapped = await calls_during(response_schema.__code__, lambda: client.extract(MESSAGES, Person))
    assert wrapped == 0
    # the control: the same count sees instructor wrap a plain model
    plain = await calls_during(
        response_schema.__code__,
        lambda: client._structured._client.create(
            model="fake-model", messages=MESSAGES, response_model=Person, max_retries=0
        ),
    )
    await client.aclose()
    assert plain >= 1


# --------------------------------------------------------------------------- 2. checked once


async def test_the_async_validator_check_runs_once_per_class(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """instructor's own check never runs for a fast response model in a request."""
    from instructor.v2.core import patch
    from instructor.v2.validation import async_validators

    original = _instructor._ORIGINAL_REJECT.__code__
    fake_openai.default = structured(ADA)
    client = client_for(fake_openai)
    await client.extract(MESSAGES, Person)
    assert await calls_during(original, lambda: client.extract(MESSAGES, Person)) == 0
    # the control: with instructor's own function back in place, the same count sees it
    monkeypatch.setattr(async_validators, "reject_async_validators", _instructor._ORIGINAL_REJECT)
    monkeypatch.setattr(patch, "reject_async_validators", _instructor._ORIGINAL_REJECT)
    assert await calls_during(original, lambda: client.extract(MESSAGES, Person)) >= 1
    await client.aclose()


def test_a_class_not_built_here_is_still_checked() -> None:
    from instructor.v2.validation.async_validators import reject_async_validators

    assert reject_async_validators is _instructor._reject_async_validators_once
    with counting_calls(_instructor._ORIGINAL_REJECT.__code__) as count:
        reject_async_validators(Person)
    assert count[0] == 1


# --------------------------------------------------------------------------- 3. no templating


@pytest.mark.parametrize("mode", ["tools", "json", "md_json"])
async def test_template_syntax_reaches_the_server_verbatim(
    fake_openai: FakeOpenAI, mode: str
) -> None:
    """With a validation context given, ``{{ x }}`` is still sent as written."""
    fake_openai.default = structured(ADA)
    client = client_for(fake_openai, mode)
    seen: list[str] = []
    document = "Ada {{ x }} and {% if x %}Lovelace{% endif %}, born 1815."
    record, _ = await client.extract(
        [{"role": "user", "content": document}], Person, context={"x": 7, "seen": seen}
    )
    await client.aclose()
    assert record.name == "Ada"
    assert seen == ["Ada"]  # the context reached the validators
    sent = fake_openai.chat_requests[0].text
    assert "Ada {{ x }} and {% if x %}Lovelace{% endif %}, born 1815." in sent
    assert "Ada 7 and" not in sent


# --------------------------------------------------------------------------- 4. validated text


async def test_the_text_returned_is_the_text_validated(fake_openai: FakeOpenAI) -> None:
    """instructor validates the last JSON object of a markdown answer; so does the cache."""
    answer = (
        'An example of the shape: ```json\n{"name": "Bob", "born": 1900}\n```\n'
        'The answer: ```json\n{"name": "Ada", "born": 1815}\n```'
    )
    fake_openai.queue(text(answer))
    client = client_for(fake_openai, "md_json")
    record, raw = await client.extract(MESSAGES, Person)
    await client.aclose()
    assert record.name == "Ada"
    assert raw == '{"name": "Ada", "born": 1815}'


def test_a_cache_hit_gives_the_record_that_was_validated(fake_openai: FakeOpenAI) -> None:
    answer = (
        'An example of the shape: ```json\n{"name": "Bob", "born": 1900}\n```\n'
        'The answer: ```json\n{"name": "Ada", "born": 1815}\n```'
    )
    fake_openai.queue(text(answer))
    options: dict[str, Any] = {"base_url": fake_openai.base_url, "model": "m", "mode": "md_json"}
    first = llmx.extract("Ada Lovelace, born 1815.", Person, **options)
    again = llmx.extract("Ada Lovelace, born 1815.", Person, **options)
    assert (first.record.name, first.cached) == ("Ada", False)  # type: ignore[union-attr]
    assert (again.record.name, again.cached) == ("Ada", True)  # type: ignore[union-attr]
    assert fake_openai.calls == 1


def test_a_fast_response_model_is_its_own_fast_model() -> None:
    fast = _instructor.fast_response_model(Person)
    assert issubclass(fast, Person) and fast.__name__ == "Person"
    assert _instructor.fast_response_model(fast) is fast


def test_only_fast_response_models_are_accepted() -> None:
    import asyncio

    import openai

    structured_client = _instructor.StructuredClient(
        openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1"),
        lambda **_: asyncio.sleep(0),
        "tools",
    )
    with pytest.raises(TypeError, match="fast_response_model"):
        asyncio.run(
            structured_client.create(
                model="m",
                messages=MESSAGES,
                response_model=Person,
                max_reasks=0,
                context=None,
                on_reask=None,
                params={},
            )
        )


# --------------------------------------------------------------------------- request budget


def invalid_then_500(every: int) -> Callable[[dict[str, Any]], Any]:
    """A responder answering ``every - 1`` invalid JSON answers, then HTTP 500, forever."""
    counter = itertools.count()

    def reply(req: dict[str, Any]) -> Any:
        return error(500) if next(counter) % every == every - 1 else tool_args('{"name": ')

    return reply


async def test_retries_and_reasks_share_one_budget(fake_openai: FakeOpenAI) -> None:
    """Invalid answers and 500s in turn: never more than 1 + max_retries + max_reasks.

    Nested, the retry loop (around) and the re-ask loop (inside) allowed
    (max_retries + 1) x (max_reasks + 1) = 18 requests here.
    """
    fake_openai.default = invalid_then_500(3)
    client = client_for(fake_openai, max_retries=5, max_reasks=2)
    usage = Usage()
    with pytest.raises(ExtractionError):
        await client.extract(MESSAGES, Person, usage=usage)
    await client.aclose()
    assert client.settings.request_budget == 8
    assert fake_openai.calls == usage.requests == 8


@pytest.mark.parametrize(
    ("reply", "budget", "expected"),
    [
        ("500", 4, TransientEndpointError),
        ("invalid", 2, ExtractionError),
        ("mixed", 5, ExtractionError),
    ],
)
async def test_max_requests_per_call_bounds_every_mix(
    fake_openai: FakeOpenAI, reply: str, budget: int, expected: type[Exception]
) -> None:
    fake_openai.default = {
        "500": lambda req: error(500),
        "invalid": lambda req: tool_args('{"name": '),
        "mixed": invalid_then_500(2),
    }[reply]
    client = client_for(fake_openai, max_retries=10, max_reasks=10, max_requests_per_call=budget)
    with pytest.raises(expected):
        await client.extract(MESSAGES, Person)
    await client.aclose()
    assert fake_openai.calls == budget


async def test_a_budget_of_one_sends_one_request(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(tool_args('{"name": '), structured(ADA))
    client = client_for(fake_openai, max_requests_per_call=1)
    with pytest.raises(ExtractionError, match="after 0 re-asks"):
        await client.extract(MESSAGES, Person)
    await client.aclose()
    assert fake_openai.calls == 1


def test_max_requests_per_call_is_a_setting() -> None:
    assert Settings().request_budget == 8
    assert Settings(max_retries=1, max_reasks=0).request_budget == 2
    assert Settings(max_requests_per_call=3).request_budget == 3
    with pytest.raises(llmx.ConfigError):
        Settings(max_requests_per_call=0)
