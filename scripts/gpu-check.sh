#!/usr/bin/env bash
# GPU check in ONE command: torch-cuda conformance (ci profile, realistic tier included), the
# benchmarks, a TF32 on/off measurement and a strict conv/dense pass with TF32 off
# (NNCONFORM_TORCH_TF32=0, OUTDIR/tf32-off/), written with logs and the HTML report into OUTDIR.
#
#   bash scripts/gpu-check.sh OUTDIR
#
# Needs python3 with torch, numpy, scipy, hypothesis, pytest (+ pytest-xdist); installs nothing and
# needs no network: the checkout is put on PYTHONPATH. Budget: well inside 8 minutes on an H100.
# Without a GPU it is a dry run: torch-cuda is reported unavailable and torch-cpu is checked instead.
set -uo pipefail
OUT=${1:?usage: scripts/gpu-check.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

# The plug-in is loaded by its pytest11 entry point when nnconform is pip-installed, else by -p.
PLUGIN=()
$PY -c "from importlib.metadata import entry_points as e; import sys; \
sys.exit(0 if any(x.value.startswith('conformance.plugin') for x in e(group='pytest11')) else 1)" \
    || PLUGIN=(-p conformance.plugin)
XDIST=()
$PY -c "import xdist" 2>/dev/null && XDIST=(-n 4)

$PY - <<'PYEOF' 2>&1 | tee "$OUT/device.log"
import impls
for s in impls.backend_statuses(["torch-cpu", "torch-cuda"]):
    print(f"{s.name}: {s.status} {s.reason.strip()[:200]}")
PYEOF
if grep -q "torch-cuda: available" "$OUT/device.log"; then
    BACKENDS=(--backend torch-cuda --backend numpy)
    PROFILE=ci
else
    echo "no GPU: dry run on the CPU (torch-cuda unavailable)" | tee -a "$OUT/device.log"
    BACKENDS=(--backend torch-cpu)
    PROFILE=dev
fi

# 1. TF32 on/off on the realistic conv (facts.md: 2.9e-4 vs 1.7e-7 on an H100).
timeout 120 $PY scripts/tf32_probe.py 2>&1 | tee "$OUT/tf32.log"

# 2. Benchmarks first, so the conformance report picks up OUT/bench.json.
timeout 150 $PY -m benchmarks "${BACKENDS[@]}" --backend torch-cpu --min-time 0.3 --processes 1 --out "$OUT/bench.json" \
    2>&1 | tee "$OUT/bench.log"

# 3. Conformance with the realistic tier; results and report in OUT.
timeout 270 $PY -m pytest conformance "${PLUGIN[@]}" "${XDIST[@]}" -q -p no:cacheprovider "${BACKENDS[@]}" \
    --conformance-profile "$PROFILE" --hypothesis-seed 20261127 \
    --results-json "$OUT/results.json" --report-html "$OUT/index.html" 2>&1 | tail -n 60 | tee "$OUT/conformance.log"
status=${PIPESTATUS[0]}
echo "conformance exit status: $status" | tee -a "$OUT/conformance.log"

# 4. The strict pass (like PyTorch's tf32_on_and_off): conv and dense again with TF32 off, so torch-cuda
#    declares no TF32 deviation and float32 must meet float32's own bound, realistic tier included.
mkdir -p "$OUT/tf32-off"
NNCONFORM_TORCH_TF32=0 timeout 150 $PY -m pytest conformance "${PLUGIN[@]}" "${XDIST[@]}" -q -p no:cacheprovider \
    "${BACKENDS[@]}" --conformance-profile "$PROFILE" --hypothesis-seed 20261127 \
    -k "(test_forward or test_gradient or test_realistic) and (conv or dense)" \
    --results-json "$OUT/tf32-off/results.json" --report-html "$OUT/tf32-off/index.html" 2>&1 | tail -n 30 \
    | tee "$OUT/tf32-off/conformance.log"
echo "strict TF32-off pass exit status: ${PIPESTATUS[0]}" | tee -a "$OUT/tf32-off/conformance.log"
exit 0
