#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with nnconform, torch (CPU
# wheel), the optional jax and onnxruntime backends, the example plug-in, ruff and the browser-test
# tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
# torch is pinned: this version's CPU wheel is what the benchmarks and facts were measured with,
# and an unpinned torch may pull a multi-gigabyte CUDA build.
$PIP install -q "torch==2.13.0" || echo "setup: torch not installable here; torch backends will be reported unavailable" >&2
$PIP install -q -e ".[dev,browser]"
# The optional backends, each in its own step: a failed install leaves that backend reported
# "unavailable" (with the import error as the reason), never a broken set-up.
$PIP install -q -e ".[jax]" || echo "setup: jax not installable here; jax-cpu and jax-cuda will be reported unavailable" >&2
$PIP install -q -e ".[onnxruntime]" \
    || echo "setup: onnxruntime not installable here; onnxruntime-cpu and onnxruntime-cuda will be reported unavailable" >&2
$PIP install -q -e examples/plugin

# Debian's chromium for the real-browser test (never a downloaded browser).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "setup: chromium not installed; the browser test will be skipped outside CI" >&2
fi
echo "setup: done (.venv ready)"
