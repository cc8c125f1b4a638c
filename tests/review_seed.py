"""A seed ``llmx run`` output over real source files, for the review tests.

Grounding offsets come from llmx's own grounding (:class:`llmx._ground.GroundIndex`
over the cleaned text), so the highlights the tests check are the ones a run writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmx._ground import GroundIndex
from llmx._text.clean import clean_text
from llmx._text.decode import to_text

ALPHA = (
    "🚀 湖州讯 2023年2月7日\n"
    "近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。\n"
    "该项目由卫蓝新能源投资建设，达产后年产值超200亿元。\n"
    "同时，总投资10亿元的南木纳米项目签约落户吴兴区。\n"
    "一月份，全市新签约3亿元以上项目28个，同比增长21.7%。\n"
    "此外，投资8亿元的青山智造项目开工建设。\n"
)
XSS = (
    "Breaking <script>document.title='pwned-script'</script> news.\n"
    'An image <img src="{beacon}/text" onerror="document.title=\'pwned-img\'"> here.\n'
    "总投资5亿元的安全项目落户某地。\n"
)


def money(value: float, text: str) -> dict[str, Any]:
    return {"value": value, "currency": "CNY", "qualifier": "exact", "text": text}


def place(city: str | None = "湖州市", district: str | None = None, park: str | None = None) -> Any:
    return {"province": "浙江省", "city": city, "district": district, "park": park}


def project(name: str, evidence: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "investor": None,
        "amount": None,
        "location": place(),
        "industry": None,
        "stage": "signed",
        "date": None,
        "evidence": evidence,
    }
    out.update(fields)
    return out


@dataclass
class Seed:
    root: Path
    out: Path
    beacon_hits: list[str]

    def text(self, name: str) -> str:
        return to_text((self.root / "docs" / f"{name}.txt").read_bytes())

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.out.read_text(encoding="utf-8").splitlines()]


def _line(doc_id: str, source: Path, record: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    grounding: list[dict[str, Any]] = []
    if record is not None:
        index = GroundIndex(clean_text(to_text(source.read_bytes(), name=str(source))))
        for name in ("projects", "stats"):
            for i, item in enumerate(record.get(name, [])):
                found = index.locate(item["evidence"])
                grounding.append(
                    {
                        "path": f"{name}[{i}]",
                        "status": found.status,
                        "start": found.start,
                        "end": found.end,
                        "score": round(found.score, 3),
                        "checks": {},
                    }
                )
    line: dict[str, Any] = {
        "doc_id": doc_id,
        "source": str(source),
        "record": record,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "requests": 1},
        "cached": False,
        "attempts": 1,
        "error": None,
        "grounding": grounding,
        "notes": [],
        "seconds": 0.1,
        "cost_usd": None,
    }
    line.update(extra)
    return line


def make_seed(root: Path, beacon: str = "http://127.0.0.1:9") -> Seed:
    """Source files under ``root/docs`` and their output ``root/out.jsonl``."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    paths = {
        "alpha": ALPHA,
        "beta": "这篇文章没有被处理。\n",
        "gamma": "今天天气很好，没有招商项目。\n",
        "xss": XSS.format(beacon=beacon),
    }
    for name, text in paths.items():
        (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    alpha = {
        "projects": [
            project(
                "卫蓝新能源固态电池项目",
                "近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。",
                investor="卫蓝新能源",
                amount=money(13900000000, "139亿元"),
                location=place(park="南太湖新区"),
                industry="电池",
            ),
            project(
                "南木纳米项目",
                "总投资10亿元的南木纳米项目签约落户吴兴区。",
                amount=money(1000000000, "10亿元"),
                location=place(district="吴兴区"),
            ),
            project(
                "幽灵项目",
                "总投资99亿元的幽灵项目在月球开工。",
                amount=money(9900000000, "99亿元"),
            ),
        ],
        "stats": [
            {
                "region": "湖州市",
                "period": "2023-01",
                "scope": "新签约3亿元以上项目",
                "project_count": 28,
                "amount": None,
                "yoy_pct": 21.7,
                "evidence": "一月份，全市新签约3亿元以上项目28个，同比增长21.7%。",
            }
        ],
    }
    xss_record = {
        "projects": [
            project(
                "<img src=x onerror=\"document.title='pwned-field'\">安全项目",
                "总投资5亿元的安全项目落户某地。",
                amount=money(500000000, "5亿元"),
                industry=f'<img src="{beacon}/field">',
            )
        ],
        "stats": [],
    }
    lines = [
        _line(
            "alpha",
            docs / "alpha.txt",
            alpha,
            notes=["project '南木纳米项目' amount: 10亿 read as 1000000000"],
            meta={"title": "湖州招商快讯", "published": "2023-02-07"},
            confidence={"projects[0]": 0.9, "projects[1]": 0.3, "stats[0]": 0.8},
        ),
        _line(
            "beta",
            docs / "beta.txt",
            None,
            error={"kind": "endpoint", "message": "the endpoint timed out"},
        ),
        _line("gamma", docs / "gamma.txt", {"projects": [], "stats": []}),
        _line(
            "xss",
            docs / "xss.txt",
            xss_record,
            notes=["<script>document.title='pwned-note'</script>"],
            meta={"title": "<b>bold?</b><script>document.title='pwned-meta'</script>"},
        ),
    ]
    out = root / "out.jsonl"
    out.write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )
    return Seed(root, out, [])
