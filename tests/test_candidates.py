"""The candidates strategy: code finds the candidates, the model reads each, code computes.

Through the public API against the fake server; the fake "model" answers each numbered
candidate by reading the request, as a model would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

import llmx
from llmx._candidates import Candidate, groups, reader_for
from llmx._schemas import load_schema
from llmx.normalize import DocumentContext
from llmx.testing import FakeOpenAI, structured

ARTICLE = (
    "发布时间：2023-02-08\n"
    "湖州一月份引进项目再创新高\n"
    "今年以来,湖州精准招商,一月份已引进3亿元以上项目28个,同比增长21.7%;"
    "签约项目总投资达437亿元,同比增长156%,其中超百亿元项目1个。\n"
    "近日,总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。"
    "南太湖新区还引进总投资1.2亿元的蓝固锂电和总投资10亿元的南木纳米两大链上项目。\n"
    "该市设立总规模超600亿元的绿色产业基金,安排100亿元财政资金奖励重大项目,"
    "年产值可达200亿元。\n"
    "5月6日,天合光能淮安基地一期项目竣工投产、二期项目开工。\n"
)
NAMES = {
    "139亿元": ("卫蓝新能源固态电池项目", "卫蓝新能源", "固态电池", "南太湖新区"),
    "1.2亿元": ("蓝固锂电", "蓝固锂电", None, "南太湖新区"),
    "10亿元": ("南木纳米", "南木纳米", None, "南太湖新区"),
}


def _candidates(request: dict[str, Any]) -> list[str]:
    user = request["messages"][-1]["content"]
    return re.findall(r"^c\d+：(.*)$", user, flags=re.M)


def _keys(request: dict[str, Any]) -> dict[str, list[str]]:
    """The answer keys the request's schema asks for, per candidate."""
    params = request["tools"][0]["function"]["parameters"]
    defs = params.get("$defs", {})
    out = {}
    for key, prop in params["properties"].items():
        ref = prop["$ref"].rsplit("/", 1)[-1]
        out[key] = list(defs[ref]["properties"])
    return out


def reader_model(request: dict[str, Any]) -> Any:
    """Answer each candidate: name the marked project, call counts stats, the rest none."""
    answers: dict[str, Any] = {}
    for number, (key, fields) in enumerate(_keys(request).items()):
        text = _candidates(request)[number]
        marked = re.search(r"【(.*?)】", text)
        mark = marked.group(1) if marked else ""
        answer: dict[str, Any] = dict.fromkeys(fields)
        if fields == ["kind"]:  # a statistic: only stat or none is asked
            answer["kind"] = "stat"
        elif mark in NAMES:
            _, investor, industry, place = NAMES[mark]
            answer.update(kind="project", investor=investor, industry=industry, place=place)
        elif mark.endswith("项目"):
            answer.update(kind="project", investor="天合光能")
        else:
            answer["kind"] = "none"
        if "name" in fields and answer["kind"] == "project":
            answer["name"] = NAMES[mark][0] if mark in NAMES else mark.split("、")[-1]
        answers[key] = {k: v for k, v in answer.items() if k in fields}
    return structured(answers)


def _settings(server: FakeOpenAI, **more: Any) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "api_key": "test",
        "model": "m",
        "mode": "tools",
        "strategy": "candidates",
        **more,
    }


