"""End to end with the real bundled model (slow: needs the 'local' extra)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from llmx._errors import LocalModelError
from llmx._local import (
    LocalServer,
    context_size_for,
    ensure_model,
    json_object_response_format,
    recommended_request_options,
)
from llmx._local.process import pid_alive

ARTICLE = "近日，总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区。"


class Deal(BaseModel):
    project: str = Field(description="Project name as written")
    investor: str | None = Field(default=None, description="Investing company")
    amount_text: str | None = Field(default=None, description="Verbatim amount, e.g. 139亿元")
    location: str | None = Field(default=None, description="Where the project is sited")


def _model_or_skip() -> Path:
    """The model in the user's data dir ($LLMX_DATA_DIR / XDG; $LLMX_LOCAL_MODEL wins).

    Deliberately not a tmp dir: assembling writes 1.1 GB, done once and reused.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'llmx[local]')")
    try:
        return ensure_model()
    except LocalModelError as exc:
        pytest.skip(f"bundled model unavailable: {exc.message}")


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_real_model_structured_output() -> None:
    import openai

    model = _model_or_skip()
    opts = recommended_request_options(max_tokens=256)
    schema = Deal.model_json_schema()
    system = (
        "Extract the investment project the article reports. Answer with one JSON object "
        "matching this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)
    )

    t0 = time.monotonic()
    server = LocalServer(model, n_ctx=context_size_for(600, 256), chat_format=opts["chat_format"])
    with server:
        started_s = time.monotonic() - t0
        pid = server.pid
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0)
        t1 = time.monotonic()
        resp = client.chat.completions.create(
            model=opts["model"],
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": ARTICLE},
            ],
            temperature=opts["temperature"],
            max_tokens=opts["max_tokens"],
            response_format=json_object_response_format(schema),  # type: ignore[arg-type]
            extra_body=opts["extra_body"],
            timeout=600,
        )
        request_s = time.monotonic() - t1
    assert pid is not None
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), "llama_cpp.server still running after stop()"

    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    deal = Deal.model_validate_json(choice.message.content or "")
    assert "卫蓝" in deal.project
    usage = resp.usage
    print(
        f"\nserver start {started_s:.1f}s; request {request_s:.1f}s; "
        f"tokens {usage.prompt_tokens if usage else '?'} in / "
        f"{usage.completion_tokens if usage else '?'} out; {deal.model_dump_json()}",
        file=sys.stderr,
    )
