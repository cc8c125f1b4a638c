"""The investment schema's candidate reader (:class:`InvestmentReader`).

Code finds the candidates, the model reads each one, code computes. Each investment
amount, project count and named project with a stage verb in the story is one
candidate; the finder decides from cues (:mod:`.cues`) what kind of record it can be, and
computes amounts, counts, 同比, stages, dates and periods from the spans it found. The
model only names: the project, its investor, industry and place, or a statistic's scope.

One module over the usual size: it is one class, and its two halves, finding candidates
(``find``) and turning answers into records (``question``, ``build``), share the clause,
name and place helpers below it; split, each half would import the other's internals.
The words and patterns it looks for are in :mod:`.cues`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel

from llmx import Candidate
from llmx.normalize import (
    DocumentContext,
    Figure,
    Gazetteer,
    find_dates,
    find_money_spans,
    find_periods,
    find_places,
    find_project_counts,
    find_yoy,
    parse_money,
    to_simplified,
)

from .cues import (
    AGGREGATE_RE,
    CLAUSE_STOP,
    EVENT_RE,
    GENERIC_BEFORE,
    GENERIC_PROJECT,
    INVEST_RE,
    JUNK_NAME_RE,
    NAME_LEAD_RE,
    OUTPUT_RE,
    PLANNED_RE,
    POLICY_RE,
    REFERS_BACK_RE,
    STAGE_RE,
    STAGES,
    SUBCLAUSE_STOP,
    TARGET_RE,
    THRESHOLD_RE,
    Stage,
    clause_bounds,
    nearest_before,
    sentence_spans,
    stage_in,
)


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


class InvestmentReader:
    """The investment schema's candidate reader (see :mod:`llmx._candidates`)."""

    prompt = "investment_candidates"

    def find(self, text: str, context: DocumentContext) -> list[Candidate]:
        sentences = sentence_spans(text)
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
            ca, _ = clause_bounds(text, count.start, count.end, s, e, "；;。")
            if TARGET_RE.search(text[ca : count.start]):
                continue  # 确保...落地亿元项目2个以上 is a target
            stats.append({"anchor": (count.start, count.end), "project_count": int(count.value)})
        for ms, me, _ in find_money_spans(sentence):
            a, b = s + ms, s + me
            if THRESHOLD_RE.match(text, b, min(e, b + 8)) or text[a - 1 : a] == "省":
                continue
            ca, _ = clause_bounds(text, a, b, s, e, CLAUSE_STOP)
            lead = text[max(ca, a - 16) : a]
            _, cb = clause_bounds(text, a, b, s, e, CLAUSE_STOP)
            tail = text[b : min(cb, b + 10)]
            if OUTPUT_RE.search(lead) or POLICY_RE.search(lead) or POLICY_RE.search(tail):
                continue
            if TARGET_RE.search(lead) and not re.search(r"计划(?:总)?投资", lead):
                continue
            money = {"text": text[a:b]}
            # a count earlier in the same segment (up to ；) takes this amount
            seg_a, _ = clause_bounds(text, a, b, s, e, "；;")
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
            if AGGREGATE_RE.search(lead):
                stats.append({"anchor": (a, b), "amount": money})
            elif INVEST_RE.search(lead):
                projects.append({"anchor": (a, b), "amount": money, **_named_after(text, b, e)})
            else:
                opened.append({"anchor": (a, b), "amount": money, **_named_after(text, b, e)})
        for y in yoys:
            owner = next((st for st in reversed(stats) if st["anchor"][1] <= y.start), None)
            if owner is not None and "yoy_pct" not in owner:
                owner["yoy_pct"] = y.value
        named = self._named_projects(text, s, e, counts, projects + opened)
        candidates: list[Candidate] = []
        refers_back = bool(REFERS_BACK_RE.match(sentence)) or len(sentence) < 30
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
                        stage, _ = stage_in(text, *prev)  # 其中...: the stage told before
                    facts["stage"] = stage
                    date = nearest_before(dates, a, s) or (dates[0] if dates else None)
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
            date = nearest_before(dates, a, s) or (dates[0] if dates else None)
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
            if text[p - 1 : p] in GENERIC_BEFORE:
                continue
            ca, cb = clause_bounds(text, p, p + 2, s, e, SUBCLAUSE_STOP)
            _, clause_end = clause_bounds(text, p, p + 2, s, e, CLAUSE_STOP)
            after = text[p + 2 : min(e, p + 12)]
            # a list (A项目、B项目、C项目等...落地) tells its stage once, after the last item
            told, _ = stage_in(text, p + 2, min(clause_end, p + 40))
            told_before, _ = stage_in(text, ca, p)
            if (
                told is None
                and told_before is None
                and not re.match(r"[^，,。；;、]{0,3}(?:现场|工地|建设)", after)
            ):
                continue
            name = NAME_LEAD_RE.sub("", text[ca:p])
            name = re.split(r"的还有|还有|签约|引进|落户|开工|建设的|加快|加紧", name)[-1]
            # 一期项目首线出片暨二期项目: the second mention is 二期
            name = re.split(r"项目[^项，,。]{0,6}?(?:暨|和|及|与)", name)[-1]
            if len(name) < 2 or GENERIC_PROJECT.match(name) or JUNK_NAME_RE.search(name):
                continue
            if any(ca - 12 <= item["anchor"][0] <= cb for item in money):
                continue  # the amount's candidate is this project
            out.append((p - len(name), p + 2))
        return out

    @staticmethod
    def _stage(text: str, a: int, b: int, s: int, e: int) -> tuple[Stage | None, int]:
        """The stage told nearest after the anchor in its clause (a list tells it after
        its last item), else nearest before it, else the most advanced in the sentence."""
        ca, cb = clause_bounds(text, a, b, s, e, CLAUSE_STOP)
        for m in STAGE_RE.finditer(text, b, cb):
            if not PLANNED_RE.search(text[max(ca, m.start() - 10) : m.start()]):
                return dict(STAGES)[m.group(0)], m.start()
        before = [
            m
            for m in STAGE_RE.finditer(text, ca, a)
            if not PLANNED_RE.search(text[max(ca, m.start() - 10) : m.start()])
        ]
        if before:
            return dict(STAGES)[before[-1].group(0)], before[-1].start()
        return stage_in(text, s, e)

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
            if event and EVENT_RE.search(text[lo : hi + 12]):
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
            or GENERIC_PROJECT.match(name.removesuffix("项目"))
            or JUNK_NAME_RE.search(name)
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
            investor == name or investor.endswith("项目") or JUNK_NAME_RE.search(investor)
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
        or GENERIC_PROJECT.match(name.removesuffix("项目"))
        or JUNK_NAME_RE.search(name)
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
