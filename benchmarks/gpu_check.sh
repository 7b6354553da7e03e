#!/bin/sh
# The GPU check in one command (benchmarks/README.md, "GPU"):  bash benchmarks/gpu_check.sh OUTDIR
# A thin wrapper: every option of benchmarks/gpu_check.py passes through; $PYTHON picks the
# interpreter (default: python).
exec "${PYTHON:-python}" "$(dirname "$0")/gpu_check.py" "$@"
