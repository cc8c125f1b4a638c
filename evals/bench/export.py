"""Benchmark of ``llmx export``: time and peak memory at 5,000 and 50,000 documents.

Run from the repository root::

    .venv/bin/python -m evals.bench.export              # 5,000 and 50,000 documents
    .venv/bin/python -m evals.bench.export --docs 200   # quick

For each size a synthetic output file is written (``synthetic_output``): every document
has two projects and one statistic, drawn from a pool of one distinct project per three
documents, so each project is reported by about three articles under varied names
(a place prefix or not, a longer name, an investor or not, ``超``/``约`` qualifiers);
one project in twenty has a bare generic name (新材料产业园项目) that recurs in several
cities and sometimes twice in one city; one document in fifty failed. Each export
(SQLite with entities, Parquet with entities, SQLite with ``--no-entities``) runs in a
fresh subprocess that reports its wall time, its CPU time (``time.process_time``: on a
shared machine the steadier figure) and peak RSS (``resource.getrusage``); the
subprocess's baseline RSS after imports (pyarrow, and pandas, which pyarrow imports on
its first conversion) is reported beside it.

The SQLite export's project entities are scored against the generator's truth: pairwise
precision (mentions joined that report the same project) and recall (mentions of one
project that were joined). Results go to ``evals/bench/export_results.json``
(``--results PATH`` moves it).
Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CITIES = [
    ("浙江省", "湖州市", "吴兴区"),
    ("浙江省", "嘉兴市", "桐乡市"),
    ("浙江省", "宁波市", "北仑区"),
    ("江苏省", "苏州市", "昆山市"),
    ("安徽省", "合肥市", "肥西县"),
    ("四川省", "成都市", "双流区"),
    ("广东省", "佛山市", "顺德区"),
    ("湖北省", "武汉市", "江夏区"),
]
HEADS = "卫蓝华友天能拓烯宁德比亚恒逸荣盛正泰吉利长鑫晶科"
MIDS = "隆基通威阳光中创瑞浦欣旺远景明海宏达兴昌盈泽安康和润嘉禾丰源博信诚佳鸿泰金银铜铁"
INDUSTRIES = ["固态电池", "新材料", "光伏组件", "生物医药", "智能装备", "集成电路", "汽车零部件"]
STAGES = ["signed", "under_construction", "in_production"]


def _project_pool(n: int, rng: random.Random) -> list[dict[str, Any]]:
    pool = []
    for i in range(n):
        # a distinct head per project (brands do repeat across projects in real news,
        # but then with another industry or place)
        head = (
            HEADS[i % len(HEADS)]
            + MIDS[(i // len(HEADS)) % len(MIDS)]
            + MIDS[(i // (len(HEADS) * len(MIDS))) % len(MIDS)]
        )
        industry = rng.choice(INDUSTRIES)
        generic = i % 20 == 0  # a bare generic name, e.g. 新材料产业园项目
        name = f"{industry}产业园项目" if generic else f"{head}{industry}项目"
        pool.append(
            {
                "name": name,
                "head": head,
                "industry": industry,
                "place": rng.choice(CITIES),
                "amount": round(rng.uniform(1, 200), 1) * 1e8,
            }
        )
    return pool


def _mention(p: dict[str, Any], rng: random.Random, doc: int) -> dict[str, Any]:
    province, city, district = p["place"]
    variant = rng.randrange(4)
    name = p["name"]
    if variant == 1:
        name = city[:2] + name
    elif variant == 2 and not name.startswith(p["industry"]):
        name = f"{p['head']}{p['industry']}基地项目"
    qualifier = rng.choice(["exact", "exact", "at_least", "approx"])
    value = p["amount"] if qualifier != "at_least" else p["amount"] * 0.8
    stage = rng.choice(STAGES)
    return {
        "name": name,
        "investor": f"{p['head']}科技有限公司" if rng.random() < 0.5 else None,
        "amount": {
            "value": value,
            "currency": "CNY",
            "qualifier": qualifier,
            "text": f"{value / 1e8:g}亿元",
        },
        "location": {
            "province": province,
            "city": city,
            "district": district if rng.random() < 0.5 else None,
            "park": None,
        },
        "industry": p["industry"],
        "stage": stage,
        "date": f"2023-{1 + doc % 12:02d}",
        "evidence": f"总投资{value / 1e8:g}亿元的{name}在{city}{stage}。",
    }


def synthetic_output(path: Path, docs: int, seed: int = 7) -> dict[tuple[str, int], int]:
    """Write an llmx output file of ``docs`` documents (see the module docstring).

    Returns the truth: ``(doc_id, index in projects) -> the pool project it reports``.
    """
    truth: dict[tuple[str, int], int] = {}
    rng = random.Random(seed)
    pool = _project_pool(max(1, docs * 2 // 3), rng)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(docs):
            doc_id = f"news/{i:06d}"
            line: dict[str, Any] = {
                "doc_id": doc_id,
                "source": f"articles.jsonl:{i + 1}",
                "record": None,
                "usage": {"prompt_tokens": 1400, "completion_tokens": 380, "total_tokens": 1780},
                "cached": False,
                "attempts": 1,
                "error": None,
                "grounding": [],
                "notes": ["a note"] if i % 3 == 0 else [],
                "seconds": 1.5,
                "cost_usd": 0.0004,
                "meta": {
                    "url": f"https://news.example/{i}",
                    "title": f"第{i}篇",
                    "published": f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}",
                },
            }
            if i % 50 == 49:
                line["error"] = {"kind": "endpoint_transient", "message": "timed out"}
            else:
                picks = [rng.randrange(len(pool)) for _ in range(2)]
                projects = [_mention(pool[k], rng, i) for k in picks]
                truth.update({(doc_id, n): k for n, k in enumerate(picks)})
                city = rng.choice(CITIES)[1]
                stats = [
                    {
                        "region": city,
                        "period": f"2023-Q{1 + i % 4}",
                        "scope": "新签约亿元以上项目",
                        "project_count": 10 + i % 7,
                        "amount": None,
                        "yoy_pct": None,
                        "evidence": f"{city}新签约亿元以上项目{10 + i % 7}个。",
                    }
                ]
                line["record"] = {"projects": projects, "stats": stats}
                line["grounding"] = [
                    {"path": f"projects[{k}]", "status": "exact", "start": 0, "end": 30}
                    for k in range(2)
                ]
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return truth


def _pairs(counts: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pair_scores(db: Path, truth: dict[tuple[str, int], int]) -> dict[str, float]:
    """Pairwise precision and recall of the projects' entities against the truth."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT doc_id, item_index, entity_id FROM projects").fetchall()
    predicted = Counter(e for _, _, e in rows)
    actual = Counter(truth[(d, i)] for d, i, _ in rows)
    both = Counter((e, truth[(d, i)]) for d, i, e in rows)
    tp, pp, ap = _pairs(both), _pairs(predicted), _pairs(actual)
    return {
        "pair_precision": round(tp / pp, 4) if pp else 1.0,
        "pair_recall": round(tp / ap, 4) if ap else 1.0,
        "true_projects": len(actual),
        "entities": len(predicted),
    }


