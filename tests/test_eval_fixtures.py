"""Loading eval fixtures and checking gold records against a schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from llmx._errors import EvalError
from llmx.evals import Fixture, check_gold, gold_problems, load_fixtures
from llmx.fields import MatchKey


class Item(BaseModel):
    name: Annotated[str, MatchKey()]
    count: int | None = None


class Doc(BaseModel):
    items: list[Item] = []


def write_fixture(folder: Path, doc_id: str, record: Any, *, suffix: str = ".txt") -> None:
    (folder / f"{doc_id}{suffix}").write_text(f"text of {doc_id}", encoding="utf-8")
    gold = {"meta": {"published": "2023-02-07"}, "record": record}
    (folder / f"{doc_id}.gold.json").write_text(json.dumps(gold), encoding="utf-8")


def test_load_fixtures(tmp_path: Path) -> None:
    write_fixture(tmp_path, "b", {"items": [{"name": "x"}]})
    write_fixture(tmp_path, "a", {"items": []}, suffix=".html")
    (tmp_path / "README.md").write_text("about these fixtures")
    fixtures = load_fixtures(tmp_path, schema=Doc)
    assert [f.doc_id for f in fixtures] == ["a", "b"]
    b = fixtures[1]
    assert b.text == b"text of b"
    assert b.meta == {"published": "2023-02-07"}
    assert b.gold == {"items": [{"name": "x"}]}
    doc = b.document()
    assert doc.doc_id == "b" and doc.published is not None and doc.published.day == 7


def test_malformed_gold_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "a.gold.json").write_text('{"record": {"items": [}')
    with pytest.raises(EvalError) as err:
        load_fixtures(tmp_path)
    assert "a.gold.json" in str(err.value)
    assert "not valid JSON" in str(err.value)


@pytest.mark.parametrize(
    "content",
    [
        '{"meta": {}}',
        "[]",
        '{"record": {}, "meta": []}',
        '{"record": {}, "meta": {"published": 5}}',
    ],
)
def test_gold_shape_errors(tmp_path: Path, content: str) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "a.gold.json").write_text(content)
    with pytest.raises(EvalError, match=r"a\.gold\.json"):
        load_fixtures(tmp_path)


def test_document_without_gold_is_an_error_listing_files(tmp_path: Path) -> None:
    write_fixture(tmp_path, "a", {"items": []})
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "c.md").write_text("x")
    with pytest.raises(EvalError) as err:
        load_fixtures(tmp_path)
    assert "b.txt" in str(err.value) and "c.md" in str(err.value)
    assert [f.doc_id for f in load_fixtures(tmp_path, missing_gold="skip")] == ["a"]


def test_gold_without_document_is_an_error(tmp_path: Path) -> None:
    write_fixture(tmp_path, "a", {"items": []})
    (tmp_path / "z.gold.json").write_text('{"record": {}}')
    with pytest.raises(EvalError, match=r"z\.gold\.json"):
        load_fixtures(tmp_path)


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="not found"):
        load_fixtures(tmp_path / "nope")
    with pytest.raises(EvalError, match="no fixtures"):
        load_fixtures(tmp_path)


def test_two_documents_with_one_id(tmp_path: Path) -> None:
    write_fixture(tmp_path, "a", {"items": []})
    (tmp_path / "a.html").write_text("x")
    with pytest.raises(EvalError, match="share one fixture id"):
        load_fixtures(tmp_path)


def test_check_gold_against_schema(tmp_path: Path) -> None:
    good = {"items": [{"name": {"$any_of": ["x", "y"]}, "count": None, "$optional": True}]}
    assert gold_problems(good, Doc) == []
    bad = {"items": [{"nmae": "x", "count": [1]}], "extra": 1, "$optional": True}
    problems = gold_problems(bad, Doc)
    assert any("'nmae'" in p for p in problems)
    assert any("'extra'" in p for p in problems)
    assert any("'$optional'" in p for p in problems)  # only list items may be optional
    assert any("count" in p and "single value" in p for p in problems)
    assert gold_problems({"items": [{"name": {"$any_of": []}}]}, Doc)
    write_fixture(tmp_path, "a", bad)
    with pytest.raises(EvalError, match="does not fit schema Doc"):
        load_fixtures(tmp_path, schema=Doc)
    fixture = Fixture("a", tmp_path / "a.txt", b"", {}, bad, tmp_path / "a.gold.json")
    with pytest.raises(EvalError, match=r"a\.gold\.json"):
        check_gold(fixture, Doc)
