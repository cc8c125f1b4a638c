"""``llmx review`` in a real headless Chromium (Debian's chromium + chromedriver).

The app is served by uvicorn on 127.0.0.1 exactly as ``llmx review`` serves it;
Selenium drives the browser through the system chromedriver (nothing is
downloaded). The fixture a test saves is then scored by ``llmx eval`` in a
subprocess.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmx._review import ReviewIndex, ReviewSettings, create_app, render_static
from llmx._review.server import serve_in_thread
from tests.review_seed import Seed, make_seed

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
SHOTS = os.environ.get("LLMX_REVIEW_SHOTS")  # read at import: the tests' env is cleaned


class Beacon:
    """A tiny HTTP server that records every request: nothing may call it."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    b = Beacon()
    yield b
    b.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "browser tests need /usr/bin/chromium and /usr/bin/chromedriver "
            "(apt-get install chromium chromium-driver); deselect them with -m 'not browser'"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def seed(tmp_path: Path, beacon: Beacon) -> Seed:
    return make_seed(tmp_path, beacon=beacon.url)


@pytest.fixture
def served(seed: Seed) -> Iterator[tuple[str, ReviewSettings]]:
    settings = ReviewSettings(
        index=ReviewIndex(seed.out), fixtures=seed.root / "fixtures", roots=[seed.root]
    )
    with serve_in_thread(create_app(settings)) as port:
        yield f"http://127.0.0.1:{port}/?token={settings.token}", settings


def wait_for(driver: Any, css: str, timeout: float = 10) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def wait_until(driver: Any, check: Any, timeout: float = 10) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: check(d))


