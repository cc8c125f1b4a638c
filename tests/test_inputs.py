"""Reading inputs: paths, folders, globs, stdin and JSONL files as documents."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from llmx._errors import InputError
from llmx._inputs import iter_documents
from llmx._types import Document


def make_tree(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one", encoding="utf-8")
    (root / "a" / "two.md").write_text("two", encoding="utf-8")
    (root / "b.html").write_text("<p>b</p>", encoding="utf-8")
    (root / "skip.pdf").write_bytes(b"%PDF")
    (root / ".hidden.txt").write_text("h", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("g", encoding="utf-8")
    (root / "data.jsonl").write_text('{"id": "j", "text": "t"}\n', encoding="utf-8")


def test_folder_walk_sorted_recursive_filtered(tmp_path: Path) -> None:
    make_tree(tmp_path / "in")
    docs = list(iter_documents([str(tmp_path / "in")]))
    assert [d.doc_id for d in docs] == ["a/one", "a/two", "b"]
    assert all(d.error is None for d in docs)
    assert docs[0].data == b"one"
    assert docs[2].source.endswith("b.html")


def test_explicit_file_any_suffix_uses_stem(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4")
    [doc] = iter_documents([str(path)])
    assert (doc.doc_id, doc.data, doc.error) == ("report", b"%PDF-1.4", None)


def test_glob_ids_relative_to_fixed_root(tmp_path: Path) -> None:
    make_tree(tmp_path / "in")
    (tmp_path / "in" / "a" / "deep").mkdir()
    (tmp_path / "in" / "a" / "deep" / "three.txt").write_text("3", encoding="utf-8")
    docs = list(iter_documents([f"{tmp_path}/in/**/*.txt"]))
    assert [d.doc_id for d in docs] == ["a/deep/three", "a/one"]


def test_glob_without_matches_is_an_error_document(tmp_path: Path) -> None:
    [doc] = iter_documents([f"{tmp_path}/nothing/*.txt"])
    assert isinstance(doc.error, InputError)
    assert "no files match" in doc.error.message


def test_missing_input_is_an_error_document_and_rest_continues(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("g", encoding="utf-8")
    docs = list(iter_documents([str(tmp_path / "missing.txt"), str(good)]))
    assert docs[0].doc_id == "missing"
    assert isinstance(docs[0].error, InputError)
    assert docs[1].doc_id == "good" and docs[1].error is None


def test_stdin_document() -> None:
    [doc] = iter_documents(["-"], stdin=io.BytesIO(b"hello"))
    assert (doc.doc_id, doc.source, doc.data) == ("stdin", "-", b"hello")
    [big] = iter_documents(["-"], stdin=io.BytesIO(b"x" * 11), max_bytes=10)
    assert isinstance(big.error, InputError)


def test_too_large_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 101)
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    [doc] = iter_documents([str(path)], max_bytes=100)
    assert isinstance(doc.error, InputError)
    assert doc.error.context["bytes"] == 101
    assert str(path) not in opened


def test_jsonl_lines(tmp_path: Path) -> None:
    path = tmp_path / "arts.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": "a1", "text": "alpha", "published": "2024-03-01", "x": 1}),
                json.dumps({"text": "no id"}),
                "{broken",
                "",
                json.dumps({"id": 7, "text": "int id"}),
                json.dumps({"id": "a2"}),
                json.dumps([1, 2]),
                json.dumps({"id": "a3", "text": "t", "meta": {"lang": "zh"}}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    docs = list(iter_documents([str(path)]))
    ids = [d.doc_id for d in docs]
    assert ids == ["a1", "arts.jsonl:2", "arts.jsonl:3", "7", "a2", "arts.jsonl:7", "a3"]
    a1 = docs[0]
    assert a1.data == "alpha" and a1.meta == {"published": "2024-03-01", "x": 1}
    assert str(a1.published) == "2024-03-01"
    assert a1.source.endswith("arts.jsonl:1")
    assert docs[1].error is None and docs[1].data == "no id"
    for i in (2, 4, 5):
        assert isinstance(docs[i].error, InputError), ids[i]
    assert docs[2].error is not None and docs[2].error.context["line"] == 3
    assert docs[6].meta == {"lang": "zh"}


def test_jsonl_overlong_line_is_an_error_and_reading_continues(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    long_line = json.dumps({"id": "long", "text": "y" * 5000})
    path.write_text(long_line + "\n" + json.dumps({"id": "ok", "text": "t"}) + "\n")
    docs = list(iter_documents([str(path)], max_bytes=1000))
    assert [d.doc_id for d in docs] == ["x.jsonl:1", "ok"]
    assert isinstance(docs[0].error, InputError)
    assert docs[1].error is None


def test_same_stem_inputs_get_distinct_ids_from_their_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text("1", encoding="utf-8")
    (tmp_path / "b" / "same.txt").write_text("2", encoding="utf-8")
    (tmp_path / "b" / "same.md").write_text("3", encoding="utf-8")
    (tmp_path / "b" / "other.txt").write_text("4", encoding="utf-8")
    docs = list(
        iter_documents(
            [
                str(tmp_path / "a" / "same.txt"),
                str(tmp_path / "b" / "same.txt"),
                str(tmp_path / "b"),
            ]
        )
    )
    # files named on the command line are told apart by their folder; folder b yields
    # "same" (same.md) and "same" (same.txt), told apart by their suffixes
    ids = [d.doc_id for d in docs]
    assert ids == ["same", "b/same", "other", "same.md", "same.txt"]
    assert all(d.error is None for d in docs)
    assert [d.data for d in docs] == [b"1", b"2", b"4", b"3", b"2"]
    assert docs[0].notes == ()
    assert "doc_id 'same' is taken" in docs[1].notes[0] and "'b/same'" in docs[1].notes[0]


def test_a_true_duplicate_is_an_error_document(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    lines = [
        {"id": "x", "text": "甲"},
        {"id": "x", "text": "乙"},  # a different text under the same id: extracted too
        {"id": "x", "text": "甲"},  # the same id and text again: a duplicate
    ]
    jsonl.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    docs = list(iter_documents([str(jsonl)]))
    assert [d.doc_id for d in docs] == ["x", "x~2", "x~3"]
    assert docs[1].error is None and docs[1].data == "乙" and "x~2" in docs[1].notes[0]
    assert isinstance(docs[2].error, InputError) and "duplicate" in docs[2].error.message


def test_iteration_is_lazy(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(str(i), encoding="utf-8")
    it = iter_documents([str(tmp_path)])
    first = next(it)
    assert first.doc_id == "0"
    (tmp_path / "2.txt").unlink()  # listing happened, reading did not
    rest = list(it)
    assert rest[0].doc_id == "1" and rest[1].error is not None


def test_unreadable_file_is_an_error_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.txt"
    path.write_text("x", encoding="utf-8")
    real_open = open

    def deny(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    [doc] = iter_documents([str(path)])
    assert isinstance(doc.error, InputError)
    assert "Permission denied" in doc.error.message


def test_documents_types() -> None:
    assert Document(doc_id="a", source="s", data="t").error is None
