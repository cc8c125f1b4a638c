"""Short 招商引资 news texts and the canned model answer they all support.

Shared by the whole-run tests (faults, the Ray engine): every text contains the evidence
sentence, amount span and places of :data:`RECORD`, so the fake server's fixed answer
validates and grounds ``exact`` for every document, while each text is unique.
"""

from __future__ import annotations

from typing import Any

from llmx._types import Document

EVIDENCE = "湖州新能源科技有限公司投资50亿元建设固态电池项目"
RECORD: dict[str, Any] = {
    "projects": [
        {
            "name": "固态电池项目",
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


def news(i: int, marker: str = "") -> str:
    """The ``i``-th text; ``marker`` is appended (tests use it to script failures)."""
    return (
        f"本报讯 2024年3月15日，浙江省湖州市吴兴区举行第{i + 1}批重大项目集中签约活动。"
        f"{EVIDENCE}，项目落户吴兴经济开发区，预计明年投产。{marker}"
    )


def docs(n: int, prefix: str = "d") -> list[Document]:
    """``n`` documents with ids ``<prefix>000`` ..."""
    return [Document(f"{prefix}{i:03d}", f"{prefix}{i}.txt", news(i)) for i in range(n)]
