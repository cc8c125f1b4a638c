"""The ``investment`` schema: projects and reported statistics from 招商引资 news.

Field names, enums and nesting follow the users' contract
(``investment-schema.md``) exactly; the JSON shape of :class:`InvestmentNews` is
that contract.

Validators make any model output conform: the model reads, code computes. Money is
recomputed from its verbatim span, dates and periods are resolved against the publication
date, places get official names and parent levels, names become simplified Chinese.
Validators fix what they can and never raise on messy-but-recoverable input; they note
their corrections in the :class:`~llmx.normalize.DocumentContext` passed as validation
context (``context={"llmx": ctx}``) and also work without one.

The package, by stage: this module holds the models and their validators;
:mod:`.reader` is the candidate reader (``InvestmentNews.__llmx_reader__``), with the
words and patterns it looks for in :mod:`.cues`; :mod:`.names` holds how names compare
when items are merged and mentions matched (``__llmx_match__`` of ``Project`` and
``Stat``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from llmx import CandidateReader
from llmx.fields import Compare, Evidence, MatchKey
from llmx.normalize import (
    DocumentContext,
    date_supported,
    find_money_spans,
    get_context,
    official_name,
    parse_number,
    reconcile_money,
    resolve_date,
    resolve_location,
    resolve_period,
    to_simplified,
)

from .cues import Stage
from .names import ChineseNames, StatNames
from .reader import InvestmentReader

Qualifier = Literal["exact", "approx", "at_least", "at_most"]

# Words that mark a span as output, revenue or tax rather than an investment.
_NOT_INVESTMENT = re.compile(r"年产值|产值|营收|营业收入|销售收入|销售额|税收|利税|年收入")
_STAGE_WORDS: dict[str, Stage] = {
    "signed": "signed",
    "signing": "signed",
    "签约": "signed",
    "签署": "signed",
    "落户": "signed",
    "引进": "signed",
    "落地": "signed",
    "under_construction": "under_construction",
    "construction": "under_construction",
    "开工": "under_construction",
    "在建": "under_construction",
    "建设": "under_construction",
    "施工": "under_construction",
    "封顶": "under_construction",
    "in_production": "in_production",
    "production": "in_production",
    "投产": "in_production",
    "竣工": "in_production",
    "试生产": "in_production",
    "运营": "in_production",
    "出片": "in_production",
}


def _note(ctx: DocumentContext | None, message: str) -> None:
    if ctx is not None:
        ctx.note(message)


def _simplified(value: Any) -> Any:
    if isinstance(value, str):
        return to_simplified(value).strip()
    return value


def _as_float(value: Any) -> float | None:
    """A number from a model's value: 2000000000, "20亿", "2,000", "1.2万"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        s = value.strip().replace(",", "").replace("，", "")
        try:
            return float(s)
        except ValueError:
            pass
        parsed = parse_number(re.sub(r"[元人民币]", "", s))
        if parsed is not None:
            return parsed
    return None


def _widen_qualifier(data: dict[str, Any], ctx: DocumentContext | None) -> None:
    """Take a qualifier the model's span cut off (约 before ``25亿元``) from the document."""
    text = data.get("text")
    if ctx is None or not ctx.text or not isinstance(text, str) or not text.strip():
        return
    span = text.strip()
    at = ctx.text.find(span)
    if at < 0:
        return
    lo = max(0, at - 4)
    window = ctx.text[lo : at + len(span) + 3]
    for start, end, parsed in find_money_spans(window):
        if lo + start <= at + len(span) and lo + end >= at and parsed.value == data.get("value"):
            if data.get("qualifier") == "exact" and parsed.qualifier != "exact":
                data["qualifier"] = parsed.qualifier
            return


def _money_dict(raw: Any, ctx: DocumentContext | None, where: str) -> dict[str, Any] | None:
    """Normalise a model's money object; ``None`` when nothing usable is left."""
    if raw is None:
        return None
    if isinstance(raw, Money):
        raw = raw.model_dump()
    if isinstance(raw, str):
        raw = {"text": raw}
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = {"value": raw}
    if not isinstance(raw, dict):
        _note(ctx, f"{where}: unreadable amount {raw!r} dropped")
        return None
    text = raw.get("text")
    text = text if isinstance(text, str) else (str(text) if text is not None else None)
    value = _as_float(raw.get("value"))
    currency = raw.get("currency") if isinstance(raw.get("currency"), str) else None
    qualifier = raw.get("qualifier") if isinstance(raw.get("qualifier"), str) else None
    parsed, note = reconcile_money(value, currency, qualifier, text)
    if note:
        _note(ctx, f"{where}: {note}")
    if parsed is None:
        return None
    out: dict[str, Any] = {
        "value": parsed.value,
        "currency": parsed.currency,
        "qualifier": parsed.qualifier,
        "text": parsed.text,
    }
    _widen_qualifier(out, ctx)
    return out


