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
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from llmx import Candidate
from llmx.fields import Compare, Evidence, MatchKey
from llmx.normalize import (
    DocumentContext,
    Figure,
    Gazetteer,
    date_supported,
    find_dates,
    find_money_spans,
    find_periods,
    find_places,
    find_project_counts,
    find_yoy,
    get_context,
    official_name,
    parse_money,
    parse_number,
    reconcile_money,
    resolve_date,
    resolve_location,
    resolve_period,
    to_simplified,
)

Qualifier = Literal["exact", "approx", "at_least", "at_most"]
Stage = Literal["signed", "under_construction", "in_production"]

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


# ------------------------------------------------------------------------ candidates
# Code finds the candidates, the model reads each one, code computes. Each investment
# amount, project count and named project with a stage verb in the story is one
# candidate; the finder decides from cues what kind of record it can be, and computes
# amounts, counts, 同比, stages, dates and periods from the spans it found. The model
# only names: the project, its investor, industry and place, or a statistic's scope.

_SENTENCE_RE = re.compile(r"[^。！？!?\n]+[。！？!?]*[”’」』）)]*")
_CLAUSE_STOP = "，,；;：:。！？!?"
_SUBCLAUSE_STOP = _CLAUSE_STOP + "、"
_THRESHOLD_RE = re.compile(
    r"(?:及?以上|以下)?(?:的)?(?:重大|重点|产业|工业|制造业|优质|大|级)?项目|级"
)
_OUTPUT_RE = re.compile(r"年产值|产值|营收|营业收入|销售收入|销售额|税收|利税|收入|利润|产能|出口")
_POLICY_RE = re.compile(
    r"基金|奖励|奖补|贷款|贴息|补贴|补助|扶持|财政|债券|授信|融资|注册资本|专项资金"
)
_TARGET_RE = re.compile(r"力争|目标|确保|争取|预计|有望")
_AGGREGATE_RE = re.compile(
    r"(?:签约|引进|新签约|新签|开工|新开工|在建|竣工|投产|招引|落地|集中签约|招商)项目(?:的)?(?:总)?投资"
    r"|协议引资|引资|到位资金|到位|实际利用|利用外资|完成投资|固定资产投资|投资总额|累计|共计|合计|"
    r"总额|规模|招引投资|引进资金|签约额|签约金额|签约资金|意向投资"
)
_INVEST_RE = re.compile(r"投资")
_GENERIC_BEFORE = set("个项批些等该此大点上下类好型级元的新建约目及和与")
_GENERIC_PROJECT = re.compile(
    r"^(?:[一二三四五六七八九十\d]+个)?(?:签约|引进|开工|在建|竣工|投产|招商|投资|产业|重大|重点|"
    r"新|大|好|优质|亿元以上|的|已|共|等|其中|这些|这个|该|此|所有|全部|多个|一批|一个)*$"
)
_STAGES: tuple[tuple[str, Stage], ...] = (
    ("竣工投产", "in_production"),
    ("投产", "in_production"),
    ("试生产", "in_production"),
    ("投入运营", "in_production"),
    ("投入使用", "in_production"),
    ("出片", "in_production"),
    ("达产", "in_production"),
    ("竣工", "in_production"),
    ("开工", "under_construction"),
    ("在建", "under_construction"),
    ("加紧建设", "under_construction"),
    ("加快建设", "under_construction"),
    ("加速建设", "under_construction"),
    ("建设正酣", "under_construction"),
    ("正在建设", "under_construction"),
    ("施工", "under_construction"),
    ("封顶", "under_construction"),
    ("开建", "under_construction"),
    ("签约", "signed"),
    ("签署", "signed"),
    ("落户", "signed"),
    ("引进", "signed"),
    ("落地", "signed"),
    ("签下", "signed"),
)
_STAGE_RANK: dict[Stage, int] = {"signed": 1, "under_construction": 2, "in_production": 3}
_STAGE_RE = re.compile("|".join(word for word, _ in _STAGES))
_PLANNED_RE = re.compile(r"(?:计划|预计|力争|将于?|拟|争取|有望|确保)[^，,。；;]{0,6}$")
_NAME_LEAD_RE = re.compile(
    r"^(?:的|在|作为|随着|由|对|将|把|其中|以及|还有|而|同时|此外|目前|今年|去年|近日|日前|"
    r"成功|正式|顺利|已经|已|还|共|总投资|投资)+"
)
_JUNK_NAME_RE = re.compile(
    r"以上|以下|重大|重点|主导|伴随|产业链|链上|链主|龙头|优质|此类|同类|相关|配套|促进|树立|招商引资|洽谈|一批|推进|意识|工作|服务|引进一批|加快|全力|围绕|聚焦|保障|"
    r"研判|作战|简化|破解|支持|推动|打造|实施|举行|举办|召开|仪式|活动|会议|记者|表示|说|"
    r"这些|一大批|好项目|大项目|我们|他们"
)
_EVENT_RE = re.compile(r"仪式|集中签约|推介会|说明会|大会|峰会|洽谈会|博览会|签约活动")
_REFERS_BACK_RE = re.compile(r"^(?:其中|此次|本次|这次|会上|当天|现场|该项目|项目|该|此外|同时)")


