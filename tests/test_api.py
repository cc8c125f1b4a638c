"""The public Python API, as a user calls it, against the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

import llmx
from llmx.testing import FakeOpenAI, error, structured, text

ARTICLE = "发布时间：2023-02-08\n近日，总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区。"
ANSWER = {
    "projects": [
        {
            "name": "卫蓝新能源固态电池项目",
            "investor": "卫蓝新能源",
            # the model's arithmetic is wrong; the span is right
            "amount": {"value": 139, "currency": "CNY", "qualifier": "exact", "text": "139亿元"},
            "location": {"city": "湖州", "park": "南太湖新区"},
            "stage": "签约",
            "date": "近日",
            "evidence": "近日，总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区。",
        }
    ],
    "stats": [],
}


def test_public_surface() -> None:
    for name in llmx.__all__:
        assert getattr(llmx, name) is not None
    assert issubclass(llmx.ConfigError, llmx.LlmxError)
    with pytest.raises(AttributeError):
        llmx.no_such_thing  # noqa: B018


def test_extract_one_document(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(structured(ANSWER, usage=(500, 80)))
    result = llmx.extract(ARTICLE, "investment", base_url=fake_openai.base_url, model="m")
    assert result.ok and result.error is None
    project = result.record.projects[0]  # type: ignore[union-attr]
    assert project.amount is not None and project.amount.value == 139e8
    assert (project.location.province, project.location.city) == ("浙江省", "湖州市")
    assert project.stage == "signed" and project.date is None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (500, 80)
    assert result.attempts == 1 and not result.cached
    assert result.grounding[0].status == "exact"
    assert ARTICLE[result.grounding[0].start : result.grounding[0].end].startswith("近日")
    assert any("disagreed" in n for n in result.notes)
    # the publication date in the page reached the prompt
    assert "2023-02-08" in fake_openai.chat_requests[0].text

    again = llmx.extract(ARTICLE, "investment", base_url=fake_openai.base_url, model="m")
    assert again.cached and again.usage.requests == 0 and fake_openai.calls == 1
    assert again.record == result.record


def test_extractor_reuse_sync_and_errors(fake_openai: FakeOpenAI) -> None:
    class Person(BaseModel):
        name: str

    fake_openai.queue(structured({"name": "Ada"}), error(400))
    with llmx.Extractor(Person, base_url=fake_openai.base_url, model="m", cache=False) as ex:
        first = ex.extract("Ada Lovelace wrote the first program.")
        second = ex.extract("Someone else.")
    assert first.record == Person(name="Ada")
    assert second.record is None and isinstance(second.error, llmx.ClientEndpointError)
    assert second.to_dict()["error"]["kind"] == "endpoint_client"


async def test_extractor_async(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(structured(ANSWER))
    async with llmx.Extractor("investment", base_url=fake_openai.base_url, model="m") as ex:
        result = await ex.aextract(ARTICLE.encode("gb18030"), doc_id="gbk")
    assert result.doc_id == "gbk" and result.ok
    with pytest.raises(llmx.ConfigError, match="running event loop"):
        llmx.Extractor("investment", base_url=fake_openai.base_url, model="m").extract("x")


def test_extract_batch(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = structured(ANSWER)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"a{i}.txt").write_text(ARTICLE + f"（{i}）", encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")
    out = tmp_path / "out.jsonl"
    outcome = llmx.extract_batch(
        [str(docs)], "investment", out=out, base_url=fake_openai.base_url, model="m"
    )
    assert (outcome.summary.ok, outcome.summary.failed) == (3, 1)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["doc_id"] for x in lines) == ["a0", "a1", "a2", "empty"]
    assert outcome.errors is not None and "empty" in outcome.errors.read_text(encoding="utf-8")
    summary = json.loads(outcome.summary_path.read_text(encoding="utf-8"))
    assert summary["ok"] == 3 and summary["usage"]["requests"] == 3


class Company(BaseModel):
    name: str


class Names(BaseModel):
    companies: list[Company]


LONG_TEXT = "。".join(f"第{i}家企业名为企业{i}号，主营新材料" for i in range(30)) + "。"


def test_a_cut_off_answer_on_a_long_text_is_asked_again_in_halves(fake_openai: FakeOpenAI) -> None:
    looping = '{"companies": [{"name": "企业0号"}, {"name": "企业0号"}, {"name": "企业0'

    def names(*found: str) -> dict[str, list[dict[str, str]]]:
        return {"companies": [{"name": n} for n in found]}

    fake_openai.queue(
        text(looping, finish_reason="length"),
        structured(names("华东新材料", "星海电子")),
        structured(names("星海电子", "远山能源")),
    )
    with llmx.Extractor(Names, base_url=fake_openai.base_url, model="m", mode="md_json") as ex:
        result = ex.extract(LONG_TEXT)
    assert result.ok, result.error
    requests = fake_openai.chat_requests
    assert len(requests) == 3 and result.attempts == 3 and fake_openai.pending == 0
    # no warmer retry of the whole text: its halves instead, each shorter, all of it covered
    assert all(r.json["temperature"] == 0.0 for r in requests)
    parts = [r.messages[-1]["content"] for r in requests[1:]]
    assert all(len(p) < len(requests[0].messages[-1]["content"]) for p in parts)
    assert "企业0号" in parts[0] and "企业29号" in parts[1]
    found = [c.name for c in result.record.companies]  # type: ignore[union-attr]
    assert sorted(found) == sorted(["华东新材料", "星海电子", "远山能源"])
    assert any("asked again for each half" in n for n in result.notes)
    # the parts' answers are cached, and so is that the whole text's answer was cut off:
    # the next run asks for nothing (before, it paid for the cut-off answer again)
    with llmx.Extractor(Names, base_url=fake_openai.base_url, model="m", mode="md_json") as ex:
        again = ex.extract(LONG_TEXT)
    assert again.ok and again.record == result.record
    assert again.usage.requests == 0 and again.cached and len(fake_openai.chat_requests) == 3
    assert any("cut off at max_tokens in an earlier run" in n for n in again.notes)
    # --refresh asks again
    fake_openai.queue(
        text(looping, finish_reason="length"),
        structured(names("华东新材料")),
        structured(names("远山能源")),
    )
    with llmx.Extractor(
        Names, base_url=fake_openai.base_url, model="m", mode="md_json", refresh=True
    ) as ex:
        fresh = ex.extract(LONG_TEXT)
    assert fresh.ok and fresh.usage.requests == 3 and fake_openai.pending == 0


def test_a_cut_off_answer_on_a_short_text_is_retried_warmer_then_fails(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(*[text('{"companies": [{"name": "A"}, {"na', finish_reason="length")] * 2)
    with llmx.Extractor(Names, base_url=fake_openai.base_url, model="m", mode="md_json") as ex:
        result = ex.extract("企业A号。")
    assert isinstance(result.error, llmx.TruncatedAnswerError)
    assert "cut off at max_tokens" in str(result.error) and result.error.kind == "validation"
    assert [r.json["temperature"] for r in fake_openai.chat_requests] == [0.0, 0.7]
    assert result.attempts == 2
    # a text too short to split keeps no trace in the cache: the next run asks again
    fake_openai.queue(text('{"companies": [{"name": "A"}]}'))
    with llmx.Extractor(Names, base_url=fake_openai.base_url, model="m", mode="md_json") as ex:
        assert ex.extract("企业A号。").ok