def _not_investment(money: dict[str, Any], ctx: DocumentContext | None) -> bool:
    """Whether a project's amount span is really output/revenue/tax (年产值200亿元)."""
    span = str(money.get("text") or "")
    before = ""
    if ctx is not None and ctx.text and span:
        at = ctx.text.find(span)
        if at >= 0:
            before = re.split(r"[，,。；;！!？?]", ctx.text[max(0, at - 10) : at])[-1]
    probe = before + span
    return bool(_NOT_INVESTMENT.search(probe)) and "投资" not in probe


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str):
        m = re.search(r"\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+", value)
        if m is not None:
            n = parse_number(m.group(0))
            if n is not None and float(n).is_integer():
                return int(n)
    return None


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        s = to_simplified(value).replace("％", "%").replace(" ", "")
        m = re.search(r"[-+－−]?\d+(?:\.\d+)?", s)
        if m is None:
            return None
        number = float(m.group(0).replace("－", "-").replace("−", "-"))
        if re.search(r"下降|下滑|减少|降低|回落|负增长", s) and number > 0:
            number = -number
        return number
    return None


class Money(BaseModel):
    """An amount of money, normalised to whole currency units."""

    value: float = Field(
        description="Value in whole units: 139亿元 -> 13900000000, 1.2万元 -> 12000"
    )
    currency: str = Field(default="CNY", description="ISO 4217 code; CNY unless stated otherwise")
    qualifier: Qualifier = Field(
        default="exact",
        description="约/近/左右 -> approx; 以上/超/逾/余/多 -> at_least; 以下/不到 -> at_most",
    )
    text: str = Field(description="The verbatim span from the article, e.g. 约25亿元")

    @model_validator(mode="before")
    @classmethod
    def _recompute(cls, data: Any, info: ValidationInfo) -> Any:
        """Recompute value, currency and qualifier from the verbatim ``text``."""
        fixed = _money_dict(data, get_context(info), "money")
        return data if fixed is None else fixed


class Location(BaseModel):
    """Where a project is sited, at the levels the story states or plainly implies."""

    province: str | None = Field(default=None, description="Full official name, e.g. 浙江省")
    city: str | None = Field(default=None, description="Prefecture-level city, e.g. 湖州市")
    district: str | None = Field(default=None, description="County-level division, e.g. 吴兴区")
    park: str | None = Field(default=None, description="Development zone, park or town")

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        """Official names, parent levels, misplaced levels moved, home region filled."""
        if data is None:
            data = {}
        if isinstance(data, str):
            data = {"park": data}
        if not isinstance(data, dict):
            return data
        fields = {}
        for key in ("province", "city", "district", "park"):
            v = data.get(key)
            fields[key] = v if isinstance(v, str) and v.strip() else None
        ctx = get_context(info)
        place = resolve_location(
            fields["province"],
            fields["city"],
            fields["district"],
            fields["park"],
            home=ctx.home if ctx is not None else None,
        )
        return {
            "province": place.province,
            "city": place.city,
            "district": place.district,
            "park": place.park,
        }


class Project(BaseModel):
    """One concrete investment project named in the story."""

    __llmx_match__: ClassVar[ChineseNames] = ChineseNames()

    name: Annotated[str, MatchKey()] = Field(description="Project name as written, simplified")
    investor: str | None = Field(default=None, description="Investing company or organisation")
    amount: Annotated[Money | None, Compare("money")] = Field(
        default=None, description="The project's own total investment; never output, revenue or tax"
    )
    location: Location = Field(default_factory=Location)
    industry: str | None = Field(default=None, description="Short sector phrase, e.g. 固态电池")
    stage: Stage | None = Field(
        default=None, description="signed / under_construction / in_production"
    )
    date: Annotated[str | None, Compare("date")] = Field(
        default=None, description="ISO date of the stage event: YYYY-MM-DD, YYYY-MM or YYYY"
    )
    evidence: Annotated[str, Evidence()] = Field(description="Verbatim source sentence")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        ctx = get_context(info)
        data = dict(data)
        name = data.get("name")
        where = f"project {name!r}" if isinstance(name, str) else "project"
        for key in ("name", "investor", "industry"):
            data[key] = _simplified(data.get(key))
            if key != "name" and data[key] == "":
                data[key] = None
        money = _money_dict(data.get("amount"), ctx, f"{where} amount")
        if money is not None and _not_investment(money, ctx):
            _note(ctx, f"{where}: amount {money['text']!r} is output/revenue/tax, not investment")
            money = None
        data["amount"] = money
        if data.get("location") is None:
            data["location"] = {}
        data["stage"] = _stage(data.get("stage"))
        raw_date = data.get("date")
        if raw_date is not None:
            resolved = resolve_date(str(raw_date), ctx.published if ctx else None)
            if resolved != raw_date:
                _note(ctx, f"{where}: date {raw_date!r} -> {resolved!r}")
            data["date"] = _supported(resolved, str(raw_date), ctx, f"{where}: date")
        return data