def test_every_record_of_the_story_numbers_from_spans(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = reader_model
    result = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    assert result.error is None and result.record is not None
    projects = {p.name: p for p in result.record.projects}
    assert set(projects) >= {"卫蓝新能源固态电池项目", "蓝固锂电", "南木纳米"}
    weilan = projects["卫蓝新能源固态电池项目"]
    assert weilan.amount is not None and weilan.amount.value == 139e8  # from the span
    assert weilan.stage == "signed"
    assert (weilan.location.city, weilan.location.park) == ("湖州市", "南太湖新区")
    assert projects["南木纳米"].amount.value == 10e8  # type: ignore[union-attr]
    # a project found by its name and its stage verb, with the date of its sentence
    tianhe = [p for p in result.record.projects if "一期" in p.name]
    assert tianhe and tianhe[0].stage == "in_production" and tianhe[0].date == "2023-05-06"
    # stats: one figure, its own count or amount and 同比, never fused
    stats = sorted(result.record.stats, key=lambda s: (s.project_count or 0, s.yoy_pct or 0))
    by_count = {s.project_count: s for s in stats if s.project_count is not None}
    assert by_count[28].yoy_pct == 21.7 and by_count[28].amount is None
    assert by_count[28].period == "2023-01" and by_count[28].region == "湖州市"
    assert "引进3亿元以上项目" in by_count[28].scope
    amounts = [s for s in stats if s.amount is not None]
    assert [(s.amount.value, s.yoy_pct) for s in amounts] == [(437e8, 156.0)]  # type: ignore[union-attr]
    # funds, rewards and output are never records
    values = {p.amount.value for p in result.record.projects if p.amount is not None}
    assert not values & {600e8, 100e8, 200e8}
    # evidence is the candidate's sentence: grounded exactly, offsets into the input
    assert result.grounding and all(g.status == "exact" for g in result.grounding)
    for g in result.grounding:
        assert g.start is not None and g.end is not None
        assert ARTICLE[g.start : g.end].strip()


def test_the_answer_shape_has_one_entry_per_candidate(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = reader_model
    llmx.extract(ARTICLE, "investment", **_settings(fake_openai, group_size=3))
    assert fake_openai.calls >= 3
    for request in fake_openai.chat_requests:
        keys = _keys(request.json)
        params = request.json["tools"][0]["function"]["parameters"]
        assert sorted(params["required"]) == sorted(keys)
        assert len(keys) == len(_candidates(request.json)) <= 3
        # the fixed instructions come first, so a server can reuse their prefix
        assert request.messages[0]["role"] == "system"
        assert "【" not in request.messages[0]["content"] or "c1" in request.messages[0]["content"]
    systems = {r.messages[0]["content"] for r in fake_openai.chat_requests}
    assert len(systems) == 1


def test_an_answer_missing_a_candidate_is_asked_again(fake_openai: FakeOpenAI) -> None:
    """A model that stops after the first candidate does not validate; it is re-asked."""
    short = {"c1": {"kind": "stat"}}
    fake_openai.queue(structured(short))
    fake_openai.default = reader_model
    result = llmx.extract(ARTICLE, "investment", **_settings(fake_openai, group_size=8))
    assert result.error is None
    assert any("re-asked" in n for n in result.notes)
    assert len(result.record.stats) >= 2  # type: ignore[union-attr]


def test_names_the_story_does_not_back_are_dropped(fake_openai: FakeOpenAI) -> None:
    def inventive(request: dict[str, Any]) -> Any:
        return structured(
            {
                key: (
                    dict.fromkeys(fields) | {"kind": "project", "name": "不存在的幻想项目"}
                    if "name" in fields
                    else {"kind": "stat"}
                    if fields == ["kind"]
                    else dict.fromkeys(fields) | {"kind": "project", "investor": "幻想公司"}
                )
                for key, fields in _keys(request).items()
            }
        )

    fake_openai.default = inventive
    result = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    assert result.error is None and result.record is not None
    names = {p.name for p in result.record.projects}
    assert "不存在的幻想项目" not in names
    # a name that code reads right after an amount does not depend on the model
    assert {"卫蓝新能源固态电池项目", "蓝固锂电", "南木纳米"} <= names
    # every name is the story's, a phase (二期项目) with the project it is a phase of
    assert all(name in ARTICLE or name.endswith("期项目") for name in names)
    assert "天合光能淮安基地二期项目" in names
    assert result.record.stats  # stats need no name from the model


def test_cached_answers_make_no_requests(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = reader_model
    first = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    calls = fake_openai.calls
    again = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    assert fake_openai.calls == calls and again.cached and again.usage.requests == 0
    assert again.record == first.record


def test_auto_is_candidates_for_a_schema_with_a_reader_else_chunks(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMX_STRATEGY", raising=False)
    settings = _settings(fake_openai)
    del settings["strategy"]
    with llmx.Extractor("investment", **settings) as ex:
        assert ex.strategy == "candidates"

    class Paper(BaseModel):
        title: str
        evidence: str

    class Citations(BaseModel):
        papers: list[Paper]

    with llmx.Extractor(Citations, **settings) as ex:
        assert ex.strategy == "chunks"
    with pytest.raises(llmx.ConfigError, match="candidate reader"):
        llmx.Extractor(Citations, **settings, strategy="candidates")


def test_chunks_strategy_asks_small_windows_for_any_schema(fake_openai: FakeOpenAI) -> None:
    class Paper(BaseModel):
        title: str
        evidence: str

    class Citations(BaseModel):
        papers: list[Paper]

    sentence = "这是一篇引用了论文的文章，论文题目很长很长很长很长。"
    article = sentence * 120  # ~3,000 characters
    fake_openai.default = structured({"papers": [{"title": "论文", "evidence": sentence}]})
    result = llmx.extract(article, Citations, **_settings(fake_openai, strategy="chunks"))
    assert result.error is None
    sizes = [len(r.messages[-1]["content"]) for r in fake_openai.chat_requests]
    assert len(sizes) >= 3 and max(sizes) < 1400
    assert len(result.record.papers) == 1  # type: ignore[union-attr]  # merged


def test_a_user_schema_can_bring_its_own_reader(fake_openai: FakeOpenAI) -> None:
    """The documented hook: a reader on the schema class is used as is."""

    class Answer(BaseModel):
        title: str | None = None

    class Reader:
        prompt = "investment_candidates"

        def find(self, text: str, context: DocumentContext) -> list[Candidate]:
            return [
                Candidate(m.start(), m.end(), m.group(0), (m.start(), m.end()), "papers")
                for m in re.finditer(r"《[^》]+》", text)
            ]

        def question(self, candidate: Candidate) -> type[BaseModel]:
            return Answer

        def build(
            self, candidate: Candidate, answer: BaseModel, context: DocumentContext
        ) -> list[tuple[str, dict[str, Any]]]:
            return [("papers", {"title": candidate.text.strip("《》"), "evidence": candidate.text})]

    class Paper(BaseModel):
        title: str
        evidence: str

    class Citations(BaseModel):
        papers: list[Paper]
        __llmx_reader__: ClassVar[Reader] = Reader()

    assert reader_for(Citations) is not None
    fake_openai.default = lambda req: structured({k: {"title": None} for k in _keys(req)})
    text = "我读了《机器学习综述》和《图神经网络》，还有《中文分词研究》。"
    result = llmx.extract(text, Citations, **_settings(fake_openai, group_size=2))
    assert [p.title for p in result.record.papers] == ["机器学习综述", "图神经网络", "中文分词研究"]  # type: ignore[union-attr]
    assert fake_openai.calls == 2


def test_groups_are_even_and_cover_everything() -> None:
    items = [Candidate(i, i + 1, "x") for i in range(10)]
    for size in (1, 3, 4, 10, 20):
        parts = groups(items, size)
        assert [c for g in parts for c in g] == items
        assert max(len(g) for g in parts) <= size
        assert max(len(g) for g in parts) - min(len(g) for g in parts) <= 1
    assert groups([], 4) == []


def test_investment_finder_offsets_and_kinds() -> None:
    reader = reader_for(load_schema("investment"))
    assert reader is not None
    text = ARTICLE
    found = reader.find(text, DocumentContext(text=text))
    for c in found:
        assert text[c.start : c.end] == c.text
        assert c.anchor is not None and c.start <= c.anchor[0] < c.anchor[1] <= c.end
    marks = [(c.kind, text[c.anchor[0] : c.anchor[1]]) for c in found if c.anchor]
    assert ("stats", "28个") in marks and ("stats", "437亿元") in marks
    assert ("projects", "139亿元") in marks
    # funds, rewards, output and thresholds are not candidates
    anchors = {m for _, m in marks}
    assert not anchors & {"超600亿元", "100亿元", "200亿元", "3亿元"}
    assert json.dumps([c.marked for c in found], ensure_ascii=False).count("【") == len(found)


def test_passes_record_agreement_as_confidence(fake_openai: FakeOpenAI) -> None:
    """Three passes: the warm passes drop one project; its confidence is 1/3, the rest 1."""

    def doubting(request: dict[str, Any]) -> Any:
        reply = reader_model(request)
        if request.get("temperature", 0) > 0:  # a later pass forgets 南木纳米 (10亿元)
            marks = [re.search(r"【(.*?)】", c) for c in _candidates(request)]
            answers = {
                k: (dict(v, kind="none") if m is not None and m.group(1) == "10亿元" else v)
                for (k, v), m in zip(reply.obj.items(), marks, strict=True)
            }
            return structured(answers)
        return reply

    fake_openai.default = doubting
    result = llmx.extract(ARTICLE, "investment", **_settings(fake_openai, passes=3))
    assert result.error is None and result.record is not None and result.confidence
    by_name = {
        p.name: result.confidence[f"projects[{i}]"] for i, p in enumerate(result.record.projects)
    }
    assert by_name["南木纳米"] == pytest.approx(1 / 3)
    assert by_name["卫蓝新能源固态电池项目"] == 1.0
    assert all(result.confidence[f"stats[{i}]"] == 1.0 for i in range(len(result.record.stats)))
    temperatures = sorted({r.json.get("temperature") for r in fake_openai.chat_requests})
    assert temperatures == [0.0, 0.7]
    assert result.to_dict()["confidence"] == {k: round(v, 3) for k, v in result.confidence.items()}
    # one pass: no confidence in the output line
    single = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    assert single.confidence is None and "confidence" not in single.to_dict()


def test_questions_targets_and_phases() -> None:
    reader = reader_for(load_schema("investment"))
    assert reader is not None
    text = (
        "不到一百天，招引投资超千亿元的背后，淮安有着怎样的创新举措？\n"
        "金湖明确提出要求：确保全年落地亿元项目2个以上。\n"
        "4月28日上午，淮安捷泰新能源一期项目首线出片暨二期项目开工仪式成功举行。\n"
        "2023年，淮安新签约亿元以上项目265个。\n"
    )
    found = reader.find(text, DocumentContext(text=text))
    marks = {text[c.anchor[0] : c.anchor[1]]: c for c in found if c.anchor}
    assert "超千亿元" not in marks  # a question reports nothing
    assert "2个" not in marks  # a target is not a statistic
    phases = [c.facts.get("mention") for c in found if c.facts.get("mention")]
    assert phases == ["淮安捷泰新能源一期项目", "淮安捷泰新能源二期项目"]
    stages = [c.facts["stage"] for c in found if c.facts.get("mention")]
    assert stages == ["in_production", "under_construction"]
    # no publication date: the story's own year dates the event
    assert {c.facts.get("date") for c in found if c.facts.get("mention")} == {"2023年4月28日"}


def test_a_candidate_whose_answer_is_cut_off_is_left_out_with_a_note(
    fake_openai: FakeOpenAI,
) -> None:
    """A small model that loops inside one answer loses that candidate, not the document;
    each request's output is bounded by the group's size."""

    def looping(request: dict[str, Any]) -> Any:
        if "南木纳米" in request["messages"][-1]["content"] and "【10亿元】" in json.dumps(
            request, ensure_ascii=False
        ):
            looped = {"c1": {"kind": "project", "investor": "南木" * 40}}
            return structured(looped, finish_reason="length")
        return reader_model(request)

    fake_openai.default = looping
    result = llmx.extract(ARTICLE, "investment", **_settings(fake_openai, group_size=1))
    assert result.error is None and result.record is not None
    names = {p.name for p in result.record.projects}
    assert "卫蓝新能源固态电池项目" in names and "南木纳米" not in names
    assert any("cut off at max_tokens; left out" in n for n in result.notes)
    budgets = {r.json["max_tokens"] for r in fake_openai.chat_requests}
    assert budgets == {32 + 80}  # one candidate per request


def test_a_count_that_opens_its_clause_takes_its_scope_from_what_follows() -> None:
    reader = reader_for(load_schema("investment"))
    assert reader is not None
    text = "5月17日上午，衢州举行智造新城集中签约仪式，22个项目集中签约，总投资662.32亿元。"
    context = DocumentContext(text=text)
    [found] = reader.find(text, context)
    assert reader.question(found) is None  # a count with its amount: nothing to ask
    [(name, item)] = reader.build(found, None, context)
    assert name == "stats" and item["scope"] == "集中签约项目"
    assert item["project_count"] == 22 and item["amount"] == {"text": "662.32亿元"}
    assert item["period"] == "5月17日" and item["region"] == "智造新城"


def test_candidates_the_model_turns_down_make_an_empty_record(fake_openai: FakeOpenAI) -> None:
    """Figures that are not records (the model answers "none" to each) leave the schema's
    empty record and a note, not an error."""

    def nothing(request: dict[str, Any]) -> Any:
        return structured({key: {"kind": "none"} for key in _keys(request)})

    fake_openai.default = nothing
    text = "近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。\n"
    result = llmx.extract(text, "investment", **_settings(fake_openai))
    assert result.error is None and result.record is not None
    assert (result.record.projects, result.record.stats) == ([], [])
    assert fake_openai.chat_requests  # the candidates were asked about
    assert "no candidate made a record" in result.notes


def test_the_cache_key_names_the_prompt_a_strategy_sends(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """With candidates, the schema's whole-document prompt is never sent: editing it must
    not throw away cached answers, and editing the reader's prompt must."""
    from llmx._prompts import load_prompt

    fake_openai.default = reader_model
    llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    calls = fake_openai.calls
    schema_prompt = load_prompt("investment")
    edited = tmp_path / "investment.j2"
    edited.write_text(schema_prompt.source.replace("只输出 JSON", "只输出 JSON。"), "utf-8")
    again = llmx.extract(ARTICLE, "investment", prompt=str(edited), **_settings(fake_openai))
    assert again.cached and fake_openai.calls == calls
    # the same edit in the reader's prompt asks again
    reader_prompt = load_prompt("investment_candidates")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "investment_candidates.j2").write_text(reader_prompt.source + "\n", "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        changed = llmx.extract(ARTICLE, "investment", **_settings(fake_openai))
    assert not changed.cached and fake_openai.calls > calls
