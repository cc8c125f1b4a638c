"""Parse amounts of money written in Chinese news text.

The model reads, code computes: a model copies the verbatim span (``总投资20亿元``) and
:func:`parse_money` turns it into whole currency units (``2000000000.0``), an ISO 4217
currency and a qualifier, so that arithmetic slips of the model never reach the output.

Qualifiers follow the ``investment`` contract:

* ``approx``   约 / 近 / 左右 / 大约 / 将近 / 接近 / 上下
* ``at_least`` 以上 / 超 / 超过 / 逾 / 余 / 多 / 突破 / 不低于 / 不少于 / 至少
* ``at_most``  以下 / 不到 / 不超过 / 未满 / 不足 / 以内 / 低于 / 少于
* ``exact``    none of the above

Ranges (``10-15亿元``, ``10亿至15亿元``) give ``value`` = the low end, ``high`` = the high
end and qualifier ``at_least`` (the amount is at least the low end; the high end is kept
for callers that want it). Nothing is converted between currencies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from llmx.normalize._chinese import to_simplified

Qualifier = Literal["exact", "approx", "at_least", "at_most"]
QUALIFIERS: frozenset[str] = frozenset({"exact", "approx", "at_least", "at_most"})

__all__ = [
    "QUALIFIERS",
    "ParsedMoney",
    "Qualifier",
    "find_money_spans",
    "parse_chinese_number",
    "parse_money",
    "parse_number",
    "reconcile_money",
]


@dataclass(frozen=True)
class ParsedMoney:
    """An amount in whole units of ``currency`` (ISO 4217)."""

    value: float
    currency: str
    qualifier: Qualifier
    text: str
    high: float | None = None


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "贰": 2,
    "两": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_CN_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNITS = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_UNIT_VALUES = {**_CN_SMALL_UNITS, **_CN_BIG_UNITS}

_CURRENCIES: dict[str, str] = {
    "元人民币": "CNY",
    "人民币": "CNY",
    "元": "CNY",
    "美元": "USD",
    "美金": "USD",
    "欧元": "EUR",
    "港元": "HKD",
    "港币": "HKD",
    "日元": "JPY",
    "英镑": "GBP",
}

_PREFIX_QUALIFIERS: dict[str, Qualifier] = {
    "大约": "approx",
    "将近": "approx",
    "接近": "approx",
    "约合": "approx",
    "约": "approx",
    "近": "approx",
    "超过": "at_least",
    "超出": "at_least",
    "突破": "at_least",
    "不低于": "at_least",
    "不少于": "at_least",
    "至少": "at_least",
    "高于": "at_least",
    "逾": "at_least",
    "超": "at_least",
    "不超过": "at_most",
    "不到": "at_most",
    "未满": "at_most",
    "不足": "at_most",
    "低于": "at_most",
    "少于": "at_most",
    "未超过": "at_most",
}
_SUFFIX_QUALIFIERS: dict[str, Qualifier] = {
    "左右": "approx",
    "上下": "approx",
    "以上": "at_least",
    "有余": "at_least",
    "以下": "at_most",
    "以内": "at_most",
}


def _alt(words: Iterable[str]) -> str:
    items = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w) for w in items)


_ARABIC = r"\d+(?:[,，]\d{3})*(?:[.。．]\d+)?"
_CN_NUM = r"[零〇○一二两三四五六七八九十百千][零〇○一二两三四五六七八九十百千万亿]*"
_NUM = rf"(?:{_ARABIC}|{_CN_NUM})"
_UNITS = r"[十百千万亿]*"
_RANGE_SEP = r"(?:-|—|–|－|~|～|〜|至|到)"
_CUR = _alt(_CURRENCIES)

_MONEY_RE = re.compile(
    rf"(?P<pre>{_alt(_PREFIX_QUALIFIERS)})?"
    rf"(?P<cur0>人民币)?"
    rf"(?P<num>{_NUM})(?P<more1>余|多)?(?P<unit1>{_UNITS})"
    rf"(?:(?P<cur1>{_CUR})?(?P<sep>{_RANGE_SEP})(?P<num2>{_NUM})(?P<unit2>{_UNITS}))?"
    rf"(?P<more2>余|多)?"
    rf"(?P<cur>{_CUR})?"
    rf"(?P<post>{_alt(_SUFFIX_QUALIFIERS)})?"
)


def parse_chinese_number(text: str) -> int | None:
    """Value of a Chinese numeral.

    ``一百三十九`` -> 139, ``两万亿`` -> 2e12, ``二〇二三`` (digit by digit) -> 2023.
    """
    if not text:
        return None
    if all(ch in _CN_DIGITS for ch in text):
        if len(text) == 1:
            return _CN_DIGITS[text]
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = 0
    section = 0
    number = 0
    for ch in text:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _CN_SMALL_UNITS:
            section += (number or 1) * _CN_SMALL_UNITS[ch]
            number = 0
        elif ch in ("万", "萬"):
            total += (section + number) * 10**4
            section = number = 0
        elif ch in ("亿", "億"):
            total = (total + section + number) * 10**8
            section = number = 0
        else:
            return None
    return total + section + number


def _to_decimal(num: str) -> Decimal | None:
    num = num.strip()
    if not num:
        return None
    if num[0].isdigit():
        cleaned = re.sub(r"[,，]", "", num)
        cleaned = re.sub(r"[。．]", ".", cleaned)
        try:
            return Decimal(cleaned)
        except InvalidOperation:
            return None
    value = parse_chinese_number(num)
    return None if value is None else Decimal(value)


def _unit_factor(units: str) -> Decimal:
    factor = Decimal(1)
    for ch in units:
        factor *= _UNIT_VALUES[ch]
    return factor


def parse_number(text: str) -> float | None:
    """Parse a bare number with optional Chinese units: ``1.2万`` -> 12000, ``十二`` -> 12."""
    s = unicodedata.normalize("NFKC", text).strip()
    m = re.fullmatch(rf"({_NUM})({_UNITS})", s)
    if m is None:
        return None
    value = _to_decimal(m.group(1))
    if value is None:
        return None
    return float(value * _unit_factor(m.group(2)))


def _normalise(text: str) -> str:
    """NFKC and traditional to simplified (約 -> 约, 億 -> 亿, 超過 -> 超过)."""
    s = to_simplified(text)  # NFKC, then t2s
    return s.replace("億", "亿").replace("萬", "万").replace("圓", "元").replace("幣", "币")


def _build(m: re.Match[str], require_currency: bool) -> ParsedMoney | None:
    cur_word = m.group("cur") or m.group("cur0") or m.group("cur1")
    if require_currency and not cur_word:
        return None
    if not cur_word and not (m.group("unit1") or m.group("unit2")):
        return None  # a bare number ("28", "一") is not money
    low = _to_decimal(m.group("num"))
    if low is None:
        return None
    unit1, unit2 = m.group("unit1"), m.group("unit2") or ""
    high: Decimal | None = None
    if m.group("num2"):
        high_num = _to_decimal(m.group("num2"))
        if high_num is None:
            return None
        high = high_num * _unit_factor(unit2)
        low = low * _unit_factor(unit1 or unit2)
    else:
        low = low * _unit_factor(unit1)
    currency = _CURRENCIES.get(cur_word or "元", "CNY")

    qualifier: Qualifier = "exact"
    if m.group("pre"):
        qualifier = _PREFIX_QUALIFIERS[m.group("pre")]
    if m.group("post"):
        qualifier = _SUFFIX_QUALIFIERS[m.group("post")]
    if m.group("more1") or m.group("more2"):
        qualifier = "at_least"
    if high is not None:
        if high < low:
            return None
        if qualifier == "exact":
            qualifier = "at_least"
    if low == 0:
        return None
    return ParsedMoney(
        value=float(low),
        currency=currency,
        qualifier=qualifier,
        text=m.group(0),
        high=None if high is None else float(high),
    )


def find_money_spans(text: str) -> list[tuple[int, int, ParsedMoney]]:
    """All money amounts in ``text`` as ``(start, end, parsed)``; end exclusive.

    Only amounts with an explicit currency word (元, 亿元, 美元, ...) count, so counts
    (``28个``) and years are not taken for money. Offsets index ``text`` itself (NFKC
    normalisation keeps the length of CJK text; full-width digits map one to one).
    """
    norm = _normalise(text)
    if len(norm) != len(text):  # pragma: no cover - NFKC changed the length
        norm = text
    out: list[tuple[int, int, ParsedMoney]] = []
    for m in _MONEY_RE.finditer(norm):
        if not m.group("num"):
            continue
        parsed = _build(m, require_currency=True)
        if parsed is None:
            continue
        start, end = m.span()
        out.append((start, end, _with_text(parsed, text[start:end])))
    return out


def _with_text(p: ParsedMoney, text: str) -> ParsedMoney:
    return ParsedMoney(p.value, p.currency, p.qualifier, text, p.high)


def parse_money(span: str) -> ParsedMoney | None:
    """Parse the first amount of money in ``span``.

    ``span`` is typically the verbatim text a model copied (``总投资约25亿元``); words
    around the amount are ignored. An amount with an explicit currency is preferred; a
    bare number with a unit (``20亿``) is read as CNY. ``text`` of the result is the
    whole (stripped) span. Returns ``None`` when no amount can be read.
    """
    if not span or not span.strip():
        return None
    stripped = span.strip()
    found = find_money_spans(stripped)
    if found:
        return _with_text(found[0][2], stripped)
    norm = _normalise(stripped)
    for m in _MONEY_RE.finditer(norm):
        if m.group("num"):
            parsed = _build(m, require_currency=False)
            if parsed is not None:
                return _with_text(parsed, stripped)
    return None


def _close(a: float, b: float, rel: float = 0.01) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def reconcile_money(
    value: float | None,
    currency: str | None,
    qualifier: str | None,
    text: str | None,
) -> tuple[ParsedMoney | None, str | None]:
    """Correct a model's money fields against the span it quoted.

    When ``text`` parses, value, currency and qualifier are recomputed from it (the span
    is what the model read; the number is what it computed). A note is returned when the
    model's own value disagreed with its span by more than 1%. When ``text`` does not
    parse, the model's value is kept (currency defaults to CNY, unknown qualifiers to
    exact). With neither, returns ``(None, note)``.
    """
    span = (text or "").strip()
    parsed = parse_money(span) if span else None
    if parsed is not None:
        note = None
        if value is not None and not _close(float(value), parsed.value):
            note = (
                f"amount value {_fmt(float(value))} disagreed with span {span!r} "
                f"-> {_fmt(parsed.value)}"
            )
        if not re.search(_CUR, _normalise(span)) and currency:
            # The span has no currency word: trust the model's stated currency.
            code = currency.strip().upper()
            if re.fullmatch(r"[A-Z]{3}", code):
                parsed = ParsedMoney(parsed.value, code, parsed.qualifier, span, parsed.high)
        return parsed, note
    if value is None:
        return None, (f"amount span {span!r} has no readable number; dropped" if span else None)
    code = (currency or "CNY").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        code = _CURRENCIES.get(code, "CNY")
    qual: Qualifier = "exact"
    if qualifier in QUALIFIERS:
        qual = qualifier  # type: ignore[assignment]
    return ParsedMoney(float(value), code, qual, span or _fmt(float(value))), None