def _supported(value: str | None, raw: str, ctx: DocumentContext | None, what: str) -> str | None:
    """Drop a date the story does not back (small models copy or invent dates)."""
    if value is None or ctx is None or not ctx.text or raw.strip() in ctx.text:
        return value
    if date_supported(value, ctx.text, ctx.published):
        return value
    _note(ctx, f"{what} {value!r} is not backed by the story; dropped")
    return None


def _stage(value: Any) -> Stage | None:
    if not isinstance(value, str) or not value.strip():
        return None
    s = to_simplified(value).strip().lower()
    if s in _STAGE_WORDS:
        return _STAGE_WORDS[s]
    for word, stage in _STAGE_WORDS.items():
        if word in s:
            return stage
    return None


class Stat(BaseModel):
    """A figure the story reports for a region and a period or event."""

    __llmx_match__: ClassVar[StatNames] = StatNames()

    region: Annotated[str, MatchKey(0.5)] = Field(description="Most specific region, e.g. 湖州市")
    period: Annotated[str | None, Compare("date")] = Field(
        default=None,
        description="2023-01, 2023-Q1, 2023-H1, 2024-01/2024-09, 2023 or an event date",
    )
    scope: Annotated[str, MatchKey(1.0)] = Field(
        description="What is counted, e.g. 新签约亿元以上项目"
    )
    project_count: int | None = Field(default=None, description="Number of projects")
    amount: Annotated[Money | None, Compare("money")] = Field(default=None)
    yoy_pct: Annotated[float | None, Compare("percent")] = Field(
        default=None, description="同比 change in percent: 增长21.7% -> 21.7; 下降3% -> -3.0"
    )
    evidence: Annotated[str, Evidence()] = Field(description="Verbatim source sentence")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        ctx = get_context(info)
        data = dict(data)
        where = f"stat {data.get('scope')!r}"
        for key in ("region", "scope"):
            data[key] = _simplified(data.get(key))
        region = data.get("region")
        if isinstance(region, str) and region:
            official = official_name(region, home=ctx.home if ctx is not None else None)
            if official is not None:
                data["region"] = official
        data["amount"] = _money_dict(data.get("amount"), ctx, f"{where} amount")
        data["project_count"] = _count(data.get("project_count"))
        data["yoy_pct"] = _percent(data.get("yoy_pct"))
        raw = data.get("period")
        if raw is not None:
            period = resolve_period(str(raw), ctx.published if ctx else None)
            if period != raw:
                _note(ctx, f"{where}: period {raw!r} -> {period!r}")
            data["period"] = _supported(period, str(raw), ctx, f"{where}: period")
        return data


class InvestmentNews(BaseModel):
    """Everything one 招商引资 article reports: its projects and its statistics."""

    __llmx_reader__: ClassVar[CandidateReader] = InvestmentReader()

    projects: list[Project] = Field(default_factory=list)
    stats: list[Stat] = Field(default_factory=list)

    @field_validator("projects", "stats", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, dict):
            return [value]
        return value

    @model_validator(mode="after")
    def _drop_empty_stats(self, info: ValidationInfo) -> InvestmentNews:
        """A stat needs a project count or an amount; drop others (raising would re-ask)."""
        ctx = get_context(info)
        kept = []
        for stat in self.stats:
            if stat.project_count is None and stat.amount is None:
                _note(ctx, f"stat {stat.scope!r} has neither project_count nor amount; dropped")
            else:
                kept.append(stat)
        self.stats = kept
        return self


SCHEMA = InvestmentNews