class ProjectReading(BaseModel):
    """The model's reading of a candidate that may be a project."""

    kind: Literal["project", "none"]
    name: str | None = None
    investor: str | None = None
    industry: str | None = None
    place: str | None = None


class NamedProjectReading(BaseModel):
    """The model's reading of a candidate project whose name code already read."""

    kind: Literal["project", "none"]
    investor: str | None = None
    industry: str | None = None
    place: str | None = None


class StatReading(BaseModel):
    """The model's reading of a candidate that looks like a statistic: what it counts."""

    kind: Literal["stat", "none"]


class OpenReading(BaseModel):
    """The model's reading of a candidate whose kind code could not decide."""

    kind: Literal["project", "stat", "none"]
    name: str | None = None
    investor: str | None = None
    industry: str | None = None
    place: str | None = None
    scope: str | None = None


def _sentences(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _SENTENCE_RE.finditer(text):
        start, end = m.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 4:
            out.append((start, end))
    return out


def _clause_bounds(
    text: str, start: int, end: int, lo: int, hi: int, stops: str
) -> tuple[int, int]:
    a = start
    while a > lo and text[a - 1] not in stops:
        a -= 1
    b = end
    while b < hi and text[b] not in stops:
        b += 1
    return a, b


def _stage_in(text: str, lo: int, hi: int) -> tuple[Stage | None, int]:
    """The most advanced stage told (not planned) in ``text[lo:hi]``, and where."""
    best: Stage | None = None
    at = -1
    for m in _STAGE_RE.finditer(text, lo, hi):
        if _PLANNED_RE.search(text[max(lo, m.start() - 10) : m.start()]):
            continue
        stage = dict(_STAGES)[m.group(0)]
        if best is None or _STAGE_RANK[stage] > _STAGE_RANK[best]:
            best, at = stage, m.start()
    return best, at


def _nearest(figures: list[Figure], pos: int, lo: int) -> Figure | None:
    """The figure ending closest before ``pos`` (at or after ``lo``)."""
    before = [f for f in figures if lo <= f.start and f.end <= pos]
    return before[-1] if before else None


class InvestmentReader:
    """The investment schema's candidate reader (see :mod:`llmx._candidates`)."""

    prompt = "investment_candidates"

    def find(self, text: str, context: DocumentContext) -> list[Candidate]:
        sentences = _sentences(text)
        out: list[Candidate] = []
        for i, (s, e) in enumerate(sentences):
            before = text[sentences[i - 1][0] : sentences[i - 1][1]] if i else ""
            prev_span = sentences[i - 1] if i else None
            out.extend(self._in_sentence(text, (s, e), before, prev_span, sentences[:i], context))
        year = _story_year(text) if context.published is None else None
        if year is not None:
            out = [_with_year(c, year) for c in out]
        return _one_per_figure(out)

    # -- one sentence ------------------------------------------------------------
    def _in_sentence(
        self,
        text: str,
        span: tuple[int, int],
        before: str,
        prev: tuple[int, int] | None,
        earlier: list[tuple[int, int]],
        context: DocumentContext,
    ) -> list[Candidate]:
        s, e = span
        sentence = text[s:e]
        question = sentence.rstrip("”’」』）) ").endswith(("？", "?"))
        counts = [_shift(f, s) for f in find_project_counts(sentence)]
        yoys = [_shift(f, s) for f in find_yoy(sentence)]
        stats: list[dict[str, Any]] = []
        projects: list[dict[str, Any]] = []
        opened: list[dict[str, Any]] = []
        for count in counts:
            ca, _ = _clause_bounds(text, count.start, count.end, s, e, "；;。")
            if _TARGET_RE.search(text[ca : count.start]):
                continue  # 确保...落地亿元项目2个以上 is a target
            stats.append({"anchor": (count.start, count.end), "project_count": int(count.value)})
        for ms, me, _ in find_money_spans(sentence):
            a, b = s + ms, s + me
            if _THRESHOLD_RE.match(text, b, min(e, b + 8)) or text[a - 1 : a] == "省":
                continue
            ca, _ = _clause_bounds(text, a, b, s, e, _CLAUSE_STOP)
            lead = text[max(ca, a - 16) : a]
            _, cb = _clause_bounds(text, a, b, s, e, _CLAUSE_STOP)
            tail = text[b : min(cb, b + 10)]
            if _OUTPUT_RE.search(lead) or _POLICY_RE.search(lead) or _POLICY_RE.search(tail):
                continue
            if _TARGET_RE.search(lead) and not re.search(r"计划(?:总)?投资", lead):
                continue
            money = {"text": text[a:b]}
            # a count earlier in the same segment (up to ；) takes this amount
            seg_a, _ = _clause_bounds(text, a, b, s, e, "；;")
            owner = next(
                (
                    st
                    for st in reversed(stats)
                    if "project_count" in st
                    and seg_a <= st["anchor"][0] < a
                    and "amount" not in st
                    and not re.search(r"的[^，,；;]{2,}", text[b : min(e, b + 3)])
                ),
                None,
            )
            if owner is not None and not any(
                seg_a <= c.start and owner["anchor"][1] <= c.start < a for c in counts
            ):
                owner["amount"] = money
                continue
            if _AGGREGATE_RE.search(lead):
                stats.append({"anchor": (a, b), "amount": money})
            elif _INVEST_RE.search(lead):
                projects.append({"anchor": (a, b), "amount": money, **_named_after(text, b, e)})
            else:
                opened.append({"anchor": (a, b), "amount": money, **_named_after(text, b, e)})
        for y in yoys:
            owner = next((st for st in reversed(stats) if st["anchor"][1] <= y.start), None)
            if owner is not None and "yoy_pct" not in owner:
                owner["yoy_pct"] = y.value
        named = self._named_projects(text, s, e, counts, projects + opened)
        candidates: list[Candidate] = []
        refers_back = bool(_REFERS_BACK_RE.match(sentence)) or len(sentence) < 30
        context_before = before if refers_back else ""
        dates = [_shift(f, s) for f in find_dates(sentence)]
        prev_dates = find_dates(before) if refers_back and prev else []
        if question:
            stats = []  # a question reports no figure (不到一百天，招引投资超千亿元的背后...？)
        for kind, items in (("stats", stats), ("projects", projects), (None, opened)):
            for item in items:
                a, b = item.pop("anchor")
                facts = dict(item)
                if kind != "stats":
                    stage, _ = self._stage(text, a, b, s, e)
                    if stage is None and refers_back and prev is not None:
                        stage, _ = _stage_in(text, *prev)  # 其中...: the stage told before
                    facts["stage"] = stage
                    date = _nearest(dates, a, s) or (dates[0] if dates else None)
                    facts["date"] = (
                        date.text if date else (prev_dates[0].text if prev_dates else None)
                    )
                    facts["place"] = self._zone(text, s, e, a)
                if kind != "projects":
                    facts["period"] = self._period(text, s, a, earlier)
                    facts["region"] = self._region(text, s, a, context)
                candidates.append(
                    Candidate(s, e, sentence, (a, b), kind, facts, before=context_before)
                )
        base = ""
        for a, b in named:
            stage, _ = self._stage(text, a, b, s, e)
            date = _nearest(dates, a, s) or (dates[0] if dates else None)
            mention = text[a:b]
            phase = re.match(r"[一二三四五六七八九十\d]+期项目$", mention)
            if phase and base:
                mention = base + mention
            elif re.search(r"[一二三四五六七八九十\d]+期项目$", mention):
                base = re.sub(r"[一二三四五六七八九十\d]+期项目$", "", mention)
            facts = {
                "mention": mention,
                "stage": stage,
                "date": date.text if date else (prev_dates[0].text if prev_dates else None),
                "place": self._zone(text, s, e, a),
            }
            candidates.append(Candidate(s, e, sentence, (a, b), "projects", facts, context_before))
        candidates.sort(key=lambda c: c.anchor or (0, 0))
        return candidates

    def _named_projects(
        self,
        text: str,
        s: int,
        e: int,
        counts: list[Figure],
        money: list[dict[str, Any]],
    ) -> list[tuple[int, int]]:
        """``...项目`` mentions with a stage verb in their sentence that no amount or count
        already covers: each is a candidate project, its anchor the name's end."""
        out: list[tuple[int, int]] = []
        for m in re.finditer(r"项目", text[s:e]):
            p = s + m.start()
            if any(c.start <= p <= c.end + 8 for c in counts) or any(
                c.start - 3 <= p <= c.start for c in counts
            ):
                continue
            if text[p - 1 : p] in _GENERIC_BEFORE:
                continue
            ca, cb = _clause_bounds(text, p, p + 2, s, e, _SUBCLAUSE_STOP)
            _, clause_end = _clause_bounds(text, p, p + 2, s, e, _CLAUSE_STOP)
            after = text[p + 2 : min(e, p + 12)]
            # a list (A项目、B项目、C项目等...落地) tells its stage once, after the last item
            told, _ = _stage_in(text, p + 2, min(clause_end, p + 40))
            told_before, _ = _stage_in(text, ca, p)
            if (
                told is None
                and told_before is None
                and not re.match(r"[^，,。；;、]{0,3}(?:现场|工地|建设)", after)
            ):
                continue
            name = _NAME_LEAD_RE.sub("", text[ca:p])
            name = re.split(r"的还有|还有|签约|引进|落户|开工|建设的|加快|加紧", name)[-1]
            # 一期项目首线出片暨二期项目: the second mention is 二期
            name = re.split(r"项目[^项，,。]{0,6}?(?:暨|和|及|与)", name)[-1]
            if len(name) < 2 or _GENERIC_PROJECT.match(name) or _JUNK_NAME_RE.search(name):
                continue
            if any(ca - 12 <= item["anchor"][0] <= cb for item in money):
                continue  # the amount's candidate is this project
            out.append((p - len(name), p + 2))
        return out

    @staticmethod
    def _stage(text: str, a: int, b: int, s: int, e: int) -> tuple[Stage | None, int]:
        """The stage told nearest after the anchor in its clause (a list tells it after
        its last item), else nearest before it, else the most advanced in the sentence."""
        ca, cb = _clause_bounds(text, a, b, s, e, _CLAUSE_STOP)
        for m in _STAGE_RE.finditer(text, b, cb):
            if not _PLANNED_RE.search(text[max(ca, m.start() - 10) : m.start()]):
                return dict(_STAGES)[m.group(0)], m.start()
        before = [
            m
            for m in _STAGE_RE.finditer(text, ca, a)
            if not _PLANNED_RE.search(text[max(ca, m.start() - 10) : m.start()])
        ]
        if before:
            return dict(_STAGES)[before[-1].group(0)], before[-1].start()
        return _stage_in(text, s, e)

    @staticmethod
    def _zone(text: str, s: int, e: int, anchor: int) -> str | None:
        zones = [f for f in find_places(text[s:e]) if re.search(r"区|园|镇|城$", f.text)]
        if not zones:
            return None
        return min(zones, key=lambda f: abs(s + f.start - anchor)).text

    @staticmethod
    def _period(text: str, s: int, anchor: int, earlier: list[tuple[int, int]]) -> str | None:
        """The period phrase closest before the anchor in its sentence, else in the
        sentences before it in the same paragraph; a date when no period is told."""
        spans = [(s, anchor), *[(a, b) for a, b in reversed(earlier[-3:])]]
        for lo, hi in spans:
            if "\n" in text[hi:s]:
                break
            part = text[lo:hi]
            periods = find_periods(part)
            event = [d for d in find_dates(part) if "日" in d.text]
            if event and _EVENT_RE.search(text[lo : hi + 12]):
                return event[-1].text  # a ceremony's figures: its date is the period
            if periods:
                year = re.search(r"\d{4}年", part[: periods[-1].start])
                raw = periods[-1].text
                return raw if re.match(r"\d{4}年", raw) or year is None else year.group(0) + raw
            dates = [d for d in find_dates(part) if "日" in d.text]
            if dates:
                return dates[-1].text
        return None

    @staticmethod
    def _region(text: str, s: int, anchor: int, context: DocumentContext) -> str | None:
        """The most specific place told before the figure in its segment (up to ；), else
        the subject of its sentence (``我市`` is the home region), else ``None``."""
        seg = max(s, *(text.rfind(ch, s, anchor) + 1 for ch in "；;"))
        for lo, hi in ((seg, anchor), (s, min(anchor, s + 24))):
            part = text[lo:hi]
            places = [f for f in find_places(part) if _local(f.text, context)]
            if places:
                return max(places, key=lambda f: (f.end, f.end - f.start)).text
            if re.search(r"园区|开发区|经开区|高新区|新区|新城|全区", part):
                return _main_zone(context) or _home_name(context)
            if re.search(r"我市|全市|该市|本市|我区|该区|我县|全县", part):
                return _home_name(context)
        return None

    # -- the question and the record ---------------------------------------------------
    def question(self, candidate: Candidate) -> type[BaseModel] | None:
        if candidate.kind == "stats":
            facts = candidate.facts
            if facts.get("project_count") is not None and facts.get("amount") is not None:
                return None  # a count with its amount is a statistic: nothing to ask
            return StatReading
        if candidate.kind == "projects":
            named = "name" in candidate.facts or "mention" in candidate.facts
            return NamedProjectReading if named else ProjectReading
        return OpenReading

    def build(
        self, candidate: Candidate, answer: BaseModel | None, context: DocumentContext
    ) -> list[tuple[str, dict[str, Any]]]:
        facts = dict(candidate.facts)
        said = answer.model_dump() if answer is not None else {}
        kind = said.get("kind", "stat" if candidate.kind == "stats" else "project")
        if kind == "none":
            return []
        if kind == "stat":
            if "project_count" not in facts and "amount" not in facts:
                return []
            scope = _scope_of(candidate) or _quoted(said.get("scope"), candidate.text)
            region = facts.get("region") or _home_name(context)
            if not region or not scope:
                return []
            return [
                (
                    "stats",
                    {
                        "region": region,
                        "period": facts.get("period"),
                        "scope": scope,
                        "project_count": facts.get("project_count"),
                        "amount": facts.get("amount"),
                        "yoy_pct": facts.get("yoy_pct"),
                        "evidence": candidate.text,
                    },
                )
            ]
        seen = candidate.text + candidate.before
        name = facts.get("name") or _quoted(said.get("name"), seen)
        if "amount" not in facts and candidate.anchor is not None:
            # a project found by its name: code read the name, the model only confirms
            name = facts.get("mention") or name
        if (
            not name
            or _GENERIC_PROJECT.match(name.removesuffix("项目"))
            or _JUNK_NAME_RE.search(name)
        ):
            return []
        if "amount" not in facts and candidate.anchor is not None:
            # a project found by its name: the model's name must be that mention
            a, b = (x - candidate.start for x in candidate.anchor)
            mention = candidate.text[a:b]
            if name not in mention and mention.removesuffix("项目") not in name:
                return []
        near = _clause_of(candidate) + name
        investor = _quoted(said.get("investor"), near)
        if investor is not None and (
            investor == name or investor.endswith("项目") or _JUNK_NAME_RE.search(investor)
        ):
            investor = None
        industry = said.get("industry")
        if not isinstance(industry, str) or not industry.strip() or industry not in near:
            industry = None
        place = _quoted(said.get("place"), seen)
        if place is not None and (
            "项目" in place or not re.search(r"(?:区|园|城|镇|乡|县|市|街道|港)$", place)
        ):
            place = None
        place = place or facts.get("place")
        return [
            (
                "projects",
                {
                    "name": name,
                    "investor": investor,
                    "amount": facts.get("amount"),
                    "location": {"park": place} if place else {},
                    "industry": industry,
                    "stage": facts.get("stage"),
                    "date": facts.get("date"),
                    "evidence": candidate.text,
                },
            )
        ]


_NAME_AFTER_RE = re.compile(
    r"的([^，,。；;、：:…！？!?“”]{2,40}?)"
    r"(?=[，,。；;、：:…！？!?“”]|和总投资|及总投资|与总投资|和投资|$)"
)
_NAME_TAIL_RE = re.compile(
    r"(?:[两二三四五六七八九十\d]+[大个家项]\S{0,6}项目|等\S*|项目建设|建设)$"
)


def _named_after(text: str, end: int, stop: int) -> dict[str, str]:
    """The project named right after an amount (``总投资139亿元的卫蓝新能源固态电池项目``):
    code reads that name, so the model cannot give one amount another project's name."""
    m = _NAME_AFTER_RE.match(text, end, stop)
    if m is None:
        return {}
    name = _NAME_TAIL_RE.sub("", m.group(1))
    name = re.split(r"(?:落户|签约|开工|投产|竣工|建设|项目现场|正在|已经|在|于)", name)[0]
    if (
        len(name) < 2
        or _GENERIC_PROJECT.match(name.removesuffix("项目"))
        or _JUNK_NAME_RE.search(name)
    ):
        return {}
    return {"name": name}


def _shift(figure: Figure, by: int) -> Figure:
    return Figure(figure.start + by, figure.end + by, figure.text, figure.value)


def _quoted(value: Any, text: str) -> str | None:
    """A name the model read, kept only when the story backs it (simplified, trimmed)."""
    if not isinstance(value, str):
        return None
    v = value.strip().strip("“”\"'《》【】")
    if len(v) < 2:
        return None
    if v in text or to_simplified(v) in to_simplified(text):
        return v
    # the model may join a name's parts across a short gap: keep it when most of it is there
    hits = sum(1 for ch in v if ch in text)
    return v if hits >= 0.8 * len(v) else None


def _story_year(text: str) -> str | None:
    """The year a story without a publication date tells itself (``2023年``, ``2023淮安
    投资环境说明会``): the most mentioned, the latest on a tie."""
    years = re.findall(r"(?<!\d)(20[0-4]\d)(?=年|[^\d%])", text)
    if not years:
        return None
    best: str = max(set(years), key=lambda y: (years.count(y), y))
    return best


def _with_year(candidate: Candidate, year: str) -> Candidate:
    """Dates and periods that name no year read in the story's own year."""
    facts = dict(candidate.facts)
    for key in ("date", "period"):
        raw = facts.get(key)
        if isinstance(raw, str) and not re.search(r"\d{4}|去年|前年|明年|上年", raw):
            facts[key] = year + "年" + raw.replace("今年", "").replace("本年", "")
    return replace(candidate, facts=facts)


def _figure_key(candidate: Candidate) -> tuple[Any, ...] | None:
    facts = candidate.facts
    amount = facts.get("amount")
    parsed = parse_money(amount["text"]) if isinstance(amount, dict) else None
    value = parsed.value if parsed is not None else None
    if value is None and facts.get("project_count") is None:
        return None
    return (value, facts.get("project_count"))


def _one_per_figure(candidates: list[Candidate]) -> list[Candidate]:
    """A statistic told twice (a headline, then the body; a recap) is one candidate: the
    one in the longest sentence, where its period and scope are told."""
    best: dict[tuple[Any, ...], Candidate] = {}
    for c in candidates:
        key = _figure_key(c) if c.kind == "stats" else None
        if key is not None and (key not in best or len(c.text) > len(best[key].text)):
            best[key] = c
    keep = {id(c) for c in best.values()}
    return [c for c in candidates if c.kind != "stats" or _figure_key(c) is None or id(c) in keep]


def _clause_of(candidate: Candidate) -> str:
    """The part of the candidate's sentence around its anchor, between 、，；: where its
    investor and industry must be told (a list names several projects in one sentence)."""
    if candidate.anchor is None:
        return candidate.text
    a, b = (x - candidate.start for x in candidate.anchor)
    text = candidate.text
    lo = max(text.rfind(ch, 0, a) for ch in "、，,；;。") + 1
    his = [i for i in (text.find(ch, b) for ch in "、，,；;。") if i >= 0]
    return text[lo : min(his) if his else len(text)]


def _scope_of(candidate: Candidate) -> str | None:
    """The words of the statistic's clause before its figure (fallback for the model's)."""
    if candidate.anchor is None:
        return None
    a = candidate.anchor[0] - candidate.start
    head = re.split(r"[，,；;：:]", candidate.text[:a])[-1]
    for period in reversed(find_periods(head)):
        head = head[: period.start] + head[period.end :]
    head = re.sub(
        r"^(?:其中|今年以来|目前|截至\S*?|已|共|累计|全市|全区|我市|该市|园区|上报)+", "", head
    )
    head = re.sub(r"(?:达到|达|为|共计|合计|共|已)+$", "", head).strip()
    if head:
        return head
    # the figure opens its clause (22个项目集中签约): what follows it says what is counted
    b = candidate.anchor[1] - candidate.start
    tail = re.split(r"[，,；;：:。、]", candidate.text[b:])[0].strip()
    if tail.startswith("项目") and len(tail) > 2:
        return tail[2:] + "项目"  # 项目集中签约 -> 集中签约项目
    return tail or None


def _local(name: str, context: DocumentContext) -> bool:
    """Whether a place name found in the story can be the region of a figure: a zone, a
    full official name, or a short name inside the home province (not 资源 for 资源县)."""
    if not Gazetteer.load().lookup(name):
        return True  # a zone or park the finder named
    if Gazetteer.load().full.get(name):
        return True
    home = context.home
    if home is None:
        return False
    return any(d.code[:2] == (home.code or "")[:2] for d in Gazetteer.load().short.get(name, ()))


def _main_zone(context: DocumentContext) -> str | None:
    """The zone the story is about: a named zone or park mentioned at least twice, the
    most mentioned first."""
    counts: dict[str, int] = {}
    for f in find_places(context.text):
        if not Gazetteer.load().lookup(f.text) and re.search(r"区|园|新城$", f.text):
            counts[f.text] = counts.get(f.text, 0) + 1
    if not counts:
        return None
    zone, n = max(counts.items(), key=lambda kv: kv[1])
    return zone if n >= 2 else None


def _home_name(context: DocumentContext) -> str | None:
    home = context.home
    if home is None:
        return None
    return home.district or home.city or home.province


InvestmentNews.__llmx_reader__ = InvestmentReader()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- names
# How project, company and statistic names compare, when one document's items are merged
# and when mentions are matched across documents (``__llmx_match__``, see llmx._names).

from functools import cache  # noqa: E402

_GENERIC_WORDS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份公司",
    "集团",
    "公司",
    "项目",
    "工程",
)
_GENERIC_HEADS = frozenset(
    {
        "新能源",
        "新材料",
        "高端",
        "智能",
        "新型",
        "年产",
        "高效",
        "生物",
        "医药",
        "电子",
        "数字",
        "绿色",
        "光伏",
        "总部",
        "国际",
        "中国",
        "现代",
        "产业",
    }
)


