"""The benchmark corpus: short Chinese news-like texts and the fixed model answer.

Every text contains the evidence sentence, amount span and places of :data:`RECORD`, so
the fake server's fixed answer validates and grounds (``exact``) for every document.
Texts differ by a few numbers and names so that every document has its own cache key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from llmx._types import Document

#: the schema every run extracts, and the model name every request asks for
SCHEMA = "investment"
MODEL = "fake-model"
#: the publication date the prompts give (the date every text reports)
PUBLISHED = date(2024, 3, 15)

EVIDENCE = "湖州新能源科技有限公司投资50亿元建设年产10GWh固态电池项目"

#: the answer the fake server gives to every request (valid for schema ``investment``)
RECORD: dict[str, Any] = {
    "projects": [
        {
            "name": "年产10GWh固态电池项目",
            "investor": "湖州新能源科技有限公司",
            "amount": {"value": 5e9, "currency": "CNY", "qualifier": "exact", "text": "50亿元"},
            "location": {"province": "浙江省", "city": "湖州市", "district": "吴兴区"},
            "industry": "固态电池",
            "stage": "signed",
            "date": "2024-03-15",
            "evidence": EVIDENCE,
        }
    ],
    "stats": [],
}

_REPORTERS = "王李张刘陈杨赵黄周吴"
_TOPICS = ("新能源", "智能制造", "生物医药", "数字经济", "新材料")


def text_for(i: int) -> str:
    """The ``i``-th document: a few sentences of 招商引资 news; unique per ``i``."""
    reporter = _REPORTERS[i % len(_REPORTERS)] + _REPORTERS[(i // 10) % len(_REPORTERS)]
    topic = _TOPICS[i % len(_TOPICS)]
    return (
        f"本报讯（记者 {reporter}）2024年3月15日，浙江省湖州市吴兴区举行{topic}产业"
        f"重大项目集中签约活动，共签约项目{12 + i % 17}个。"
        f"{EVIDENCE}，项目落户吴兴经济开发区，预计明年投产。"
        f"据了解，这是该区今年举办的第{i + 1}场签约活动，现场气氛热烈。"
    )


def documents(n: int, *, unique: int | None = None, prefix: str = "doc") -> Iterator[Document]:
    """``n`` documents, generated lazily; with ``unique`` the texts cycle every ``unique``
    documents (doc_ids stay unique), so later cycles are cache hits."""
    for i in range(n):
        k = i if unique is None else i % unique
        yield Document(doc_id=f"{prefix}{i:06d}", source="<bench>", data=text_for(k))
