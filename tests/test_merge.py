"""One report from many machines: results files from two hosts merge into one report with both sets of columns."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nnconform import cli
from reports import render
from reports.merge import merge_results, run_labels

FIXTURE = Path(__file__).parent / "fixtures" / "sample_results.json"
CI_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "ci" / "github-actions-cpu-gpu.yml"


@pytest.fixture()
def cpu_and_gpu():
    cpu = json.loads(FIXTURE.read_text(encoding="utf-8"))
    gpu = copy.deepcopy(cpu)
    gpu["run"].update(host="gpu-box-1", gpu="NVIDIA H100", started="2026-11-28T11:00:00+00:00")
    # the GPU machine ran numpy and torch-cuda; its torch-cuda conv forward deviates (TF32)
    gpu["backends"] = [b for b in gpu["backends"] if b["name"] == "numpy"] + [
        {"name": "torch-cuda", "status": "available", "device": "cuda:0", "dtypes": ["float32"], "metadata": {},
         "expected_deviations": [], "reason": ""}]
    gpu["results"] = [r for r in gpu["results"] if r["backend"] in ("numpy", "spec", "*")] + [
        {"backend": "torch-cuda", "op": "conv", "dtype": "float32", "tier": "realistic", "check": "forward",
         "name": "conv forward 2d", "status": "fail", "category": "mismatch", "tol_ratio": 4.2, "examples": 3}]
    return cpu, gpu


def test_labels_are_hosts_numbered_when_they_repeat(cpu_and_gpu):
    cpu, gpu = cpu_and_gpu
    assert run_labels([cpu, gpu]) == ["ci-runner-7", "gpu-box-1"]
    assert run_labels([cpu, cpu, {}]) == ["ci-runner-7 #1", "ci-runner-7 #2", "run 3"]


def test_a_single_file_is_unchanged(cpu_and_gpu):
    cpu, _ = cpu_and_gpu
    assert merge_results([cpu]) is cpu
    with pytest.raises(ValueError):
        merge_results([])


def test_same_backend_from_two_machines_gets_two_columns(cpu_and_gpu):
    cpu, gpu = cpu_and_gpu
    merged = merge_results([cpu, gpu], sources=["cpu/results.json", "gpu/results.json"])
    model = render.build_model(merged)
    names = [b["name"] for b in model["backends"]]
    assert "numpy @ ci-runner-7" in names and "numpy @ gpu-box-1" in names
    assert "torch-cpu @ ci-runner-7" in names and "torch-cuda @ gpu-box-1" in names
    assert all(" @ " in n for n in names)  # every column says which machine it came from
    assert names.index("numpy @ gpu-box-1") == names.index("numpy @ ci-runner-7") + 1  # side by side
    # each machine's results stay in its own column
    conv = next(r for r in model["matrix"] if r["op"] == "conv")
    cell = {(c["backend"]["name"], c.get("key")): c["status"] for c in conv["cells"] if not c["collapsed"]}
    assert cell[("numpy @ ci-runner-7", "forward")] == "fail" and cell[("numpy @ gpu-box-1", "forward")] == "fail"
    assert cell[("torch-cuda @ gpu-box-1", "forward")] == "fail"
    assert len(merged["results"]) == len(cpu["results"]) + len(gpu["results"])
    assert merged["complete"] is True and merged["run"]["host"] == "ci-runner-7, gpu-box-1"


def test_merged_report_names_the_runs_and_keeps_every_section(cpu_and_gpu):
    cpu, gpu = cpu_and_gpu
    merged = merge_results([cpu, gpu], sources=["cpu/results.json", "gpu/results.json"])
    model = render.build_model(merged)
    assert [r["label"] for r in model["runs"]] == ["ci-runner-7", "gpu-box-1"]
    assert ("results file", "gpu/results.json") in model["runs"][1]["fields"]
    assert ("GPU", "NVIDIA H100") in model["runs"][1]["fields"]
    sem = model["semantics"]
    assert [c["name"] for c in sem["columns"]] == ["spec @ ci-runner-7", "numpy @ ci-runner-7", "numpy @ gpu-box-1",
                                                    "torch-cpu @ ci-runner-7"]
    groups = [(g["op"], g["machine"]) for g in model["agreement"]["groups"]]
    assert ("conv", "ci-runner-7") in groups and ("conv", "gpu-box-1") in groups
    card = next(c for g in model["agreement"]["groups"] if g["machine"] == "gpu-box-1" for c in g["cards"])
    assert [row["name"] for row in card["grid"]] == ["spec", "numpy @ gpu-box-1", "torch-cpu @ gpu-box-1"]
    # worked-example outputs follow their backends; the verdicts still match
    periodic = next(e for e in model["worked_examples"]["examples"] if e["id"] == "conv1d-periodic")
    assert periodic["outputs"]["numpy @ ci-runner-7"]["equal"] is True
    assert periodic["outputs"]["numpy @ gpu-box-1"]["equal"] is True
    assert periodic["outputs"]["torch-cpu @ ci-runner-7"]["equal"] is False
    bench = {r["backend"] for r in merged["benchmarks"]["rows"]}
    assert {"numpy @ ci-runner-7", "numpy @ gpu-box-1"} <= bench
    assert len(merged["errata"]) == len(cpu["errata"]) and len(merged["decisions"]) == len(cpu["decisions"])


def test_an_incomplete_run_makes_the_merge_incomplete(cpu_and_gpu):
    cpu, gpu = cpu_and_gpu
    gpu["complete"] = False
    merged = merge_results([cpu, gpu])
    assert merged["complete"] is False
    assert "INCOMPLETE" in render.render_report(merged)


def test_cli_report_merges_two_machines(tmp_path, cpu_and_gpu, capsys):
    cpu, gpu = cpu_and_gpu
    (tmp_path / "cpu").mkdir()
    (tmp_path / "gpu").mkdir()
    a, b = tmp_path / "cpu" / "results.json", tmp_path / "gpu" / "results.json"
    a.write_text(json.dumps(cpu), encoding="utf-8")
    b.write_text(json.dumps(gpu), encoding="utf-8")
    out = tmp_path / "merged" / "index.html"  # --out names the folder
    assert cli.main(["report", str(a), str(b), "--out", str(out.parent)]) == 0
    html = out.read_text(encoding="utf-8")
    for column in ("numpy @ ci-runner-7", "numpy @ gpu-box-1", "torch-cuda @ gpu-box-1", "torch-cpu @ ci-runner-7"):
        assert f'data-backend="{column}"' in html, column  # a matrix column of its own
    assert 'id="runs-table"' in html and "gpu/results.json" in html
    assert cli.main(["report", str(a), str(tmp_path / "missing.json")]) == 2


def test_ci_example_runs_two_machines_and_merges():
    text = CI_EXAMPLE.read_text(encoding="utf-8")
    assert "torch-cuda" in text and "upload-artifact" in text and "download-artifact" in text
    merge_line = next(line for line in text.splitlines() if line.strip().startswith("run: nnconform report"))
    assert "cpu/results.json" in merge_line and "gpu/results.json" in merge_line
