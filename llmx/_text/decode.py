"""Bytes -> text: encoding detection for Chinese news pages, with clear refusals.

Order of attempts: BOMs (UTF-8, UTF-16, UTF-32), UTF-16 without a BOM (told by its
zero bytes, all at odd or all at even offsets), a ``charset=`` declared in an HTML page,
strict UTF-8, then the legacy Chinese encodings (GB18030 and Big5/CP950/Big5-HKSCS, guided
by charset-normalizer). GBK/GB2312 are always decoded as their superset GB18030.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from llmx._errors import InputError

__all__ = ["DEFAULT_MAX_BYTES", "Decoded", "decode", "decode_bytes", "looks_like_html", "to_text"]

#: Inputs larger than this are refused unless the caller raises the limit.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_MAGIC: tuple[bytes, ...] = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x7fELF",
    b"MZ",
    b"\xd0\xcf\x11\xe0",
    b"Rar!",
    b"7z\xbc\xaf",
)
_ALIASES = {
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312_80": "gb18030",
    "hz": "gb18030",
    "cp936": "gb18030",
    "big5": "big5",
    "cp950": "cp950",
    "ascii": "utf-8",
    "utf_8": "utf-8",
    "utf8": "utf-8",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_HTML_TAG = re.compile(r"</?(?:p|div|br|span|a|td|tr|li|ul|h[1-6]|article|section)\b[^>]*>", re.I)


@dataclass(frozen=True)
class Decoded:
    """Decoded text, the encoding used (Python codec name) and whether it is HTML."""

    text: str
    encoding: str
    is_html: bool


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def looks_like_html(text: str, name: str | None = None) -> bool:
    """True for an HTML page: by file name, a doctype/html tag, or several tags."""
    if name is not None and name.lower().endswith((".html", ".htm", ".xhtml", ".shtml")):
        return True
    head = text[:4096]
    if re.match(r"^\s*(?:<!doctype\s+html|<html|<\?xml[^>]*>\s*<html)", head, re.I):
        return True
    return len(_HTML_TAG.findall(text[:65536])) >= 3


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\n\r\t\f\v") or ch == "\ufffd")
    return bad / len(text)


def _cjk_share(text: str) -> float:
    sample = text[:20000]
    if not sample:
        return 0.0
    return sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff") / len(sample)


def _common_score(text: str) -> float:
    """How plausible decoded Chinese text is: share of very common characters."""
    common = (
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
        "也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小"
        "物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形"
        "相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建"
        "月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长"
        "求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战"
        "先回则任取据处府研项目投招商引签约亿元万省市县"
    )
    sample = text[:20000]
    cjk = [ch for ch in sample if "\u4e00" <= ch <= "\u9fff"]
    if not cjk:
        return 0.0
    common_set = set(common) | set("這個們來時國會為業經與發區開對實關項開產務計總億萬縣")
    return sum(1 for ch in cjk if ch in common_set) / len(cjk)


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect_legacy(data: bytes) -> tuple[str, str] | None:
    """Pick between GB18030, the Big5 family and what charset-normalizer suggests.

    Each candidate that decodes strictly is scored by the share of very common Chinese
    characters; earlier candidates win ties (plain Big5 before its extensions).
    """
    candidates: list[str] = ["gb18030", "big5", "cp950", "big5hkscs"]
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            guess = _canonical(best.encoding)
            if guess not in candidates:
                candidates.append(guess)
    except Exception:  # detection is best effort
        pass
    scored: list[tuple[float, int, str, str]] = []
    for order, enc in enumerate(candidates):
        text = _try(data, enc)
        if text is None:
            continue
        # real Chinese text scores ~0.5+; mis-decoded bytes are mostly rare characters;
        # a non-CJK guess (e.g. cp1252) is plausible if it yields no CJK at all
        score = _common_score(text) if _cjk_share(text) > 0 else 0.3
        score -= 2 * _control_share(text)
        scored.append((score, -order, enc, text))
    if not scored:
        return None
    _score, _order, enc, text = max(scored)
    return text, enc


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a byte-order mark, told by its zero bytes: ASCII characters
    (digits, punctuation, newlines) put one in every other byte, nearly all at odd
    offsets (little-endian) or at even ones (big-endian; a CJK character such as U+4E00
    adds one on the other side now and then). Binary data has them anywhere, and rarely
    decodes strictly as UTF-16 into printable text."""
    if len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if max(even, odd) < 3 * min(even, odd) or max(even, odd) < 2:
        return None
    enc = "utf-16-le" if odd > even else "utf-16-be"
    text = _try(data, enc)
    if text is None:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    if printable < 0.95 * len(text):
        return None
    return text, enc