_CHILD = r"""
import json, resource, sys, time
from llmx._tables import export_tables
import llmx._schemas, pyarrow, pyarrow.parquet
schema = llmx._schemas.load_schema("investment")
pyarrow.array([1])  # the first conversion imports pandas (+50 MB): a constant, not data
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out, to, fmt, entities = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
start, cpu = time.perf_counter(), time.process_time()
report = export_tables(out, to, format=fmt, schema=schema, entities=entities)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": peak / 1024,
                  "base_rss_mb": base / 1024, "report": report.to_dict()}))
"""


def _measure(out: Path, to: Path, fmt: str, entities: bool) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(out), str(to), fmt, "1" if entities else "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="5000,50000", help="comma-separated sizes")
    parser.add_argument("--results", type=Path, default=HERE / "export_results.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.docs.split(",") if s.strip()]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmx-bench-export-") as tmp:
        root = Path(tmp)
        for docs in sizes:
            out = root / f"out-{docs}.jsonl"
            t0 = time.perf_counter()
            truth = synthetic_output(out, docs)
            print(f"{docs} docs: output written in {time.perf_counter() - t0:.1f}s", flush=True)
            for fmt, entities, target in (
                ("sqlite", True, root / f"t-{docs}.db"),
                ("parquet", True, root / f"pq-{docs}"),
                ("sqlite", False, root / f"plain-{docs}.db"),
            ):
                m = _measure(out, target, fmt, entities)
                rep = m["report"]
                row = {
                    "docs": docs,
                    "output_mb": round(out.stat().st_size / 2**20, 1),
                    "format": fmt,
                    "entities": entities,
                    "seconds": round(m["seconds"], 2),
                    "cpu_s": round(m["cpu_s"], 2),
                    "docs_per_s": round(docs / m["seconds"]),
                    "peak_rss_mb": round(m["peak_rss_mb"], 1),
                    "base_rss_mb": round(m["base_rss_mb"], 1),
                    "mentions": rep["mentions"],
                    "entities_rows": rep["entities"],
                    "failed": rep["failed"],
                }
                if fmt == "sqlite" and entities:
                    row["matching"] = pair_scores(target, truth)
                runs.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
    ratios: dict[str, float] = {}
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for fmt, entities in (("sqlite", True), ("parquet", True), ("sqlite", False)):
            a = next(
                r for r in runs if (r["docs"], r["format"], r["entities"]) == (small, fmt, entities)
            )
            b = next(
                r for r in runs if (r["docs"], r["format"], r["entities"]) == (large, fmt, entities)
            )
            label = f"{fmt}{'' if entities else '_no_entities'}"
            ratios[f"{label}_time_{large}_vs_{small}"] = round(b["seconds"] / a["seconds"], 2)
            ratios[f"{label}_cpu_{large}_vs_{small}"] = round(b["cpu_s"] / a["cpu_s"], 2)
            ratios[f"{label}_peak_rss_{large}_vs_{small}"] = round(
                b["peak_rss_mb"] / a["peak_rss_mb"], 2
            )
    results = {
        "meta": {
            "python": sys.version.split()[0],
            "cpus": len(__import__("os").sched_getaffinity(0)),
            "max_rss_units": "MiB (ru_maxrss KiB / 1024)",
            "resource_page": resource.getpagesize(),
        },
        "runs": runs,
        "ratios": ratios,
    }
    args.results.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(json.dumps(ratios, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
