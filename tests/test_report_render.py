"""Unit tests of the HTML report renderer and the atomic writers (no browser needed; the CLI: tests/test_cli.py)."""

from __future__ import annotations

import copy
import json
import math
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nnconform import atomic, schema
from reports import render
from reports.render import aggregate_status, load_results, render_report, summarize, write_report

FIXTURE = Path(__file__).parent / "fixtures" / "sample_results.json"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_MSG = "</script><img src=x onerror=alert(1)>"


@pytest.fixture()
def sample():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


class Page(HTMLParser):
    """Tags with attributes, script bodies, all text, and the matrix sub-cells by (row, backend, group)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.text: list[str] = []
        self.cells: dict[tuple[str, str, str], dict] = {}
        self.ids: set[str] = set()
        self._row = None
        self._script = None
        self._cell = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr":
            self._row = a.get("id")
        if tag == "script":
            self._script = (a, [])
        if tag == "td" and "data-group" in a:
            self._cell = {"class": a.get("class", ""), "text": []}
            self.cells[(self._row, a["data-backend"], a["data-group"])] = self._cell

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"].append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def cell(self, row: str, backend: str, group: str) -> dict:
        c = self.cells[(row, backend, group)]
        return {"class": c["class"], "text": " ".join("".join(c["text"]).split())}


@pytest.fixture()
def page(sample):
    return Page(render_report(sample))


# ------------------------------------------------------------------------------------------ matrix
def _row(page: Page, op: str) -> str:
    """The matrix row id of ``op`` (rows are op0, op1... in the renderer's op order)."""
    model = render.build_model(json.loads(FIXTURE.read_text(encoding="utf-8")))
    return "row-" + next(r["id"] for r in model["matrix"] if r["op"] == op)


@pytest.mark.parametrize("op, backend, group, status, text", [
    ("conv", "numpy", "forward", "fail", "FAIL"),
    ("conv", "numpy", "gradient", "pass", "pass"),
    ("conv", "numpy", "worked", "pass", "pass"),
    ("conv", "numpy", "bad_input", "pass", "pass"),
    ("conv", "torch-cpu", "forward", "pass", "pass"),
    ("dropout", "numpy", "properties", "error", "ERROR (timeout)"),
    ("batch_norm_eval", "numpy", "forward", "not_implemented", "n/i"),
    ("batch_norm", "torch-cpu", "forward", "expected_deviation", "exp. dev."),
    ("batch_norm_eval", "torch-cpu", "bad_input", "skipped", "skip"),
    ("relu", "numpy", "worked", "none", "—"),
])
def test_matrix_cell_status(page, op, backend, group, status, text):
    cell = page.cell(_row(page, op), backend, group)
    assert f"st-{status}" in cell["class"].split()
    assert text in cell["text"]


def test_matrix_shows_examples_and_worst_ratio(page):
    cell = page.cell(_row(page, "conv"), "numpy", "forward")
    assert "n=217" in cell["text"]  # 200 small + 17 realistic examples
    assert "312×tol" in cell["text"]


def test_unavailable_and_error_backends_get_a_marked_column(page, sample):
    text = page.all_text
    assert "unavailable: torch.cuda.is_available() is False: no CUDA device" in text
    # every op row carries an "unavailable" badge for torch-cuda and an "error" badge for the broken plug-in
    model = render.build_model(sample)
    cuda = next(b for b in model["backends"] if b["name"] == "torch-cuda")
    evil = next(b for b in model["backends"] if b["name"] == HOSTILE_NAME)
    assert cuda["collapsed"] and evil["collapsed"]
    for row in model["matrix"]:
        statuses = [c["status"] for c in row["cells"] if c["collapsed"]]
        assert statuses == ["unavailable", "error"]


def test_aggregate_rule():
    assert aggregate_status(["pass", "fail", "expected_deviation"]) == "fail"
    assert aggregate_status(["pass", "error"]) == "error"
    assert aggregate_status(["pass", "expected_deviation"]) == "expected_deviation"
    assert aggregate_status(["pass", "not_implemented", "skipped"]) == "pass"
    assert aggregate_status(["not_implemented", "not_implemented"]) == "not_implemented"
    assert aggregate_status(["skipped"]) == "skipped"
    assert aggregate_status(["unavailable"]) == "unavailable"
    assert aggregate_status([]) == "none"


def test_summary_counts_and_failing_cells(sample):
    s = summarize(sample)
    # 16 passing checks + 6 passing observation rows (3 semantics, 3 agreement)
    assert s["counts"]["fail"] == 1 and s["counts"]["error"] == 1 and s["counts"]["pass"] == 22
    assert ("numpy", "conv", "forward", "fail") in s["failing_cells"]
    assert ("numpy", "dropout", schema.CHECK_GROUPS["properties"][1], "error") in s["failing_cells"]
    assert s["n_bad"] == 2 and s["complete"] is True


# ------------------------------------------------------------------------------------------ details
def test_failure_details_repro_and_side_by_side(page, sample):
    failing = next(r for r in sample["results"] if r["status"] == "fail")
    codes = [t for t in page.tags if t[0] == "button" and t[1].get("class") == "copy"]
    assert any(b[1]["data-copy"] == failing["repro"] for b in codes)
    text = page.all_text
    assert failing["repro"] in text
    assert failing["expected"] in text and failing["actual"] in text
    assert "Falsifying example (shrunk)" in text and "ConvCase(" in text
    assert "AssertionError: mismatch at (0, 1, 3, 3)" in text  # traceback
    assert "mismatch" in text
    # the matrix links to the drill-down anchor, which exists and is open
    links = {a.get("href") for t, a in page.tags if t == "a"}
    details = [(t, a) for t, a in page.tags if t == "details" and a.get("id", "").startswith("c-")]
    assert details and all("#" + a["id"] in links for _, a in details)
    bad = [a for _, a in details if "bad" in a.get("class", "")]
    assert bad and all("open" in a for a in bad)


def test_expected_deviation_shows_reason(page):
    assert "bfloat16 keeps 8 mantissa bits" in page.all_text
    assert "Declared expected deviations" in page.all_text


def test_header_run_info_and_backend_metadata(page):
    text = page.all_text
    for needle in ("ci-runner-7", "AMD EPYC 7B13", "3.11.9", "12345", "310d764", "2.13.0+cpu",
                   "nnconform run --profile ci", "cudnn.allow_tf32", "openblas 0.3.27", "float32, float64"):
        assert needle in text, needle


def test_worked_examples_equal_different_and_printed(page, sample):
    text = page.all_text
    assert "conv1d-periodic" in text and "slide prints:" in text
    assert "different" in text and "equal" in text
    model = render.build_model(sample)
    periodic = next(e for e in model["worked_examples"]["examples"] if e["id"] == "conv1d-periodic")
    assert periodic["outputs"]["numpy"]["equal"] is True
    assert periodic["outputs"]["torch-cpu"]["equal"] is False
    assert periodic["printed"]  # the slide's printed version differs and is shown


def test_errata_decisions_and_benchmarks(page):
    text = page.all_text
    assert "E1" in text and "use x_5 = -4" in text
    assert "max-pool ties" in text and "<b>like torch</b>" in text  # decision text shown as text
    assert "N=32 C=64->64 32x32 k3 same" in text and "GFLOP/s" in text
    assert "15.2 ms" in text and "2.4×" in text
    assert any(t == "svg" and "bars" in a.get("class", "") for t, a in page.tags)
    assert any(t == "svg" and "heatmap" in a.get("class", "") for t, a in page.tags)


def test_performance_falls_back_to_run_timings(sample):
    sample["benchmarks"] = None
    text = Page(render_report(sample)).all_text
    assert "from the run's own timings" in text


# ------------------------------------------------------------------------------------------ hostile
def test_hostile_strings_are_escaped(sample):
    raw = render_report(sample)
    page = Page(raw)
    # nothing injected: no <img> at all, and only the report's own two script elements
    assert not [a for t, a in page.tags if t == "img"]
    assert not [a for t, a in page.tags if any(k.startswith("on") for k in a)]
    assert len(page.scripts) == 2
    assert all("alert(" not in body for attrs, body in page.scripts if attrs.get("type") != "application/json")
    assert "<script>alert" not in raw and "<img src=x" not in raw
    # ...and the strings are still there, as text
    text = page.all_text
    assert HOSTILE_NAME in text
    assert HOSTILE_MSG in text
    assert "note='<img src=x onerror=alert(2)>'" in text
    assert "RuntimeError: <img src=x onerror=alert(3)>" in text


def test_embedded_json_is_script_safe(sample):
    sample["results"][1]["backend"] = HOSTILE_MSG  # the failing record now names a hostile backend
    raw = render_report(sample)
    page = Page(raw)
    data = next(body for attrs, body in page.scripts if attrs.get("type") == "application/json")
    assert "<" not in data and ">" not in data and "&" not in data.replace("\\u0026", "")
    parsed = json.loads(data)
    assert [HOSTILE_MSG, "conv", "forward"] in parsed["failing_cells"]
    assert "</script><img" not in raw


def test_svg_text_is_escaped(sample):
    model = render.build_model(sample)
    svg = str(model["heatmap"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;"[:20] in svg
    assert "<script" not in svg


# --------------------------------------------------------------------------------------- robustness
def test_incomplete_banner(sample):
    assert "incomplete-banner" not in Page(render_report(sample)).ids
    sample["complete"] = False
    page = Page(render_report(sample))
    assert "incomplete-banner" in page.ids and "INCOMPLETE RUN" in page.all_text


@pytest.mark.parametrize("results", [
    {}, {"results": None}, {"results": [None, 3, "x", {}]}, {"backends": None, "run": None, "worked_examples": None},
    {"schema": "something/else", "results": [{"status": "weird"}]}, [], None,
])
def test_odd_input_renders(results):
    out = render_report(results)
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")


def test_nan_inf_none_and_huge_messages(sample):
    r = sample["results"][1]
    r.update(tol_ratio=math.nan, max_abs_err=math.inf, max_rel_err=None, examples="many", duration_s="NaN",
             message="x" * 50_000, traceback=None, tolerance="not a dict")
    sample["results"][0]["tol_ratio"] = "Infinity"
    sample["worked_examples"][0]["outputs"]["numpy"] = [math.nan, None, "a"]
    sample["benchmarks"]["rows"][0]["median_s"] = math.inf
    sample["run"]["versions"] = ["not", "a", "dict"]
    out = render_report(sample)
    text = Page(out).all_text
    assert "truncated: 48000 more characters" in text
    assert "x" * 50_000 not in out
    assert "NaN" in text and "∞" in text


def test_deterministic(sample):
    assert render_report(sample) == render_report(copy.deepcopy(sample))


# ------------------------------------------------------------------------------------------- atomic
def _leftovers(d: Path):
    return [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def test_write_report_replaces_existing_file(tmp_path, sample):
    target = tmp_path / "index.html"
    target.write_text("old", encoding="utf-8")
    assert write_report(sample, target) == target
    assert target.read_text(encoding="utf-8") == render_report(sample)
    assert _leftovers(tmp_path) == []


def test_crash_while_rendering_leaves_old_file(tmp_path, sample, monkeypatch):
    target = tmp_path / "index.html"
    target.write_text("old", encoding="utf-8")

    def boom(results):
        raise RuntimeError("renderer crashed")
    monkeypatch.setattr(render, "render_report", boom)
    with pytest.raises(RuntimeError):
        render.write_report(sample, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


def test_crash_while_writing_leaves_old_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("old", encoding="utf-8")

    def bad_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(atomic.os, "replace", bad_replace)
    with pytest.raises(OSError):
        atomic.write_json_atomic(target, {"a": 1})
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


def test_write_json_atomic_is_strict_json(tmp_path):
    path = atomic.write_json_atomic(tmp_path / "sub" / "r.json", {"a": math.nan, "b": (1, math.inf), "c": None})
    data = json.loads(path.read_text(encoding="utf-8"))  # strict: no bare NaN tokens
    assert data == {"a": "NaN", "b": [1, "Infinity"], "c": None}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_load_partial_jsonl(tmp_path, sample):
    lines = [json.dumps({k: v for k, v in sample.items() if k != "results"})]
    lines += [json.dumps(r) for r in sample["results"][:5]]
    lines.append('{"backend": "numpy", "status": "pa')  # killed mid-write
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    data = load_results(path)
    assert data["complete"] is False and len(data["results"]) == 5
    assert "INCOMPLETE RUN" in Page(render_report(data)).all_text


# ------------------------------------------------------------- semantics table and agreement (reportx)
class Tables(HTMLParser):
    """Every table with an id: rows of (tag, class, text, title) cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[tuple[str, str, str, str]]]] = {}
        self._stack: list[str | None] = []
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._stack.append(a.get("id"))
            if a.get("id"):
                self.tables[a["id"]] = []
        elif tag == "tr" and self._stack and self._stack[-1]:
            self.tables[self._stack[-1]].append([])
        elif tag in ("td", "th") and self._stack and self._stack[-1]:
            self._cell = [tag, a.get("class", ""), [], a.get("title", "")]

    def handle_endtag(self, tag):
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag in ("td", "th") and self._cell is not None:
            tag_, cls, text, title = self._cell
            self.tables[self._stack[-1]][-1].append((tag_, cls, " ".join("".join(text).split()), title))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2].append(data)


def _semantics_rows(html: str) -> dict[str, list]:
    table = Tables(html).tables["semantics-table"]
    return {row[0][2].split("  ")[0]: row for row in table[1:]}, [c[2] for c in table[0]]


def _point_row(rows, point):
    return next(r for label, r in rows.items() if label.startswith(point))


def test_semantics_table_spec_first_and_differences_marked(sample):
    rows, header = _semantics_rows(render_report(sample))
    assert header[0] == "point" and header[1].startswith("spec") and "reference" in header[1]
    assert header[2:] == ["numpy as spec", "torch-cpu ≠ at 2 points"]  # backends in the file's order
    nan_grad = _point_row(rows, "max-pool gradient, NaN in the window")
    spec_cell, numpy_cell, torch_cell = nan_grad[1:4]
    assert spec_cell[2] == "first NaN" and numpy_cell[2] == "first NaN"
    assert "sem-diff" in torch_cell[1] and torch_cell[2] == "≠ last NaN"
    assert "sem-diff" not in numpy_cell[1] and "sem-diff" not in spec_cell[1]
    assert "x=[1,NaN,3,NaN]" in torch_cell[3]  # the measured numbers, on hover
    ties = _point_row(rows, "max-pool gradient on ties")
    assert [c[2] for c in ties[1:]] == ["first", "first", "first"] and not any("sem-diff" in c[1] for c in ties)
    assert "2 backends differ" not in ties[0][2]
    assert "1 backend differs" in _point_row(rows, "relu'(NaN)")[0][2]


def test_semantics_and_agreement_rows_stay_out_of_the_matrix(sample):
    model = render.build_model(sample)
    assert "*" not in [r["op"] for r in model["matrix"]]
    assert {"spec", "*"}.isdisjoint(b["name"] for b in model["backends"])
    assert model["total"] == len(sample["results"])  # ...but they are counted


def test_semantics_probe_errors_and_missing_reference_are_shown(sample):
    sem = [r for r in sample["results"] if r["check"] == "semantics"]
    sem[1]["extra"]["semantics"]["relu'(0)"] = "error: KeyError"
    sem[1]["extra"]["semantics"]["relu(NaN)"] = "n/i"
    rows, _ = _semantics_rows(render_report(sample))
    assert "sem-error" in _point_row(rows, "relu'(0)")[2][1]
    cell = _point_row(rows, "relu(NaN)")[2]
    assert "sem-ni" in cell[1] and "sem-diff" not in cell[1]  # not implemented is not a different semantics
    sample["results"] = [r for r in sample["results"] if r["backend"] != "spec"]
    html = render_report(sample)
    assert "no reference column" in html and "sem-diff" not in html.split('id="semantics-table"')[1].split("</table>")[0]


def _card(html: str, op: str, dtype: str):
    tables = Tables(html).tables
    model = render.build_model(json.loads(FIXTURE.read_text(encoding="utf-8")))
    card = next(c for g in model["agreement"]["groups"] for c in g["cards"] if (c["op"], c["dtype"]) == (op, dtype))
    rows = tables[card["id"]]
    head = [c[2] for c in rows[0][1:]]
    return {r[0][2].split()[1]: dict(zip(head, r[1:], strict=True)) for r in rows[1:]}, head


def test_agreement_matrix_forward_below_gradient_above(sample):
    html = render_report(sample)
    m, head = _card(html, "sigmoid", "float32")
    assert head == ["S", "A", "B"]  # spec, numpy, torch-cpu
    below = m["torch-cpu"]["S"]  # row torch-cpu, column spec: below the diagonal = forward
    assert below[2] == "2.6" and "ag-far" in below[1] and "ag-forward" in below[1]
    assert m["torch-cpu"]["A"][2] == "2.5" and "ag-far" in m["torch-cpu"]["A"][1]
    assert m["numpy"]["S"][2] == "0.39" and "ag-ok" in m["numpy"]["S"][1]
    above = m["spec"]["B"]  # row spec, column torch-cpu: above = gradient
    assert "ag-gradient" in above[1] and "ag-ok" in above[1]
    assert "ag-diag" in m["numpy"]["A"][1]
    mp, _ = _card(html, "max_pool", "float32")
    assert mp["numpy"]["B"][2] == "≠" and "ag-inf" in mp["numpy"]["B"][1]  # NaN pattern differs in the VJP


def test_agreement_lists_pairs_beyond_one_tolerance(sample):
    html = render_report(sample)
    text = Page(html).all_text
    assert "4 pairs more than one tolerance apart" in text
    assert "S = spec" in text and "A = numpy" in text and "B = torch-cpu" in text
    ag = render.build_model(sample)["agreement"]
    assert [(d["op"], d["mode"], d["a"], d["b"]) for d in ag["disagreements"]][:2] == [
        ("max_pool", "gradient", "spec", "torch-cpu"), ("max_pool", "gradient", "numpy", "torch-cpu")]


def test_failed_observation_rows_are_failing_cells(sample):
    sample["results"].append({"backend": "*", "op": "conv", "dtype": "float32", "check": "agreement",
                              "status": "error", "category": "crash", "message": "worker crashed"})
    s = summarize(sample)
    assert ("*", "conv", "agreement", "error") in s["failing_cells"] and s["n_bad"] == 3
    data = next(body for attrs, body in Page(render_report(sample)).scripts if attrs.get("type") == "application/json")
    assert ["*", "conv", "agreement"] in json.loads(data)["failing_cells"]
    assert "worker crashed" in Page(render_report(sample)).all_text


@pytest.mark.parametrize("extra", [
    {"semantics": None}, {"semantics": {"a": None, 3: [1, 2]}, "semantics_detail": "x", "semantics_help": 7},
    {"agreement": {"columns": None, "pairs": {"forward": [[1], "x", ["a", "b", "NaN"]]}, "status": [1]}},
    {"agreement": {"columns": ["spec", 3, None], "pairs": None, "cases": "many"}}, {"agreement": []},
])
def test_odd_observation_rows_render(sample, extra):
    for check in ("semantics", "agreement"):
        sample["results"].append({"backend": "x", "op": "*", "check": check, "status": "pass", "extra": extra})
    out = render_report(sample)
    assert out.rstrip().endswith("</html>")


def test_a_backend_whose_probes_crashed_keeps_its_semantics_column(sample):
    sample["results"].append({"backend": "gallery-crashes", "op": "*", "dtype": "-", "check": "semantics",
                              "status": "error", "category": "crash", "message": "worker 'gw1' crashed"})
    rows, header = _semantics_rows(render_report(sample))
    assert header[-1] == "gallery-crashes probes did not run"
    cell = _point_row(rows, "relu'(0)")[-1]
    assert "sem-error" in cell[1] and cell[2] == "error: crash" and "crashed" in cell[3]