def _check_size(size: int, max_bytes: int, name: str | None) -> None:
    if size > max_bytes:
        raise InputError(
            f"input is larger than the {max_bytes}-byte limit",
            path=name,
            reason="too_large",
            size=size,
            max_bytes=max_bytes,
        )


def _check_text(text: str, encoding: str, name: str | None) -> None:
    if not text.strip():
        raise InputError("input is empty (only whitespace)", path=name, reason="empty")
    if "\x00" in text or _control_share(text) > 0.05:
        raise InputError(
            "input looks like binary data, not text",
            path=name,
            reason="binary",
            encoding=encoding,
        )


def decode_bytes(
    data: bytes, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Decoded:
    """Decode raw bytes of a news page or text file.

    Raises :class:`~llmx._errors.InputError` with ``reason`` ``empty``, ``too_large`` or
    ``binary`` (NUL bytes that are neither UTF-16 nor behind a UTF-32 BOM, a known
    binary signature, bytes no candidate encoding decodes, or text that is mostly
    control characters).
    """
    _check_size(len(data), max_bytes, name)
    if not data.strip():
        raise InputError("input is empty", path=name, reason="empty")

    for bom, enc in _BOMS:
        if data.startswith(bom):
            text = _try(data, enc)
            if text is None:
                raise InputError(
                    "input has a byte-order mark but does not decode",
                    path=name,
                    reason="binary",
                    encoding=enc,
                )
            text = text.lstrip("\ufeff")
            _check_text(text, enc, name)
            return Decoded(
                text, "utf-8" if enc == "utf-8-sig" else enc, looks_like_html(text, name)
            )

    if data.startswith(_BINARY_MAGIC):
        raise InputError("input looks like binary data, not text", path=name, reason="binary")
    if b"\x00" in data:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise InputError("input looks like binary data, not text", path=name, reason="binary")
        text, enc = utf16
        _check_text(text, enc, name)
        return Decoded(text, enc, looks_like_html(text, name))

    candidates: list[str] = []
    meta = _META_CHARSET.search(data[:4096])
    if meta is not None:
        candidates.append(_canonical(meta.group(1).decode("ascii", "replace")))
    candidates.append("utf-8")
    for enc in candidates:
        text = _try(data, enc)
        if text is not None:
            _check_text(text, enc, name)
            return Decoded(text, enc, looks_like_html(text, name))

    found = _detect_legacy(data)
    if found is None:
        raise InputError(
            "input does not decode as UTF-8, GB18030 or Big5; it may be binary",
            path=name,
            reason="binary",
        )
    text, enc = found
    _check_text(text, enc, name)
    return Decoded(text, enc, looks_like_html(text, name))


def decode(
    data: bytes | str, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Decoded:
    """Like :func:`decode_bytes`, but text passes through (``encoding`` is ``"str"``)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return decode_bytes(bytes(data), name=name, max_bytes=max_bytes)
    _check_size(len(data.encode("utf-8", "surrogatepass")), max_bytes, name)
    if not data.strip():
        raise InputError("input is empty", path=name, reason="empty")
    text = data.lstrip("\ufeff")
    _check_text(text, "str", name)
    return Decoded(text, "str", looks_like_html(text, name))


def to_text(
    data: bytes | str,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    strip_html: bool = True,
) -> str:
    """Decode ``data`` and, for an HTML page, reduce it to the article's text."""
    decoded = decode(data, name=name, max_bytes=max_bytes)
    if decoded.is_html and strip_html:
        from llmx._text.html import html_to_text

        text = html_to_text(decoded.text)
        if not text.strip():
            raise InputError("HTML page has no text content", path=name, reason="empty")
        return text
    return decoded.text
