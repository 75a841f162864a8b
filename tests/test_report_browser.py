"""The rendered report in a real headless Chromium: no console errors, the filter and sorting work.

Needs playwright (pip) and Debian's /usr/bin/chromium (never `playwright install`). Skipped when either
is missing, unless the environment variable CI is set: then missing pieces are a failure.
Saves a screenshot to reports/screenshot.png and docs/report-screenshot.png (used by the README).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reports.render import build_model, write_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "sample_results.json"
CHROMIUM = os.environ.get("NNCONFORM_CHROMIUM", "/usr/bin/chromium")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; no browser download needed)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def sample():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture()
def page(browser, sample, tmp_path):
    path = write_report(sample, tmp_path / "index.html")
    pg = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.goto(path.as_uri())
    pg.wait_for_load_state("load")
    pg.errors, pg.dialogs = errors, dialogs
    yield pg
    pg.close()


def _row_id(sample, op):
    return "row-" + next(r["id"] for r in build_model(sample)["matrix"] if r["op"] == op)


def test_loads_without_errors_and_matrix_visible(page):
    assert page.errors == []
    assert page.dialogs == []  # no injected alert() ran
    assert page.locator("#matrix-table").is_visible()
    assert page.locator("#matrix-table tbody tr").count() >= 5
    assert "INCOMPLETE RUN" not in page.inner_text("body")
    # the copy buttons are revealed by the script
    assert page.locator("button.copy").first.is_visible()


def test_screenshot(page):
    out = ROOT / "reports" / "screenshot.png"
    box = page.locator("#heatmap").bounding_box()  # the top of the page down to the end of the heat map
    page.screenshot(path=str(out), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1440, "height": box["y"] + box["height"] + 16})
    assert out.stat().st_size > 10_000
    docs = ROOT / "docs" / "report-screenshot.png"
    docs.parent.mkdir(exist_ok=True)
    shutil.copyfile(out, docs)


def test_failures_only_filter(page, sample):
    passing, failing = _row_id(sample, "relu"), _row_id(sample, "conv")
    errored = _row_id(sample, "dropout")
    assert page.locator(f"#{passing}").is_visible()
    page.check("#failures-only")
    assert not page.locator(f"#{passing}").is_visible()
    assert page.locator(f"#{failing}").is_visible()
    assert page.locator(f"#{errored}").is_visible()
    # drill-down: passing cells hidden, failing ones shown
    assert page.locator("details.cell.ok").first.is_hidden()
    assert page.locator("details.cell.bad").first.is_visible()
    page.uncheck("#failures-only")
    assert page.locator(f"#{passing}").is_visible()


def test_sorting(page):
    def medians():
        return [float(v) for v in page.eval_on_selector_all(
            "#perf-table tbody tr td:nth-child(6)", "els => els.map(e => e.getAttribute('data-sort'))")]
    header = page.locator("#perf-table th", has_text="median")
    header.click()
    asc = medians()
    assert asc == sorted(asc) and len(asc) > 2
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert medians() == sorted(asc, reverse=True)
    # the matrix sorts by op name
    page.locator("#matrix-table th", has_text="Op").first.click()
    ops = page.eval_on_selector_all("#matrix-table tbody th.opname", "els => els.map(e => e.textContent.trim())")
    assert ops == sorted(ops, key=str.lower)


def test_matrix_link_opens_details(page, sample):
    anchor = next(d["anchor"] for d in build_model(sample)["details"] if d["status"] == "pass")
    assert page.locator(f"#{anchor}").get_attribute("open") is None
    page.click(f"a[href='#{anchor}']")
    page.wait_for_function(f"document.getElementById('{anchor}').open === true")


def test_readable_without_javascript(browser, sample, tmp_path):
    path = write_report(sample, tmp_path / "index.html")
    ctx = browser.new_context(java_script_enabled=False)
    pg = ctx.new_page()
    pg.goto(path.as_uri())
    text = pg.inner_text("body")
    assert "Summary matrix" in text and "conv" in text
    assert "python -m pytest 'conformance/test_ops.py::test_forward[numpy-conv-float32-realistic]'" in text
    assert pg.locator("details.cell.bad").first.is_visible()
    ctx.close()


# ------------------------------------------------------------- semantics table and agreement (reportx)
def _background(page, selector):
    return page.eval_on_selector(selector, "el => getComputedStyle(el).backgroundColor")


def test_semantics_table_highlights_differences_and_filters(page):
    table = page.locator("#semantics-table")
    table.scroll_into_view_if_needed()
    assert table.is_visible()
    differing = page.locator("#semantics-table td.sem-diff")
    assert differing.count() == 2  # torch-cpu: last NaN gets the gradient; relu'(NaN) = 1
    assert "last NaN" in differing.first.inner_text()
    same = "#semantics-table tr.sem-same td:not(.sem-ref)"
    assert _background(page, "#semantics-table td.sem-diff") != _background(page, same)
    n_rows = page.locator("#semantics-table tbody tr").count()
    assert n_rows >= 15 and page.locator("#semantics-table tbody tr.sem-same").first.is_visible()
    page.check("#semantics-differs-only")
    visible = page.eval_on_selector_all("#semantics-table tbody tr", "rs => rs.filter(r => r.offsetParent !== null)"
                                        ".map(r => r.querySelector('th').textContent)")
    assert len(visible) == 2 and all("differ" in v for v in visible)
    page.uncheck("#semantics-differs-only")
    assert page.locator("#semantics-table tbody tr.sem-same").first.is_visible()
    # the measured numbers are there on hover
    assert "x=[1,NaN,3,NaN]" in differing.first.get_attribute("title")


def test_agreement_matrices_show_bands(page, sample):
    section = page.locator("#agreement")
    section.scroll_into_view_if_needed()
    assert page.locator("table.ag-matrix").count() == 3  # conv, sigmoid, max_pool in float32
    card = page.locator("table.ag-matrix[data-op='sigmoid']")
    assert card.is_visible()
    far = card.locator("td.ag-far").first
    ok = card.locator("td.ag-ok").first
    assert far.inner_text() in ("2.6", "2.5") and _background(page, "table.ag-matrix[data-op='sigmoid'] td.ag-far") \
        != _background(page, "table.ag-matrix[data-op='sigmoid'] td.ag-ok")
    assert "forward" in far.get_attribute("title") and ok.is_visible()
    # spec-torch-cpu and numpy-torch-cpu differ in NaN pattern, gradients only: two cells above the diagonal
    assert page.locator("table.ag-matrix[data-op='max_pool'] td.ag-inf.ag-gradient").count() == 2
    assert page.locator("#agreement-disagreements").is_visible()
    assert "pairs more than one tolerance apart" in page.inner_text("#agreement-disagreements summary")


def test_screenshot_of_semantics_and_agreement(page):
    out = ROOT / "docs" / "report-semantics.png"
    top, bottom = page.locator("#semantics").bounding_box(), page.locator("#agreement").bounding_box()
    height = bottom["y"] + bottom["height"] - top["y"] + 16
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": top["y"] - 8, "width": 1440, "height": height})
    assert out.stat().st_size > 10_000
