#!/bin/sh
# The GPU check in one command (benchmarks/README.md, "GPU"):  bash benchmarks/gpu_check.sh OUT
# A thin wrapper: every option of benchmarks/gpu_check.py passes through. $PYTHON picks the
# interpreter; without it, python3 (or python where there is no python3).
PY="${PYTHON:-$(command -v python3 || command -v python)}"
exec "$PY" "$(dirname "$0")/gpu_check.py" "$@"