def rows(driver: Any) -> list[str]:
    """doc_ids of the list's rows (read in one script: the list may be redrawing)."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#doclist tbody tr td:first-child a'))"
        ".map(a => a.textContent)"
    )
    return found


def shot(driver: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / name))


def open_doc(driver: Any, url: str, doc_id: str) -> None:
    driver.get(url)
    wait_for(driver, "#doclist")
    driver.find_element("link text", doc_id).click()
    wait_until(driver, lambda d: d.find_elements("css selector", "#docid"))
    assert driver.find_element("css selector", "#docid").text == doc_id


def test_list_counts_filters_and_search(browser: Any, served: tuple[str, Any]) -> None:
    url, _ = served
    browser.get(url)
    wait_for(browser, "#doclist")
    assert rows(browser) == ["alpha", "beta", "gamma", "xss"]
    filters = {
        b.get_attribute("data-filter"): b.text
        for b in browser.find_elements("css selector", "#filters button")
    }
    assert filters["ungrounded"] == "Not grounded (1)"
    assert filters["failed"] == "Failed (1)"
    assert filters["noted"] == "Corrected by normalisers (2)"
    assert filters["low_confidence"] == "Low confidence (1)"
    assert filters["empty"] == "No records (1)"
    shot(browser, "review-list.png")

    browser.find_element("css selector", "#filters button[data-filter='ungrounded']").click()
    wait_until(browser, lambda d: rows(d) == ["alpha"])
    browser.find_element("css selector", "#filters button[data-filter='failed']").click()
    wait_until(browser, lambda d: rows(d) == ["beta"])
    assert "the endpoint timed out" in browser.find_element("css selector", "#doclist").text
    browser.find_element("css selector", "#filters button[data-filter='all']").click()
    wait_until(browser, lambda d: len(rows(d)) == 4)
    browser.find_element("css selector", "#search").send_keys("南木纳米")
    wait_until(browser, lambda d: rows(d) == ["alpha"])


def test_highlights_sit_at_the_grounding_offsets(
    browser: Any, served: tuple[str, Any], seed: Seed
) -> None:
    url, _ = served
    open_doc(browser, url, "alpha")
    text = seed.text("alpha")
    line = seed.lines()[0]
    found = {
        g["path"]: (g["start"], g["end"]) for g in line["grounding"] if g["status"] != "not_found"
    }
    assert set(found) == {"projects[0]", "projects[1]", "stats[0]"}
    marks = browser.find_elements("css selector", "#text .seg.hl")
    spans = {
        (int(m.get_attribute("data-start")), int(m.get_attribute("data-end"))): m for m in marks
    }
    # the text starts with an emoji (two UTF-16 units, one code point): offsets still agree
    assert set(spans) == set(found.values())
    for start, end in found.values():
        assert spans[start, end].text == text[start:end]
    assert browser.find_element("css selector", "#text").text == text.rstrip("\n")
    colours = {
        m.get_attribute("data-list"): m.value_of_css_property("background-color") for m in marks
    }
    assert colours["projects"] != colours["stats"]

    # the record whose evidence was not found is listed apart, not hidden
    missing = browser.find_element("css selector", "#ungrounded")
    assert "幽灵项目" in missing.text
    assert "幽灵项目" not in browser.find_element("css selector", "#grounded").text

    # a click on a highlight shows that record's fields, notes and grounding
    start, end = found["projects[1]"]
    spans[start, end].click()
    panel = wait_for(browser, "#record")
    assert (
        panel.find_element("css selector", "input[data-field='name']").get_attribute("value")
        == "南木纳米项目"
    )
    assert "10亿 read as 1000000000" in panel.text
    assert f"characters {start}–{end}" in panel.text
    assert "confidence: 0.3" in panel.text
    shot(browser, "review-document.png")


def select_text(driver: Any, quote: str) -> None:
    """Select ``quote`` in the text pane with the Selection API, as a mouse drag does."""
    driver.execute_script(
        """
        const pane = document.getElementById('text');
        const quote = arguments[0];
        const full = pane.textContent;
        const at = full.indexOf(quote);
        if (at < 0) throw new Error('quote not in the text');
        const walker = document.createTreeWalker(pane, NodeFilter.SHOW_TEXT);
        const range = document.createRange();
        let seen = 0, node, started = false;
        while ((node = walker.nextNode())) {
          const len = node.data.length;
          if (!started && at < seen + len) { range.setStart(node, at - seen); started = true; }
          if (started && at + quote.length <= seen + len) {
            range.setEnd(node, at + quote.length - seen); break;
          }
          seen += len;
        }
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        """,
        quote,
    )


def set_field(driver: Any, name: str, value: str) -> None:
    field = driver.find_element("css selector", f"#record input[data-field='{name}']")
    field.clear()
    field.send_keys(value)
    driver.find_element("css selector", "#record h3").click()  # blur: fires 'change'


def test_correct_save_fixture_and_eval_scores_it(
    browser: Any, served: tuple[str, Any], seed: Seed, tmp_path: Path
) -> None:
    url, _ = served
    open_doc(browser, url, "alpha")
    text = seed.text("alpha")

    # edit a field of projects[0]
    browser.find_element("css selector", "#grounded .rec[data-path='projects[0]']").click()
    wait_for(browser, "#record")
    set_field(browser, "industry", "新能源汽车")
    # delete the record the text does not support
    browser.find_element("css selector", "#ungrounded .rec[data-path='projects[2]']").click()
    wait_for(browser, "#record #delete").click()
    # add a record from a selection of the source
    quote = "此外，投资8亿元的青山智造项目开工建设。"
    select_text(browser, quote)
    browser.find_element("css selector", "#add").click()
    panel = wait_for(browser, "#record")
    assert "(added)" in panel.text
    evidence = panel.find_element("css selector", "input[data-field='evidence']")
    assert evidence.get_attribute("value") == quote
    start = text.index(quote)
    assert f"characters {start}–{start + len(quote)}" in panel.text
    mark = browser.find_element(
        "css selector", f"#text .seg.hl[data-start='{start}'][data-end='{start + len(quote)}']"
    )
    assert mark.text == quote
    for name, value in {
        "name": "青山智造项目",
        "amount.value": "800000000",
        "amount.currency": "CNY",
        "amount.qualifier": "exact",
        "amount.text": "8亿元",
        "stage": "under_construction",
    }.items():
        set_field(browser, name, value)

    browser.find_element("css selector", "#save").click()
    status = wait_until(
        browser,
        lambda d: (s := d.find_element("css selector", "#status")).text.startswith("Saved") and s,
    )
    assert "alpha.txt" in status.text and "alpha.gold.json" in status.text
    shot(browser, "review-document-corrected.png")

    folder = seed.root / "fixtures"
    assert sorted(p.name for p in folder.iterdir()) == ["alpha.gold.json", "alpha.txt"]
    assert (folder / "alpha.txt").read_text(encoding="utf-8") == text
    gold = json.loads((folder / "alpha.gold.json").read_text(encoding="utf-8"))
    assert gold["meta"]["published"] == "2023-02-07"
    names = [p["name"] for p in gold["record"]["projects"]]
    assert names == ["卫蓝新能源固态电池项目", "南木纳米项目", "青山智造项目"]
    added = gold["record"]["projects"][2]
    assert added["amount"] == {
        "value": 800000000,
        "currency": "CNY",
        "qualifier": "exact",
        "text": "8亿元",
    }
    assert added["evidence"] == quote
    assert gold["record"]["projects"][0]["industry"] == "新能源汽车"

    # the next eval scores the prediction against the corrected record
    report_dir = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "llmx", "eval", "--fixtures", str(folder), "--schema",
         "investment", "--predictions", str(seed.out), "--report-dir", str(report_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    (doc,) = report["documents"]
    diffs = {(d["field"], d["outcome"]): d for d in doc["diffs"]}
    assert diffs["projects.industry", "wrong"]["gold"] == "新能源汽车"
    assert diffs["projects.industry", "wrong"]["pred"] == "电池"
    assert diffs["projects.name", "missed"]["gold"] == "青山智造项目"
    assert diffs["projects.name", "spurious"]["pred"] == "幽灵项目"
    assert report["summary"]["records"]["projects"]["gold"] == 3


def test_xss_document_shows_markup_as_text_and_runs_nothing(
    browser: Any, served: tuple[str, Any], beacon: Beacon
) -> None:
    url, _ = served
    browser.get(url)
    wait_for(browser, "#doclist")
    assert (
        "<script>document.title='pwned-meta'</script>"
        in browser.find_element("css selector", "#doclist").text
    )
    open_doc(browser, url, "xss")
    pane = browser.find_element("css selector", "#text")
    assert "<script>document.title='pwned-script'</script>" in pane.text
    assert "onerror=\"document.title='pwned-img'\"" in pane.text
    browser.find_element("css selector", "#text .seg.hl").click()
    panel = wait_for(browser, "#record")
    name = panel.find_element("css selector", "input[data-field='name']").get_attribute("value")
    assert name.startswith("<img src=x onerror=")
    assert (
        "<script>document.title='pwned-note'</script>"
        in browser.find_element("css selector", "#side").text
    )
    assert browser.find_elements("css selector", "#app img, #app script") == []
    assert "<b>bold?</b>" in browser.find_element("css selector", ".meta").text
    assert "pwned" not in browser.title
    assert browser.title == "llmx review · xss"
    assert beacon.hits == []


def test_static_page_same_views_read_only_no_network(
    browser: Any, seed: Seed, beacon: Beacon, tmp_path: Path
) -> None:
    settings = ReviewSettings(index=ReviewIndex(seed.out), roots=[seed.root])
    page = tmp_path / "review.html"
    page.write_text(render_static(settings), encoding="utf-8")
    browser.get(page.as_uri())
    wait_for(browser, "#doclist")
    assert rows(browser) == ["alpha", "beta", "gamma", "xss"]
    browser.find_element("css selector", "#filters button[data-filter='ungrounded']").click()
    wait_until(browser, lambda d: rows(d) == ["alpha"])
    browser.find_element("link text", "alpha").click()
    wait_for(browser, "#text .seg.hl")
    text = seed.text("alpha")
    for m in browser.find_elements("css selector", "#text .seg.hl"):
        start, end = int(m.get_attribute("data-start")), int(m.get_attribute("data-end"))
        assert m.text == text[start:end]
    assert browser.find_elements("css selector", "#save, #add, #record input") == []
    browser.get(page.as_uri() + "#/doc/3")
    wait_until(browser, lambda d: d.find_elements("css selector", "#docid"))
    assert (
        "<script>document.title='pwned-script'</script>"
        in browser.find_element("css selector", "#text").text
    )
    assert "pwned" not in browser.title
    assert beacon.hits == []


def test_eval_report_draws_scores_and_sources(browser: Any, tmp_path: Path) -> None:
    from llmx.evals import to_html
    from tests.test_eval_html import GOLD, TEXTS, make

    base, _ = make(tmp_path / "base", pred={k: GOLD[k] for k in GOLD})
    report, views = make(tmp_path / "now")
    page = tmp_path / "report.html"
    page.write_text(to_html(report, baseline=base, sources=views), encoding="utf-8")
    browser.get(page.as_uri())
    wait_for(browser, "#doc-chart")
    for chart in ("#doc-chart", "#baseline-chart"):
        size = browser.find_element("css selector", chart).size
        assert size["width"] > 500 and size["height"] > 60
    bars = browser.find_elements("css selector", "#doc-chart rect.bar-f1")
    widths = [float(b.get_attribute("width")) for b in bars]
    assert len(widths) == 2 and widths[1] > widths[0] > 0
    gold = browser.find_elements("css selector", "#doc-a + .sources .gold mark")
    assert [m.text for m in gold] == ["甲公司签约乙项目，投资5亿元", "张三说：很好"]
    for m in gold:
        start, end = int(m.get_attribute("data-start")), int(m.get_attribute("data-end"))
        assert TEXTS["a"][start:end] == m.text
    pred = browser.find_elements("css selector", "#doc-a + .sources .predicted mark")
    assert [m.text for m in pred] == ["甲公司签约乙项目"]
    assert "<script>alert(1)</script>" in browser.find_element("css selector", ".sources").text
    browser.execute_script("document.querySelector('#doc-chart').scrollIntoView()")
    shot(browser, "eval-report.png")
    browser.execute_script("document.querySelector('.sources').scrollIntoView()")
    shot(browser, "eval-report-sources.png")
