"""What the candidate reader looks for in 招商引资 news: the words and patterns that tell
an investment from an output figure, a statistic from a project, a stage from a plan, and
the sentence and clause spans they are looked for in."""

from __future__ import annotations

import re
from typing import Literal

from llmx.normalize import Figure

Stage = Literal["signed", "under_construction", "in_production"]

SENTENCE_RE = re.compile(r"[^。！？!?\n]+[。！？!?]*[”’」』）)]*")
CLAUSE_STOP = "，,；;：:。！？!?"
SUBCLAUSE_STOP = CLAUSE_STOP + "、"
THRESHOLD_RE = re.compile(
    r"(?:及?以上|以下)?(?:的)?(?:重大|重点|产业|工业|制造业|优质|大|级)?项目|级"
)
OUTPUT_RE = re.compile(r"年产值|产值|营收|营业收入|销售收入|销售额|税收|利税|收入|利润|产能|出口")
POLICY_RE = re.compile(
    r"基金|奖励|奖补|贷款|贴息|补贴|补助|扶持|财政|债券|授信|融资|注册资本|专项资金"
)
TARGET_RE = re.compile(r"力争|目标|确保|争取|预计|有望")
AGGREGATE_RE = re.compile(
    r"(?:签约|引进|新签约|新签|开工|新开工|在建|竣工|投产|招引|落地|集中签约|招商)项目(?:的)?(?:总)?投资"
    r"|协议引资|引资|到位资金|到位|实际利用|利用外资|完成投资|固定资产投资|投资总额|累计|共计|合计|"
    r"总额|规模|招引投资|引进资金|签约额|签约金额|签约资金|意向投资"
)
INVEST_RE = re.compile(r"投资")
GENERIC_BEFORE = set("个项批些等该此大点上下类好型级元的新建约目及和与")
GENERIC_PROJECT = re.compile(
    r"^(?:[一二三四五六七八九十\d]+个)?(?:签约|引进|开工|在建|竣工|投产|招商|投资|产业|重大|重点|"
    r"新|大|好|优质|亿元以上|的|已|共|等|其中|这些|这个|该|此|所有|全部|多个|一批|一个)*$"
)
STAGES: tuple[tuple[str, Stage], ...] = (
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
STAGE_RANK: dict[Stage, int] = {"signed": 1, "under_construction": 2, "in_production": 3}
STAGE_RE = re.compile("|".join(word for word, _ in STAGES))
PLANNED_RE = re.compile(r"(?:计划|预计|力争|将于?|拟|争取|有望|确保)[^，,。；;]{0,6}$")
NAME_LEAD_RE = re.compile(
    r"^(?:的|在|作为|随着|由|对|将|把|其中|以及|还有|而|同时|此外|目前|今年|去年|近日|日前|"
    r"成功|正式|顺利|已经|已|还|共|总投资|投资)+"
)
JUNK_NAME_RE = re.compile(
    r"以上|以下|重大|重点|主导|伴随|产业链|链上|链主|龙头|优质|此类|同类|相关|配套|促进|树立|招商引资|洽谈|一批|推进|意识|工作|服务|引进一批|加快|全力|围绕|聚焦|保障|"
    r"研判|作战|简化|破解|支持|推动|打造|实施|举行|举办|召开|仪式|活动|会议|记者|表示|说|"
    r"这些|一大批|好项目|大项目|我们|他们"
)
EVENT_RE = re.compile(r"仪式|集中签约|推介会|说明会|大会|峰会|洽谈会|博览会|签约活动")
REFERS_BACK_RE = re.compile(r"^(?:其中|此次|本次|这次|会上|当天|现场|该项目|项目|该|此外|同时)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in SENTENCE_RE.finditer(text):
        start, end = m.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 4:
            out.append((start, end))
    return out


def clause_bounds(text: str, start: int, end: int, lo: int, hi: int, stops: str) -> tuple[int, int]:
    a = start
    while a > lo and text[a - 1] not in stops:
        a -= 1
    b = end
    while b < hi and text[b] not in stops:
        b += 1
    return a, b


def stage_in(text: str, lo: int, hi: int) -> tuple[Stage | None, int]:
    """The most advanced stage told (not planned) in ``text[lo:hi]``, and where."""
    best: Stage | None = None
    at = -1
    for m in STAGE_RE.finditer(text, lo, hi):
        if PLANNED_RE.search(text[max(lo, m.start() - 10) : m.start()]):
            continue
        stage = dict(STAGES)[m.group(0)]
        if best is None or STAGE_RANK[stage] > STAGE_RANK[best]:
            best, at = stage, m.start()
    return best, at


def nearest_before(figures: list[Figure], pos: int, lo: int) -> Figure | None:
    """The figure ending closest before ``pos`` (at or after ``lo``)."""
    before = [f for f in figures if lo <= f.start and f.end <= pos]
    return before[-1] if before else None