@cache
def _leading_places() -> frozenset[str]:
    """Province- and city-level names (full and short) a name may start with."""
    gaz = Gazetteer.load()
    names = {n for n, ds in gaz.full.items() if any(d.level < 3 for d in ds)}
    names |= {n for n, ds in gaz.short.items() if any(d.level < 3 for d in ds)}
    return frozenset(n for n in names if len(n) >= 2)


class ChineseNames:
    """Names of Chinese companies, projects and regions: 湖州卫蓝固态电池项目 and
    卫蓝新能源固态电池項目 are one project, 天合光能一期项目 and 二期项目 are two."""

    #: a phase: 一期, 二期, 3期
    variant = re.compile(r"[一二三四五六七八九十\d]+期")

    @staticmethod
    def fold(text: str) -> str:
        return to_simplified(text)

    @staticmethod
    def drop_generic(text: str) -> str:
        """Company forms and 项目/工程, wherever they stand."""
        for word in _GENERIC_WORDS:
            text = text.replace(word, "")
        return text

    @staticmethod
    def drop_leading(text: str) -> str:
        """Up to three leading province or city names, leaving two characters at least
        (宁波拓烯新材料 -> 拓烯新材料, 浙江省湖州市 -> 湖州市)."""
        places = _leading_places()
        for _ in range(3):
            for n in range(min(len(text) - 2, 8), 1, -1):
                if text[:n] in places:
                    text = text[n:]
                    break
            else:
                break
        return text

    @staticmethod
    def is_generic_head(head: str) -> bool:
        """新能源, 新材料 ...: a shared start that names a sector, not a company."""
        return head in _GENERIC_HEADS


class StatNames(ChineseNames):
    """A statistic's region and scope compare as names; mentions across documents are one
    statistic only when they state the same period."""

    agree = ("period",)


Project.__llmx_match__ = ChineseNames()  # type: ignore[attr-defined]
Stat.__llmx_match__ = StatNames()  # type: ignore[attr-defined]
