"""Decoding bytes: encodings round-trip, bad inputs are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmx._errors import InputError
from llmx._text.decode import decode, decode_bytes, looks_like_html, to_text
from tests.support import SEED_DIR

SEEDS = sorted(SEED_DIR.glob("[0-9]*.txt"))


@pytest.fixture(params=SEEDS, ids=lambda p: p.name[:3])
def seed_text(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "gbk"])
def test_round_trip_lossless_encodings(seed_text: str, encoding: str) -> None:
    data = seed_text.encode(encoding, errors="ignore")
    decoded = decode_bytes(data, name="x.txt")
    assert decoded.text == data.decode(encoding).lstrip("\ufeff")
    assert decoded.is_html is False


def test_gbk_is_decoded_as_gb18030(seed_text: str) -> None:
    assert decode_bytes(seed_text.encode("gbk", errors="ignore")).encoding == "gb18030"


@pytest.mark.parametrize("encoding", ["big5", "big5hkscs", "cp950"])
def test_round_trip_big5(seed_text: str, encoding: str) -> None:
    data = seed_text.encode(encoding, errors="ignore")
    decoded = decode_bytes(data)
    assert decoded.encoding in {"big5", "cp950", "big5hkscs"}
    assert decoded.text == data.decode(decoded.encoding)
    # the Big5 variants differ only in a few symbols (①, •); every Chinese character agrees
    expected = data.decode(encoding)
    assert len(decoded.text) == len(expected)
    for a, b in zip(decoded.text, expected, strict=True):
        assert a == b or not ("\u4e00" <= b <= "\u9fff")


@pytest.mark.parametrize("n", [12, 40, 120])
def test_short_legacy_texts(seed_text: str, n: int) -> None:
    text = seed_text[:n]
    assert decode_bytes(text.encode("gb18030")).text == text
    big5 = text.encode("big5", errors="ignore")
    assert decode_bytes(big5).text == big5.decode("big5")


def test_utf8_bom_reported_as_utf8() -> None:
    decoded = decode_bytes("项目签约".encode("utf-8-sig"))
    assert decoded.text == "项目签约"
    assert decoded.encoding == "utf-8"


def test_meta_charset_is_honoured() -> None:
    html = (
        '<html><head><meta charset="gbk"></head><body><p>卫蓝新能源固态电池项目</p></body></html>'
    )
    decoded = decode_bytes(html.encode("gbk"))
    assert decoded.encoding == "gb18030"
    assert decoded.is_html
    assert "卫蓝新能源" in decoded.text


@pytest.mark.parametrize("data", [b"", b"   \n\t  ", "\ufeff".encode("utf-8-sig")])
def test_empty_rejected(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        decode_bytes(data, name="empty.txt")
    assert info.value.context["reason"] == "empty"
    assert info.value.context["path"] == "empty.txt"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02\x03binary\x00data",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(1, 32)) * 20,
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    ],
)
def test_binary_rejected(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        decode_bytes(data)
    assert info.value.context["reason"] == "binary"


def test_too_large_rejected() -> None:
    with pytest.raises(InputError) as info:
        decode_bytes(b"a" * 101, max_bytes=100)
    assert info.value.context["reason"] == "too_large"
    assert decode_bytes(b"a" * 100, max_bytes=100).text == "a" * 100


def test_str_passthrough_and_checks() -> None:
    assert decode("衢州先進制造業").text == "衢州先進制造業"
    assert decode("衢州").encoding == "str"
    with pytest.raises(InputError):
        decode("  ")
    with pytest.raises(InputError):
        decode("a\x00b")
    with pytest.raises(InputError):
        decode("项目" * 100, max_bytes=10)


def test_to_text_strips_html() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>t</title><script>var x=1;</script></head>"
        "<body><nav>首页 财经</nav><article><h1>湖州招商</h1><p>"
        + "总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。" * 5
        + "</p></article></body></html>"
    )
    text = to_text(page.encode("utf-8"))
    assert text.startswith("湖州招商")
    assert "var x" not in text and "首页" not in text
    assert to_text(page, strip_html=False) == page
    assert to_text("纯文本。") == "纯文本。"


def test_looks_like_html() -> None:
    assert looks_like_html("<!doctype html><p>x</p>")
    assert looks_like_html("anything", name="page.HTML")
    assert not looks_like_html("价格 <5 亿元 and a>b")
