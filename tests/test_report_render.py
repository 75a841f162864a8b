"""Unit tests of the HTML report renderer, the atomic writers and the CLI (no browser needed)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import atomic, cli, render
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
    assert s["counts"]["fail"] == 1 and s["counts"]["error"] == 1 and s["counts"]["pass"] == 16
    assert ("numpy", "conv", "forward", "fail") in s["failing_cells"]
    assert ("numpy", "dropout", "properties", "error") in s["failing_cells"]
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


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_report_is_byte_identical(tmp_path, sample, capsys):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert cli.main(["report", str(FIXTURE), "--out", str(a)]) == 0
    assert cli.main(["report", str(FIXTURE), "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes() == render_report(sample).encode("utf-8")
    assert "report:" in capsys.readouterr().out


def test_cli_report_default_out_and_console_entry(tmp_path):
    src = tmp_path / "results.json"
    src.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "reports.cli", "report", str(src)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == render_report(json.loads(src.read_text()))


def test_cli_report_uses_partial_jsonl(tmp_path, sample):
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in sample["results"]), encoding="utf-8")
    assert cli.main(["report", str(tmp_path / "results.json")]) == 0
    assert "INCOMPLETE RUN" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "missing.json")]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert cli.main(["report", str(bad)]) == 2
    assert cli.main(["run", "-n", "many"]) == 2


def test_build_pytest_command(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_has_xdist", lambda: True)
    cmd = cli.build_pytest_command(backends=["numpy", "torch-cpu"], profile="dev", out=tmp_path, n="3",
                                   hypothesis_seed=7, extra=["-x"])
    assert cmd[:4] == [sys.executable, "-m", "pytest", str(cli.conformance_dir())]
    joined = " ".join(cmd)
    assert "-n 3" in joined and "--conformance-profile dev" in joined
    assert f"--results-json {tmp_path / 'results.json'}" in joined
    assert f"--report-html {tmp_path / 'index.html'}" in joined
    assert "--backend numpy --backend torch-cpu" in joined and "--hypothesis-seed 7" in joined
    assert cmd[-1] == "-x"
    monkeypatch.setattr(cli, "_has_xdist", lambda: False)
    assert "-n" not in cli.build_pytest_command(out=tmp_path)


@pytest.mark.parametrize("pytest_rc, mutate, expected", [
    (1, None, 1),                                  # failures in results.json
    (0, "all_pass", 0),
    (4, None, 2),                                  # pytest usage error
    (0, "no_file", 2),                             # the plugin wrote nothing
])
def test_cli_run_exit_codes(monkeypatch, tmp_path, sample, capsys, pytest_rc, mutate, expected):
    calls = []

    def fake_call(cmd):
        calls.append(cmd)
        out = Path(cmd[cmd.index("--results-json") + 1])
        if mutate != "no_file":
            data = copy.deepcopy(sample)
            if mutate == "all_pass":
                data["results"] = [dict(r, status="pass") for r in data["results"]]
            atomic.write_json_atomic(out, data)
        return pytest_rc
    monkeypatch.setattr(cli.subprocess, "call", fake_call)
    rc = cli.main(["run", "--backend", "numpy", "--out", str(tmp_path), "--", "-k", "conv"])
    assert rc == expected
    assert calls and calls[0][-2:] == ["-k", "conv"]
    out = capsys.readouterr().out
    if expected in (0, 1):
        assert (tmp_path / "index.html").exists()  # rendered here when the plugin did not
        assert "report:" in out
    if expected == 1:
        assert "numpy / conv / forward" in out


def test_cli_bench_missing_module(monkeypatch, capsys):
    real = cli.importlib.import_module

    def fake_import(name, *a, **k):
        if name == "benchmarks.cli":
            raise ModuleNotFoundError("No module named 'benchmarks.cli'", name="benchmarks.cli")
        return real(name, *a, **k)
    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["bench", "--quick"]) == 2
    assert "benchmarks.cli" in capsys.readouterr().err


def test_cli_bench_delegates(monkeypatch):
    seen = []
    fake = type(sys)("fake_bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: fake)
    assert cli.main(["bench", "--quick", "--out", "x.json"]) == 0
    assert seen == [["--quick", "--out", "x.json"]]


def test_cli_backends_lists_statuses(capsys):
    assert cli.main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "status" in out and "numpy" in out

