"""``llmx review`` without a browser: the index, the API over real HTTP, fixtures, the page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmx._errors import LlmxError
from llmx._review import ReviewIndex, ReviewSettings, create_app, fixture_name, render_static
from llmx._review.document import read_source
from llmx._review.fixture import save_fixture
from llmx._review.server import serve_in_thread
from llmx._schemas import load_schema
from llmx.evals import load_fixtures
from tests.review_seed import Seed, make_seed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def seed(tmp_path: Path) -> Seed:
    return make_seed(tmp_path)


@pytest.fixture
def server(seed: Seed) -> Iterator[tuple[httpx.Client, ReviewSettings]]:
    settings = ReviewSettings(
        index=ReviewIndex(seed.out), fixtures=seed.root / "fixtures", roots=[seed.root]
    )
    with (
        serve_in_thread(create_app(settings)) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        yield client, settings


# ------------------------------------------------------------------------------ index


def test_index_last_line_wins_and_counts(seed: Seed) -> None:
    lines = seed.lines()
    retried = dict(lines[1], error=None, record={"projects": [], "stats": []})
    with seed.out.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write(json.dumps(retried, ensure_ascii=False) + "\n")
    index = ReviewIndex(seed.out)
    assert [d.doc_id for d in index] == ["alpha", "gamma", "xss", "beta"]
    assert index.corrupt_lines == 1
    assert index.counts == {
        "all": 4,
        "failed": 0,
        "ungrounded": 1,
        "noted": 2,
        "low_confidence": 1,
        "empty": 2,
    }
    assert index.list_names == ["projects", "stats"]
    assert index.line(3)["error"] is None


def test_index_filters_search_and_pages(seed: Seed) -> None:
    index = ReviewIndex(seed.out, low_confidence=0.2)
    assert [d.doc_id for d in index.query("ungrounded").items] == ["alpha"]
    assert [d.doc_id for d in index.query("failed").items] == ["beta"]
    assert [d.doc_id for d in index.query("noted").items] == ["alpha", "xss"]
    assert index.query("low_confidence").items == []  # 0.3 is not below 0.2
    assert [d.doc_id for d in index.query("empty").items] == ["gamma"]
    assert [d.doc_id for d in index.query(q="青山").items] == []  # only in the text
    assert [d.doc_id for d in index.query(q="南木").items] == ["alpha"]
    assert [d.doc_id for d in index.query(q="TIMED OUT").items] == ["beta"]
    page = index.query(page=2, size=3)
    assert (page.page, page.pages, page.total, [d.doc_id for d in page.items]) == (
        2,
        2,
        4,
        ["xss"],
    )
    assert index.query(page=99, size=3).page == 2


def test_ten_thousand_documents_read_once_and_filtered_fast(tmp_path: Path) -> None:
    base = make_seed(tmp_path / "seed").lines()
    out = tmp_path / "big.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for i in range(10_000):
            line = dict(base[i % 4], doc_id=f"doc-{i:05d}")
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    started = time.perf_counter()
    index = ReviewIndex(out)
    built = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        page = index.query("ungrounded", q="南木", page=3)
    queried = (time.perf_counter() - started) / 10
    assert len(index) == 10_000
    assert page.total == 2_500 and len(page.items) == 50
    assert page.items[0].doc_id == "doc-00400"
    # generous bounds (a shared 2-core machine); the README gives measured figures
    assert built < 15, built
    assert queried < 1.0, queried


# ------------------------------------------------------------------------------ sources


def test_source_from_a_jsonl_input_line_and_missing_sources(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        json.dumps({"id": "a", "text": "第一篇"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": "b", "text": "第二篇 <b>x</b>"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    assert read_source("in.jsonl:2", [tmp_path]).text == "第二篇 <b>x</b>"
    missing = read_source("gone.txt", [tmp_path])
    assert missing.text is None and missing.problem == "source not found: gone.txt"
    assert read_source("-", [tmp_path]).problem is not None
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    import hashlib

    good = hashlib.sha256("正文".encode()).hexdigest()
    assert read_source("a.txt", [tmp_path], good).changed is False
    assert read_source("a.txt", [tmp_path], "0" * 64).changed is True


def test_document_view_data(seed: Seed) -> None:
    settings = ReviewSettings(index=ReviewIndex(seed.out), roots=[seed.root])
    doc = settings.document(0)
    text = seed.text("alpha")
    assert doc["text"] == text
    by_path = {r["path"]: r for r in doc["records"]}
    ghost = by_path["projects[2]"]
    assert ghost["start"] is None and ghost["grounding"]["status"] == "not_found"
    first = by_path["projects[0]"]
    assert text[first["start"] : first["end"]].startswith("近日，总投资139亿元")
    assert by_path["projects[1]"]["notes"] == [
        "project '南木纳米项目' amount: 10亿 read as 1000000000"
    ]
    assert by_path["projects[1]"]["confidence"] == 0.3
    lists = {info["name"]: info for info in doc["lists"]}
    assert lists["projects"]["evidence"] == "evidence"
    assert lists["projects"]["kinds"]["amount.value"] == "number"
    assert lists["projects"]["template"]["location"] == {
        "province": None,
        "city": None,
        "district": None,
        "park": None,
    }
    assert lists["projects"]["colour"] != lists["stats"]["colour"]

    # any schema: lists are whatever the record holds
    other = seed.root / "other.jsonl"
    other.write_text(
        json.dumps(
            {
                "doc_id": "o",
                "source": "docs/gamma.txt",
                "record": {"title": "t", "people": [{"who": "张三", "quote": "今天天气"}]},
                "grounding": [{"path": "people[0]", "status": "exact", "start": 0, "end": 4}],
                "notes": [],
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    generic = ReviewSettings(index=ReviewIndex(other), roots=[seed.root]).document(0)
    assert [info["name"] for info in generic["lists"]] == ["people"]
    assert generic["lists"][0]["evidence"] == "quote"
    assert generic["root_fields"] == {"title": "t"}
    assert generic["records"][0]["start"] == 0 and generic["records"][0]["end"] == 4


# ------------------------------------------------------------------------------ fixtures


def test_fixture_names_stay_inside_the_folder(tmp_path: Path) -> None:
    assert fixture_name("2024/03/article") == "2024_03_article"
    assert fixture_name("../../etc/passwd") == "etc_passwd"
    assert fixture_name("..") == "doc"
    assert fixture_name("新闻 一") == "新闻_一"
    folder = tmp_path / "fx"
    saved = save_fixture(folder, "../evil", "正文", {"projects": []}, {})
    assert saved.text_path == (folder / "evil.txt").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fx"]
    outside = tmp_path / "outside.txt"
    (folder / "link.txt").symlink_to(outside)
    with pytest.raises(LlmxError, match="outside the fixture folder"):
        save_fixture(folder, "link", "正文", {"projects": []}, {})
    assert not outside.exists()


def test_saved_fixture_loads_and_fits_the_schema(tmp_path: Path) -> None:
    schema = load_schema("investment")
    record = {
        "projects": [
            {
                "name": "青山智造项目",
                "amount": {"value": None, "currency": None, "qualifier": None, "text": None},
                "evidence": "投资8亿元的青山智造项目开工建设。",
            }
        ],
        "stats": [],
    }
    meta = {"published": "2023-02-07T08:00:00", "title": "t", "tags": ["x"]}
    save_fixture(tmp_path, "a", "投资8亿元的青山智造项目开工建设。", record, meta, schema=schema)
    (fixture,) = load_fixtures(tmp_path, schema=schema)
    assert fixture.gold["projects"][0]["amount"] is None  # a blank object becomes null
    assert fixture.meta == {"published": "2023-02-07", "title": "t"}
    with pytest.raises(LlmxError, match="unknown field 'colour'"):
        save_fixture(tmp_path, "b", "x", {"projects": [{"colour": "red"}]}, {}, schema=schema)
    assert not (tmp_path / "b.gold.json").exists()


# ------------------------------------------------------------------------------ the API


def test_every_route_needs_the_token(server: tuple[httpx.Client, ReviewSettings]) -> None:
    client, settings = server
    routes = [("GET", "/"), ("GET", "/api/docs"), ("GET", "/api/doc/0")]
    for method, path in [*routes, ("POST", "/api/doc/0/fixture")]:
        assert client.request(method, path).status_code == 403
        wrong = client.request(method, path, params={"token": settings.token + "x"})
        assert wrong.status_code == 403
    for method, path in routes:
        ok = client.request(method, path, params={"token": settings.token})
        assert ok.status_code == 200, path
        by_header = client.request(method, path, headers={"X-Llmx-Token": settings.token})
        assert by_header.status_code == 200
    page = client.get("/", params={"token": settings.token})
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    rebound = client.get("/", params={"token": settings.token}, headers={"Host": "evil.test"})
    assert rebound.status_code == 403
    assert settings.fixtures is not None and not settings.fixtures.exists()  # nothing written


def test_api_list_document_and_save(
    server: tuple[httpx.Client, ReviewSettings], seed: Seed
) -> None:
    client, settings = server
    auth = {"X-Llmx-Token": settings.token}
    page = client.get("/api/docs", params={"filter": "failed"}, headers=auth).json()
    assert [d["doc_id"] for d in page["items"]] == ["beta"]
    assert client.get("/api/docs", params={"filter": "nope"}, headers=auth).status_code == 400
    assert client.get("/api/doc/99", headers=auth).status_code == 404
    doc = client.get("/api/doc/0", headers=auth).json()
    assert doc["doc_id"] == "alpha" and doc["text"] == seed.text("alpha")

    record = {"projects": [], "stats": []}
    assert client.post("/api/doc/0/fixture", headers=auth, content="{}").status_code == 415
    body = {"record": record, "path": "../../escape"}  # extra keys name nothing
    saved = client.post("/api/doc/0/fixture", headers=auth, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["saved"] == {
        "name": "alpha",
        "text": "alpha.txt",
        "gold": "alpha.gold.json",
        "replaced": False,
    }
    assert client.post("/api/doc/0/fixture", headers=auth, json=body).json()["saved"]["replaced"]
    assert sorted(p.name for p in seed.root.iterdir()) == ["docs", "fixtures", "out.jsonl"]
    assert client.post("/api/doc/0/fixture", headers=auth, json={"record": []}).status_code == 400


def test_save_needs_a_fixture_folder_and_a_readable_source(seed: Seed) -> None:
    settings = ReviewSettings(index=ReviewIndex(seed.out), roots=[seed.root])
    (seed.root / "docs").rename(seed.root / "moved")
    with (
        serve_in_thread(create_app(settings)) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        auth = {"X-Llmx-Token": settings.token}
        body = {"record": {"projects": []}}
        assert client.post("/api/doc/0/fixture", headers=auth, json=body).status_code == 409
        settings.fixtures = seed.root / "fx"
        refused = client.post("/api/doc/0/fixture", headers=auth, json=body)
        assert refused.status_code == 409 and "source not found" in refused.json()["error"]
        doc = client.get("/api/doc/0", headers=auth).json()
        assert doc["text"] is None and len(doc["records"]) == 4  # records still shown
    assert not (seed.root / "fx").exists()


# ------------------------------------------------------------------------------ the page


def test_static_page_is_self_contained_and_escapes_data(seed: Seed) -> None:
    html = render_static(ReviewSettings(index=ReviewIndex(seed.out), roots=[seed.root]))
    # the only script tags are the page's own (two JSON blocks and the code)
    assert len(re.findall(r"<script\b", html)) == 3
    assert "<script>document.title" not in html
    assert "\\u003cscript\\u003edocument.title=\\u0027pwned-script\\u0027" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "Content-Security-Policy" in html and "connect-src 'none'" in html
    data = re.search(r'<script type="application/json" id="llmx-data">(.*?)</script>', html, re.S)
    assert data is not None
    docs = json.loads(data.group(1))["docs"]
    assert [d["doc_id"] for d in docs] == ["alpha", "beta", "gamma", "xss"]


@pytest.mark.slow
def test_cli_html_and_serve(seed: Seed, tmp_path: Path) -> None:
    page = tmp_path / "share" / "review.html"
    run = subprocess.run(
        [sys.executable, "-m", "llmx", "review", str(seed.out), "--html", str(page)],
        capture_output=True, text=True, timeout=60, cwd=seed.root,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "4 documents" in run.stderr and page.exists()

    proc = subprocess.Popen(
        [sys.executable, "-m", "llmx", "review", str(seed.out), "--no-open", "--fixtures",
         str(tmp_path / "fx")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=seed.root,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", url)
        assert match, url
        docs = httpx.get(url.replace("/?", "/api/docs?"), timeout=10).json()
        assert docs["counts"]["all"] == 4
        assert httpx.get(url.split("?")[0], timeout=10).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_missing_output_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "llmx", "review", str(tmp_path / "none.jsonl"), "--html", "x.html"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2
    assert "cannot read output file" in run.stderr
    assert not (tmp_path / "x.html").exists()
