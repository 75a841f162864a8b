"""The ``nnconform`` command (nnconform/cli.py): output folder, exit codes, one-line errors, input validation."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nnconform
from nnconform import atomic, cli
from reports.render import render_report

FIXTURE = Path(__file__).parent / "fixtures" / "sample_results.json"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def sample():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnconform: error: ") and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------ report
def test_report_is_byte_identical_and_out_is_a_folder(tmp_path, sample, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["report", str(FIXTURE), "--out", str(a)]) == 0
    assert cli.main(["report", str(FIXTURE), "--out", str(b)]) == 0
    html = (a / "index.html").read_bytes()
    assert html == (b / "index.html").read_bytes() == render_report(sample).encode("utf-8")
    assert "report:" in capsys.readouterr().out


def test_report_default_out_and_module_entry(tmp_path):
    src = tmp_path / "results.json"
    src.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "nnconform.cli", "report", str(src)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == render_report(json.loads(src.read_text()))


def test_report_accepts_a_run_folder(tmp_path, sample):
    run = tmp_path / "nnconform-out"
    atomic.write_json_atomic(run / "results.json", sample)
    assert cli.main(["report", str(run)]) == 0
    assert (run / "index.html").read_text(encoding="utf-8") == render_report(json.loads((run / "results.json").read_text()))


def test_report_uses_partial_jsonl(tmp_path, sample):
    header = {k: v for k, v in sample.items() if k in ("schema", "run", "backends")}
    lines = [json.dumps(header)] + [json.dumps(r) for r in sample["results"]]
    (tmp_path / "results.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert cli.main(["report", str(tmp_path / "results.json")]) == 0
    assert "INCOMPLETE RUN" in (tmp_path / "index.html").read_text(encoding="utf-8")


def _junk(tmp_path, sample):
    """(file name, content, what the one-line error must name)."""
    no_results = {k: v for k, v in sample.items() if k != "results"}
    bad_row = copy.deepcopy(sample)
    del bad_row["results"][3]["status"]
    return [
        ("junk.json", '{"name": "not a results file", "rows": [1, 2]}', "no 'schema' field"),
        ("other.json", json.dumps({"schema": "someone.else/1", "results": []}), "schema='someone.else/1'"),
        ("future.json", json.dumps(dict(sample, schema="nnconform.results/7")), "version '7'"),
        ("noresults.json", json.dumps(no_results), "'results' is missing"),
        ("wrongtype.json", json.dumps(dict(sample, results={"a": 1})), "'results' is dict"),
        ("badrow.json", json.dumps(bad_row), "results[3] lacks required field(s) status"),
        ("list.json", "[1, 2, 3]", "expected a JSON object"),
        ("broken.json", "{not json", "not JSON"),
        ("noheader.jsonl", "\n".join(json.dumps(r) for r in sample["results"][:3]), "not a run header"),
        ("empty.jsonl", "", "empty"),
        ("binary.json", b"\xff\xfe\x00junk", "not UTF-8"),
    ]


def test_report_rejects_junk_with_one_line_and_exit_2(tmp_path, sample, capsys):
    for name, content, expected in _junk(tmp_path, sample):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        assert cli.main(["report", str(path), "--out", str(tmp_path / "out")]) == 2, name
        line = _one_line_error(capsys)
        assert expected in line and name in line, (name, line)
    assert not (tmp_path / "out" / "index.html").exists()  # nothing was rendered from junk


def test_report_junk_through_the_console_command(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    proc = subprocess.run([sys.executable, "-m", "nnconform.cli", "report", str(junk)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no 'schema' field" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize("argv, names", [
    (["report", "missing.json"], "no such file"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["run", "-n", "many"], "-n='many'"),
    (["run", "--profile", "fast"], "invalid choice"),
    (["report", "x.json", "--", "-x"], "unexpected arguments after '--'"),
    (["run", "--junitxml=out.xml"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, names):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert names in _one_line_error(capsys)


def test_out_that_is_a_file_is_an_error(tmp_path, capsys):
    f = tmp_path / "index.html"
    f.write_text("old")
    assert cli.main(["report", str(FIXTURE), "--out", str(f)]) == 2
    assert "not a folder" in _one_line_error(capsys)
    assert cli.main(["run", "--out", str(f)]) == 2
    assert "not a folder" in _one_line_error(capsys)
    assert f.read_text() == "old"


def test_internal_error_is_one_line_too(monkeypatch, capsys):
    def boom(args, extra):
        raise TypeError("a bug in nnconform")
    monkeypatch.setattr(cli, "_cmd_backends", boom)
    assert cli.main(["backends"]) == 2
    assert "internal error: TypeError: a bug in nnconform" in _one_line_error(capsys)


def test_help_and_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"nnconform {nnconform.__version__}"
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "1  failures found" in out and "2  usage or input error" in out
    assert cli.main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--junitxml" in out and "nnconform-out" in out


def test_version_matches_the_distribution():
    from importlib.metadata import version

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "nnconform.__version__"' in pyproject
    assert isinstance(version("nnconform"), str)  # installed metadata exists (its number is the last install's)


# --------------------------------------------------------------------------------------------- run
def test_build_pytest_command(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_has_xdist", lambda: True)
    cmd = cli.build_pytest_command(backends=["numpy", "torch-cpu"], profile="dev", out=tmp_path, n="3",
                                   hypothesis_seed=7, extra=["-x"])
    assert cmd[:4] == [sys.executable, "-m", "pytest", str(cli.conformance_dir())]
    joined = " ".join(cmd)
    assert "-n 3" in joined and "--conformance-profile dev" in joined
    assert f"--results-json {tmp_path / 'results.json'}" in joined
    assert "--report-html" not in joined  # the CLI renders after the run
    assert "--backend numpy --backend torch-cpu" in joined and "--hypothesis-seed 7" in joined
    assert cmd[-1] == "-x"
    monkeypatch.setattr(cli, "_has_xdist", lambda: False)
    assert "-n" not in cli.build_pytest_command(out=tmp_path)


def test_default_out_is_not_a_source_package(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_has_xdist", lambda: False)
    cmd = cli.build_pytest_command()
    results = Path(cmd[cmd.index("--results-json") + 1])
    assert results == Path("nnconform-out") / "results.json"
    assert not (ROOT / "nnconform-out" / "__init__.py").exists()
    assert "/nnconform-out/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("pytest_rc, mutate, expected", [
    (1, None, 1),                                  # failures in results.json
    (0, "all_pass", 0),
    (0, "declared", 0),                            # expected deviations count as passed
    (4, None, 2),                                  # pytest usage error
    (0, "no_file", 2),                             # the plugin wrote nothing
    (0, "junk", 2),                                # the plugin wrote something that is not a results file
])
def test_run_exit_codes(monkeypatch, tmp_path, sample, capsys, pytest_rc, mutate, expected):
    calls = []

    def fake_call(cmd):
        calls.append(cmd)
        out = Path(cmd[cmd.index("--results-json") + 1])
        if mutate == "junk":
            atomic.write_json_atomic(out, {"schema": "nope"})
        elif mutate != "no_file":
            data = copy.deepcopy(sample)
            if mutate in ("all_pass", "declared"):
                data["results"] = [dict(r, status="pass" if mutate == "all_pass" or i % 2 else "expected_deviation")
                                   for i, r in enumerate(data["results"])]
            atomic.write_json_atomic(out, data)
        return pytest_rc
    monkeypatch.setattr(cli.subprocess, "call", fake_call)
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["run", "--backend", "numpy", "--", "-k", "conv", "--junitxml=out.xml"])
    assert rc == expected
    assert calls and calls[0][-3:] == ["-k", "conv", "--junitxml=out.xml"]  # passed through to pytest
    captured = capsys.readouterr()
    if expected in (0, 1):
        assert (tmp_path / "nnconform-out" / "index.html").exists()  # rendered by the CLI after the run
        assert "report:" in captured.out
    else:
        assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err, captured.err
    if expected == 1:
        assert "numpy / conv / forward" in captured.out


# ------------------------------------------------------------------------------------------- bench
def test_bench_prefers_the_benchmarks_package(monkeypatch):
    seen = []
    fake = type(sys)("fake_bench")
    fake.main = lambda argv: seen.append(argv) or 0
    asked = []

    def fake_import(name):
        asked.append(name)
        return fake
    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["bench", "--quick", "--out", "x.json"]) == 0
    assert seen == [["--quick", "--out", "x.json"]] and asked == ["benchmarks.cli"]


def test_bench_falls_back_and_reports_a_missing_harness(monkeypatch, capsys):
    asked = []

    def fake_import(name, *a, **k):
        asked.append(name)
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["bench", "--quick"]) == 2
    assert asked == ["benchmarks.cli"]
    assert "benchmark harness is not installed" in _one_line_error(capsys)


def test_backends_lists_statuses(capsys):
    assert cli.main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "status" in out and "numpy" in out
