"""Sentence-aware chunking: coverage, offsets, sizes, overlap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmx._text.chunk import Chunk, chunk_text, split_sentences
from llmx._text.clean import clean_text
from tests.support import SEED_DIR


def check(text: str, chunks: list[Chunk], max_chars: int) -> None:
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert 0 < len(c.text) <= max_chars
    if text:
        assert chunks[0].start == 0 and chunks[-1].end == len(text)
        for a, b in itertools.pairwise(chunks):
            assert b.start <= a.end  # no gap: chunks cover the text
            assert b.start > a.start and b.end > a.end  # progress
    else:
        assert chunks == []


def test_split_sentences_keeps_punctuation() -> None:
    text = "第一句。第二句！“第三句？”第四句；\n\n标题\n最后"
    parts = [text[s:e] for s, e in split_sentences(text)]
    assert parts == ["第一句。", "第二句！", "“第三句？”", "第四句；\n\n", "标题\n", "最后"]
    assert "".join(parts) == text


def test_one_chunk_when_it_fits() -> None:
    text = "总投资139亿元。" * 5
    assert chunk_text(text, max_chars=len(text)) == [Chunk(0, text, 0, len(text))]


def test_empty_text() -> None:
    assert chunk_text("", max_chars=10) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=0)
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=5, overlap_chars=-1)


def test_sentences_not_split_and_overlap_by_whole_sentences() -> None:
    sentences = [f"第{i}个项目总投资{i}亿元。" for i in range(30)]
    text = "".join(sentences)
    chunks = chunk_text(text, max_chars=60, overlap_chars=20)
    check(text, chunks, 60)
    bounds = {0, len(text)}
    pos = 0
    for s in sentences:
        pos += len(s)
        bounds.add(pos)
    for c in chunks:
        assert c.start in bounds and c.end in bounds
    for a, b in itertools.pairwise(chunks):
        assert 0 < a.end - b.start <= 20


def test_no_overlap() -> None:
    text = "甲乙丙丁。" * 50
    chunks = chunk_text(text, max_chars=23, overlap_chars=0)
    check(text, chunks, 23)
    for a, b in itertools.pairwise(chunks):
        assert a.end == b.start


def test_long_sentence_is_hard_split() -> None:
    text = "短句。" + "长" * 250 + "。结尾。"
    chunks = chunk_text(text, max_chars=100, overlap_chars=10)
    check(text, chunks, 100)
    assert any(len(c.text) == 100 for c in chunks)


def test_seed_chunks() -> None:
    path = next(SEED_DIR.glob("003*.txt"))
    text = clean_text(path.read_text(encoding="utf-8")).text
    chunks = chunk_text(text, max_chars=800, overlap_chars=200)
    check(text, chunks, 800)
    assert len(chunks) >= 3
    for c in chunks[:-1]:
        assert c.text[-1] in "。！？；!?;\n”"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("项目投资。！？；\n,ab ")), max_size=300).map("".join),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=0, max_value=80),
)
def test_chunk_property(text: str, max_chars: int, overlap: int) -> None:
    chunks = chunk_text(text, max_chars=max_chars, overlap_chars=overlap)
    check(text, chunks, max_chars)
    for a, b in itertools.pairwise(chunks):
        assert a.end - b.start <= max(overlap, 0) or a.end == b.start
