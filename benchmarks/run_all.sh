#!/bin/sh
# The runs behind the table in benchmarks/README.md (JSON into benchmarks/results/).
# Run on an otherwise idle machine: the kernels use every core, so any other load shows up
# directly in the timings.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=benchmarks/results
mkdir -p "$OUT"
$PY benchmarks/train_step.py --task shd --neuron brf --batch 32 --repeats 30 --json $OUT/shd_brf_b32.json
$PY benchmarks/train_step.py --task shd --neuron brf --batch 256 --no-train --repeats 20 --json $OUT/shd_brf_infer_b256.json
for n in rf bhrf alif; do
  $PY benchmarks/train_step.py --task shd --neuron $n --batch 32 --repeats 30 --json $OUT/shd_${n}_b32.json
done
$PY benchmarks/train_step.py --task shd --neuron brf --batch 32 --repeats 20 --dtype float64 --json $OUT/shd_brf_b32_f64.json
$PY benchmarks/train_step.py --task ecg --neuron brf --batch 16 --repeats 20 --json $OUT/ecg_brf_b16.json
$PY benchmarks/train_step.py --task smnist --neuron brf --batch 256 --repeats 5 --warmup 2 --json $OUT/smnist_brf_b256.json
$PY benchmarks/train_step.py --task shd --neuron brf --batch 32 --repeats 3 --warmup 1 --backend reference --json $OUT/shd_brf_b32_reference.json
