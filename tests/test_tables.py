"""Output JSONL -> SQLite / Parquet / CSV / pandas tables, with entities across documents.

The end-to-end tests run real batches against the fake server, then open the files the
way analysts do: sqlite-utils for SQLite, pyarrow for Parquet, the csv module for CSV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlite_utils
from typer.testing import CliRunner

import llmx
from llmx._cli import app
from llmx._errors import ConfigError
from llmx._schemas import load_schema
from llmx.testing import FakeOpenAI, Reply, error, structured
from tests.support import endpoint_settings

A1 = "湖州市与卫蓝新能源签约，总投资超百亿元的卫蓝新能源固态电池项目正式落户湖州。"
A2 = "6月8日，卫蓝新能源投资139亿元建设的卫蓝固态电池项目在湖州市吴兴区开工。"
A3 = "嘉兴市：新材料产业园项目签约，总投资20亿元。"
A4 = "宁波市：新材料产业园项目签约，总投资20亿元。"
A5 = "这一篇让服务器出错。"


def _project(name: str, text: str, evidence: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "amount": {"value": 1, "currency": "CNY", "qualifier": "exact", "text": text},
        "evidence": evidence,
        **fields,
    }


ANSWERS: dict[str, Reply] = {
    A1: structured(
        {
            "projects": [
                _project(
                    "卫蓝新能源固态电池项目",
                    "超百亿元",
                    A1,
                    location={"city": "湖州"},
                    stage="signed",
                )
            ],
            "stats": [],
        }
    ),
    A2: structured(
        {
            "projects": [
                _project(
                    "卫蓝固态电池项目",
                    "139亿元",
                    A2,
                    investor="卫蓝新能源",
                    location={"city": "湖州", "district": "吴兴区"},
                    stage="开工",
                )
            ],
            "stats": [],
        }
    ),
    A3: structured(
        {"projects": [_project("新材料产业园项目", "20亿元", A3, location={"city": "嘉兴"})]}
    ),
    A4: structured(
        {"projects": [_project("新材料产业园项目", "20亿元", A4, location={"city": "宁波"})]}
    ),
    A5: error(400, "bad request"),
}


def _route(request: dict[str, Any]) -> Reply:
    body = json.dumps(request, ensure_ascii=False)
    for article, reply in ANSWERS.items():
        if article in body:
            return reply
    return error(500, "unexpected request")


def _inputs(tmp_path: Path) -> Path:
    path = tmp_path / "articles.jsonl"
    rows = [
        {"id": f"a{i}", "text": text, "url": f"https://news.example/{i}", "title": f"T{i}"}
        for i, text in enumerate((A1, A2, A3, A4, A5), 1)
    ]
    rows[0]["published"] = "2023-02-08"
    rows[1]["published"] = "2023-06-10"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture
def run_out(fake_openai: FakeOpenAI, tmp_path: Path) -> Path:
    """A real batch over five articles (one failing) against the fake server."""
    fake_openai.default = _route
    out = tmp_path / "out.jsonl"
    outcome = llmx.extract_batch(
        [str(_inputs(tmp_path))],
        "investment",
        out=out,
        **endpoint_settings(fake_openai, concurrency=1),
    )
    assert outcome.summary.ok == 4 and outcome.summary.failed == 1
    return out


def _by_doc(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["doc_id"]: r for r in rows}


def test_sqlite_export_merges_one_project_across_articles(run_out: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "tables.db"
    report = llmx.export_tables(run_out, db_path)
    assert report.schema == "InvestmentNews"  # found from the run's summary
    assert (report.documents, report.failed) == (5, 1)
    db = sqlite_utils.Database(db_path)
    mentions = _by_doc(list(db["projects"].rows))
    assert set(mentions) == {"a1", "a2", "a3", "a4"}
    # the same project in two articles: two mention rows, one entity
    assert mentions["a1"]["entity_id"] == mentions["a2"]["entity_id"]
    # the same generic name in two cities: two entities
    assert mentions["a3"]["entity_id"] != mentions["a4"]["entity_id"]
    assert db["projects_entities"].count == 3
    weilan = db["projects_entities"].get(mentions["a1"]["entity_id"])
    assert weilan["mention_count"] == 2
    assert json.loads(weilan["doc_ids"]) == ["a1", "a2"]
    assert weilan["amount_value"] == 139e8 and weilan["amount_qualifier"] == "exact"
    assert weilan["investor"] == "卫蓝新能源"
    assert (weilan["location_city"], weilan["location_district"]) == ("湖州市", "吴兴区")
    assert weilan["stage"] == "under_construction"
    links = list(db["projects_links"].rows)
    assert len(links) == 1 and links[0]["entity_id"] == weilan["entity_id"]
    assert "amount" in links[0]["reason"] and "湖州市" in links[0]["reason"]
    # flattened columns and provenance
    a2 = mentions["a2"]
    assert a2["amount_value"] == 139e8 and a2["amount_text"] == "139亿元"
    assert a2["grounding"] == "exact"
    start, end = a2["evidence_start"], a2["evidence_end"]
    assert a2["evidence"].startswith(A2[start:end])  # offsets into the document
    assert end - start >= len(A2) - 1  # (grounding leaves out the final 。)
    # the failed document is a row in documents
    docs = _by_doc(list(db["documents"].rows))
    assert docs["a5"]["status"] == "failed"
    assert docs["a5"]["error_kind"] == "endpoint_client"
    assert docs["a1"]["status"] == "ok" and docs["a1"]["projects_count"] == 1


def test_sqlite_file_is_ready_for_datasette(run_out: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "tables.sqlite"
    llmx.export_tables(run_out, db_path, schema="investment")
    db = sqlite_utils.Database(db_path)
    fks = {(fk.column, fk.other_table, fk.other_column) for fk in db["projects"].foreign_keys}
    assert fks == {
        ("doc_id", "documents", "doc_id"),
        ("entity_id", "projects_entities", "entity_id"),
    }
    assert list(db.query("PRAGMA foreign_key_check")) == []
    indexed = {tuple(i.columns) for i in db["projects"].indexes}
    assert {("doc_id",), ("entity_id",)} <= indexed
    assert db["projects"].detect_fts() == "projects_fts"
    assert {r["doc_id"] for r in db["projects"].search("固态电池")} == {"a1", "a2"}
    assert {r["doc_id"] for r in db["projects"].search("新材料产业园")} == {"a3", "a4"}
    # column descriptions: in the file and in Datasette's metadata beside it
    described = {
        (r["table_name"], r["column_name"]): r["description"] for r in db["_llmx_columns"].rows
    }
    assert described[("projects", "amount_value")].startswith("Value in whole units")
    meta = json.loads((tmp_path / "tables.metadata.json").read_text("utf-8"))
    columns = meta["databases"]["tables"]["tables"]["projects"]["columns"]
    assert columns["location_city"] == "Prefecture-level city, e.g. 湖州市"
    assert db["projects"].columns_dict["amount_value"] is float
    assert db["projects"].columns_dict["item_index"] is int


def test_parquet_has_types_and_the_same_rows(run_out: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "t.db"
    llmx.export_tables(run_out, db_path)
    folder = tmp_path / "parquet"
    report = llmx.export_tables(run_out, folder, format="parquet")
    assert sorted(p.name for p in report.files) == [
        "documents.parquet",
        "projects.parquet",
        "projects_entities.parquet",
        "projects_links.parquet",
        "stats.parquet",
        "stats_entities.parquet",
        "stats_links.parquet",
    ]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # staging removed
    db = sqlite_utils.Database(db_path)
    for path in report.files:
        assert pq.read_metadata(path).num_rows == db[path.stem].count
    projects = pq.read_table(folder / "projects.parquet")
    schema = projects.schema
    assert schema.field("amount_value").type == pa.float64()
    assert schema.field("item_index").type == pa.int64()
    assert schema.field("mention_id").type == pa.int64()
    assert schema.field("date").type == pa.string()
    assert schema.field("location_city").metadata == {
        b"description": "Prefecture-level city, e.g. 湖州市".encode()
    }
    stats = pq.read_schema(folder / "stats.parquet")
    assert stats.field("project_count").type == pa.int64()
    assert stats.field("yoy_pct").type == pa.float64()
    documents = pq.read_table(folder / "documents.parquet")
    assert documents.schema.field("cached").type == pa.bool_()
    assert documents.schema.field("notes").type == pa.list_(pa.string())
    status = dict(
        zip(documents["doc_id"].to_pylist(), documents["status"].to_pylist(), strict=True)
    )
    assert status["a5"] == "failed"
    entities = pq.read_table(folder / "projects_entities.parquet").to_pylist()
    assert sorted(e["mention_count"] for e in entities) == [1, 1, 2]
    assert ["a1", "a2"] in [e["doc_ids"] for e in entities]


def test_csv_is_utf8_with_bom_for_excel(run_out: Path, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    llmx.export_tables(run_out, folder, format="csv")
    raw = (folder / "projects.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(folder / "projects.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["name"] for r in rows} >= {"卫蓝新能源固态电池项目", "新材料产业园项目"}
    assert len(rows) == 4
    with open(folder / "documents.csv", encoding="utf-8-sig", newline="") as fh:
        docs = {r["doc_id"]: r for r in csv.DictReader(fh)}
    assert docs["a5"]["status"] == "failed"
    assert docs["a1"]["cached"] == "false"


def test_read_tables_gives_dataframes(run_out: Path) -> None:
    frames = llmx.read_tables(run_out)
    assert set(frames) >= {"documents", "projects", "projects_entities", "stats"}
    projects = frames["projects"]
    assert len(projects) == 4
    assert str(projects["item_index"].dtype) == "Int64"
    assert str(projects["amount_value"].dtype) == "Float64"
    assert projects.groupby("entity_id").size().max() == 2
    assert int((frames["documents"]["status"] == "failed").sum()) == 1


def test_no_entities_leaves_out_entity_tables(run_out: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "plain.db"
    report = llmx.export_tables(run_out, db_path, entities=False)
    assert report.entities == {}
    db = sqlite_utils.Database(db_path)
    assert "projects_entities" not in db.table_names()
    assert "entity_id" not in db["projects"].columns_dict
    assert db["projects"].count == 4


def test_cli_export_and_run_export(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = _route
    runner = CliRunner()
    out = tmp_path / "out.jsonl"
    db_path = tmp_path / "run.db"
    common = ["--base-url", fake_openai.base_url, "--model", "fake-model", "--no-progress"]
    run = [
        "run",
        "--schema",
        "investment",
        str(_inputs(tmp_path)),
        "--out",
        str(out),
        *common,
        "-c",
        "1",
    ]
    result = runner.invoke(app, [*run, "--export", str(db_path)])
    assert result.exit_code == 1  # one document failed; the tables are written anyway
    assert sqlite_utils.Database(db_path)["documents"].count == 5
    folder = tmp_path / "pq"
    result = runner.invoke(app, ["export", str(out), "--to", str(folder), "--format", "parquet"])
    assert result.exit_code == 0, result.output
    assert pq.read_metadata(folder / "projects.parquet").num_rows == 4
    result = runner.invoke(app, ["export", str(out), "--to", str(tmp_path / "folder")])
    assert result.exit_code == 2
    assert "--format" in result.output
    # a wrong --export stops the run before any document is sent
    calls = fake_openai.calls
    result = runner.invoke(
        app,
        [
            "run",
            "--schema",
            "investment",
            str(_inputs(tmp_path)),
            "--out",
            str(out),
            *common,
            "--export",
            "x.txt",
        ],
    )
    assert result.exit_code == 2 and fake_openai.calls == calls


# --------------------------------------------------------------------------- unit level


def _line(doc_id: str, projects: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "source": f"in.jsonl:{doc_id}",
        "record": {"projects": projects, "stats": extra.pop("stats", [])},
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "requests": 1},
        "cached": False,
        "attempts": 1,
        "error": None,
        "grounding": [],
        "notes": [],
        "seconds": 0.1,
        "cost_usd": None,
        **extra,
    }


def _p(name: str, city: str | None, value: float | None, **fields: Any) -> dict[str, Any]:
    amount = {"value": value, "currency": "CNY", "qualifier": "exact", "text": "x"}
    return {
        "name": name,
        "investor": None,
        "amount": amount if value is not None else None,
        "location": {"province": None, "city": city, "district": None, "park": None},
        "industry": None,
        "stage": None,
        "date": None,
        "evidence": name,
        **fields,
    }


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def _entities(path: Path, tmp_path: Path, **kw: Any) -> dict[str, str]:
    db_path = tmp_path / "e.db"
    llmx.export_tables(path, db_path, schema="investment", **kw)
    db = sqlite_utils.Database(db_path)
    return {r["doc_id"]: r["entity_id"] for r in db["projects"].rows}


def test_a_different_amount_is_a_different_project(tmp_path: Path) -> None:
    out = _write(
        tmp_path / "o.jsonl",
        [
            _line("d1", [_p("华友新材料项目", "衢州市", 50e8)]),
            _line("d2", [_p("华友新材料项目", "衢州市", 120e8)]),
            _line("d3", [_p("衢州华友新材料项目", "衢州市", 50.5e8)]),
        ],
    )
    ids = _entities(out, tmp_path)
    assert ids["d1"] == ids["d3"] != ids["d2"]


def test_a_bare_name_cannot_chain_two_cities(tmp_path: Path) -> None:
    # d2 states no city: it may join one of them, never both
    out = _write(
        tmp_path / "o.jsonl",
        [
            _line("d1", [_p("智能制造产业园项目", "湖州市", 30e8)]),
            _line("d2", [_p("智能制造产业园项目", None, 30e8)]),
            _line("d3", [_p("智能制造产业园项目", "嘉兴市", 30e8)]),
        ],
    )
    ids = _entities(out, tmp_path)
    assert ids["d1"] != ids["d3"]
    assert ids["d2"] in (ids["d1"], ids["d3"])


def test_entities_are_deterministic(tmp_path: Path) -> None:
    lines = [
        _line(f"d{i}", [_p(f"{name}项目", city, 10e8 * (i % 3 + 1))])
        for i, (name, city) in enumerate(
            [("甲乙光伏组件", "湖州市"), ("甲乙光伏组件", "湖州市"), ("丙丁电池", "嘉兴市")] * 4
        )
    ]
    out = _write(tmp_path / "o.jsonl", lines)
    first = _entities(out, tmp_path)
    assert _entities(out, tmp_path) == first


def test_stats_with_the_same_figure_are_one_entity(tmp_path: Path) -> None:
    def stat(period: str, count: int) -> dict[str, Any]:
        return {
            "region": "湖州市",
            "period": period,
            "scope": "新签约亿元以上项目",
            "project_count": count,
            "amount": None,
            "yoy_pct": None,
            "evidence": "e",
        }

    out = _write(
        tmp_path / "o.jsonl",
        [
            _line("d1", [], stats=[stat("2023-Q1", 45)]),
            _line("d2", [], stats=[stat("2023-Q1", 45)]),
            _line("d3", [], stats=[stat("2023-Q2", 45)]),
            _line("d4", [], stats=[stat("2023-Q1", 46)]),
        ],
    )
    db_path = tmp_path / "s.db"
    llmx.export_tables(out, db_path, schema="investment")
    db = sqlite_utils.Database(db_path)
    ids = {r["doc_id"]: r["entity_id"] for r in db["stats"].rows}
    assert ids["d1"] == ids["d2"]
    assert len({ids["d1"], ids["d3"], ids["d4"]}) == 3
    assert db["stats_entities"].count == 3


def test_meta_confidence_and_last_line_per_doc_id(tmp_path: Path) -> None:
    out = _write(
        tmp_path / "o.jsonl",
        [
            _line("d1", [_p("旧名称项目", "湖州市", 1e8)]),
            _line(
                "d1",
                [_p("新名称项目", "湖州市", 1e8)],
                meta={"url": "https://x/1", "title": "标题", "published": "2024-03", "k": 1},
                content_sha256="ab" * 32,
                confidence={"projects[0]": 0.67},
                notes=["one", "two"],
                grounding=[{"path": "projects[0]", "status": "fuzzy", "start": 2, "end": 9}],
            ),
            _line("d2", [], error={"kind": "validation", "message": "never valid"}),
        ],
    )
    out.write_text(out.read_text("utf-8") + '{"doc_id": "torn', "utf-8")
    db_path = tmp_path / "m.db"
    report = llmx.export_tables(out, db_path, schema="investment")
    assert (report.replaced_lines, report.corrupt_lines) == (1, 1)
    db = sqlite_utils.Database(db_path)
    (row,) = db["projects"].rows
    assert row["name"] == "新名称项目"
    assert (row["url"], row["title"], row["published"]) == ("https://x/1", "标题", "2024-03")
    assert (row["confidence"], row["grounding"], row["note_count"]) == (0.67, "fuzzy", 2)
    assert (row["evidence_start"], row["evidence_end"]) == (2, 9)
    docs = _by_doc(list(db["documents"].rows))
    assert json.loads(docs["d1"]["meta"])["k"] == 1
    assert docs["d1"]["content_sha256"] == "ab" * 32
    assert (docs["d2"]["status"], docs["d2"]["error_kind"]) == ("failed", "validation")
    assert db["projects_entities"].get(row["entity_id"])["first_published"] == "2024-03"


def test_without_a_schema_the_tables_come_from_the_data(tmp_path: Path) -> None:
    lines = [
        {
            "doc_id": f"d{i}",
            "source": "s",
            "record": {
                "people": [{"name": f"P{i}", "age": i, "score": 0.5, "home": {"city": "X"}}],
                "topic": "t",
            },
            "error": None,
        }
        for i in range(3)
    ]
    lines[2]["record"]["people"][0]["score"] = 2  # int among floats: the column stays real
    out = _write(tmp_path / "o.jsonl", lines)
    folder = tmp_path / "pq"
    report = llmx.export_tables(out, folder, format="parquet")
    assert report.schema is None
    people = pq.read_table(folder / "people.parquet")
    assert people.schema.field("age").type == pa.int64()
    assert people.schema.field("score").type == pa.float64()
    assert people.schema.field("home_city").type == pa.string()
    assert people.num_rows == 3
    documents = pq.read_table(folder / "documents.parquet")
    assert documents["record_topic"].to_pylist() == ["t", "t", "t"]


def test_format_and_input_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--format"):
        llmx.export_tables(tmp_path / "o.jsonl", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown table format"):
        llmx.export_tables(tmp_path / "o.jsonl", tmp_path / "out", format="xlsx")
    with pytest.raises(llmx.InputError, match="not found"):
        llmx.export_tables(tmp_path / "missing.jsonl", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_investment_name_rules_across_documents() -> None:
    import sys

    from llmx._names import distinctive, rules_for

    schema = load_schema("investment")
    module = sys.modules[schema.__module__]
    rules = rules_for(module.Project)
    assert distinctive("湖州卫蓝固态电池项目", rules) == "卫蓝固态电池"
    assert distinctive("卫蓝新能源固态电池項目", rules) == "卫蓝新能源固态电池"
    assert distinctive("北京卫蓝新能源科技有限公司", rules) == "卫蓝新能源科技"
    assert rules_for(module.Stat).agree == ("period",)


def test_a_block_larger_than_max_block_still_joins_each_figure(tmp_path: Path) -> None:
    # 120 reports of four figures of one region: one block, larger than MAX_BLOCK
    from llmx._tables.entities import MAX_BLOCK

    def stat(i: int) -> dict[str, Any]:
        return {
            "region": "湖州市",
            "period": f"2023-Q{1 + i % 4}",
            "scope": "新签约亿元以上项目",
            "project_count": 40 + i % 4,
            "amount": None,
            "yoy_pct": None,
            "evidence": "e",
        }

    n = 120
    assert n > MAX_BLOCK
    out = _write(tmp_path / "o.jsonl", [_line(f"d{i}", [], stats=[stat(i)]) for i in range(n)])
    db_path = tmp_path / "s.db"
    llmx.export_tables(out, db_path, schema="investment")
    db = sqlite_utils.Database(db_path)
    counts = sorted(r["mention_count"] for r in db["stats_entities"].rows)
    assert counts == [30, 30, 30, 30]
    periods = {r["period"]: r["project_count"] for r in db["stats_entities"].rows}
    assert periods == {"2023-Q1": 40, "2023-Q2": 41, "2023-Q3": 42, "2023-Q4": 43}


def test_similarity_cuts_shared_affixes() -> None:
    from llmx._tables.entities import similarity

    assert similarity("卫蓝固态电池", "卫蓝新能源固态电池") >= 0.85  # contained
    assert similarity("逸正恒光伏组件基地", "鑫恒光伏组件基地") < 0.5  # shared tail only
    assert similarity("拓烯coc新材料", "拓烯高端光学新材料") == 0.75  # shared head and tail
    assert similarity("华友新材料", "华友新材料") == 1.0
    assert similarity("", "华友") == 0.0


def test_cli_export_csv_without_entities(run_out: Path, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    result = CliRunner().invoke(
        app, ["export", str(run_out), "--to", str(folder), "-f", "csv", "--no-entities"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == [
        "documents.csv",
        "projects.csv",
        "stats.csv",
    ]
    assert "5 documents (1 failed)" in result.output
